//! `analytics-sales`: keeps the sales view (one row per order) from the
//! orders product's events (SQS, partial batch failures). Publishes nothing.
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use mesh::subscriber::handle_batch;
use mesh_aws::sqs_batch;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let handler = handler::SalesHandler::from_env().await?;
    let handler = &handler;
    run(service_fn(move |event: LambdaEvent<_>| async move {
        let report = handle_batch(&sqs_batch::messages(&event.payload), handler).await;
        sqs_batch::log_report(&report);
        Ok::<_, Error>(sqs_batch::batch_response(&report))
    }))
    .await
}

//! `orders-saga`: approves or rejects pending orders on the credit
//! decisions of the customers domain (SQS, partial batch failures).
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use mesh::subscriber::handle_batch;
use mesh_aws::sqs_batch;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let handler = handler::SagaHandler::from_env().await?;
    let handler = &handler;
    run(service_fn(move |event: LambdaEvent<_>| async move {
        let report = handle_batch(&sqs_batch::messages(&event.payload), handler).await;
        sqs_batch::log_report(&report);
        Ok::<_, Error>(sqs_batch::batch_response(&report))
    }))
    .await
}

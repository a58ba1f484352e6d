//! `orders-saga`: approves or rejects pending orders on the credit
//! decisions of the customers domain (SQS, partial batch failures).
#![recursion_limit = "256"]
use lambda_runtime::Error;

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    mesh_aws::sqs_batch::serve(handler::SagaHandler::from_env().await?).await
}

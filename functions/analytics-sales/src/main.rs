//! `analytics-sales`: keeps the sales view (one row per order) from the
//! orders product's events (SQS, partial batch failures). Publishes nothing.
#![recursion_limit = "256"]
use std::process::ExitCode;

use lambda_runtime::Error;

mod handler;

#[tokio::main]
async fn main() -> ExitCode {
    mesh_aws::process::exit(serve().await)
}

async fn serve() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    mesh_aws::sqs_batch::serve(handler::SalesHandler::from_env().await?).await
}

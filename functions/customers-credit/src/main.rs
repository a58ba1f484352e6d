//! `customers-credit`: reserves or refuses credit for placed orders and
//! releases it for cancelled ones (SQS, partial batch failures).
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
    mesh_aws::sqs_batch::serve(handler::CreditHandler::from_env().await?).await
}

//! `catalog-registrar`: the CloudFormation custom resource `Custom::DataProduct`.
//! Registers a data product in the Glue Data Catalog and Schema Registry on
//! Create and Update, removes its table on Delete, and answers CloudFormation
//! through the request's presigned ResponseURL.
#![recursion_limit = "256"]
use std::process::ExitCode;

use lambda_runtime::{Error, LambdaEvent, service_fn};

mod handler;
mod response;

#[tokio::main]
async fn main() -> ExitCode {
    mesh_aws::process::exit(serve().await)
}

async fn serve() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let registrar = mesh_aws::catalog::Registrar::new(aws_sdk_glue::Client::new(&mesh_aws::config::sdk_config().await));
    let responder = response::Responder::new()?;
    let (registrar, responder) = (&registrar, &responder);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<handler::Request>| async move {
        let answer = handler::handle(registrar, event.payload).await?;
        responder.send(&answer.url, &answer.response).await?;
        Ok::<_, Error>(())
    }))
    .await
}

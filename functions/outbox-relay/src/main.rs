//! `outbox-relay`: publishes a domain's outbox stream to its data product's
//! output ports. One binary, deployed once per domain.
#![recursion_limit = "256"]
use std::process::ExitCode;

use lambda_runtime::{Error, LambdaEvent, service_fn};

mod handler;

#[tokio::main]
async fn main() -> ExitCode {
    mesh_aws::process::exit(serve().await)
}

async fn serve() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = handler::Deps::from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(handler::handle(deps, event.payload).await)
    }))
    .await
}

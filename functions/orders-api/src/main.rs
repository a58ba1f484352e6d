//! `orders-api`: the orders domain's HTTP API (API Gateway HTTP API, payload 2.0).
#![recursion_limit = "256"]
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

mod handler;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = handler::Deps::from_env().await?;
    let deps = &deps;
    run(service_fn(
        move |event: LambdaEvent<_>| async move { Ok::<_, Error>(handler::handle(deps, event.payload).await) },
    ))
    .await
}

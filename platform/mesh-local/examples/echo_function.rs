//! A function for the local Runtime API's tests: answers `{"echo": event}`,
//! fails with `{"fail": reason}`, and exits on `{"exit": code}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        if let Some(reason) = payload.get("fail").and_then(Value::as_str) {
            return Err(Error::from(reason.to_owned()));
        }
        if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
            std::process::exit(i32::try_from(code).unwrap_or(1));
        }
        Ok::<_, Error>(json!({ "echo": payload }))
    }))
    .await
}

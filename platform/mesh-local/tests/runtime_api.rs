//! The local Runtime API runs a real `lambda_runtime` binary (the
//! `echo_function` example) and carries its answers, errors and death back
//! to the invoker.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use mesh_local::lambda::runtime_api::{InvokeError, LocalFunction};
use serde_json::json;

/// `target/<profile>/examples/echo_function`, built with the tests.
fn echo_function() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let path = deps.parent().unwrap().join("examples").join("echo_function");
    assert!(
        path.exists(),
        "{} is missing: run the package's tests (not one --test), or `cargo build --example echo_function`",
        path.display()
    );
    path
}

#[tokio::test]
async fn invokes_a_real_bootstrap_and_carries_back_answers_errors_and_exits() {
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:echo";
    let function = LocalFunction::spawn(&echo_function(), arn, &[], Duration::from_secs(20)).await.unwrap();

    assert_eq!(function.invoke(&json!({"n": 1})).await.unwrap(), json!({"echo": {"n": 1}}));
    assert_eq!(function.invoke(&json!({"n": 2})).await.unwrap(), json!({"echo": {"n": 2}}));
    let failed = function.invoke(&json!({"fail": "no such order"})).await.unwrap_err();
    assert!(matches!(&failed, InvokeError::Function { message, .. } if message == "no such order"), "{failed:?}");
    // The process keeps serving after a handler error...
    assert_eq!(function.invoke(&json!({"n": 3})).await.unwrap(), json!({"echo": {"n": 3}}));
    // ...but not after it died: the open invocation and every later one fail.
    let died = function.invoke(&json!({"exit": 3})).await.unwrap_err();
    assert_eq!(died, InvokeError::Exited("exit status: 3".into()));
    assert_eq!(function.invoke(&json!({"n": 4})).await.unwrap_err(), died);
}

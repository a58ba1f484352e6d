//! A Lambda Runtime API on loopback for one function process: how a mapping
//! driver (for an endpoint that cannot run functions) or `mesh dev` runs a
//! real `provided.al2023` bootstrap on this machine and invokes it, one
//! event at a time, exactly as Lambda would.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::HarnessError;

const PREFIX: &str = "/2018-06-01/runtime";

/// Why an invocation did not return a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned an error (`/invocation/{id}/error`).
    #[error("{error_type}: {message}")]
    Function { error_type: String, message: String },
    /// The function failed to initialise (`/init/error`).
    #[error("init failed: {0}")]
    Init(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The process ended (a crash, a kill) with the invocation open.
    #[error("the function process exited: {0}")]
    Exited(String),
}

/// A function process served by its own Runtime API; dropping it kills the process.
#[derive(Debug)]
pub struct LocalFunction {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    process: JoinHandle<()>,
    timeout: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    function_arn: String,
    /// The function's timeout: the deadline each invocation is given.
    timeout: Duration,
    next: Mutex<VecDeque<(String, Bytes)>>,
    ready: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, InvokeError>>>>,
    /// Set once the process cannot take invocations any more.
    dead: Mutex<Option<InvokeError>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Fails every open invocation, and every later one, with `error`.
    fn fail_all(&self, error: InvokeError) {
        *lock(&self.dead) = Some(error.clone());
        for (_, waiter) in lock(&self.waiting).drain() {
            let _ = waiter.send(Err(error.clone()));
        }
    }

    fn answer(&self, id: &str, outcome: Result<Value, InvokeError>) -> bool {
        match lock(&self.waiting).remove(id) {
            Some(waiter) => waiter.send(outcome).is_ok(),
            None => false,
        }
    }
}

impl LocalFunction {
    /// Starts `bootstrap` with `environment` (the deployed function's, as
    /// `GetFunctionConfiguration` gives it) and `AWS_LAMBDA_RUNTIME_API`
    /// pointing at a fresh loopback Runtime API.
    pub async fn spawn(
        bootstrap: &Path,
        function_arn: &str,
        environment: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, HarnessError> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).await.map_err(HarnessError::io("binding a local Runtime API"))?;
        let address = listener.local_addr().map_err(HarnessError::io("reading the Runtime API's address"))?;
        let shared = Arc::new(Shared { function_arn: function_arn.to_owned(), timeout, ..Shared::default() });
        let served = Arc::clone(&shared);
        let server =
            tokio::spawn(crate::loopback::serve(listener, move |_, request| route(Arc::clone(&served), request)));
        let name = function_arn.rsplit(':').next().unwrap_or(function_arn);
        let mut child = tokio::process::Command::new(bootstrap)
            .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .kill_on_drop(true)
            .spawn()
            .map_err(HarnessError::io(format!("starting {}", bootstrap.display())))?;
        let watched = Arc::clone(&shared);
        // Owns the child: aborting this task (on drop) kills the process.
        let process = tokio::spawn(async move {
            let status = child.wait().await;
            let why = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            watched.fail_all(InvokeError::Exited(why));
        });
        Ok(Self { shared, server, process, timeout })
    }

    /// The process ended (or its Runtime API stopped): it takes no more
    /// invocations, and Lambda would start a new one.
    pub fn has_exited(&self) -> bool {
        lock(&self.shared.dead).is_some()
    }

    /// Hands `event` to the function and waits for its answer.
    pub async fn invoke(&self, event: &Value) -> Result<Value, InvokeError> {
        if let Some(error) = lock(&self.shared.dead).clone() {
            return Err(error);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (answer, answered) = oneshot::channel();
        lock(&self.shared.waiting).insert(id.clone(), answer);
        lock(&self.shared.next).push_back((id.clone(), Bytes::from(event.to_string())));
        self.shared.ready.notify_one();
        match tokio::time::timeout(self.timeout, answered).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(InvokeError::Exited("the Runtime API stopped".into())),
            Err(_) => {
                lock(&self.shared.waiting).remove(&id);
                Err(InvokeError::Timeout(self.timeout))
            }
        }
    }
}

impl Drop for LocalFunction {
    fn drop(&mut self) {
        self.process.abort();
        self.server.abort();
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn route(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default().to_owned();
    let accepted = || reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#);
    Ok(match (parts.method, path.split('/').collect::<Vec<_>>().as_slice()) {
        (Method::GET, ["", "invocation", "next"]) => next(&shared).await,
        (Method::POST, ["", "invocation", id, "response"]) => {
            let value = serde_json::from_slice(&body).unwrap_or_else(|_| Value::Null);
            if shared.answer(id, Ok(value)) { accepted() } else { reply(StatusCode::BAD_REQUEST, "unknown request id") }
        }
        (Method::POST, ["", "invocation", id, "error"]) => {
            if shared.answer(id, Err(function_error(&body))) {
                accepted()
            } else {
                reply(StatusCode::BAD_REQUEST, "unknown request id")
            }
        }
        (Method::POST, ["", "init", "error"]) => {
            shared.fail_all(InvokeError::Init(function_error(&body).to_string()));
            accepted()
        }
        _ => reply(StatusCode::NOT_FOUND, "not a Runtime API path"),
    })
}

/// An X-Ray trace header, as Lambda sends with every invocation (the
/// runtime exports it as `_X_AMZN_TRACE_ID`, and the SDK forwards it on
/// each call: an empty one makes SNS-to-SQS delivery fail on LocalStack).
fn trace_id(now: Duration) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{};Parent={};Sampled=0", now.as_secs(), &random[..24], &random[16..32])
}

/// Blocks until an invocation is queued, as Lambda's `/invocation/next` does.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    loop {
        if let Some((id, event)) = lock(&shared.next).pop_front() {
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + shared.timeout;
            let mut response = reply(StatusCode::OK, event);
            let headers = response.headers_mut();
            for (name, value) in [
                ("lambda-runtime-aws-request-id", id),
                ("lambda-runtime-deadline-ms", deadline.as_millis().to_string()),
                ("lambda-runtime-invoked-function-arn", shared.function_arn.clone()),
                ("lambda-runtime-trace-id", trace_id(deadline)),
            ] {
                if let Ok(value) = value.parse() {
                    headers.insert(name, value);
                }
            }
            return response;
        }
        shared.ready.notified().await;
    }
}

fn function_error(body: &[u8]) -> InvokeError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    InvokeError::Function { error_type: text("errorType"), message: text("errorMessage") }
}

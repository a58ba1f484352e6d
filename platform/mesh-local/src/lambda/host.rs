//! Runs a deployed mesh's functions on this machine, for an endpoint that
//! cannot run them (LocalStack without Docker): each function's real
//! binary behind its own loopback Runtime API, with its deployed
//! environment; every event source mapping (deployed disabled) played by
//! the [`crate::lambda::driver`]; every HTTP API served on loopback as API Gateway's
//! HTTP API would (routes from the template, payload format 2.0). A
//! function process that exits is started again, as Lambda starts a new
//! execution environment. Dropping the host stops all of it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::lambda::driver::{QueueMapping, StreamMapping, StreamPlayer, play_queue_once};
use crate::lambda::runtime_api::LocalFunction;
use crate::{Emulator, HarnessError};

/// How long a mapping with nothing to do waits before it polls again.
const IDLE: Duration = Duration::from_millis(250);
/// How long a mapping whose poll failed waits before it tries again.
const BACK_OFF: Duration = Duration::from_secs(1);

/// What the host needs to start one function.
#[derive(Debug, Clone)]
struct Spec {
    binary: PathBuf,
    arn: String,
    environment: Vec<(String, String)>,
    timeout: Duration,
}

/// A function's current process; a new one once the last has exited.
#[derive(Debug)]
struct Hosted {
    spec: Spec,
    current: Mutex<Option<Arc<LocalFunction>>>,
}

impl Hosted {
    async fn process(&self) -> Result<Arc<LocalFunction>, HarnessError> {
        let mut current = self.current.lock().await;
        if let Some(function) = current.as_ref().filter(|f| !f.has_exited()) {
            return Ok(Arc::clone(function));
        }
        let spec = &self.spec;
        let function = Arc::new(LocalFunction::spawn(&spec.binary, &spec.arn, &spec.environment, spec.timeout).await?);
        *current = Some(Arc::clone(&function));
        Ok(function)
    }
}

/// An HTTP API to serve: its function and its route keys (`POST /orders`,
/// `GET /orders/{id}`).
#[derive(Debug, Clone)]
pub struct HostedApi {
    pub function_name: String,
    pub routes: Vec<String>,
}

/// The functions of one deployed mesh, running here.
#[derive(Debug)]
pub struct FunctionHost {
    /// Base URL of each hosted HTTP API, by function name.
    apis: BTreeMap<String, String>,
    /// Mapping UUIDs played, by function name.
    mappings: BTreeMap<String, Vec<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl FunctionHost {
    /// Starts `functions` (deployed names) with the binaries of the mesh's
    /// function `crates` in `binaries`, each with its deployed environment plus
    /// `settings` (the standard AWS settings of the machine it stands in
    /// for), plays their mappings and serves `apis`.
    pub async fn start(
        config: &SdkConfig,
        settings: &[(String, String)],
        functions: &[String],
        binaries: &Path,
        crates: &[String],
        apis: &[HostedApi],
    ) -> Result<Self, HarnessError> {
        let lambda = aws_sdk_lambda::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let mut host = Self { apis: BTreeMap::new(), mappings: BTreeMap::new(), tasks: Vec::new() };

        for name in functions {
            let name = name.clone();
            let binary = binaries.join(binary_of(&name, crates)?);
            let spec = spec(&lambda, settings, &name, binary).await?;
            let hosted = Arc::new(Hosted { spec, current: Mutex::new(None) });
            hosted.process().await?;
            let listed = lambda
                .list_event_source_mappings()
                .function_name(&name)
                .send()
                .await
                .map_err(HarnessError::aws(format!("ListEventSourceMappings {name}")))?;
            for listed in listed.event_source_mappings() {
                let (Some(uuid), source) = (listed.uuid(), listed.event_source_arn().unwrap_or_default()) else {
                    continue;
                };
                let task = if source.starts_with("arn:aws:sqs:") {
                    let mapping = QueueMapping::read(&lambda, &sqs, uuid).await?;
                    tokio::spawn(play_queue(mapping, sqs.clone(), Arc::clone(&hosted)))
                } else {
                    let mapping = StreamMapping::read(&lambda, &sqs, uuid).await?;
                    tokio::spawn(play_stream(StreamPlayer::new(mapping, config), Arc::clone(&hosted)))
                };
                host.tasks.push(task);
                host.mappings.entry(name.clone()).or_default().push(uuid.to_owned());
            }
            if let Some(api) = apis.iter().find(|a| a.function_name == name) {
                let listener =
                    TcpListener::bind(("127.0.0.1", 0)).await.map_err(HarnessError::io("binding an HTTP API"))?;
                let address = listener.local_addr().map_err(HarnessError::io("reading an HTTP API's address"))?;
                let routes = Arc::new(api.routes.clone());
                let served = Arc::clone(&hosted);
                host.tasks.push(tokio::spawn(crate::loopback::serve(listener, move |peer, request| {
                    serve_api(Arc::clone(&served), Arc::clone(&routes), peer, request)
                })));
                host.apis.insert(name.clone(), format!("http://{address}"));
            }
        }
        Ok(host)
    }

    /// The base URL of the HTTP API whose function is `function_name`.
    pub fn api_url(&self, function_name: &str) -> Option<&str> {
        self.apis.get(function_name).map(String::as_str)
    }

    /// The mappings played, by function name.
    pub fn mappings(&self) -> &BTreeMap<String, Vec<String>> {
        &self.mappings
    }
}

impl Drop for FunctionHost {
    fn drop(&mut self) {
        // The tasks own the function processes (through `Hosted`), which
        // are killed when the last reference goes.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The functions of the deployment `prefix` (named `<prefix>-...`).
pub async fn function_names(config: &SdkConfig, prefix: &str) -> Result<Vec<String>, HarnessError> {
    let lambda = aws_sdk_lambda::Client::new(config);
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page =
            lambda.list_functions().set_marker(marker).send().await.map_err(HarnessError::aws("ListFunctions"))?;
        names.extend(
            page.functions()
                .iter()
                .filter_map(|f| f.function_name())
                .filter(|n| n.starts_with(&format!("{prefix}-")))
                .map(str::to_owned),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(names);
        }
    }
}

/// Which of the mesh's function `crates` the deployed function `name` runs:
/// `<prefix>-orders-outbox-relay` runs `outbox-relay`.
pub fn binary_of<'a>(name: &str, crates: &'a [String]) -> Result<&'a str, HarnessError> {
    crates
        .iter()
        .filter(|f| name.ends_with(&format!("-{f}")))
        .max_by_key(|f| f.len())
        .map(String::as_str)
        .ok_or_else(|| HarnessError::Driver(format!("function {name} is none of the mesh's binaries {crates:?}")))
}

/// The standard AWS settings of a machine pointed at `emulator`.
pub fn emulator_settings(emulator: &Emulator) -> Vec<(String, String)> {
    let credentials = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "test".into());
    [
        ("AWS_ENDPOINT_URL", emulator.endpoint().to_owned()),
        ("AWS_ENDPOINT_URL_GLUE", emulator.glue_endpoint().to_owned()),
        ("AWS_REGION", emulator.region().to_owned()),
        ("AWS_ACCESS_KEY_ID", credentials("AWS_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", credentials("AWS_SECRET_ACCESS_KEY")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The deployed function's configuration, with `settings` on top.
async fn spec(
    lambda: &aws_sdk_lambda::Client,
    settings: &[(String, String)],
    name: &str,
    binary: PathBuf,
) -> Result<Spec, HarnessError> {
    let configuration = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(HarnessError::aws(format!("GetFunctionConfiguration {name}")))?;
    let mut environment: Vec<(String, String)> =
        configuration.environment().and_then(|e| e.variables()).cloned().unwrap_or_default().into_iter().collect();
    environment.extend(settings.iter().cloned());
    Ok(Spec {
        binary,
        arn: configuration.function_arn().unwrap_or_default().to_owned(),
        environment,
        timeout: Duration::from_secs(u64::try_from(configuration.timeout().unwrap_or(3)).unwrap_or(3)),
    })
}

async fn play_queue(mapping: QueueMapping, sqs: aws_sdk_sqs::Client, hosted: Arc<Hosted>) {
    loop {
        let played = match hosted.process().await {
            Ok(function) => play_queue_once(&sqs, &mapping, &function).await,
            Err(error) => Err(error),
        };
        match played {
            // ReceiveMessage already waited (long polling) when it was empty.
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(mapping = %mapping.uuid, %error, "queue mapping poll failed");
                tokio::time::sleep(BACK_OFF).await;
            }
        }
    }
}

async fn play_stream(mut player: StreamPlayer, hosted: Arc<Hosted>) {
    loop {
        let played = match hosted.process().await {
            Ok(function) => player.play_once(&function).await,
            Err(error) => Err(error),
        };
        match played {
            Ok(played) if played.is_idle() => tokio::time::sleep(IDLE).await,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(mapping = %player.mapping().uuid, %error, "stream mapping poll failed");
                tokio::time::sleep(BACK_OFF).await;
            }
        }
    }
}

/// One request to a hosted HTTP API, answered as API Gateway would.
async fn serve_api(
    hosted: Arc<Hosted>,
    routes: Arc<Vec<String>>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let Some((route, parameters)) = routes.iter().find_map(|r| match_route(r, &method, &path).map(|p| (r, p))) else {
        return Ok(json_response(StatusCode::NOT_FOUND, &json!({"message": "Not Found"})));
    };
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(route.clone());
    event.raw_path = Some(path.clone());
    event.raw_query_string = Some(parts.uri.query().unwrap_or_default().to_owned());
    event.headers = parts.headers.clone();
    event.path_parameters = parameters;
    event.body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.clone());
    context.stage = Some("$default".to_owned());
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.time_epoch = chrono::Utc::now().timestamp_millis();
    let mut description = ApiGatewayV2httpRequestContextHttpDescription::default();
    description.method = parts.method.clone();
    description.path = Some(path);
    description.protocol = Some("HTTP/1.1".to_owned());
    description.source_ip = Some(peer.ip().to_string());
    context.http = description;
    event.request_context = context;

    let answer = match serde_json::to_value(&event) {
        Ok(payload) => match hosted.process().await {
            Ok(function) => function.invoke(&payload).await.ok(),
            Err(_) => None,
        },
        Err(_) => None,
    };
    // A function error is API Gateway's generic 500.
    let Some(answer) = answer else {
        return Ok(json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"message": "Internal Server Error"})));
    };
    Ok(api_response(&answer))
}

/// The path parameters when `route` (`GET /orders/{id}`) matches.
fn match_route(route: &str, method: &str, path: &str) -> Option<std::collections::HashMap<String, String>> {
    let (route_method, route_path) = route.split_once(' ')?;
    if route_method != method && route_method != "ANY" {
        return None;
    }
    let (want, got): (Vec<&str>, Vec<&str>) =
        (route_path.trim_matches('/').split('/').collect(), path.trim_matches('/').split('/').collect());
    if want.len() != got.len() {
        return None;
    }
    let mut parameters = std::collections::HashMap::new();
    for (want, got) in want.iter().zip(&got) {
        match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) if !got.is_empty() => {
                parameters.insert(name.to_owned(), (*got).to_owned());
            }
            _ if want == got => {}
            _ => return None,
        }
    }
    Some(parameters)
}

/// A function's answer in payload format 2.0: a response object, or any
/// other JSON, which API Gateway returns as a 200 body.
fn api_response(answer: &Value) -> Response<Full<Bytes>> {
    let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
        return json_response(StatusCode::OK, answer);
    };
    let mut response = Response::builder().status(u16::try_from(status).unwrap_or(500));
    for (name, value) in answer.get("headers").and_then(Value::as_object).into_iter().flatten() {
        if let Some(value) = value.as_str() {
            response = response.header(name.as_str(), value);
        }
    }
    let body = answer.get("body").and_then(Value::as_str).unwrap_or_default().to_owned();
    response
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| json_response(StatusCode::BAD_GATEWAY, &json!({"message": "Bad Gateway"})))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_routes_the_way_an_http_api_does() {
        let id = |p: Option<std::collections::HashMap<String, String>>| p.map(|p| p.get("id").cloned());
        assert_eq!(id(match_route("GET /orders/{id}", "GET", "/orders/42")), Some(Some("42".to_owned())));
        assert_eq!(id(match_route("POST /orders/{id}/cancel", "POST", "/orders/7/cancel")), Some(Some("7".into())));
        assert_eq!(id(match_route("POST /orders", "POST", "/orders")), Some(None));
        assert!(match_route("POST /orders", "GET", "/orders").is_none());
        assert!(match_route("GET /orders/{id}", "GET", "/orders/").is_none());
        assert!(match_route("GET /orders/{id}", "GET", "/orders/1/2").is_none());
    }

    #[test]
    fn answers_a_response_object_or_any_json_as_a_200() {
        let response = api_response(&json!({"statusCode": 201, "headers": {"x-a": "b"}, "body": "{}"}));
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-a"], "b");
        assert_eq!(api_response(&json!({"ok": true})).status(), 200);
    }
}

//! API Gateway HTTP API (payload 2.0) plumbing shared by the API functions:
//! reading the route and body, and answering JSON with clear errors.

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine;
use domain_kit::ValidationErrors;
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use mesh::envelope::EventMeta;
use mesh::error::Chain;
use mesh::event::EventCodecError;
use mesh::store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

/// One problem with one field of a request, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

/// An answer that is not a success, with the status that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub fields: Vec<FieldProblem>,
}

impl ApiError {
    pub fn invalid(fields: Vec<FieldProblem>) -> Self {
        Self { status: 400, message: "invalid request".into(), fields }
    }

    pub fn bad_request(field: &str, problem: impl Into<String>) -> Self {
        Self::invalid(vec![FieldProblem { field: field.into(), problem: problem.into() }])
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: 404, message: message.into(), fields: vec![] }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self { status: 409, message: message.into(), fields: vec![] }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: 503, message: message.into(), fields: vec![] }
    }

    /// 422: the `Idempotency-Key` already named another `kind` of request's entity.
    pub fn idempotency_key_reused(kind: &str) -> Self {
        Self {
            status: 422,
            message: format!("this Idempotency-Key was already used for a different {kind}"),
            fields: vec![],
        }
    }

    /// 413: a body larger than the API takes.
    pub fn too_large(bytes: usize) -> Self {
        Self {
            status: 413,
            message: format!("the body is {bytes} bytes; this API takes at most {MAX_BODY_BYTES}"),
            fields: vec![],
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self { status: 500, message: message.into(), fields: vec![] }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::VersionConflict { .. } => {
                Self::conflict(format!("{error}: another request changed it first; read it again and retry"))
            }
            StoreError::AlreadyExists { .. }
            | StoreError::AlreadyApplied { .. }
            | StoreError::DuplicateEvent { .. } => Self::conflict(error.to_string()),
            StoreError::TooLarge(reason) => Self { status: 413, message: reason, fields: vec![] },
            // The client gets the generic answer; the log line keeps why.
            StoreError::Unavailable { .. } => {
                tracing::warn!(error = %Chain(&error), "answering 503");
                Self::unavailable("the store is unavailable; retry later")
            }
            StoreError::Corrupt(_) => {
                tracing::error!(error = %Chain(&error), "answering 500");
                Self::internal("stored data could not be read")
            }
        }
    }
}

/// A command that did not validate: a 400 naming every bad field, in the
/// order the domain reported them, so the client can fix them all at once.
impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::invalid(
            errors.iter().map(|e| FieldProblem { field: e.field.into(), problem: e.problem.clone() }).collect(),
        )
    }
}

impl From<EventCodecError> for ApiError {
    /// An event the product's contract refuses is the producer's fault, not
    /// the client's: a 500 that names the event and the rule it broke.
    fn from(error: EventCodecError) -> Self {
        Self::internal(error.to_string())
    }
}

impl From<ApiError> for ApiGatewayV2httpResponse {
    fn from(error: ApiError) -> Self {
        let body = if error.fields.is_empty() {
            json!({ "error": error.message })
        } else {
            json!({ "error": error.message, "fields": error.fields })
        };
        json_response(error.status, &body)
    }
}

/// A JSON answer with `status`.
pub fn json_response(status: u16, body: &Value) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(body.to_string()));
    response
}

/// The matched route, e.g. `POST /orders/{id}/cancel`.
pub fn route_key(request: &ApiGatewayV2httpRequest) -> String {
    request.request_context.route_key.clone().or_else(|| request.route_key.clone()).unwrap_or_default()
}

/// A path parameter the route declares, e.g. `id`.
pub fn path_param<'a>(request: &'a ApiGatewayV2httpRequest, name: &str) -> Result<&'a str, ApiError> {
    request
        .path_parameters
        .get(name)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ApiError::bad_request(name, "is required in the path"))
}

/// The header a client sends to make a create request safe to retry: the
/// same key always names the same new entity.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The id of the entity a create request makes: derived from the client's
/// `Idempotency-Key` (so a retry names the entity the first attempt created),
/// or fresh when the client sent none. `kind` keeps the ids of different
/// kinds of entity apart. A key must be 1 to 255 visible ASCII characters.
pub fn entity_id(
    request: &ApiGatewayV2httpRequest,
    kind: &str,
    fresh: impl FnOnce() -> uuid::Uuid,
) -> Result<uuid::Uuid, ApiError> {
    let Some(value) = request.headers.get(IDEMPOTENCY_KEY) else {
        return Ok(fresh());
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
    Ok(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{kind}:{key}").as_bytes()))
}

/// The W3C Trace Context header a caller sends to put a request in its trace.
pub const TRACEPARENT: &str = "traceparent";

/// The metadata of the events a request causes: a new conversation, in the
/// caller's trace when it sent a well-formed `traceparent`.
pub fn event_meta(request: &ApiGatewayV2httpRequest) -> EventMeta {
    let mut meta = EventMeta::root(uuid::Uuid::now_v7());
    meta.traceparent = request
        .headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_traceparent(v))
        .map(str::to_string);
    meta
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase, ids
/// not all zeros (W3C Trace Context, version 00). Anything else is ignored,
/// as the spec asks: a bad trace header never fails a request, and never
/// reaches the events.
fn is_traceparent(value: &str) -> bool {
    let hex =
        |field: &str, len: usize| field.len() == len && field.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let zeros = |field: &str| field.bytes().all(|b| b == b'0');
    let fields: Vec<&str> = value.split('-').collect();
    matches!(fields[..], ["00", trace_id, parent_id, flags]
        if hex(trace_id, 32) && hex(parent_id, 16) && hex(flags, 2) && !zeros(trace_id) && !zeros(parent_id))
}

/// The largest body a command takes, in bytes. API Gateway passes up to
/// 10 MB and Lambda 6 MB; a command is a few hundred bytes, so anything
/// near this is a mistake or an attack, refused before it is parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body as a JSON object (400 with a clear reason otherwise,
/// 413 when it is larger than [`MAX_BODY_BYTES`]).
pub fn json_body(request: &ApiGatewayV2httpRequest) -> Result<Value, ApiError> {
    let raw = request.body.as_deref().unwrap_or_default();
    // Base64 takes 4 characters for 3 bytes: the decoded size, without decoding.
    let size = if request.is_base64_encoded { raw.len() / 4 * 3 } else { raw.len() };
    if size > MAX_BODY_BYTES {
        return Err(ApiError::too_large(size));
    }
    let text = if request.is_base64_encoded {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| ApiError::bad_request("body", format!("is not valid base64: {e}")))?;
        String::from_utf8(bytes).map_err(|_| ApiError::bad_request("body", "is not UTF-8 text"))?
    } else {
        raw.to_string()
    };
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("body", "is required: send a JSON object"));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::bad_request("body", "must be a JSON object")),
        Err(e) => Err(ApiError::bad_request("body", format!("is not valid JSON: {e}"))),
    }
}

/// Handler tests and tools: a recorded API Gateway request (`fixture`, its
/// JSON) sent to `route`, with an `id` path parameter and a body.
pub fn recorded_request(
    fixture: &str,
    route: &str,
    id: Option<&str>,
    body: Option<&str>,
) -> Result<ApiGatewayV2httpRequest, serde_json::Error> {
    let mut request: ApiGatewayV2httpRequest = serde_json::from_str(fixture)?;
    request.request_context.route_key = Some(route.into());
    request.body = body.map(str::to_string);
    if let Some(id) = id {
        request.path_parameters.insert("id".into(), id.into());
    }
    Ok(request)
}

/// The JSON body of an answer (`Null` when it has none or it is not JSON).
pub fn response_json(response: &ApiGatewayV2httpResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use domain_kit::ValidationError;

    use super::*;

    fn request(body: Option<&str>) -> ApiGatewayV2httpRequest {
        let mut request = ApiGatewayV2httpRequest::default();
        request.body = body.map(str::to_string);
        request
    }

    fn body_of(response: &ApiGatewayV2httpResponse) -> Value {
        match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn names_the_field_and_problem_in_a_400() {
        let response: ApiGatewayV2httpResponse = ApiError::bad_request("amount_cents", "must be positive").into();
        assert_eq!(response.status_code, 400);
        assert_eq!(
            body_of(&response),
            json!({"error": "invalid request", "fields": [{"field": "amount_cents", "problem": "must be positive"}]})
        );
    }

    const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn traced(traceparent: &str) -> ApiGatewayV2httpRequest {
        let mut request = request(None);
        request.headers.insert(TRACEPARENT, traceparent.parse().unwrap());
        request
    }

    #[test]
    fn a_request_in_a_trace_starts_a_conversation_in_that_trace() {
        let request = traced(TRACE);

        let meta = event_meta(&request);

        assert_eq!(meta.traceparent.as_deref(), Some(TRACE));
        assert_eq!(meta.correlation_id, meta.causation_id, "a request starts a conversation");
    }

    #[test]
    fn ignores_a_traceparent_that_is_not_w3c_version_00() {
        for bad in [
            "",
            "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            &format!("{TRACE}, {TRACE}"),
        ] {
            let request = traced(bad);

            let meta = event_meta(&request);

            assert_eq!(meta.traceparent, None, "{bad:?}");
        }
        assert_eq!(event_meta(&request(None)).traceparent, None, "no header");
    }

    #[test]
    fn names_every_field_that_did_not_validate_in_a_400() {
        let errors = ValidationErrors(vec![
            ValidationError::new("customer_id", "must be a UUID"),
            ValidationError::new("amount_cents", "is required"),
        ]);

        let response: ApiGatewayV2httpResponse = ApiError::from(errors).into();

        assert_eq!(response.status_code, 400);
        assert_eq!(
            body_of(&response),
            json!({"error": "invalid request", "fields": [
                {"field": "customer_id", "problem": "must be a UUID"},
                {"field": "amount_cents", "problem": "is required"},
            ]})
        );
    }

    #[test]
    fn refuses_a_body_larger_than_a_command_with_413_before_reading_it() {
        let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));

        let error = json_body(&request(Some(&huge))).unwrap_err();

        assert_eq!(error.status, 413);
        assert_eq!(error.message, format!("the body is {} bytes; this API takes at most 65536", huge.len()));
        let mut encoded = request(Some(&base64::engine::general_purpose::STANDARD.encode(&huge)));
        encoded.is_base64_encoded = true;
        assert_eq!(json_body(&encoded).unwrap_err().status, 413, "the decoded size counts");
        let fits = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES - 20));
        assert!(json_body(&request(Some(&fits))).is_ok());
    }

    #[test]
    fn refuses_a_body_that_is_not_a_json_object() {
        for (body, problem) in [
            (None, "is required: send a JSON object"),
            (Some("[1]"), "must be a JSON object"),
            (Some("{"), "is not valid JSON"),
        ] {
            let error = json_body(&request(body)).unwrap_err();
            assert_eq!(error.fields[0].field, "body");
            assert!(error.fields[0].problem.starts_with(problem), "{:?}", error.fields);
        }
    }
}

//! What a call looks like to the proxy (service, operation, protocol) and the
//! error answers AWS gives for throttles and internal failures, in the
//! protocol the client speaks, so the SDK classifies them as AWS would.

use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;

/// The parts of a request that decide its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// From the SigV4 credential scope: `dynamodb`, `kinesis`, `sns`, `sqs`...
    pub service: String,
    /// `TransactWriteItems`, `PutRecords`, `PublishBatch`...
    pub operation: String,
    /// awsJson (an `X-Amz-Target` header) rather than awsQuery (a form body).
    pub json: bool,
}

impl Call {
    pub(crate) fn of(headers: &HeaderMap, body: &[u8]) -> Self {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        let operation = match target {
            Some(target) => target.rsplit('.').next().unwrap_or(target).to_owned(),
            None => form_action(body).unwrap_or_default(),
        };
        Self { service: signing_service(headers).unwrap_or_default(), operation, json: target.is_some() }
    }
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261130/us-east-1/sqs/aws4_request, ...`
fn signing_service(headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scope = authorization.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_owned)
}

fn form_action(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_owned)
}

/// A throttle: nothing was applied; the SDK retries it with backoff.
pub(crate) fn throttle(call: &Call) -> Response<Full<Bytes>> {
    let code = match (call.json, call.service.as_str()) {
        (true, "dynamodb" | "kinesis") => "ProvisionedThroughputExceededException",
        (true, _) => "ThrottlingException",
        (false, _) => "Throttling",
    };
    error(call, StatusCode::BAD_REQUEST, code, "Rate exceeded (injected by the fault proxy)")
}

/// An internal failure: nothing was applied; the SDK retries any 500.
pub(crate) fn server_error(call: &Call) -> Response<Full<Bytes>> {
    error(call, StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", "Internal failure (injected by the fault proxy)")
}

fn error(call: &Call, status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let (content_type, body) = if call.json {
        ("application/x-amz-json-1.0", serde_json::json!({ "__type": code, "message": message }).to_string())
    } else {
        let kind = if status.is_server_error() { "Receiver" } else { "Sender" };
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>fault-proxy</RequestId></ErrorResponse>"
            ),
        )
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    if let Ok(value) = header::HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", value);
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20261130/us-east-1/dynamodb/aws4_request, SignedHeaders=host";

    #[test]
    fn reads_the_operation_from_the_target_or_the_form() {
        let json = Call::of(
            &headers(&[("authorization", AUTH), ("x-amz-target", "DynamoDB_20120810.TransactWriteItems")]),
            b"{}",
        );
        assert_eq!(
            (json.service.as_str(), json.operation.as_str(), json.json),
            ("dynamodb", "TransactWriteItems", true)
        );
        let sns = AUTH.replace("dynamodb", "sns");
        let query = Call::of(&headers(&[("authorization", sns.as_str())]), b"Action=PublishBatch&Version=2010-03-31");
        assert_eq!((query.service.as_str(), query.operation.as_str(), query.json), ("sns", "PublishBatch", false));
    }

    #[test]
    fn throttles_in_the_code_each_service_uses() {
        let dynamodb = Call { service: "dynamodb".into(), operation: "PutItem".into(), json: true };
        let answer = throttle(&dynamodb);
        assert_eq!(answer.status(), 400);
        assert_eq!(answer.headers()["x-amzn-errortype"], "ProvisionedThroughputExceededException");
        let sns = Call { service: "sns".into(), operation: "Publish".into(), json: false };
        assert_eq!(throttle(&sns).headers()["x-amzn-errortype"], "Throttling");
        assert_eq!(server_error(&sns).status(), 500);
    }
}

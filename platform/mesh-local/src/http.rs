//! A small JSON-over-HTTP client for the mesh's HTTP APIs and the emulator's
//! health probe, built on the hyper/rustls stack the AWS SDK already
//! compiles, so no second HTTP client enters the dependency tree.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
pub use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::HarnessError;

/// JSON over HTTP(S), with a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client trusting the system's root certificates, with a 30 s timeout.
    pub fn new() -> Result<Self, HarnessError> {
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .map_err(HarnessError::io("loading the system's root certificates"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, timeout: Duration::from_secs(30) })
    }

    /// The same client with another per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `body` as JSON (if any) and returns the status and the response
    /// body: parsed JSON, `Null` when empty, a JSON string when not JSON.
    /// Non-2xx statuses are returned, not errors: tests assert on them.
    pub async fn http(
        &self,
        method: &str,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), HarnessError> {
        self.http_with_headers(method, url, body, &[]).await
    }

    /// [`HttpClient::http`] with more request headers (`Idempotency-Key`, ...).
    pub async fn http_with_headers(
        &self,
        method: &str,
        url: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value), HarnessError> {
        let payload = match body {
            Some(value) => {
                let bytes = serde_json::to_vec(&value).map_err(|e| HarnessError::Http {
                    method: method.to_owned(),
                    url: url.to_owned(),
                    message: e.to_string(),
                })?;
                Some(("application/json", Bytes::from(bytes)))
            }
            None => None,
        };
        self.send(method, url, payload, headers).await
    }

    /// Sends `body` with its content type (a form, a body of any size) and
    /// returns the status and the response body, read as [`HttpClient::http`] does.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<(&str, Bytes)>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, serde_json::Value), HarnessError> {
        let fail = |message: String| HarnessError::Http { method: method.to_owned(), url: url.to_owned(), message };
        let method_parsed = Method::from_bytes(method.as_bytes()).map_err(|e| fail(format!("bad method: {e}")))?;
        let mut request = Request::builder().method(method_parsed).uri(url);
        request = request.header(header::ACCEPT, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(payload)).map_err(|e| fail(e.to_string()))?;

        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| fail(error_chain(&e)))?;
            let status = response.status().as_u16();
            let bytes =
                response.into_body().collect().await.map_err(|e| fail(format!("reading the body: {e}")))?.to_bytes();
            Ok::<_, HarnessError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| fail(format!("no response within {} s", self.timeout.as_secs())))??;

        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, value))
    }
}

/// hyper's errors say little at the top ("client error (Connect)"): keep the causes.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

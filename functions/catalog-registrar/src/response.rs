//! The answer to CloudFormation: a JSON PUT to the request's presigned
//! ResponseURL (S3 on AWS), with no content type, as the URL was signed.

use std::sync::Arc;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceResponse;
use http::{Method, Request};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Debug)]
pub struct Responder {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Responder {
    pub fn new() -> Result<Self, std::io::Error> {
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self { client: Client::builder(TokioExecutor::new()).build(connector) })
    }

    /// Sends the answer; an error here leaves CloudFormation waiting, so it
    /// fails the invocation loudly (Lambda retries the event).
    pub async fn send(
        &self,
        url: &str,
        response: &CloudFormationCustomResourceResponse,
    ) -> Result<(), lambda_runtime::Error> {
        let body = serde_json::to_vec(response)?;
        let request = Request::builder()
            .method(Method::PUT)
            .uri(url)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(Full::new(Bytes::from(body)))?;
        let answer = self.client.request(request).await?;
        if !answer.status().is_success() {
            return Err(format!("the ResponseURL answered {}", answer.status()).into());
        }
        Ok(())
    }
}

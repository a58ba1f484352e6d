//! A client of the reference mesh's public HTTP APIs (orders and customers),
//! with the token of the mesh's `reference-client` on every request.
//! The analytics domain has no API: its sales view is read from its table.

use std::time::Duration;

use serde_json::{Value, json};

use mesh_local::{DeployedMesh, Emulator, Tokens};

/// The app client both APIs accept (`api.clients` of their descriptors).
pub const CLIENT: &str = "reference-client";

/// Where the reference mesh's resources are, read from the stacks' outputs.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub orders_api: String,
    pub customers_api: String,
    pub orders_state_table: String,
    pub customers_state_table: String,
    /// The analytics domain's sales view (one row per order).
    pub analytics_state_table: String,
    pub orders_stream: String,
    pub customers_stream: String,
    /// (domain, table) of every outbox.
    pub outboxes: Vec<(String, String)>,
    /// (name, url) of every consumer queue.
    pub queues: Vec<(String, String)>,
    /// (domain, table) of every consumer's inbox.
    pub inboxes: Vec<(String, String)>,
    /// (name, url) of every DLQ and on-failure destination.
    pub dead_letters: Vec<(String, String)>,
}

impl Endpoints {
    pub fn of(mesh: &DeployedMesh) -> anyhow::Result<Self> {
        let (orders, customers, analytics) =
            (mesh.domain("orders")?, mesh.domain("customers")?, mesh.domain("analytics")?);
        Ok(Self {
            orders_api: mesh.api_url("orders", "")?,
            customers_api: mesh.api_url("customers", "")?,
            orders_state_table: orders.state_table()?.to_string(),
            customers_state_table: customers.state_table()?.to_string(),
            analytics_state_table: analytics.state_table()?.to_string(),
            orders_stream: mesh.ports("orders")?.stream_name()?.to_string(),
            customers_stream: mesh.ports("customers")?.stream_name()?.to_string(),
            outboxes: vec![
                ("orders".into(), orders.outbox_table()?.to_string()),
                ("customers".into(), customers.outbox_table()?.to_string()),
            ],
            inboxes: vec![
                ("customers".into(), customers.inbox_table()?.to_string()),
                ("orders".into(), orders.inbox_table()?.to_string()),
                ("analytics".into(), analytics.inbox_table()?.to_string()),
            ],
            queues: vec![
                ("customers ← order-events".into(), customers.queue_url("order-events")?.to_string()),
                ("orders ← customer-credit".into(), orders.queue_url("customer-credit")?.to_string()),
                ("analytics ← order-events".into(), analytics.queue_url("order-events")?.to_string()),
            ],
            dead_letters: vec![
                ("customers consumer DLQ".into(), customers.dlq_url("order-events")?.to_string()),
                ("orders consumer DLQ".into(), orders.dlq_url("customer-credit")?.to_string()),
                ("analytics consumer DLQ".into(), analytics.dlq_url("order-events")?.to_string()),
                ("customers relay failures".into(), customers.relay_failure_queue_url()?.to_string()),
                ("orders relay failures".into(), orders.relay_failure_queue_url()?.to_string()),
            ],
        })
    }
}

/// How often [`Client`] sends a request that was answered 5xx or not at all.
pub const ATTEMPTS: u32 = 6;

/// A request and the answer that means it is done.
struct Expected {
    method: &'static str,
    url: String,
    body: Option<Value>,
    status: u16,
    on_retry: Option<u16>,
    /// Creates: send an `Idempotency-Key`, the same on every attempt.
    idempotent: bool,
}

impl Expected {
    fn new(method: &'static str, url: String, body: Option<Value>, status: u16) -> Self {
        Self { method, url, body, status, on_retry: None, idempotent: false }
    }
}

/// An answer that was not the expected status.
#[derive(Debug, thiserror::Error)]
#[error("{method} {url} answered {status}: {body}")]
pub struct Unexpected {
    pub method: &'static str,
    pub url: String,
    pub status: u16,
    pub body: Value,
}

#[derive(Debug)]
pub struct Client<'a> {
    emulator: &'a Emulator,
    endpoints: Endpoints,
    tokens: &'a Tokens,
}

impl<'a> Client<'a> {
    /// `tokens` of [`CLIENT`] (none where nothing issues them).
    pub fn new(emulator: &'a Emulator, endpoints: Endpoints, tokens: &'a Tokens) -> Self {
        Self { emulator, endpoints, tokens }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// `Authorization: Bearer <token>`, where tokens are issued.
    async fn authorization(&self) -> anyhow::Result<Option<String>> {
        Ok(self.tokens.bearer().await?.map(|token| format!("Bearer {token}")))
    }

    /// Any call with the client's token, answering (status, JSON body).
    pub async fn call(&self, method: &'static str, url: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let authorization = self.authorization().await?;
        let headers: Vec<(&str, &str)> = authorization.iter().map(|a| ("authorization", a.as_str())).collect();
        Ok(self.emulator.http_client().http_with_headers(method, url, body, &headers).await?)
    }

    /// Sends a request until it is answered `status`, the way a careful
    /// client does: an answer lost on the way, a 5xx or a 429 (throttled) is
    /// sent again (with the same `Idempotency-Key`, so a create lands once),
    /// up to [`ATTEMPTS`] times; any other answer is final. `on_retry` is a
    /// status that also means done once the request was sent more than once
    /// (a cancel that landed on an earlier attempt finds the order cancelled).
    async fn expect(&self, request: Expected) -> anyhow::Result<Value> {
        let key = request.idempotent.then(|| uuid::Uuid::new_v4().to_string());
        let http = self.emulator.http_client();
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The token is the cached one until it nears its expiry.
            let authorization = self.authorization().await?;
            let mut headers: Vec<(&str, &str)> = key.iter().map(|k| ("idempotency-key", k.as_str())).collect();
            headers.extend(authorization.iter().map(|a| ("authorization", a.as_str())));
            let outcome = http.http_with_headers(request.method, &request.url, request.body.clone(), &headers).await;
            let last = attempt >= ATTEMPTS;
            match outcome {
                Ok((got, answer)) if got == request.status => return Ok(answer),
                Ok((got, answer)) if attempt > 1 && Some(got) == request.on_retry => return Ok(answer),
                Ok((got, answer)) if (got < 500 && got != 429) || last => {
                    let (method, url) = (request.method, request.url);
                    return Err(Unexpected { method, url, status: got, body: answer }.into());
                }
                Err(error) if last => return Err(error.into()),
                _ => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
            }
        }
    }

    fn orders(&self, path: &str) -> String {
        format!("{}{path}", self.endpoints.orders_api.trim_end_matches('/'))
    }

    fn customers(&self, path: &str) -> String {
        format!("{}{path}", self.endpoints.customers_api.trim_end_matches('/'))
    }

    pub async fn register_customer(&self, name: &str, credit_limit_cents: u64) -> anyhow::Result<String> {
        let body = json!({ "name": name, "credit_limit_cents": credit_limit_cents });
        let request =
            Expected { idempotent: true, ..Expected::new("POST", self.customers("/customers"), Some(body), 201) };
        let answer = self.expect(request).await?;
        id_of(answer)
    }

    pub async fn get_customer(&self, id: &str) -> anyhow::Result<Value> {
        self.expect(Expected::new("GET", self.customers(&format!("/customers/{id}")), None, 200)).await
    }

    pub async fn place_order(&self, customer_id: &str, amount_cents: u64) -> anyhow::Result<String> {
        self.place_order_in(customer_id, amount_cents, None).await
    }

    /// Places an order through a sales channel (`web`, `mobile`, ...); `None` sends no channel.
    pub async fn place_order_in(
        &self,
        customer_id: &str,
        amount_cents: u64,
        channel: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut body = json!({ "customer_id": customer_id, "amount_cents": amount_cents });
        if let Some(channel) = channel {
            body["channel"] = json!(channel);
        }
        let request = Expected { idempotent: true, ..Expected::new("POST", self.orders("/orders"), Some(body), 202) };
        let answer = self.expect(request).await?;
        id_of(answer)
    }

    pub async fn get_order(&self, id: &str) -> anyhow::Result<Value> {
        self.expect(Expected::new("GET", self.orders(&format!("/orders/{id}")), None, 200)).await
    }

    pub async fn cancel_order(&self, id: &str) -> anyhow::Result<Value> {
        let request = Expected::new("POST", self.orders(&format!("/orders/{id}/cancel")), None, 202);
        self.expect(Expected { on_retry: Some(409), ..request }).await
    }

    pub fn orders_url(&self, path: &str) -> String {
        self.orders(path)
    }
}

fn id_of(answer: Value) -> anyhow::Result<String> {
    answer["id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("no id in {answer}"))
}

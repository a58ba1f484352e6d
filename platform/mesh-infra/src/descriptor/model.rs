//! A domain's descriptor (`domains/<name>/domain.yaml`): who owns the
//! domain, the data products it publishes, and the products it consumes.
//! The JSON Schema `schemas/descriptor.schema.json` describes the same shape
//! for editors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use mesh::contract::Compatibility;
pub use mesh::ordering::Order;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    pub domain: String,
    pub description: String,
    pub owner: Owner,
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub consumes: Vec<Subscription>,
    /// The domain's HTTP commands and queries, if it takes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    /// The steps of its sagas that wait for another domain, each with a deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga: Option<Saga>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saga {
    pub deadlines: Vec<SagaDeadline>,
}

/// A step that waits for another domain's answer, and how long it may wait.
/// When the relay publishes an event of type `starts_with`, the scheduler
/// (EventBridge Scheduler) is asked to deliver a deadline to `handler`'s
/// queue `timeout_seconds` later; an entity whose latest event is still of
/// that type is waiting for the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaDeadline {
    /// Lowercase letters, digits and `-`, e.g. `credit-check`.
    pub step: String,
    /// An event type of one of the domain's products.
    pub starts_with: String,
    /// The product whose answer ends the step: one `handler` consumes.
    pub waits_for: ProductRef,
    pub timeout_seconds: u32,
    /// The consumer function the deadline is delivered to.
    pub handler: String,
}

/// An HTTP API (API Gateway HTTP API, payload 2.0) served by one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// The function (a crate under `functions/`) that serves every route.
    pub handler: String,
    /// The stage's request rate limits; the platform's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<Throttling>,
    /// The app clients of the mesh's user pool this API accepts tokens of
    /// (their ids are the tokens' audience), and the scopes each may get.
    #[serde(default)]
    pub clients: Vec<ApiClient>,
    pub routes: Vec<Route>,
}

/// API Gateway's token bucket for every route of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttling {
    /// Requests per second, sustained.
    pub rate_limit: u32,
    /// Requests at once above the rate.
    pub burst_limit: u32,
}

impl Throttling {
    /// What a stage gets when the descriptor says nothing.
    pub const DEFAULT: Self = Self { rate_limit: 100, burst_limit: 200 };
}

/// An app client of the mesh's user pool, by name, and what it may do here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClient {
    /// The client's name, the same in every domain that accepts it.
    pub name: String,
    /// `<domain>/<name>` scopes of this API the client may be granted.
    pub scopes: Vec<String>,
}

/// One route and who may call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `METHOD /path`, with `{name}` path parameters, e.g. `POST /orders/{id}/cancel`.
    pub route: String,
    pub auth: RouteAuth,
    /// For `jwt`: the token must carry one of these scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// How API Gateway authorizes a route's caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// An OAuth 2.0 access token of the mesh's issuer (people, front ends).
    Jwt,
    /// A SigV4-signed request whose IAM principal may `execute-api:Invoke` (services).
    Iam,
}

impl Api {
    /// Whether any route takes a JWT (the API then has an authorizer).
    pub fn has_jwt_routes(&self) -> bool {
        self.routes.iter().any(|r| r.auth == RouteAuth::Jwt)
    }

    /// Every scope the API's routes ask for, each once, in route order.
    pub fn scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = Vec::new();
        for scope in self.routes.iter().flat_map(|r| &r.scopes) {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
        scopes
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub team: String,
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub name: String,
    pub description: String,
    /// The major version: a breaking change is a new major version.
    pub version: u32,
    pub compatibility: Compatibility,
    pub classification: Classification,
    /// Data fields holding personal data: each travels in the protected
    /// form (`mesh.pii.Protected`), never in clear.
    #[serde(default)]
    pub pii: Vec<String>,
    pub events: Vec<EventContract>,
    pub ports: Ports,
    pub access: Access,
    pub service_levels: ServiceLevels,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventContract {
    #[serde(rename = "type")]
    pub event_type: String,
    /// Every version's `.avsc`, relative to `schemas/`, version 1 first.
    pub schemas: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub sns: SnsPort,
    pub kinesis: KinesisPort,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsPort {
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisPort {
    pub stream: String,
    pub retention_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// The consumer domains the owner grants a subscription.
    pub subscribers: Vec<String>,
    /// The subscribers granted the product's PII in clear (each must be a
    /// subscriber): their subscriber unseals the protected fields before
    /// their handler runs; every other subscriber's handler sees tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pii_readers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLevels {
    /// The end-to-end delay the producer promises, from the change to the event on every port.
    pub freshness_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub product: ProductRef,
    pub version: u32,
    pub events: Vec<String>,
    /// The function that handles the events.
    pub handler: String,
    /// What the platform guarantees about the order events of one entity
    /// reach the handler in.
    #[serde(default, skip_serializing_if = "Order::is_any")]
    pub order: Order,
}

/// `<domain>/<product>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductRef {
    pub domain: String,
    pub product: String,
}

/// Text that does not name a product as `<domain>/<product>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not <domain>/<product>")]
pub struct NotAProductRef(pub String);

impl FromStr for ProductRef {
    type Err = NotAProductRef;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('/') {
            Some((domain, product)) if !domain.is_empty() && !product.is_empty() && !product.contains('/') => {
                Ok(Self { domain: domain.into(), product: product.into() })
            }
            _ => Err(NotAProductRef(text.to_owned())),
        }
    }
}

impl TryFrom<String> for ProductRef {
    type Error = NotAProductRef;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ProductRef> for String {
    fn from(reference: ProductRef) -> Self {
        reference.to_string()
    }
}

impl fmt::Display for ProductRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.product)
    }
}

impl Descriptor {
    pub fn product(&self, name: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.name == name)
    }
}

impl Product {
    /// Whether `domain` reads this product's PII in clear.
    pub fn grants_pii_to(&self, domain: &str) -> bool {
        !self.pii.is_empty() && self.pii_readers().any(|reader| reader == domain)
    }

    /// The subscribers granted the product's PII.
    pub fn pii_readers(&self) -> impl Iterator<Item = &str> {
        self.access.pii_readers.iter().map(String::as_str)
    }
}

//! Which schema an event was written with, and where a consumer finds it.
//!
//! Every envelope names its writer's schema in `dataschema` as
//! `urn:mesh:schema:<domain>:<product>:v<major>:<EventType>:<version>`. The
//! producer stamps it from its [`ProductContract`]; a consumer resolves it
//! through [`WriterSchemas`] (the schema registry in production, a bundle in
//! tests) and reads the data with its own reader schema.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::contract::{AvroSchema, SchemaVersion};
use crate::pii::{ProtectedField, protected_fields};

const URN_PREFIX: &str = "urn:mesh:schema:";

/// One version of one event type's schema in one product major version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaRef {
    pub domain: String,
    pub product: String,
    pub major: u32,
    pub event_type: String,
    pub version: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaRefError {
    #[error(
        "dataschema `{0}` is not `urn:mesh:schema:<domain>:<product>:v<major>:<EventType>:<version>` \
         with positive numbers"
    )]
    Malformed(String),
}

impl SchemaRef {
    pub fn parse(urn: &str) -> Result<Self, SchemaRefError> {
        let malformed = || SchemaRefError::Malformed(urn.to_string());
        let parts: Vec<&str> = urn.strip_prefix(URN_PREFIX).ok_or_else(malformed)?.split(':').collect();
        let [domain, product, major, event_type, version] = parts[..] else { return Err(malformed()) };
        let positive = |text: &str| text.parse::<u32>().ok().filter(|n| *n > 0);
        let major = major.strip_prefix('v').and_then(positive).ok_or_else(malformed)?;
        let version = positive(version).ok_or_else(malformed)?;
        if [domain, product, event_type].iter().any(|part| part.is_empty()) {
            return Err(malformed());
        }
        Ok(Self {
            domain: domain.to_string(),
            product: product.to_string(),
            major,
            event_type: event_type.to_string(),
            version,
        })
    }

    /// The registry schema this version belongs to: `<product>.v<major>.<EventType>`.
    pub fn registry_schema_name(&self) -> String {
        format!("{}.v{}.{}", self.product, self.major, self.event_type)
    }
}

impl fmt::Display for SchemaRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { domain, product, major, event_type, version } = self;
        write!(f, "{URN_PREFIX}{domain}:{product}:v{major}:{event_type}:{version}")
    }
}

/// The schema registry that holds a domain's schemas in the mesh `mesh`
/// (the deployment prefix): `<mesh>-<domain>`.
pub fn registry_name(mesh: &str, domain: &str) -> String {
    format!("{mesh}-{domain}")
}

/// A schema as a domain crate bundles it: `(event type, version, .avsc text)`.
/// Domain crates stay free of platform types, so this is a plain tuple.
pub type BundledSchema = (&'static str, u32, &'static str);

/// A product's schemas as a domain crate bundles them:
/// `(domain, product, major version, schemas)`.
pub type BundledProduct = (&'static str, &'static str, u32, &'static [BundledSchema]);

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{product} schema for `{event_type}` v{version}: {reason}")]
    BadSchema { product: String, event_type: String, version: u32, reason: String },
    #[error("{product} bundles two schemas for `{event_type}`")]
    Duplicate { product: String, event_type: String },
}

/// The schemas one side of a product speaks, one version per event type:
/// the producer's writer schemas, or a consumer's reader schemas.
#[derive(Debug, Clone)]
pub struct ProductContract {
    domain: String,
    product: String,
    major: u32,
    schemas: BTreeMap<String, (u32, Arc<AvroSchema>)>,
    /// Per event type, the fields in the protected form (`mesh.pii.Protected`).
    protected: BTreeMap<String, Vec<ProtectedField>>,
}

impl ProductContract {
    /// `bundle` holds one `(event type, version, .avsc)` per event type.
    pub fn new(domain: &str, product: &str, major: u32, bundle: &[BundledSchema]) -> Result<Self, ContractError> {
        let label = format!("{domain}/{product} v{major}");
        let mut schemas = BTreeMap::new();
        let mut protected = BTreeMap::new();
        for &(event_type, version, text) in bundle {
            let parsed = SchemaVersion::parse(version, format!("{label} {event_type}"), text).map_err(|e| {
                ContractError::BadSchema {
                    product: label.clone(),
                    event_type: event_type.to_string(),
                    version,
                    reason: e.to_string(),
                }
            })?;
            protected.insert(event_type.to_string(), protected_fields(&parsed.schema));
            if schemas.insert(event_type.to_string(), (version, Arc::new(parsed.schema))).is_some() {
                return Err(ContractError::Duplicate { product: label, event_type: event_type.to_string() });
            }
        }
        Ok(Self { domain: domain.to_string(), product: product.to_string(), major, schemas, protected })
    }

    pub fn bundled((domain, product, major, schemas): BundledProduct) -> Result<Self, ContractError> {
        Self::new(domain, product, major, schemas)
    }

    /// `<domain>/<product>`, the CloudEvents `source` of the product's events.
    pub fn source(&self) -> String {
        format!("{}/{}", self.domain, self.product)
    }

    pub fn label(&self) -> String {
        format!("{}/{} v{}", self.domain, self.product, self.major)
    }

    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.schemas.keys().map(String::as_str)
    }

    /// The fields of `event_type`'s data that travel in the protected form.
    pub fn protected(&self, event_type: &str) -> &[ProtectedField] {
        self.protected.get(event_type).map_or(&[], Vec::as_slice)
    }

    /// Whether any event type of this contract has a protected field.
    pub fn has_protected_fields(&self) -> bool {
        self.protected.values().any(|fields| !fields.is_empty())
    }

    /// The schema this side speaks for `event_type`, and its reference.
    pub fn schema(&self, event_type: &str) -> Option<(SchemaRef, &Arc<AvroSchema>)> {
        self.schemas.get(event_type).map(|(version, schema)| {
            let reference = SchemaRef {
                domain: self.domain.clone(),
                product: self.product.clone(),
                major: self.major,
                event_type: event_type.to_string(),
                version: *version,
            };
            (reference, schema)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The registry does not know this version: the event cannot be read.
    #[error("schema {0} is not registered")]
    NotFound(SchemaRef),
    /// The registry could not be asked or answered nonsense: try again later.
    #[error("looking up schema {reference}")]
    Unavailable {
        reference: SchemaRef,
        #[source]
        source: crate::error::Cause,
    },
}

/// Where consumers find the schema an event was written with.
pub trait WriterSchemas: Send + Sync {
    fn writer_schema(&self, reference: &SchemaRef)
    -> impl Future<Output = Result<Arc<AvroSchema>, LookupError>> + Send;
}

/// Writer schemas known in advance: tests, and tools that read `schemas/`.
#[derive(Debug, Default, Clone)]
pub struct KnownSchemas(HashMap<SchemaRef, Arc<AvroSchema>>);

impl KnownSchemas {
    pub fn with(mut self, reference: SchemaRef, schema: AvroSchema) -> Self {
        self.0.insert(reference, Arc::new(schema));
        self
    }

    /// Every schema of a contract, under the references it stamps.
    pub fn with_contract(mut self, contract: &ProductContract) -> Self {
        for event_type in contract.event_types() {
            if let Some((reference, schema)) = contract.schema(event_type) {
                self.0.insert(reference, schema.clone());
            }
        }
        self
    }
}

impl WriterSchemas for KnownSchemas {
    async fn writer_schema(&self, reference: &SchemaRef) -> Result<Arc<AvroSchema>, LookupError> {
        self.0.get(reference).cloned().ok_or_else(|| LookupError::NotFound(reference.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PLACED_V1: &str = include_str!("../../../schemas/orders/order-events/v1/OrderPlaced/1.avsc");

    #[test]
    fn a_reference_round_trips_through_its_urn() {
        let urn = "urn:mesh:schema:orders:order-events:v1:OrderPlaced:2";

        let reference = SchemaRef::parse(urn).unwrap();

        assert_eq!(reference.to_string(), urn);
        assert_eq!((reference.major, reference.version), (1, 2));
        assert_eq!(reference.registry_schema_name(), "order-events.v1.OrderPlaced");
    }

    #[test]
    fn refuses_a_reference_that_is_not_a_mesh_urn() {
        for urn in [
            "urn:mesh:schema:orders:order-events:OrderPlaced:1",
            "urn:mesh:schema:orders:order-events:v0:OrderPlaced:1",
            "urn:mesh:schema:orders:order-events:v1:OrderPlaced:x",
            "https://example.com/schema.json",
            "urn:mesh:schema:orders::v1:OrderPlaced:1",
        ] {
            let error = SchemaRef::parse(urn).unwrap_err();
            assert!(error.to_string().contains(urn), "{error}");
        }
    }

    #[test]
    fn a_contract_names_the_schema_it_speaks_per_type() {
        let contract = ProductContract::new("orders", "order-events", 1, &[("OrderPlaced", 1, PLACED_V1)]).unwrap();

        let (reference, _) = contract.schema("OrderPlaced").unwrap();

        assert_eq!(reference.to_string(), "urn:mesh:schema:orders:order-events:v1:OrderPlaced:1");
        assert!(contract.schema("OrderShipped").is_none());
        assert_eq!(contract.source(), "orders/order-events");
    }

    #[test]
    fn refuses_a_bundle_with_a_broken_schema_naming_it() {
        let error = ProductContract::new("orders", "order-events", 1, &[("OrderPlaced", 3, "{\"type\": \"recrod\"}")])
            .unwrap_err();

        assert!(error.to_string().contains("orders/order-events v1 schema for `OrderPlaced` v3"), "{error}");
    }
}

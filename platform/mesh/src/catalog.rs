//! What the catalog holds for one data product: the `Spec` property of a
//! catalog stack's `Custom::DataProduct`, which the build-time generator
//! writes from a domain's descriptor and the registrar function reads. Plain
//! data, so both sides agree on one type.

use serde::{Deserialize, Serialize};

use crate::contract::Compatibility;

/// One product major version of one domain, in one mesh deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSpec {
    /// The deployment prefix: `mesh`, `mesh-7f3a`...
    pub mesh: String,
    pub domain: String,
    pub domain_description: String,
    pub owner: OwnerSpec,
    pub product: ProductSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerSpec {
    pub team: String,
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    pub name: String,
    /// The major version: a breaking change is a new table.
    pub version: u32,
    pub description: String,
    pub compatibility: Compatibility,
    pub classification: String,
    /// Fields of the events' data that hold personal data.
    pub pii: Vec<String>,
    pub freshness_seconds: u32,
    pub retention_hours: u32,
    pub topic_arn: String,
    pub stream_arn: String,
    /// Consumer domains the owner grants a subscription.
    pub subscribers: Vec<String>,
    /// The subscribers that read the `pii` fields in clear; every other one
    /// reads their tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pii_readers: Vec<String>,
    pub events: Vec<EventSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    #[serde(rename = "type")]
    pub event_type: String,
    /// Every version's `.avsc`, version 1 first.
    pub versions: Vec<String>,
}

impl CatalogSpec {
    /// `<mesh>_<domain>`: Glue database names take no dashes.
    pub fn database(&self) -> String {
        format!("{}_{}", self.mesh, self.domain).replace('-', "_")
    }

    /// `<product>_v<major>`.
    pub fn table(&self) -> String {
        format!("{}_v{}", self.product.name, self.product.version).replace('-', "_")
    }

    /// `<mesh>-<domain>`: the domain's schema registry.
    pub fn registry(&self) -> String {
        crate::schemas::registry_name(&self.mesh, &self.domain)
    }

    /// `<product>.v<major>.<EventType>`: one registry schema per event type.
    pub fn schema_name(&self, event_type: &str) -> String {
        format!("{}.v{}.{}", self.product.name, self.product.version, event_type)
    }

    /// `<domain>/<product>`.
    pub fn qualified_product(&self) -> String {
        format!("{}/{}", self.domain, self.product.name)
    }
}

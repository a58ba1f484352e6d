//! What the catalog holds for one data product: the custom resource's
//! `Spec` property and `mesh catalog sync`'s input, built from a domain's
//! descriptor and its schema files.

use serde::{Deserialize, Serialize};

use mesh::contract::Compatibility;

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
        crate::schema_registry::registry_name(&self.mesh, &self.domain)
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

/// Where a product's ports are, as the catalog records them: real ARNs, or
/// CloudFormation `${..}` substitutions when the spec goes into a template.
#[derive(Debug, Clone)]
pub struct PortArns {
    pub topic_arn: String,
    pub stream_arn: String,
}

impl CatalogSpec {
    /// The spec of `product` of domain `domain`, from the mesh's descriptors
    /// and schema files.
    pub fn from_descriptor(
        mesh_name: &str,
        mesh: &mesh::descriptor::Mesh,
        domain: &mesh::descriptor::Descriptor,
        product: &mesh::descriptor::Product,
        ports: PortArns,
    ) -> Self {
        let events = product
            .events
            .iter()
            .map(|event| EventSpec {
                event_type: event.event_type.clone(),
                versions: mesh.versions(&event.schemas).into_iter().map(|v| v.text.clone()).collect(),
            })
            .collect();
        Self {
            mesh: mesh_name.to_string(),
            domain: domain.domain.clone(),
            domain_description: domain.description.clone(),
            owner: OwnerSpec { team: domain.owner.team.clone(), contact: domain.owner.contact.clone() },
            product: ProductSpec {
                name: product.name.clone(),
                version: product.version,
                description: product.description.clone(),
                compatibility: product.compatibility,
                classification: product.classification.to_string(),
                pii: product.pii.clone(),
                freshness_seconds: product.service_levels.freshness_seconds,
                retention_hours: product.ports.kinesis.retention_hours,
                topic_arn: ports.topic_arn,
                stream_arn: ports.stream_arn,
                subscribers: product.access.subscribers.clone(),
                events,
            },
        }
    }
}

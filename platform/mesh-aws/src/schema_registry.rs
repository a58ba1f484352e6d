//! Writer schemas from the Glue Schema Registry, for consumers.
//!
//! A consumer reads an event written with a schema version it was not built
//! with (the producer moved on) by fetching that version once from the
//! registry the catalog custom resource filled: registry `<mesh>-<domain>`,
//! schema `<product>.v<major>.<EventType>`, version number from `dataschema`.
//! Versions never change once registered, so each is cached for the life of
//! the Lambda environment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_glue::Client;
use aws_sdk_glue::error::SdkError;
use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;
use aws_sdk_glue::types::{SchemaId, SchemaVersionNumber};
use mesh::contract::{AvroSchema, SchemaVersion};
use mesh::env;
use mesh::schemas::{LookupError, SchemaRef, WriterSchemas, registry_name};
use tracing::instrument;

use crate::config::{ConfigError, required, sdk_config};

/// The registry of the mesh named `mesh` (the deployment prefix).
#[derive(Debug)]
pub struct GlueSchemas {
    client: Client,
    mesh: String,
    cache: Mutex<HashMap<SchemaRef, Arc<AvroSchema>>>,
}

impl GlueSchemas {
    pub fn new(client: Client, mesh: impl Into<String>) -> Self {
        Self { client, mesh: mesh.into(), cache: Mutex::default() }
    }

    /// Reads `MESH_PREFIX`, the deployment the function belongs to.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let mesh = required(env::MESH_PREFIX)?;
        Ok(Self::new(Client::new(&sdk_config().await), mesh))
    }

    fn cached(&self, reference: &SchemaRef) -> Option<Arc<AvroSchema>> {
        self.cache.lock().ok().and_then(|cache| cache.get(reference).cloned())
    }

    #[instrument(skip(self), fields(schema = %reference))]
    async fn fetch(&self, reference: &SchemaRef) -> Result<Arc<AvroSchema>, LookupError> {
        let unavailable =
            |source: mesh::error::Cause| LookupError::Unavailable { reference: reference.clone(), source };
        let output = self
            .client
            .get_schema_version()
            .schema_id(
                SchemaId::builder()
                    .registry_name(registry_name(&self.mesh, &reference.domain))
                    .schema_name(reference.registry_schema_name())
                    .build(),
            )
            .schema_version_number(SchemaVersionNumber::builder().version_number(i64::from(reference.version)).build())
            .send()
            .await
            .map_err(|error| match error {
                SdkError::ServiceError(ref service)
                    if matches!(service.err(), GetSchemaVersionError::EntityNotFoundException(_)) =>
                {
                    LookupError::NotFound(reference.clone())
                }
                other => unavailable(other.into()),
            })?;
        let text =
            output.schema_definition().ok_or_else(|| unavailable("the registry returned no definition".into()))?;
        let parsed = SchemaVersion::parse(reference.version, reference.to_string(), text)
            .map_err(|e| unavailable(format!("the registered definition does not parse: {e}").into()))?;
        let schema = Arc::new(parsed.schema);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(reference.clone(), schema.clone());
        }
        Ok(schema)
    }
}

impl WriterSchemas for GlueSchemas {
    async fn writer_schema(&self, reference: &SchemaRef) -> Result<Arc<AvroSchema>, LookupError> {
        match self.cached(reference) {
            Some(schema) => Ok(schema),
            None => self.fetch(reference).await,
        }
    }
}

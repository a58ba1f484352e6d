//! Registers a data product in the Glue Data Catalog and the Glue Schema
//! Registry, idempotently: what exists and matches is left alone, what is
//! missing is created, what differs is updated, and nothing is written at
//! all when a new schema version breaks the product's compatibility mode.
//!
//! - Database `<mesh>_<domain>` (owner and contact as parameters).
//! - Registry `<mesh>-<domain>`; a schema `<product>.v<major>.<EventType>`
//!   per event type with the product's mode; every version, in order.
//!   Versions are immutable and never removed: a registered version whose
//!   definition differs from its file, or a registry ahead of the files, is
//!   refused.
//! - Table `<product>_v<major>`: the CloudEvents envelope columns and a
//!   `data` struct merging every event type's latest schema. A table holds
//!   one `SchemaReference`; it names the first event type's latest version,
//!   and the parameter `schemas` lists every event type's schema and version.

use std::collections::HashMap;

use aws_sdk_glue::Client;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{
    Column, DatabaseInput, SchemaId, SchemaReference, SchemaVersionNumber, SchemaVersionStatus, StorageDescriptor,
    Table, TableInput,
};
use mesh::contract::{GlueColumn, SchemaVersion, check_versions, merged_struct};
use serde_json::Value;
use tracing::instrument;

use mesh::catalog::CatalogSpec;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{product} {event_type}: {reason}")]
    InvalidSchema { product: String, event_type: String, reason: String },
    #[error("{product} {event_type} breaks {mode}: {details}")]
    Incompatible { product: String, event_type: String, mode: String, details: String },
    #[error("{product} {event_type}: {reason}")]
    RegistryConflict { product: String, event_type: String, reason: String },
    #[error("{product}: the catalog cannot represent its data: {reason}")]
    Unsupported { product: String, reason: String },
    #[error("Glue {operation}")]
    Glue {
        operation: &'static str,
        #[source]
        source: mesh::error::Cause,
    },
}

/// A failed Glue call, the SDK's error kept as the cause.
pub fn glue<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> CatalogError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |error| CatalogError::Glue { operation, source: error.into() }
}

fn not_found<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().and_then(ProvideErrorMetadata::code) == Some("EntityNotFoundException")
}

/// What a sync did, item by item (`database orders`, `schema order-events.v1.OrderPlaced v2`...).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

impl SyncReport {
    /// Whether the sync wrote anything.
    pub fn changed(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty()
    }
}

/// The Glue side of the catalog.
#[derive(Debug, Clone)]
pub struct Registrar {
    client: Client,
}

/// The envelope columns every product table starts with.
const ENVELOPE: [(&str, &str, &str); 9] = [
    ("id", "string", "CloudEvents id (UUIDv7)"),
    ("source", "string", "<domain>/<product>"),
    ("type", "string", "the event type"),
    ("subject", "string", "the entity the event is about"),
    ("time", "timestamp", "when it happened"),
    ("sequence", "bigint", "the entity's event sequence"),
    ("correlationid", "string", "the conversation the event belongs to"),
    ("causationid", "string", "the event or command that caused it"),
    ("dataschema", "string", "urn:mesh:schema:<domain>:<product>:v<major>:<EventType>:<version>"),
];

impl Registrar {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Brings the catalog in line with `spec`.
    #[instrument(skip_all, fields(product = %spec.qualified_product(), version = spec.product.version))]
    pub async fn sync(&self, spec: &CatalogSpec) -> Result<SyncReport, CatalogError> {
        let parsed = parse_and_check(spec)?;
        let columns = table_columns(spec, &parsed)?;
        let mut report = SyncReport::default();
        self.sync_database(spec, &mut report).await?;
        self.sync_registry(spec, &mut report).await?;
        for (event, versions) in spec.product.events.iter().zip(&parsed) {
            self.sync_schema(spec, &event.event_type, versions, &mut report).await?;
        }
        self.sync_table(spec, columns, &mut report).await?;
        Ok(report)
    }

    /// Removes the product's table (and the database once it holds no
    /// table). Registry schemas stay: they are the contract's history, and
    /// consumers may still read events written with them.
    pub async fn remove(&self, spec: &CatalogSpec) -> Result<(), CatalogError> {
        let database = spec.database();
        match self.client.delete_table().database_name(&database).name(spec.table()).send().await {
            Ok(_) => {}
            Err(error) if not_found(&error) => {}
            Err(error) => return Err(glue("DeleteTable")(error)),
        }
        let tables = match self.client.get_tables().database_name(&database).send().await {
            Ok(output) => output.table_list().len(),
            Err(error) if not_found(&error) => return Ok(()),
            Err(error) => return Err(glue("GetTables")(error)),
        };
        if tables == 0 {
            match self.client.delete_database().name(&database).send().await {
                Ok(_) => {}
                Err(error) if not_found(&error) => {}
                Err(error) => return Err(glue("DeleteDatabase")(error)),
            }
        }
        Ok(())
    }

    async fn sync_database(&self, spec: &CatalogSpec, report: &mut SyncReport) -> Result<(), CatalogError> {
        let name = spec.database();
        let parameters = HashMap::from([
            ("owner".to_string(), spec.owner.team.clone()),
            ("contact".to_string(), spec.owner.contact.clone()),
            ("mesh".to_string(), spec.mesh.clone()),
        ]);
        let input = DatabaseInput::builder()
            .name(&name)
            .description(&spec.domain_description)
            .set_parameters(Some(parameters.clone()))
            .build()
            .map_err(|e| CatalogError::Glue { operation: "DatabaseInput", source: e.into() })?;
        let item = format!("database {name}");
        match self.client.get_database().name(&name).send().await {
            Ok(output) => {
                let existing = output.database();
                let same = existing.is_some_and(|d| {
                    d.description() == Some(spec.domain_description.as_str()) && d.parameters() == Some(&parameters)
                });
                if same {
                    report.unchanged.push(item);
                } else {
                    self.client
                        .update_database()
                        .name(&name)
                        .database_input(input)
                        .send()
                        .await
                        .map_err(glue("UpdateDatabase"))?;
                    report.updated.push(item);
                }
            }
            Err(error) if not_found(&error) => {
                self.client.create_database().database_input(input).send().await.map_err(glue("CreateDatabase"))?;
                report.created.push(item);
            }
            Err(error) => return Err(glue("GetDatabase")(error)),
        }
        Ok(())
    }

    async fn sync_registry(&self, spec: &CatalogSpec, report: &mut SyncReport) -> Result<(), CatalogError> {
        let name = spec.registry();
        let item = format!("registry {name}");
        let id = aws_sdk_glue::types::RegistryId::builder().registry_name(&name).build();
        match self.client.get_registry().registry_id(id).send().await {
            Ok(_) => report.unchanged.push(item),
            Err(error) if not_found(&error) => {
                self.client
                    .create_registry()
                    .registry_name(&name)
                    .description(format!("Schemas of the {} domain's data products ({})", spec.domain, spec.owner.team))
                    .send()
                    .await
                    .map_err(glue("CreateRegistry"))?;
                report.created.push(item);
            }
            Err(error) => return Err(glue("GetRegistry")(error)),
        }
        Ok(())
    }

    async fn sync_schema(
        &self,
        spec: &CatalogSpec,
        event_type: &str,
        versions: &[SchemaVersion],
        report: &mut SyncReport,
    ) -> Result<(), CatalogError> {
        let name = spec.schema_name(event_type);
        let id = || SchemaId::builder().registry_name(spec.registry()).schema_name(&name).build();
        let conflict = |reason: String| CatalogError::RegistryConflict {
            product: spec.qualified_product(),
            event_type: event_type.to_string(),
            reason,
        };
        let mode = spec.product.compatibility.glue_name();
        let latest = match self.client.get_schema().schema_id(id()).send().await {
            Ok(schema) => {
                if schema.compatibility().map(|c| c.as_str()) == Some(mode) {
                    report.unchanged.push(format!("schema {name} compatibility {mode}"));
                } else {
                    self.client
                        .update_schema()
                        .schema_id(id())
                        .compatibility(mode.into())
                        .send()
                        .await
                        .map_err(glue("UpdateSchema"))?;
                    report.updated.push(format!("schema {name} compatibility {mode}"));
                }
                schema.latest_schema_version().unwrap_or(0)
            }
            Err(error) if not_found(&error) => {
                self.client
                    .create_schema()
                    .registry_id(aws_sdk_glue::types::RegistryId::builder().registry_name(spec.registry()).build())
                    .schema_name(&name)
                    .data_format(aws_sdk_glue::types::DataFormat::Avro)
                    .compatibility(mode.into())
                    .description(format!("{} {event_type} events", spec.qualified_product()))
                    .schema_definition(&versions[0].text)
                    .send()
                    .await
                    .map_err(glue("CreateSchema"))?;
                report.created.push(format!("schema {name} v1"));
                1
            }
            Err(error) => return Err(glue("GetSchema")(error)),
        };
        if latest > versions.len() as i64 {
            return Err(conflict(format!(
                "the registry holds {latest} versions of {name} but the contract lists {}: versions are never removed",
                versions.len()
            )));
        }
        for schema in versions {
            let number = i64::from(schema.version);
            let item = format!("schema {name} v{number}");
            if number <= latest {
                let registered = self
                    .client
                    .get_schema_version()
                    .schema_id(id())
                    .schema_version_number(SchemaVersionNumber::builder().version_number(number).build())
                    .send()
                    .await
                    .map_err(glue("GetSchemaVersion"))?;
                if !same_definition(registered.schema_definition().unwrap_or_default(), &schema.text) {
                    return Err(conflict(format!(
                        "v{number} is registered with another definition than {}: a version never changes, add a new one",
                        schema.origin
                    )));
                }
                if !report.created.contains(&item) {
                    report.unchanged.push(item);
                }
                continue;
            }
            let registered = self
                .client
                .register_schema_version()
                .schema_id(id())
                .schema_definition(&schema.text)
                .send()
                .await
                .map_err(glue("RegisterSchemaVersion"))?;
            if registered.status() == Some(&SchemaVersionStatus::Failure) {
                return Err(conflict(format!("the registry refused v{number} as incompatible under {mode}")));
            }
            if registered.version_number() != Some(number) {
                return Err(conflict(format!(
                    "{} was registered as version {:?}, expected {number}",
                    schema.origin,
                    registered.version_number()
                )));
            }
            report.created.push(item);
        }
        Ok(())
    }

    async fn sync_table(
        &self,
        spec: &CatalogSpec,
        columns: Vec<GlueColumn>,
        report: &mut SyncReport,
    ) -> Result<(), CatalogError> {
        let database = spec.database();
        let name = spec.table();
        let item = format!("table {database}.{name}");
        let input = table_input(spec, columns)?;
        match self.client.get_table().database_name(&database).name(&name).send().await {
            Ok(output) => {
                if output.table().is_some_and(|table| same_table(table, &input)) {
                    report.unchanged.push(item);
                } else {
                    self.client
                        .update_table()
                        .database_name(&database)
                        .table_input(input)
                        .send()
                        .await
                        .map_err(glue("UpdateTable"))?;
                    report.updated.push(item);
                }
            }
            Err(error) if not_found(&error) => {
                self.client
                    .create_table()
                    .database_name(&database)
                    .table_input(input)
                    .send()
                    .await
                    .map_err(glue("CreateTable"))?;
                report.created.push(item);
            }
            Err(error) => return Err(glue("GetTable")(error)),
        }
        Ok(())
    }
}

/// Parses every version and runs the compatibility gate, before any write.
fn parse_and_check(spec: &CatalogSpec) -> Result<Vec<Vec<SchemaVersion>>, CatalogError> {
    let product = spec.qualified_product();
    let mut all = Vec::new();
    for event in &spec.product.events {
        let invalid = |reason: String| CatalogError::InvalidSchema {
            product: product.clone(),
            event_type: event.event_type.clone(),
            reason,
        };
        if event.versions.is_empty() {
            return Err(invalid("no schema version".into()));
        }
        let versions = event
            .versions
            .iter()
            .zip(1..)
            .map(|(text, version)| SchemaVersion::parse(version, format!("{} v{version}", event.event_type), text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(named) = versions.iter().find(|v| v.name() != Some(event.event_type.as_str())) {
            return Err(invalid(format!(
                "{} names its record {:?}, not {}",
                named.origin,
                named.name(),
                event.event_type
            )));
        }
        let broken = check_versions(spec.product.compatibility, &versions);
        if !broken.is_empty() {
            return Err(CatalogError::Incompatible {
                product: product.clone(),
                event_type: event.event_type.clone(),
                mode: spec.product.compatibility.to_string(),
                details: broken.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            });
        }
        all.push(versions);
    }
    Ok(all)
}

/// The envelope columns, then `data`: the latest schemas' fields merged.
fn table_columns(spec: &CatalogSpec, parsed: &[Vec<SchemaVersion>]) -> Result<Vec<GlueColumn>, CatalogError> {
    let latest: Vec<&mesh::contract::AvroSchema> = parsed.iter().filter_map(|v| v.last()).map(|v| &v.schema).collect();
    let data = merged_struct(&latest)
        .map_err(|e| CatalogError::Unsupported { product: spec.qualified_product(), reason: e.to_string() })?;
    let mut columns: Vec<GlueColumn> = ENVELOPE
        .iter()
        .map(|(name, glue_type, comment)| GlueColumn {
            name: (*name).into(),
            glue_type: (*glue_type).into(),
            comment: Some((*comment).into()),
        })
        .collect();
    let types: Vec<&str> = spec.product.events.iter().map(|e| e.event_type.as_str()).collect();
    columns.push(GlueColumn { name: "data".into(), glue_type: data, comment: Some(data_comment(spec, &types)) });
    Ok(columns)
}

/// What the `data` column holds: its event types and, when the product has
/// PII, which fields hold only their protected form (and who reads them).
fn data_comment(spec: &CatalogSpec, types: &[&str]) -> String {
    let mut comment = format!("the event's data, by type: {}", types.join(", "));
    if !spec.product.pii.is_empty() {
        comment.push_str(&format!(
            "; protected, as {} {{token, sealed}}: {}",
            mesh::pii::PROTECTED_TYPE,
            spec.product.pii.join(", ")
        ));
    }
    comment
}

fn table_input(spec: &CatalogSpec, columns: Vec<GlueColumn>) -> Result<TableInput, CatalogError> {
    let build = |e: aws_sdk_glue::error::BuildError| CatalogError::Glue { operation: "TableInput", source: e.into() };
    let product = &spec.product;
    let schemas: Vec<String> =
        product.events.iter().map(|e| format!("{}:{}", spec.schema_name(&e.event_type), e.versions.len())).collect();
    let parameters = HashMap::from([
        ("owner".to_string(), spec.owner.team.clone()),
        ("contact".to_string(), spec.owner.contact.clone()),
        ("classification".to_string(), product.classification.clone()),
        ("pii_columns".to_string(), product.pii.iter().map(|f| format!("data.{f}")).collect::<Vec<_>>().join(",")),
        ("compatibility".to_string(), product.compatibility.to_string()),
        ("product_version".to_string(), product.version.to_string()),
        ("topic_arn".to_string(), product.topic_arn.clone()),
        ("stream_arn".to_string(), product.stream_arn.clone()),
        ("retention_hours".to_string(), product.retention_hours.to_string()),
        ("freshness_seconds".to_string(), product.freshness_seconds.to_string()),
        ("subscribers".to_string(), product.subscribers.join(",")),
        ("pii_readers".to_string(), product.pii_readers.join(",")),
        ("event_types".to_string(), product.events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>().join(",")),
        ("schema_registry".to_string(), spec.registry()),
        ("schemas".to_string(), schemas.join(",")),
    ]);
    let columns = columns
        .into_iter()
        .map(|c| Column::builder().name(c.name).r#type(c.glue_type).set_comment(c.comment).build().map_err(build))
        .collect::<Result<Vec<_>, _>>()?;
    let first = product.events.first().ok_or_else(|| CatalogError::InvalidSchema {
        product: spec.qualified_product(),
        event_type: "-".into(),
        reason: "a product has at least one event type".into(),
    })?;
    let reference = SchemaReference::builder()
        .schema_id(
            SchemaId::builder().registry_name(spec.registry()).schema_name(spec.schema_name(&first.event_type)).build(),
        )
        .schema_version_number(first.versions.len() as i64)
        .build();
    TableInput::builder()
        .name(spec.table())
        .description(&product.description)
        .owner(&spec.owner.team)
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(parameters))
        .storage_descriptor(StorageDescriptor::builder().set_columns(Some(columns)).schema_reference(reference).build())
        .build()
        .map_err(build)
}

/// Whether the catalog's table already says what `input` would write.
fn same_table(table: &Table, input: &TableInput) -> bool {
    let columns = |sd: Option<&StorageDescriptor>| {
        sd.map(|sd| {
            sd.columns()
                .iter()
                .map(|c| (c.name().to_string(), c.r#type().map(str::to_string), c.comment().map(str::to_string)))
                .collect::<Vec<_>>()
        })
    };
    let reference = |sd: Option<&StorageDescriptor>| sd.and_then(|sd| sd.schema_reference()).cloned();
    table.description() == input.description()
        && table.owner() == input.owner()
        // Glue may add parameters of its own; ours must all be there, as written.
        && input.parameters().is_some_and(|i| i.iter().all(|(k, v)| table.parameters().and_then(|p| p.get(k)) == Some(v)))
        && columns(table.storage_descriptor()) == columns(input.storage_descriptor())
        && reference(table.storage_descriptor()) == reference(input.storage_descriptor())
}

/// Definitions compare as JSON, so formatting does not count.
fn same_definition(registered: &str, file: &str) -> bool {
    match (serde_json::from_str::<Value>(registered), serde_json::from_str::<Value>(file)) {
        (Ok(a), Ok(b)) => a == b,
        _ => registered.trim() == file.trim(),
    }
}

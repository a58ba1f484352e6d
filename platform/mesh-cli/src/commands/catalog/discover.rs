//! What consumers read from the catalog to find and judge a product: the
//! tables of a mesh's domain databases and their registry schemas. Read from
//! Glue, never from the producer's files.

use aws_sdk_glue::Client;
use aws_sdk_glue::types::{SchemaId, SchemaVersionNumber, Table};

use mesh_aws::catalog::{CatalogError, glue};
use mesh_infra::descriptor::ProductRef;

/// One product major version as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductEntry {
    pub database: String,
    pub table: String,
    pub description: String,
    pub owner: String,
    /// Table parameters: contact, classification, ports, service levels...
    pub parameters: std::collections::BTreeMap<String, String>,
    /// `(column, Glue type)`.
    pub columns: Vec<(String, String)>,
}

impl ProductEntry {
    fn from_table(database: &str, table: &Table) -> Self {
        Self {
            database: database.to_string(),
            table: table.name().to_string(),
            description: table.description().unwrap_or_default().to_string(),
            owner: table.owner().unwrap_or_default().to_string(),
            parameters: table.parameters().map(|p| p.clone().into_iter().collect()).unwrap_or_default(),
            columns: table
                .storage_descriptor()
                .map(|sd| {
                    sd.columns()
                        .iter()
                        .map(|c| (c.name().to_string(), c.r#type().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub fn parameter(&self, name: &str) -> &str {
        self.parameters.get(name).map(String::as_str).unwrap_or("")
    }
}

/// One registered schema version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub name: String,
    pub compatibility: String,
    pub versions: Vec<(i64, String)>,
}

/// Every product of the mesh `mesh`.
pub async fn list_products(client: &Client, mesh: &str) -> Result<Vec<ProductEntry>, CatalogError> {
    let prefix = format!("{}_", mesh.replace('-', "_"));
    let databases = client.get_databases().send().await.map_err(glue("GetDatabases"))?;
    let mut entries = Vec::new();
    for database in databases.database_list().iter().filter(|d| d.name().starts_with(&prefix)) {
        let tables = client.get_tables().database_name(database.name()).send().await.map_err(glue("GetTables"))?;
        entries.extend(tables.table_list().iter().map(|t| ProductEntry::from_table(database.name(), t)));
    }
    entries.sort_by(|a, b| (&a.database, &a.table).cmp(&(&b.database, &b.table)));
    Ok(entries)
}

/// One product (`<domain>/<product>`, latest major version unless given),
/// with its registry schemas.
pub async fn show_product(
    client: &Client,
    mesh: &str,
    product: &ProductRef,
    major: Option<u32>,
) -> Result<Option<(ProductEntry, Vec<RegisteredSchema>)>, CatalogError> {
    let (domain, name) = (&product.domain, &product.product);
    let database = format!("{mesh}_{domain}").replace('-', "_");
    let stem = format!("{name}_v").replace('-', "_");
    let entries = list_products(client, mesh).await?;
    let mut matching: Vec<&ProductEntry> = entries
        .iter()
        .filter(|e| e.database == database && e.table.starts_with(&stem))
        .filter(|e| major.is_none_or(|m| e.table == format!("{stem}{m}")))
        .collect();
    matching.sort_by_key(|e| e.table.trim_start_matches(&stem).parse::<u32>().unwrap_or(0));
    let Some(entry) = matching.last().map(|e| (*e).clone()) else { return Ok(None) };
    let registry = entry.parameter("schema_registry").to_string();
    let mut schemas = Vec::new();
    for item in entry.parameter("schemas").split(',').filter(|s| !s.is_empty()) {
        let (schema_name, count) = item.rsplit_once(':').unwrap_or((item, "0"));
        let id = || SchemaId::builder().registry_name(&registry).schema_name(schema_name).build();
        let schema = client.get_schema().schema_id(id()).send().await.map_err(glue("GetSchema"))?;
        let mut versions = Vec::new();
        for number in 1..=count.parse::<i64>().unwrap_or(0) {
            let version = client
                .get_schema_version()
                .schema_id(id())
                .schema_version_number(SchemaVersionNumber::builder().version_number(number).build())
                .send()
                .await
                .map_err(glue("GetSchemaVersion"))?;
            versions.push((number, version.schema_definition().unwrap_or_default().to_string()));
        }
        schemas.push(RegisteredSchema {
            name: schema_name.to_string(),
            compatibility: schema.compatibility().map(|c| c.as_str().to_string()).unwrap_or_default(),
            versions,
        });
    }
    Ok(Some((entry, schemas)))
}

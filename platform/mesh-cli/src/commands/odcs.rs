//! `mesh export odcs`: a product's contract as an Open Data Contract
//! Standard v3.0.2 document, for data-contract tools that speak ODCS.

use std::path::Path;

use mesh::contract::AvroSchema as Schema;
use mesh_infra::descriptor::{Descriptor, Mesh, Product};
use serde_json::{Value, json};

use super::CommandError;

pub fn run(mesh: &Mesh, product: &str, version: Option<u32>, output: Option<&Path>) -> Result<(), CommandError> {
    let document = export(mesh, product, version)?;
    let yaml = serde_norway::to_string(&document).map_err(CommandError::io("writing YAML"))?;
    match output {
        Some(path) => std::fs::write(path, yaml).map_err(CommandError::io(format!("writing {}", path.display()))),
        None => {
            print!("{yaml}");
            Ok(())
        }
    }
}

/// The ODCS document of `<domain>/<product>` at major `version` (default: the highest).
pub fn export(mesh: &Mesh, product: &str, version: Option<u32>) -> Result<Value, CommandError> {
    let (domain_name, product_name) =
        product.split_once('/').ok_or_else(|| CommandError::Usage(format!("`{product}` is not <domain>/<product>")))?;
    let domain = mesh.domain(domain_name).ok_or_else(|| CommandError::Usage(format!("no domain `{domain_name}`")))?;
    let product = domain
        .products
        .iter()
        .filter(|p| p.name == product_name && version.is_none_or(|v| p.version == v))
        .max_by_key(|p| p.version)
        .ok_or_else(|| {
            CommandError::Usage(format!(
                "{domain_name} has no product `{product_name}`{}",
                version.map(|v| format!(" v{v}")).unwrap_or_default()
            ))
        })?;
    Ok(document(mesh, domain, product))
}

fn document(mesh: &Mesh, domain: &Descriptor, product: &Product) -> Value {
    let latest_minor = product.events.iter().map(|e| e.schemas.len()).max().unwrap_or(1);
    let consumers: Vec<String> = mesh
        .domains
        .iter()
        .map(|d| &d.descriptor)
        .filter(|d| {
            d.consumes.iter().any(|s| {
                s.product.domain == domain.domain && s.product.product == product.name && s.version == product.version
            })
        })
        .map(|d| d.domain.clone())
        .collect();
    let schema: Vec<Value> = product
        .events
        .iter()
        .filter_map(|event| {
            let latest = mesh.versions(&event.schemas).into_iter().last()?;
            let Schema::Record(record) = &latest.schema else { return None };
            let properties: Vec<Value> = record
                .fields
                .iter()
                .map(|field| {
                    let (logical, physical, required) = types(&field.schema);
                    let mut property = json!({
                        "name": field.name,
                        "logicalType": logical,
                        "physicalType": physical,
                        "required": required && field.default.is_none(),
                        "description": field.doc.clone().unwrap_or_default(),
                        "classification": product.classification.to_string(),
                    });
                    if product.pii.contains(&field.name) {
                        property["criticalDataElement"] = json!(true);
                        property["tags"] = json!(["pii"]);
                    }
                    property
                })
                .collect();
            Some(json!({
                "name": event.event_type,
                "physicalName": format!("{}.v{}.{}", product.name, product.version, event.event_type),
                "physicalType": "avro record",
                "logicalType": "object",
                "description": record.doc.clone().unwrap_or_default(),
                "properties": properties,
            }))
        })
        .collect();
    json!({
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": format!("urn:mesh:product:{}:{}:v{}", domain.domain, product.name, product.version),
        "name": format!("{}/{}", domain.domain, product.name),
        "version": format!("{}.{}.0", product.version, latest_minor - 1),
        "status": "active",
        "domain": domain.domain,
        "dataProduct": product.name,
        "description": {
            "purpose": product.description,
            "usage": format!("Subscribe an SQS queue to the SNS port (filter on the `type` message attribute), or read the Kinesis port; events are CloudEvents 1.0 JSON whose `data` follows the Avro schema named by `dataschema`. Granted to: {}.", product.access.subscribers.join(", ")),
            "limitations": format!("Compatibility {}: a breaking change is a new major version with new ports and a new table.", product.compatibility),
        },
        "tags": ["event-stream", format!("compatibility:{}", product.compatibility)],
        "schema": schema,
        "servers": [
            {"server": "kinesis", "type": "kinesis", "format": "json", "description": format!("Ordered per entity; replayable for {} hours.", product.ports.kinesis.retention_hours),
             "customProperties": [{"property": "stream", "value": product.ports.kinesis.stream}]},
            {"server": "sns", "type": "custom", "description": format!("SNS topic `{}`: fan-out to consumers' SQS queues.", product.ports.sns.topic)},
        ],
        "slaProperties": [
            {"property": "latency", "value": product.service_levels.freshness_seconds, "unit": "s", "driver": "operational"},
            {"property": "retention", "value": product.ports.kinesis.retention_hours, "unit": "h", "element": "kinesis"},
        ],
        "team": [{"username": domain.owner.contact, "role": "owner", "name": domain.owner.team}],
        "support": [{"channel": "email", "url": format!("mailto:{}", domain.owner.contact)}],
        "roles": product.access.subscribers.iter().map(|s| json!({"role": format!("{s}-consumer"), "access": "read", "description": if consumers.contains(s) { "granted and subscribed" } else { "granted" }})).collect::<Vec<_>>(),
    })
}

/// ODCS logical type, the Avro type, and whether a value is always present.
fn types(schema: &Schema) -> (&'static str, String, bool) {
    match schema {
        Schema::Union(union) => {
            let others: Vec<&Schema> = union.variants().iter().filter(|s| !matches!(s, Schema::Null)).collect();
            match others[..] {
                [one] => {
                    let (logical, physical, _) = types(one);
                    (logical, format!("{physical} (nullable)"), false)
                }
                _ => ("object", "union".into(), true),
            }
        }
        Schema::Boolean => ("boolean", "boolean".into(), true),
        Schema::Int | Schema::Long | Schema::TimeMillis | Schema::TimeMicros => ("integer", kind(schema), true),
        Schema::Float | Schema::Double | Schema::Decimal(_) => ("number", kind(schema), true),
        Schema::Date
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros => ("date", kind(schema), true),
        Schema::Array(_) => ("array", "array".into(), true),
        Schema::Record(_) | Schema::Map(_) => ("object", kind(schema), true),
        _ => ("string", kind(schema), true),
    }
}

fn kind(schema: &Schema) -> String {
    match schema {
        Schema::Uuid(_) => "string (uuid)".into(),
        Schema::Date => "int (date)".into(),
        Schema::TimestampMillis => "long (timestamp-millis)".into(),
        Schema::TimestampMicros => "long (timestamp-micros)".into(),
        Schema::Decimal(d) => format!("decimal({},{})", d.precision, d.scale),
        Schema::Enum(e) => format!("enum ({})", e.symbols.join(", ")),
        other => apache_avro_kind(other).to_string(),
    }
}

fn apache_avro_kind(schema: &Schema) -> &'static str {
    match schema {
        Schema::Int => "int",
        Schema::Long => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::String => "string",
        Schema::Bytes => "bytes",
        Schema::Map(_) => "map",
        Schema::Record(_) => "record",
        _ => "other",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exports_the_order_events_contract_with_a_property_per_avro_field() {
        let mesh = mesh_infra::descriptor::load_mesh(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap();

        let document = export(&mesh, "orders/order-events", None).unwrap();

        assert_eq!(document["apiVersion"], "v3.0.2");
        assert_eq!(document["kind"], "DataContract");
        assert_eq!(document["version"], "2.1.0");
        assert_eq!(document["domain"], "orders");
        let placed = document["schema"].as_array().unwrap().iter().find(|s| s["name"] == "OrderPlaced").unwrap();
        let names: Vec<&str> =
            placed["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["order_id", "customer_id", "amount_cents", "channel"]);
        let channel = &placed["properties"][3];
        assert_eq!((channel["logicalType"].as_str(), channel["required"].as_bool()), (Some("string"), Some(false)));
        assert_eq!(placed["properties"][1]["tags"], json!(["pii"]));
        assert_eq!(document["slaProperties"][0]["value"], 60);
        assert!(serde_norway::to_string(&document).unwrap().contains("apiVersion: v3.0.2"));
    }

    #[test]
    fn names_what_is_missing() {
        let mesh = mesh_infra::descriptor::load_mesh(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap();

        assert_eq!(
            export(&mesh, "orders/shipments", None).unwrap_err().to_string(),
            "orders has no product `shipments`"
        );
        assert_eq!(
            export(&mesh, "orders/order-events", Some(3)).unwrap_err().to_string(),
            "orders has no product `order-events` v3"
        );
    }
}

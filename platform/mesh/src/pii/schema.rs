//! Which fields of a schema are protected, and the schema a handler reads
//! once its subscriber has opened them (every protected field a string).

use apache_avro::Schema;
use serde_json::Value;

use crate::contract::SchemaError;

/// The full name of the protected form's record: `{token: string, sealed: string}`.
pub const PROTECTED_TYPE: &str = "mesh.pii.Protected";

/// A top-level field of an event's data in the protected form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedField {
    pub name: String,
    /// `["null", mesh.pii.Protected]`: absent values stay `null`.
    pub nullable: bool,
}

fn is_protected(schema: &Schema) -> bool {
    match schema {
        Schema::Record(record) => record.name.fullname(None) == PROTECTED_TYPE,
        Schema::Ref { name } => name.fullname(None) == PROTECTED_TYPE,
        _ => false,
    }
}

/// The top-level fields of a record schema whose type is `mesh.pii.Protected`
/// (or a union of it with null), in schema order.
pub fn protected_fields(schema: &Schema) -> Vec<ProtectedField> {
    let Schema::Record(record) = schema else { return Vec::new() };
    record
        .fields
        .iter()
        .filter_map(|field| match &field.schema {
            protected if is_protected(protected) => Some(ProtectedField { name: field.name.clone(), nullable: false }),
            Schema::Union(union) if union.variants().iter().any(is_protected) => {
                Some(ProtectedField { name: field.name.clone(), nullable: true })
            }
            _ => None,
        })
        .collect()
}

/// The schema with every `mesh.pii.Protected` replaced by `string`: what a
/// handler reads once the subscriber has opened each protected field (to its
/// clear value or its token). Avro resolution then runs between opened
/// schemas, with the producer's rules for every other field.
pub fn opened_schema(schema: &Schema) -> Result<Schema, SchemaError> {
    let failed = |reason: String| SchemaError { origin: "the opened form of a schema".into(), reason };
    let mut json = serde_json::to_value(schema).map_err(|e| failed(e.to_string()))?;
    if !open(&mut json, None) {
        return Ok(schema.clone());
    }
    Schema::parse(&json).map_err(|e| failed(e.to_string()))
}

/// Replaces the protected record (its definition or a reference to it) by
/// `"string"` under `value`; whether anything was replaced.
fn open(value: &mut Value, namespace: Option<&str>) -> bool {
    match value {
        Value::String(name) if name == PROTECTED_TYPE => {
            *value = Value::String("string".into());
            true
        }
        Value::Array(branches) => branches.iter_mut().fold(false, |any, branch| open(branch, namespace) | any),
        Value::Object(object) => {
            let name = object.get("name").and_then(Value::as_str).unwrap_or_default();
            let own = object.get("namespace").and_then(Value::as_str).or(namespace).map(str::to_owned);
            let full = match (&own, name.contains('.')) {
                (Some(ns), false) if !ns.is_empty() => format!("{ns}.{name}"),
                _ => name.to_owned(),
            };
            if object.get("type").and_then(Value::as_str) == Some("record") && full == PROTECTED_TYPE {
                *value = Value::String("string".into());
                return true;
            }
            let mut any = false;
            for key in ["type", "items", "values"] {
                if let Some(child) = object.get_mut(key) {
                    any |= open(child, own.as_deref());
                }
            }
            if let Some(Value::Array(fields)) = object.get_mut("fields") {
                for field in fields {
                    if let Some(child) = field.get_mut("type") {
                        any |= open(child, own.as_deref());
                    }
                }
            }
            any
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REGISTERED: &str = r#"{"type": "record", "name": "Registered", "namespace": "mesh.customers.v2", "fields": [
        {"name": "customer_id", "type": {"type": "record", "name": "Protected", "namespace": "mesh.pii",
            "fields": [{"name": "token", "type": "string"}, {"name": "sealed", "type": "string"}]}},
        {"name": "name", "type": "mesh.pii.Protected"},
        {"name": "nickname", "type": ["null", "mesh.pii.Protected"], "default": null},
        {"name": "limit", "type": "long"}]}"#;

    #[test]
    fn finds_the_protected_fields_whether_defined_referenced_or_nullable() {
        let schema = Schema::parse_str(REGISTERED).unwrap();

        let found = protected_fields(&schema);

        let names: Vec<(&str, bool)> = found.iter().map(|f| (f.name.as_str(), f.nullable)).collect();
        assert_eq!(names, [("customer_id", false), ("name", false), ("nickname", true)]);
    }

    #[test]
    fn the_opened_schema_reads_every_protected_field_as_a_string() {
        let opened = opened_schema(&Schema::parse_str(REGISTERED).unwrap()).unwrap();

        let Schema::Record(record) = &opened else { panic!("{opened:?}") };
        let types: Vec<String> = record.fields.iter().map(|f| serde_json::to_string(&f.schema).unwrap()).collect();
        assert_eq!(types, [r#""string""#, r#""string""#, r#"["null","string"]"#, r#""long""#]);
        assert!(protected_fields(&opened).is_empty());
        assert_eq!(record.name.fullname(None), "mesh.customers.v2.Registered", "the record keeps its name");
    }

    #[test]
    fn a_schema_without_protected_fields_is_its_own_opened_form() {
        let plain =
            Schema::parse_str(r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}"#).unwrap();

        assert_eq!(opened_schema(&plain).unwrap(), plain);
        assert!(protected_fields(&plain).is_empty());
    }
}

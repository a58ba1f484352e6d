//! Avro types as Glue Data Catalog (Hive) column types, so a product's
//! table can be queried (Athena, Spark) as it is written.

use std::collections::BTreeMap;

use apache_avro::Schema;
use apache_avro::schema::UnionSchema;

use super::json::{Names, named};

/// A schema part the catalog cannot represent, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct UnsupportedType {
    pub path: String,
    pub reason: String,
}

/// One column of a Glue table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GlueColumn {
    pub name: String,
    pub glue_type: String,
    pub comment: Option<String>,
}

/// The Glue type of a schema.
pub fn glue_type(schema: &Schema) -> Result<String, UnsupportedType> {
    let path = schema.name().map(|n| n.name().to_string()).unwrap_or_else(|| "$".into());
    to_glue(schema, &path, &mut Vec::new(), &names_of(schema))
}

fn names_of(schema: &Schema) -> Names<'_> {
    let mut names = Names::new();
    named(schema, &mut names);
    names
}

/// One column per field of a record schema, its `doc` as the comment.
pub fn glue_columns(schema: &Schema) -> Result<Vec<GlueColumn>, UnsupportedType> {
    let Schema::Record(record) = schema else {
        return Err(UnsupportedType { path: "$".into(), reason: "a table's columns come from a record schema".into() });
    };
    let name = record.name.name();
    let names = names_of(schema);
    let mut seen = vec![name.to_string()];
    record
        .fields
        .iter()
        .map(|field| {
            Ok(GlueColumn {
                name: field.name.clone(),
                glue_type: to_glue(&field.schema, &format!("{name}.{}", field.name), &mut seen, &names)?,
                comment: field.doc.clone(),
            })
        })
        .collect()
}

/// The `struct<..>` of a product's `data` column: every field of every
/// event type's record, once. A field two event types declare with
/// different Glue types cannot share the column and is refused.
pub fn merged_struct(records: &[&Schema]) -> Result<String, UnsupportedType> {
    let mut fields: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut order = Vec::new();
    for schema in records {
        let event_type = schema.name().map(|n| n.name().to_string()).unwrap_or_default();
        for column in glue_columns(schema)? {
            match fields.get(&column.name) {
                Some((glue_type, first)) if *glue_type != column.glue_type => {
                    return Err(UnsupportedType {
                        path: format!("{event_type}.{}", column.name),
                        reason: format!(
                            "is {} here but {glue_type} in {first}: one `data` column cannot hold both",
                            column.glue_type
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    order.push(column.name.clone());
                    fields.insert(column.name, (column.glue_type, event_type.clone()));
                }
            }
        }
    }
    let members: Vec<String> = order.iter().map(|name| format!("{name}:{}", fields[name].0)).collect();
    Ok(format!("struct<{}>", members.join(",")))
}

fn to_glue(schema: &Schema, path: &str, named: &mut Vec<String>, names: &Names<'_>) -> Result<String, UnsupportedType> {
    let unsupported = |reason: &str| Err(UnsupportedType { path: path.to_string(), reason: reason.to_string() });
    Ok(match schema {
        Schema::Null => return unsupported("a field that is always null has no column type"),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::TimeMillis => "int".into(),
        Schema::Long | Schema::TimeMicros => "bigint".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes | Schema::Fixed(_) | Schema::Duration(_) => "binary".into(),
        Schema::String | Schema::Enum(_) | Schema::Uuid(_) => "string".into(),
        Schema::Date => "date".into(),
        Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "timestamp".into(),
        Schema::Decimal(d) => format!("decimal({},{})", d.precision, d.scale),
        Schema::BigDecimal => return unsupported("a decimal without a fixed precision and scale has no column type"),
        Schema::Array(a) => format!("array<{}>", to_glue(&a.items, &format!("{path}[]"), named, names)?),
        Schema::Map(m) => format!("map<string,{}>", to_glue(&m.types, &format!("{path}{{}}"), named, names)?),
        Schema::Union(u) => return nullable(u, path, named, names),
        Schema::Record(r) => {
            let name = r.name.name().to_string();
            if named.contains(&name) {
                return unsupported(&format!("record `{name}` contains itself; a catalog column cannot be recursive"));
            }
            named.push(name);
            let members = r
                .fields
                .iter()
                .map(|f| Ok(format!("{}:{}", f.name, to_glue(&f.schema, &format!("{path}.{}", f.name), named, names)?)))
                .collect::<Result<Vec<_>, UnsupportedType>>()?;
            named.pop();
            format!("struct<{}>", members.join(","))
        }
        // A second use of a named type: the type it names, unless it names
        // a record being expanded (a catalog column cannot be recursive).
        Schema::Ref { name } => match names.get(&name.fullname(None)) {
            Some(defined) if !named.contains(&name.name().to_string()) => to_glue(defined, path, named, names)?,
            _ => {
                return unsupported(&format!("reference to `{}`: a catalog column cannot be recursive", name.name()));
            }
        },
    })
}

/// `["null", T]` is a nullable `T`; any other union has no Athena type.
fn nullable(
    u: &UnionSchema,
    path: &str,
    named: &mut Vec<String>,
    names: &Names<'_>,
) -> Result<String, UnsupportedType> {
    let others: Vec<&Schema> = u.variants().iter().filter(|s| !matches!(s, Schema::Null)).collect();
    match others[..] {
        [only] => to_glue(only, path, named, names),
        _ => Err(UnsupportedType {
            path: path.to_string(),
            reason: "only a union of null and one type maps to a column; Athena cannot query Hive's uniontype".into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field_type(avro: &str) -> Result<String, UnsupportedType> {
        let text = format!(r#"{{"type": "record", "name": "R", "fields": [{{"name": "f", "type": {avro}}}]}}"#);
        glue_columns(&Schema::parse_str(&text).unwrap()).map(|columns| columns[0].glue_type.clone())
    }

    #[test]
    fn maps_every_supported_avro_type_to_its_glue_type() {
        let table = [
            (r#""boolean""#, "boolean"),
            (r#""int""#, "int"),
            (r#""long""#, "bigint"),
            (r#""float""#, "float"),
            (r#""double""#, "double"),
            (r#""bytes""#, "binary"),
            (r#""string""#, "string"),
            (r#"{"type": "fixed", "name": "F", "size": 4}"#, "binary"),
            (r#"{"type": "enum", "name": "E", "symbols": ["A"]}"#, "string"),
            (r#"{"type": "array", "items": "long"}"#, "array<bigint>"),
            (r#"{"type": "map", "values": "string"}"#, "map<string,string>"),
            (
                r#"{"type": "record", "name": "Inner", "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": ["null", "string"]}]}"#,
                "struct<a:int,b:string>",
            ),
            (r#"["null", "long"]"#, "bigint"),
            (r#"["long", "null"]"#, "bigint"),
            (r#"{"type": "int", "logicalType": "date"}"#, "date"),
            (r#"{"type": "long", "logicalType": "timestamp-millis"}"#, "timestamp"),
            (r#"{"type": "long", "logicalType": "timestamp-micros"}"#, "timestamp"),
            (r#"{"type": "long", "logicalType": "local-timestamp-millis"}"#, "timestamp"),
            (r#"{"type": "int", "logicalType": "time-millis"}"#, "int"),
            (r#"{"type": "long", "logicalType": "time-micros"}"#, "bigint"),
            (r#"{"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}"#, "decimal(12,2)"),
            (r#"{"type": "string", "logicalType": "uuid"}"#, "string"),
            (r#"{"type": "fixed", "name": "D", "size": 12, "logicalType": "duration"}"#, "binary"),
        ];
        for (avro, glue) in table {
            assert_eq!(field_type(avro).unwrap(), glue, "{avro}");
        }
    }

    #[test]
    fn refuses_what_a_column_cannot_hold_naming_the_field() {
        let union = field_type(r#"["null", "string", "long"]"#).unwrap_err();
        assert_eq!(union.path, "R.f");
        assert!(union.reason.contains("uniontype"), "{union}");

        let null = field_type(r#""null""#).unwrap_err();
        assert!(null.reason.contains("always null"), "{null}");

        let recursive = Schema::parse_str(
            r#"{"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}"#,
        )
        .unwrap();
        let error = glue_columns(&recursive).unwrap_err();
        assert!(error.reason.contains("recursive"), "{error}");
    }

    #[test]
    fn merges_the_fields_of_every_event_type_into_one_data_struct() {
        let placed =
            Schema::parse_str(include_str!("../../../../schemas/orders/order-events/v1/OrderPlaced/2.avsc")).unwrap();
        let rejected =
            Schema::parse_str(include_str!("../../../../schemas/orders/order-events/v1/OrderRejected/1.avsc")).unwrap();

        let merged = merged_struct(&[&placed, &rejected]).unwrap();

        assert_eq!(
            merged,
            "struct<order_id:string,customer_id:string,amount_cents:bigint,channel:string,reason:string>"
        );
    }

    #[test]
    fn a_protected_field_is_a_token_and_sealed_struct_however_often_it_is_used() {
        let registered = Schema::parse_str(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "customer_id", "type": {"type": "record", "name": "Protected", "namespace": "mesh.pii",
                    "fields": [{"name": "token", "type": "string"}, {"name": "sealed", "type": "string"}]}},
                {"name": "name", "type": "mesh.pii.Protected"}]}"#,
        )
        .unwrap();

        let columns = glue_columns(&registered).unwrap();

        let types: Vec<&str> = columns.iter().map(|c| c.glue_type.as_str()).collect();
        assert_eq!(types, ["struct<token:string,sealed:string>", "struct<token:string,sealed:string>"]);
    }

    #[test]
    fn refuses_two_event_types_that_disagree_on_a_field() {
        let a =
            Schema::parse_str(r#"{"type": "record", "name": "A", "fields": [{"name": "n", "type": "long"}]}"#).unwrap();
        let b = Schema::parse_str(r#"{"type": "record", "name": "B", "fields": [{"name": "n", "type": "string"}]}"#)
            .unwrap();

        let error = merged_struct(&[&a, &b]).unwrap_err();

        assert_eq!(error.to_string(), "B.n: is string here but bigint in A: one `data` column cannot hold both");
    }
}

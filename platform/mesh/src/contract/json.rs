//! Event data is JSON in the envelope, as serde writes the domain's types:
//! a nullable union is the plain value or `null`, a uuid is its string, an
//! enum its symbol, a date `YYYY-MM-DD`, a timestamp RFC 3339. This module
//! checks such data against an Avro schema (the producer's gate) and reads
//! it through Avro schema resolution from the writer's schema to a
//! reader's (the consumer's view).

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{RecordSchema, UnionSchema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Number, Value as Json};

/// Data that does not fit a schema: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct DataError {
    /// A JSON path from `data`: `data.amount_cents`, `data.items[2].sku`.
    pub path: String,
    pub problem: String,
}

/// Checks `data` against `schema` and converts it to an Avro value.
pub fn encode_json(schema: &Schema, data: &Json) -> Result<Avro, DataError> {
    let mut names = Names::new();
    named(schema, &mut names);
    encode(schema, data, "data", &names)
}

/// The named types a schema defines, by full name: what a reference to one
/// (`"type": "mesh.pii.Protected"`, its second use in a record) stands for.
pub(crate) type Names<'a> = HashMap<String, &'a Schema>;

pub(crate) fn named<'a>(schema: &'a Schema, names: &mut Names<'a>) {
    match schema {
        Schema::Record(r) => {
            names.insert(r.name.fullname(None), schema);
            for field in &r.fields {
                named(&field.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fullname(None), schema);
        }
        Schema::Fixed(f) => {
            names.insert(f.name.fullname(None), schema);
        }
        Schema::Array(a) => named(&a.items, names),
        Schema::Map(m) => named(&m.types, names),
        Schema::Union(u) => u.variants().iter().for_each(|branch| named(branch, names)),
        _ => {}
    }
}

/// Reads `data`, written with `writer`, as `reader` sees it: fields the
/// reader does not know are dropped, missing ones take the reader's
/// defaults, promotions apply. Done through Avro's binary encoding and
/// resolving decoder, so the rules are the library's, not ours.
pub fn resolve_json(writer: &Schema, reader: &Schema, data: &Json) -> Result<Json, DataError> {
    let value = encode_json(writer, data)?;
    let failed = |problem: String| DataError { path: "data".into(), problem };
    let bytes = GenericDatumWriter::builder(writer)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(|e| failed(format!("cannot encode: {e}")))?;
    let read = GenericDatumReader::builder(writer)
        .reader_schema(reader)
        .build()
        .and_then(|r| r.read_value(&mut bytes.as_slice()))
        .map_err(|e| failed(format!("cannot be read with the reader's schema: {e}")))?;
    decode(read, "data")
}

fn mismatch(path: &str, expected: &str, found: &Json) -> DataError {
    let mut shown = found.to_string();
    // Cut on a character, not a byte: the value may be any text a producer sent.
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).chain("...".chars()).collect();
    }
    DataError { path: path.to_string(), problem: format!("expected {expected}, found {shown}") }
}

fn encode(schema: &Schema, data: &Json, path: &str, names: &Names<'_>) -> Result<Avro, DataError> {
    let integer = |min: i64, max: i64, expected: &str| match data.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(mismatch(path, expected, data)),
    };
    match schema {
        Schema::Null => data.is_null().then_some(Avro::Null).ok_or_else(|| mismatch(path, "null", data)),
        Schema::Boolean => data.as_bool().map(Avro::Boolean).ok_or_else(|| mismatch(path, "a boolean", data)),
        Schema::Int => Ok(Avro::Int(integer(i32::MIN.into(), i32::MAX.into(), "an int (32-bit integer)")? as i32)),
        Schema::Long => Ok(Avro::Long(integer(i64::MIN, i64::MAX, "a long (64-bit signed integer)")?)),
        Schema::Float => data.as_f64().map(|n| Avro::Float(n as f32)).ok_or_else(|| mismatch(path, "a number", data)),
        Schema::Double => data.as_f64().map(Avro::Double).ok_or_else(|| mismatch(path, "a number", data)),
        Schema::String => data.as_str().map(|s| Avro::String(s.into())).ok_or_else(|| mismatch(path, "a string", data)),
        Schema::Uuid(_) => data
            .as_str()
            .and_then(|s| uuid::Uuid::try_parse(s).ok())
            .map(Avro::Uuid)
            .ok_or_else(|| mismatch(path, "a UUID string", data)),
        Schema::Date => match data {
            Json::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|date| Avro::Date((date - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32))
                .map_err(|_| mismatch(path, "a date (YYYY-MM-DD)", data)),
            _ => Ok(Avro::Date(integer(i32::MIN.into(), i32::MAX.into(), "a date (YYYY-MM-DD)")? as i32)),
        },
        Schema::TimestampMillis | Schema::TimestampMicros => {
            let instant = match data {
                Json::String(text) => DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| mismatch(path, "an RFC 3339 timestamp", data))?,
                _ => return Err(mismatch(path, "an RFC 3339 timestamp", data)),
            };
            Ok(match schema {
                Schema::TimestampMillis => Avro::TimestampMillis(instant.timestamp_millis()),
                _ => Avro::TimestampMicros(instant.timestamp_micros()),
            })
        }
        Schema::TimeMillis => Ok(Avro::TimeMillis(integer(0, 86_400_000, "milliseconds after midnight")? as i32)),
        Schema::TimeMicros => Ok(Avro::TimeMicros(integer(0, 86_400_000_000, "microseconds after midnight")?)),
        Schema::Enum(e) => match data.as_str().and_then(|s| e.symbols.iter().position(|sym| sym == s)) {
            Some(index) => Ok(Avro::Enum(index as u32, e.symbols[index].clone())),
            None => Err(mismatch(path, &format!("one of {}", e.symbols.join(", ")), data)),
        },
        Schema::Array(a) => match data {
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| encode(&a.items, item, &format!("{path}[{i}]"), names))
                .collect::<Result<_, _>>()
                .map(Avro::Array),
            _ => Err(mismatch(path, "an array", data)),
        },
        Schema::Map(m) => match data {
            Json::Object(entries) => entries
                .iter()
                .map(|(key, value)| Ok((key.clone(), encode(&m.types, value, &format!("{path}.{key}"), names)?)))
                .collect::<Result<HashMap<_, _>, _>>()
                .map(Avro::Map),
            _ => Err(mismatch(path, "an object (map)", data)),
        },
        Schema::Union(u) => union(u, data, path, names),
        Schema::Record(r) => record(r, data, path, names),
        Schema::Ref { name } => match names.get(&name.fullname(None)) {
            Some(defined) => encode(defined, data, path, names),
            None => Err(DataError {
                path: path.to_string(),
                problem: format!("names the undefined type {}", name.fullname(None)),
            }),
        },
        other => Err(DataError {
            path: path.to_string(),
            problem: format!(
                "{other:?} fields are not supported in JSON event data (use string, long, or a logical type on them)"
            )
            .chars()
            .take(160)
            .collect(),
        }),
    }
}

/// A union takes the first branch the value fits, `null` first.
fn union(u: &UnionSchema, data: &Json, path: &str, names: &Names<'_>) -> Result<Avro, DataError> {
    let mut problems = Vec::new();
    for (index, branch) in u.variants().iter().enumerate() {
        match encode(branch, data, path, names) {
            Ok(value) => return Ok(Avro::Union(index as u32, Box::new(value))),
            Err(error) => problems.push(error.problem),
        }
    }
    Err(DataError { path: path.to_string(), problem: format!("fits no branch of the union: {}", problems.join("; ")) })
}

fn record(r: &RecordSchema, data: &Json, path: &str, names: &Names<'_>) -> Result<Avro, DataError> {
    let Json::Object(given) = data else { return Err(mismatch(path, &format!("an object ({})", r.name.name()), data)) };
    if let Some(unknown) = given.keys().find(|key| !r.lookup.contains_key(key.as_str())) {
        return Err(DataError {
            path: format!("{path}.{unknown}"),
            problem: format!("field is not in the schema of {}", r.name.name()),
        });
    }
    let mut fields = Vec::with_capacity(r.fields.len());
    for field in &r.fields {
        let field_path = format!("{path}.{}", field.name);
        let value = match (given.get(&field.name), &field.default) {
            (Some(value), _) => encode(&field.schema, value, &field_path, names)?,
            (None, Some(default)) => encode(&field.schema, default, &field_path, names)?,
            (None, None) => {
                return Err(DataError { path: field_path, problem: "is required by the schema and missing".into() });
            }
        };
        fields.push((field.name.clone(), value));
    }
    Ok(Avro::Record(fields))
}

fn decode(value: Avro, path: &str) -> Result<Json, DataError> {
    let number = |n: f64| Number::from_f64(n).map(Json::Number).unwrap_or(Json::Null);
    Ok(match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(b),
        Avro::Int(n) | Avro::TimeMillis(n) => Json::from(n),
        Avro::Long(n) | Avro::TimeMicros(n) => Json::from(n),
        Avro::Float(n) => number(f64::from(n)),
        Avro::Double(n) => number(n),
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s),
        Avro::Uuid(u) => Json::String(u.to_string()),
        Avro::Date(days) => {
            let date = DateTime::UNIX_EPOCH.date_naive() + chrono::Duration::days(days.into());
            Json::String(date.format("%Y-%m-%d").to_string())
        }
        Avro::TimestampMillis(ms) => timestamp(DateTime::from_timestamp_millis(ms), path)?,
        Avro::TimestampMicros(us) => timestamp(DateTime::from_timestamp_micros(us), path)?,
        Avro::Union(_, inner) => decode(*inner, path)?,
        Avro::Array(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| decode(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Avro::Map(entries) => Json::Object(
            entries
                .into_iter()
                .map(|(key, value)| Ok((key.clone(), decode(value, &format!("{path}.{key}"))?)))
                .collect::<Result<Map<_, _>, DataError>>()?,
        ),
        Avro::Record(fields) => Json::Object(
            fields
                .into_iter()
                .map(|(name, value)| Ok((name.clone(), decode(value, &format!("{path}.{name}"))?)))
                .collect::<Result<Map<_, _>, DataError>>()?,
        ),
        other => {
            return Err(DataError {
                path: path.to_string(),
                problem: format!("{other:?} values have no JSON form in event data").chars().take(160).collect(),
            });
        }
    })
}

fn timestamp(instant: Option<DateTime<Utc>>, path: &str) -> Result<Json, DataError> {
    instant
        .map(|t| Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        .ok_or_else(|| DataError { path: path.to_string(), problem: "timestamp out of range".into() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const ORDER: &str = "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80";

    fn schema(text: &str) -> Schema {
        Schema::parse_str(text).unwrap()
    }

    /// Found by the property tests: a long non-ASCII value cut mid-character panicked.
    #[test]
    fn a_long_wrong_value_is_shown_cut_on_a_character() {
        let data = json!({"order_id": ORDER, "customer_id": ORDER, "amount_cents": format!("x{}", "é".repeat(70))});
        let error = encode_json(&placed(1), &data).unwrap_err();
        assert_eq!(error.path, "data.amount_cents");
        assert!(error.problem.ends_with(&format!("found \"x{}...", "é".repeat(55))), "{}", error.problem);
    }

    fn placed(version: u32) -> Schema {
        let text = match version {
            1 => include_str!("../../../../schemas/orders/order-events/v1/OrderPlaced/1.avsc"),
            _ => include_str!("../../../../schemas/orders/order-events/v1/OrderPlaced/2.avsc"),
        };
        schema(text)
    }

    fn refusal(schema: &Schema, data: Json) -> String {
        encode_json(schema, &data).unwrap_err().to_string()
    }

    #[test]
    fn accepts_data_that_matches_and_fills_defaults() {
        let data = json!({"order_id": ORDER, "customer_id": ORDER, "amount_cents": 1500});

        let value = encode_json(&placed(2), &data).unwrap();

        let Avro::Record(fields) = value else { panic!() };
        assert_eq!(fields[3], ("channel".to_string(), Avro::Union(0, Box::new(Avro::Null))));
    }

    #[test]
    fn refuses_data_naming_the_field_and_what_was_expected() {
        let good = json!({"order_id": ORDER, "customer_id": ORDER, "amount_cents": 1500});
        let with = |key: &str, value: Json| {
            let mut data = good.clone();
            data[key] = value;
            data
        };
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("customer_id");

        assert_eq!(refusal(&placed(1), missing), "data.customer_id: is required by the schema and missing");
        assert_eq!(
            refusal(&placed(1), with("amount_cents", json!("ten"))),
            r#"data.amount_cents: expected a long (64-bit signed integer), found "ten""#
        );
        assert_eq!(
            refusal(&placed(1), with("amount_cents", json!(u64::MAX))),
            "data.amount_cents: expected a long (64-bit signed integer), found 18446744073709551615"
        );
        assert_eq!(
            refusal(&placed(1), with("order_id", json!("o-1"))),
            r#"data.order_id: expected a UUID string, found "o-1""#
        );
        assert_eq!(
            refusal(&placed(1), with("channel", json!("web"))),
            "data.channel: field is not in the schema of OrderPlaced"
        );
        assert!(
            refusal(&placed(2), with("channel", json!(7))).starts_with("data.channel: fits no branch of the union")
        );
    }

    #[test]
    fn a_v1_reader_does_not_see_the_field_v2_added() {
        let data = json!({"order_id": ORDER, "customer_id": ORDER, "amount_cents": 1500, "channel": "web"});

        let read = resolve_json(&placed(2), &placed(1), &data).unwrap();

        assert_eq!(read, json!({"order_id": ORDER, "customer_id": ORDER, "amount_cents": 1500}));
    }

    #[test]
    fn a_v2_reader_gets_the_default_for_v1_data() {
        let data = json!({"order_id": ORDER, "customer_id": ORDER, "amount_cents": 1500});

        let read = resolve_json(&placed(1), &placed(2), &data).unwrap();

        assert_eq!(read["channel"], Json::Null);
    }

    #[test]
    fn a_reader_gets_promoted_numbers() {
        let writer = schema(r#"{"type": "record", "name": "R", "fields": [{"name": "n", "type": "int"}]}"#);
        let reader = schema(r#"{"type": "record", "name": "R", "fields": [{"name": "n", "type": "double"}]}"#);

        assert_eq!(resolve_json(&writer, &reader, &json!({"n": 3})).unwrap(), json!({"n": 3.0}));
    }

    #[test]
    fn logical_types_and_containers_round_trip_in_their_json_form() {
        let s = schema(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "day", "type": {"type": "int", "logicalType": "date"}},
                {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "counts", "type": {"type": "map", "values": "long"}},
                {"name": "status", "type": {"type": "enum", "name": "S", "symbols": ["OPEN", "DONE"]}}]}"#,
        );
        let data = json!({"day": "2026-11-22", "at": "2026-11-22T10:00:00.250Z", "tags": ["a"], "counts": {"x": 2}, "status": "DONE"});

        assert_eq!(resolve_json(&s, &s, &data).unwrap(), data);
        assert!(
            refusal(
                &s,
                json!({"day": "22/11/2026", "at": "2026-11-22T10:00:00Z", "tags": [], "counts": {}, "status": "OPEN"})
            )
            .starts_with("data.day: expected a date")
        );
        assert!(
            refusal(
                &s,
                json!({"day": "2026-11-22", "at": "2026-11-22T10:00:00Z", "tags": [1], "counts": {}, "status": "OPEN"})
            )
            .starts_with("data.tags[0]: expected a string")
        );
        assert!(
            refusal(
                &s,
                json!({"day": "2026-11-22", "at": "2026-11-22T10:00:00Z", "tags": [], "counts": {}, "status": "LOST"})
            )
            .starts_with("data.status: expected one of OPEN, DONE")
        );
    }
}

//! Whatever arrives at the core's edges (an envelope off a queue, event data
//! against a schema), nothing panics and every refusal says what is wrong.
#![allow(clippy::unwrap_used)]

use mesh::contract::SchemaVersion;
use mesh::contract::resolve_json;
use mesh::envelope::{Envelope, EventMeta};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn valid_envelope() -> Value {
    let meta = EventMeta::root(Uuid::now_v7());
    let envelope = Envelope::new("orders/order-events", "OrderPlaced", "o-1", 1, json!({"amount_cents": 5}), &meta);
    serde_json::from_str(&envelope.to_json().unwrap()).unwrap()
}

const ATTRIBUTES: [&str; 12] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "dataschema",
    "datacontenttype",
    "sequence",
    "correlationid",
    "causationid",
    "data",
];

fn schema(path: &str, version: u32) -> SchemaVersion {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/");
    let text = std::fs::read_to_string(format!("{root}{path}")).unwrap();
    SchemaVersion::parse(version, path, &text).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_an_envelope_or_a_clear_error(text in any::<String>()) {
        if let Err(error) = Envelope::from_json(&text) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn any_json_is_an_envelope_or_a_clear_error(value in json_value()) {
        if let Err(error) = Envelope::from_json(&value.to_string()) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    /// One attribute of a valid envelope replaced by anything (or removed):
    /// accepted only if still valid, else refused with a reason.
    #[test]
    fn a_broken_attribute_is_refused_with_a_reason(
        attribute in prop::sample::select(ATTRIBUTES.to_vec()),
        value in prop::option::of(json_value()),
    ) {
        let mut envelope = valid_envelope();
        match value {
            Some(value) => envelope[attribute] = value,
            None => { envelope.as_object_mut().unwrap().remove(attribute); }
        }
        match Envelope::from_json(&envelope.to_string()) {
            Ok(parsed) => prop_assert!(!parsed.event_type.is_empty() && !parsed.subject.is_empty()),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    /// Event data read from the writer's schema to the reader's: any value
    /// either resolves or is refused with a reason.
    #[test]
    fn any_event_data_resolves_or_is_refused_with_a_reason(data in json_value()) {
        let v1 = schema("orders/order-events/v1/OrderPlaced/1.avsc", 1);
        let v2 = schema("orders/order-events/v1/OrderPlaced/2.avsc", 2);
        for (writer, reader) in [(&v2, &v1), (&v1, &v2), (&v2, &v2)] {
            if let Err(error) = resolve_json(&writer.schema, &reader.schema, &data) {
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }

    /// Valid data with one field replaced by anything.
    #[test]
    fn a_broken_field_is_refused_naming_a_reason(
        field in prop::sample::select(vec!["order_id", "customer_id", "amount_cents", "channel"]),
        value in json_value(),
    ) {
        let v2 = schema("orders/order-events/v1/OrderPlaced/2.avsc", 2);
        let mut data = json!({
            "order_id": "0194a6c2-5a00-7000-8000-00000000000a",
            "customer_id": "0194a6c2-5a00-7000-8000-00000000000c",
            "amount_cents": 1250,
            "channel": "web",
        });
        data[field] = value;
        if let Err(error) = resolve_json(&v2.schema, &v2.schema, &data) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

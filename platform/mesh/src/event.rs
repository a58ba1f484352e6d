//! Between a domain's event enums and envelopes.
//!
//! Domain events are serde enums tagged `{"type": .., "data": ..}`: the tag is
//! the CloudEvents `type` and the content its `data`, so the same enum is the
//! producer's contract and, on the consumer's side, the reader's view.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::envelope::{Envelope, EventMeta};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventCodecError {
    #[error("unknown event type `{event_type}`")]
    UnknownType { event_type: String },
    #[error("event `{event_type}` does not match its contract: {reason}")]
    InvalidData { event_type: String, reason: String },
    #[error("a domain event must serialize as {{\"type\": .., \"data\": ..}}, found {0}")]
    NotTagged(String),
}

/// Decodes an envelope's `type` and `data` into the reader's event enum.
pub fn decode<E: DeserializeOwned>(envelope: &Envelope) -> Result<E, EventCodecError> {
    let tagged = json!({ "type": envelope.event_type, "data": envelope.data });
    serde_json::from_value(tagged).map_err(|e| {
        let reason = e.to_string();
        if reason.starts_with("unknown variant") {
            EventCodecError::UnknownType { event_type: envelope.event_type.clone() }
        } else {
            EventCodecError::InvalidData { event_type: envelope.event_type.clone(), reason }
        }
    })
}

/// Stamps a domain's events into envelopes for one entity: the product's
/// `source`, the entity as `subject`, consecutive sequences from `first_sequence`.
#[derive(Debug, Clone)]
pub struct Emitter {
    source: String,
}

impl Emitter {
    /// `source` is `<domain>/<product>`, e.g. `orders/order-events`.
    pub fn new(domain: &str, product: &str) -> Self {
        Self { source: format!("{domain}/{product}") }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn envelopes<E: Serialize>(
        &self,
        subject: &str,
        first_sequence: u64,
        events: &[E],
        meta: &EventMeta,
    ) -> Result<Vec<Envelope>, EventCodecError> {
        events
            .iter()
            .zip(first_sequence..)
            .map(|(event, sequence)| {
                let (event_type, data) = split(event)?;
                Ok(Envelope::new(self.source.clone(), event_type, subject, sequence, data, meta))
            })
            .collect()
    }
}

fn split<E: Serialize>(event: &E) -> Result<(String, Value), EventCodecError> {
    let value = serde_json::to_value(event).map_err(|e| EventCodecError::NotTagged(e.to_string()))?;
    match value {
        Value::Object(mut fields) => match (fields.remove("type"), fields.remove("data")) {
            (Some(Value::String(event_type)), Some(data)) => Ok((event_type, data)),
            _ => Err(EventCodecError::NotTagged(Value::Object(fields).to_string())),
        },
        other => Err(EventCodecError::NotTagged(other.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use uuid::Uuid;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(tag = "type", content = "data")]
    enum Produced {
        Placed { order_id: String, amount_cents: u64 },
        Approved { order_id: String },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", content = "data")]
    enum Read {
        Placed { order_id: String },
    }

    fn emit(events: &[Produced]) -> Vec<Envelope> {
        let meta = EventMeta::root(Uuid::now_v7());
        Emitter::new("orders", "order-events").envelopes("o-1", 4, events, &meta).unwrap()
    }

    #[test]
    fn numbers_an_entitys_events_consecutively() {
        let envelopes = emit(&[
            Produced::Placed { order_id: "o-1".into(), amount_cents: 5 },
            Produced::Approved { order_id: "o-1".into() },
        ]);
        let seen: Vec<_> = envelopes.iter().map(|e| (e.event_type.as_str(), e.sequence)).collect();
        assert_eq!(seen, [("Placed", 4), ("Approved", 5)]);
        assert_eq!(envelopes[0].source, "orders/order-events");
        assert_eq!(envelopes[0].data, json!({"order_id": "o-1", "amount_cents": 5}));
    }

    #[test]
    fn reader_ignores_fields_it_does_not_know() {
        let envelope = &emit(&[Produced::Placed { order_id: "o-1".into(), amount_cents: 5 }])[0];
        assert_eq!(decode::<Read>(envelope).unwrap(), Read::Placed { order_id: "o-1".into() });
    }

    #[test]
    fn reports_an_unknown_type_by_name() {
        let envelope = &emit(&[Produced::Approved { order_id: "o-1".into() }])[0];
        assert_eq!(
            decode::<Read>(envelope).unwrap_err(),
            EventCodecError::UnknownType { event_type: "Approved".into() }
        );
    }

    #[test]
    fn reports_data_that_breaks_the_contract() {
        let mut envelope = emit(&[Produced::Placed { order_id: "o-1".into(), amount_cents: 5 }]).remove(0);
        envelope.data = json!({"order": 1});
        let error = decode::<Read>(&envelope).unwrap_err();
        assert!(error.to_string().contains("missing field `order_id`"), "{error}");
    }
}

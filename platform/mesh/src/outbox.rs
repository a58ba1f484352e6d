//! The outbox item: one event as it waits in the domain's outbox table.
//!
//! Keyed by entity (`pk`) and entity sequence (`sk`) so one entity's events
//! share a stream shard and leave in order. The envelope is kept as the exact
//! JSON that will be published, so what was checked is what goes out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, EnvelopeError};

/// SNS takes 256 KiB per message including attributes; leave room for them.
pub const MAX_EVENT_BYTES: usize = 250 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The entity id (the envelope's `subject`).
    pub pk: String,
    /// The entity sequence (the envelope's `sequence`).
    pub sk: u64,
    pub event_id: String,
    pub event_type: String,
    pub source: String,
    /// The CloudEvents JSON, published as is.
    pub envelope: String,
    /// Epoch seconds after which DynamoDB's TTL may delete the item.
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("event {event_type} is {bytes} bytes; the limit is {limit} bytes")]
    TooLarge { event_type: String, bytes: usize, limit: usize },
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

impl OutboxItem {
    /// The outbox item for `envelope`, kept for `retention` after the event.
    pub fn new(envelope: &Envelope, retention: Duration) -> Result<Self, OutboxError> {
        let json = envelope.to_json()?;
        if json.len() > MAX_EVENT_BYTES {
            return Err(OutboxError::TooLarge {
                event_type: envelope.event_type.clone(),
                bytes: json.len(),
                limit: MAX_EVENT_BYTES,
            });
        }
        let retention = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            pk: envelope.subject.clone(),
            sk: envelope.sequence,
            event_id: envelope.id.to_string(),
            event_type: envelope.event_type.clone(),
            source: envelope.source.clone(),
            envelope: json,
            expires_at: envelope.time.timestamp().saturating_add(retention),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::envelope::EventMeta;
    use serde_json::json;
    use uuid::Uuid;

    fn envelope(data: serde_json::Value) -> Envelope {
        Envelope::new("orders/order-events", "OrderPlaced", "o-1", 3, data, &EventMeta::root(Uuid::now_v7()))
    }

    #[test]
    fn keys_the_item_by_entity_and_sequence() {
        let envelope = envelope(json!({}));
        let item = OutboxItem::new(&envelope, Duration::from_secs(60)).unwrap();
        assert_eq!((item.pk.as_str(), item.sk), ("o-1", 3));
        assert_eq!(item.expires_at, envelope.time.timestamp() + 60);
        assert_eq!(Envelope::from_json(&item.envelope).unwrap().id, envelope.id);
    }

    #[test]
    fn refuses_an_event_too_large_to_publish() {
        let error =
            OutboxItem::new(&envelope(json!({"blob": "x".repeat(MAX_EVENT_BYTES)})), Duration::ZERO).unwrap_err();
        assert!(error.to_string().starts_with("event OrderPlaced is "), "{error}");
    }
}

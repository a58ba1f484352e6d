//! The queue subscriber: hands each message of a batch to the domain's
//! handler and reports the ones to redeliver (partial batch failure).

use std::future::Future;

use crate::envelope::{Envelope, EnvelopeError};
use crate::event::ReadError;
use crate::schemas::LookupError;
use crate::store::{Applied, ReactError};

/// One queued message (an SQS record, reduced to what the logic needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: String,
}

/// Why a message could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The message can never succeed (not an envelope, unknown type, breaks
    /// its contract): after the queue's retries it goes to the DLQ.
    #[error("poison message: {0}")]
    Poison(String),
    /// Worth another delivery (a throttle, a conflict, an outage).
    #[error("retryable failure: {0}")]
    Retryable(String),
}

impl From<EnvelopeError> for HandleError {
    fn from(error: EnvelopeError) -> Self {
        Self::Poison(error.to_string())
    }
}

impl From<ReadError> for HandleError {
    /// An event this consumer cannot read stays unreadable, unless the
    /// writer's schema could not be fetched (the registry may answer later).
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Lookup(LookupError::Unavailable { .. }) => Self::Retryable(error.to_string()),
            ReadError::Codec(_) | ReadError::Lookup(LookupError::NotFound(_)) => Self::Poison(error.to_string()),
        }
    }
}

impl<E: std::fmt::Display> From<ReactError<E>> for HandleError {
    /// A decision the domain refuses never changes on redelivery; a store
    /// failure may (a conflict, a throttle), unless the stored data is unusable.
    fn from(error: ReactError<E>) -> Self {
        match error {
            ReactError::Decide(e) => Self::Poison(e.to_string()),
            ReactError::Store(e) if e.is_retryable() => Self::Retryable(e.to_string()),
            ReactError::Store(e) => Self::Poison(e.to_string()),
        }
    }
}

/// What a consumer does with one event.
pub trait Handler: Send + Sync {
    fn handle(&self, envelope: &Envelope) -> impl Future<Output = Result<Applied, HandleError>> + Send;
}

/// The messages to redeliver, and counts for the logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub failed: Vec<FailedMessage>,
    pub applied: usize,
    pub duplicates: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMessage {
    pub id: String,
    pub reason: String,
    pub poison: bool,
}

/// Handles every message of the batch in order; a failure of one never
/// stops the others.
pub async fn handle_batch<H: Handler>(messages: &[Message], handler: &H) -> BatchReport {
    let mut report = BatchReport::default();
    for message in messages {
        let outcome = match Envelope::from_json(&message.body) {
            Ok(envelope) => handler.handle(&envelope).await,
            Err(error) => Err(error.into()),
        };
        match outcome {
            Ok(Applied::Changed) => report.applied += 1,
            Ok(Applied::Duplicate) => report.duplicates += 1,
            Err(error) => report.failed.push(FailedMessage {
                id: message.id.clone(),
                poison: matches!(error, HandleError::Poison(_)),
                reason: error.to_string(),
            }),
        }
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::envelope::EventMeta;

    #[derive(Default)]
    struct Recorder {
        seen: Mutex<HashSet<Uuid>>,
    }

    impl Handler for Recorder {
        async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
            if envelope.event_type == "Unknown" {
                return Err(HandleError::Poison("unknown event type `Unknown`".into()));
            }
            Ok(if self.seen.lock().unwrap().insert(envelope.id) { Applied::Changed } else { Applied::Duplicate })
        }
    }

    fn message(id: &str, event_type: &str) -> Message {
        let envelope = Envelope::new("o/p", event_type, "e", 1, json!({}), &EventMeta::root(Uuid::now_v7()));
        Message { id: id.into(), body: envelope.to_json().unwrap() }
    }

    #[tokio::test]
    async fn reports_only_the_messages_that_failed() {
        let batch = [
            message("m1", "OrderPlaced"),
            Message { id: "m2".into(), body: "not json".into() },
            message("m3", "Unknown"),
            message("m4", "OrderPlaced"),
        ];
        let report = handle_batch(&batch, &Recorder::default()).await;
        assert_eq!(report.applied, 2);
        let failed: Vec<_> = report.failed.iter().map(|f| (f.id.as_str(), f.poison)).collect();
        assert_eq!(failed, [("m2", true), ("m3", true)]);
        assert!(report.failed[0].reason.starts_with("poison message: not valid JSON"), "{}", report.failed[0].reason);
    }

    #[tokio::test]
    async fn counts_a_redelivery_as_a_duplicate() {
        let recorder = Recorder::default();
        let first = message("m1", "OrderPlaced");
        handle_batch(std::slice::from_ref(&first), &recorder).await;
        let report = handle_batch(&[first], &recorder).await;
        assert_eq!((report.applied, report.duplicates), (0, 1));
    }
}

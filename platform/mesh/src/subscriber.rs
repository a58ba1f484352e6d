//! The queue subscriber: hands each message of a batch to the domain's
//! handler and reports the ones to redeliver (partial batch failure).

use std::collections::HashSet;
use std::future::Future;

use crate::envelope::{Envelope, EnvelopeError};
use crate::error::Chain;
use crate::event::{EventCodecError, ReadError};
use crate::ordering::Order;
use crate::ordering::{Gate, NoPositions, Ordering, Positions, gate};
use crate::pii::{KeyService, OpenError, Opened, Opener};
use crate::schemas::LookupError;
use crate::store::{Applied, ReactError};

/// One queued message (an SQS record, reduced to what the logic needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: String,
    /// A FIFO queue's `MessageGroupId` (the entity id).
    pub group: Option<String>,
}

impl Message {
    pub fn new(id: impl Into<String>, body: impl Into<String>) -> Self {
        Self { id: id.into(), body: body.into(), group: None }
    }
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
    /// Early: its entity's previous event has not been applied yet.
    #[error("held back: {0}")]
    HeldBack(String),
}

impl From<EnvelopeError> for HandleError {
    fn from(error: EnvelopeError) -> Self {
        Self::Poison(error.to_string())
    }
}

impl From<EventCodecError> for HandleError {
    /// An event the product's contract refuses is refused again on every
    /// redelivery: the decision is the same, so is its event.
    fn from(error: EventCodecError) -> Self {
        Self::Poison(error.to_string())
    }
}

impl From<ReadError> for HandleError {
    /// An event this consumer cannot read stays unreadable, unless the
    /// writer's schema could not be fetched (the registry may answer later).
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Lookup(LookupError::Unavailable { .. }) => Self::Retryable(Chain(&error).to_string()),
            ReadError::Codec(_) | ReadError::Lookup(LookupError::NotFound(_)) => {
                Self::Poison(Chain(&error).to_string())
            }
        }
    }
}

impl From<OpenError> for HandleError {
    /// A sealed field that does not open (altered, another product's, a key
    /// the subscriber may not use) never will: poison, parked with why. A
    /// key service that did not answer may answer the redelivery.
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::Unavailable { .. } => Self::Retryable(Chain(&error).to_string()),
            OpenError::Refused { .. } => Self::Poison(error.to_string()),
        }
    }
}

impl HandleError {
    /// The same error, its reason without the clear values `opened` revealed:
    /// reasons go to logs and to the DLQ's attributes.
    fn redacted(self, opened: &Opened) -> Self {
        match self {
            Self::Poison(reason) => Self::Poison(opened.redact(&reason)),
            Self::Retryable(reason) => Self::Retryable(opened.redact(&reason)),
            Self::HeldBack(reason) => Self::HeldBack(opened.redact(&reason)),
        }
    }
}

impl<E: std::fmt::Display> From<ReactError<E>> for HandleError {
    /// A decision the domain refuses never changes on redelivery; a store
    /// failure may (a conflict, a throttle), unless the stored data is unusable.
    fn from(error: ReactError<E>) -> Self {
        match error {
            ReactError::Decide(e) => Self::Poison(e.to_string()),
            ReactError::Store(e) if e.is_retryable() => Self::Retryable(Chain(&e).to_string()),
            ReactError::Store(e) => Self::Poison(Chain(&e).to_string()),
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
    /// Dropped: at or below the entity's position (`order: sequence`).
    pub stale: usize,
    /// Redelivered later: their predecessor was not applied yet.
    pub held_back: usize,
    /// Applied after a later event of the same entity (`order: strict`).
    pub out_of_order: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMessage {
    pub id: String,
    pub reason: String,
    pub poison: bool,
    /// Early for its entity: it may succeed once its predecessor is applied.
    pub held_back: bool,
}

/// Handles every message of the batch in order; a failure of one never
/// stops the others, except the rest of its FIFO group. The subscriber is
/// granted no PII: every protected field reaches the handler as its token.
pub async fn handle_batch<H: Handler>(messages: &[Message], handler: &H) -> BatchReport {
    handle_opened(messages, handler, &Opener::tokens_only()).await
}

/// [`handle_batch`] for a subscriber whose `opener` may be granted PII.
pub async fn handle_opened<H: Handler, K: KeyService>(
    messages: &[Message],
    handler: &H,
    opener: &Opener<K>,
) -> BatchReport {
    handle_in_order(messages, handler, &Ordering::<NoPositions>::default(), opener).await
}

/// [`handle_batch`], opening each event's protected fields with `opener`
/// before the handler runs and keeping each entity's position for the
/// products taken in order. In a FIFO group, the messages after a failed one
/// are not handled but returned with it, so the group keeps its order.
pub async fn handle_in_order<H: Handler, P: Positions, K: KeyService>(
    messages: &[Message],
    handler: &H,
    ordering: &Ordering<P>,
    opener: &Opener<K>,
) -> BatchReport {
    let mut report = BatchReport::default();
    let mut stopped_groups: HashSet<&str> = HashSet::new();
    for message in messages {
        if let Some(group) = message.group.as_deref().filter(|g| stopped_groups.contains(g)) {
            report.failed.push(FailedMessage {
                id: message.id.clone(),
                reason: format!("held behind a failed message of FIFO group {group}"),
                poison: false,
                held_back: false,
            });
            continue;
        }
        let outcome = match Envelope::from_json(&message.body) {
            Ok(envelope) => handle_opened_one(envelope, handler, ordering, opener).await,
            Err(error) => Err(error.into()),
        };
        match outcome {
            Ok(Handled::Applied) => report.applied += 1,
            Ok(Handled::OutOfOrder) => {
                report.applied += 1;
                report.out_of_order += 1;
            }
            Ok(Handled::Duplicate) => report.duplicates += 1,
            Ok(Handled::Stale) => report.stale += 1,
            Err(error) => {
                let held_back = matches!(error, HandleError::HeldBack(_));
                report.held_back += usize::from(held_back);
                if let Some(group) = &message.group {
                    stopped_groups.insert(group);
                }
                report.failed.push(FailedMessage {
                    id: message.id.clone(),
                    poison: matches!(error, HandleError::Poison(_)),
                    held_back,
                    reason: error.to_string(),
                });
            }
        }
    }
    report
}

enum Handled {
    Applied,
    /// Applied after a later event of its entity (a broken FIFO promise).
    OutOfOrder,
    Duplicate,
    Stale,
}

impl From<Applied> for Handled {
    fn from(applied: Applied) -> Self {
        match applied {
            Applied::Changed => Self::Applied,
            Applied::Duplicate => Self::Duplicate,
        }
    }
}

/// Opens the event's protected fields, then hands it over; a failure's
/// reason leaves without the clear values it revealed.
async fn handle_opened_one<H: Handler, P: Positions, K: KeyService>(
    mut envelope: Envelope,
    handler: &H,
    ordering: &Ordering<P>,
    opener: &Opener<K>,
) -> Result<Handled, HandleError> {
    let opened = opener.open(&mut envelope).await?;
    handle_one(&envelope, handler, ordering).await.map_err(|e| e.redacted(&opened))
}

async fn handle_one<H: Handler, P: Positions>(
    envelope: &Envelope,
    handler: &H,
    ordering: &Ordering<P>,
) -> Result<Handled, HandleError> {
    let order = ordering.of(&envelope.source);
    if order.is_any() {
        return Ok(handler.handle(envelope).await?.into());
    }
    let (source, subject, sequence) = (&envelope.source, &envelope.subject, envelope.sequence);
    let positions = &ordering.positions;
    let unavailable = |e: crate::store::StoreError| HandleError::Retryable(format!("entity position: {}", Chain(&e)));
    if order == Order::Sequence {
        match gate(positions.last(source, subject).await.map_err(unavailable)?, sequence) {
            Gate::Apply => {}
            Gate::Stale { .. } => return Ok(Handled::Stale),
            Gate::Early { last } => {
                let last = last.map_or_else(|| "none".to_owned(), |l| l.to_string());
                return Err(HandleError::HeldBack(format!(
                    "event {sequence} of {source} {subject} waits for event {} (last applied: {last})",
                    sequence - 1
                )));
            }
        }
    }
    let applied = handler.handle(envelope).await?;
    // A duplicate moves the position too: the commit may have landed in a
    // delivery that crashed before moving it.
    let moved = positions.advance(source, subject, sequence).await.map_err(unavailable)?;
    if !moved && applied == Applied::Changed {
        positions.flag_out_of_order(source, subject, sequence).await.map_err(unavailable)?;
        return Ok(Handled::OutOfOrder);
    }
    Ok(applied.into())
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
    use crate::ordering::Ordering;

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
        Message::new(id, envelope.to_json().unwrap())
    }

    #[tokio::test]
    async fn reports_only_the_messages_that_failed() {
        let batch = [
            message("m1", "OrderPlaced"),
            Message::new("m2", "not json"),
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

    fn numbered(id: &str, subject: &str, sequence: u64) -> Message {
        let meta = EventMeta::root(Uuid::now_v7());
        let envelope = Envelope::new("o/p", "OrderPlaced", subject, sequence, json!({}), &meta);
        Message::new(id, envelope.to_json().unwrap())
    }

    fn in_order(order: Order) -> Ordering<crate::ordering::memory::MemoryPositions> {
        Ordering::new([("o/p".to_owned(), order)].into(), Default::default())
    }

    #[tokio::test]
    async fn holds_back_an_early_event_until_its_predecessor_is_applied() {
        let (recorder, ordering) = (Recorder::default(), in_order(Order::Sequence));
        let second = numbered("m2", "e", 2);
        let report = handle_in_order(std::slice::from_ref(&second), &recorder, &ordering, &Opener::tokens_only()).await;
        assert_eq!((report.applied, report.held_back), (0, 1));
        assert_eq!(report.failed[0].reason, "held back: event 2 of o/p e waits for event 1 (last applied: none)");
        assert!(!report.failed[0].poison);

        let report =
            handle_in_order(&[numbered("m1", "e", 1), second], &recorder, &ordering, &Opener::tokens_only()).await;
        assert_eq!((report.applied, report.held_back, report.failed.len()), (2, 0, 0));
    }

    #[tokio::test]
    async fn drops_a_stale_event_without_handing_it_over() {
        let (recorder, ordering) = (Recorder::default(), in_order(Order::Sequence));
        let tokens = Opener::tokens_only();
        handle_in_order(&[numbered("m1", "e", 1), numbered("m2", "e", 2)], &recorder, &ordering, &tokens).await;
        let late = numbered("m1-again", "e", 1);
        let report = handle_in_order(&[late], &recorder, &ordering, &tokens).await;
        assert_eq!((report.applied, report.stale, report.failed.len()), (0, 1, 0));
        assert_eq!(recorder.seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failed_message_stops_the_rest_of_its_fifo_group_only() {
        let grouped = |message: Message, group: &str| Message { group: Some(group.into()), ..message };
        let batch = [
            grouped(message("a1", "Unknown"), "a"),
            grouped(message("b1", "OrderPlaced"), "b"),
            grouped(message("a2", "OrderPlaced"), "a"),
        ];
        let report = handle_batch(&batch, &Recorder::default()).await;
        assert_eq!(report.applied, 1);
        let failed: Vec<_> = report.failed.iter().map(|f| (f.id.as_str(), f.reason.as_str())).collect();
        assert_eq!(failed[1], ("a2", "held behind a failed message of FIFO group a"));
    }

    #[tokio::test]
    async fn counts_an_event_applied_after_a_later_one_in_strict_order() {
        let (recorder, ordering) = (Recorder::default(), in_order(Order::Strict));
        let batch = [numbered("m3", "e", 3), numbered("m1", "e", 1)];
        let report = handle_in_order(&batch, &recorder, &ordering, &Opener::tokens_only()).await;
        assert_eq!((report.applied, report.out_of_order), (2, 1));
        assert_eq!(ordering.positions.out_of_order(), 1);
    }
}

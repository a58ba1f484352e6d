//! The outbox relay: publishes a batch of outbox stream records to the
//! product's output ports and names the first record that did not make it.
//!
//! The stream source retries from that record on, so everything before it is
//! published exactly as often as needed and per-entity order holds: within one
//! call to a port an entity appears at most once, so a record that fails can
//! never be overtaken by a later record of its own entity.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use crate::error::Chain;
use crate::outbox::OutboxItem;

/// One record of the outbox table's change stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRecord {
    /// A new outbox item (or why its image could not be read).
    Insert { record_id: String, item: Result<OutboxItem, String> },
    /// A modification or a removal (TTL expiry): nothing to publish.
    Other { record_id: String },
}

/// A publish that did not succeed, per item: the service refused the item
/// (its code and message), or the whole call failed (the SDK's error kept
/// as the cause, shared by every item of the call).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct PublishError {
    reason: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PublishError {
    /// The service refused this item.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), source: None }
    }

    /// The call carrying this item failed as a whole.
    pub fn call_failed(call: &str, source: impl Into<crate::error::Cause>) -> Self {
        Self { reason: format!("{call} failed"), source: Some(Arc::from(source.into())) }
    }
}

/// An output port (a topic, a log): sends up to `max_batch()` items per call.
pub trait Port: Send + Sync {
    fn name(&self) -> &str;

    fn max_batch(&self) -> usize;

    /// The most envelope bytes one call may carry.
    fn max_batch_bytes(&self) -> usize;

    /// Publishes `items` in one call; one result per item, in order.
    fn send(&self, items: &[&OutboxItem]) -> impl Future<Output = Vec<Result<(), PublishError>>> + Send;
}

/// What a relay run did; `first_failure` is what the stream must retry from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelayReport {
    pub published: usize,
    pub ignored: usize,
    pub first_failure: Option<RelayFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayFailure {
    pub record_id: String,
    pub reason: String,
}

/// Publishes every outbox insert in `records`, in order, to `log` and then to
/// `topic`, then keeps the saga deadlines they start (`deadlines`). Stops at
/// the first record a port refused (or that could not be decoded) and
/// reports it.
pub async fn relay<L: Port, T: Port, D: Port>(
    records: &[StreamRecord],
    log: &L,
    topic: &T,
    deadlines: &D,
) -> RelayReport {
    let mut items = Vec::new();
    let mut ignored = 0;
    let mut undecodable = None;
    for record in records {
        match record {
            StreamRecord::Insert { record_id, item: Ok(item) } => items.push((record_id, item)),
            StreamRecord::Insert { record_id, item: Err(reason) } => {
                undecodable = Some(RelayFailure {
                    record_id: record_id.clone(),
                    reason: format!("unreadable outbox record: {reason}"),
                });
                break;
            }
            StreamRecord::Other { .. } => ignored += 1,
        }
    }

    let outbox: Vec<&OutboxItem> = items.iter().map(|(_, item)| *item).collect();
    let (logged, log_failure) = publish_in_order(log, &outbox).await;
    let (published, topic_failure) = publish_in_order(topic, &outbox[..logged]).await;
    let (published, deadline_failure) = publish_in_order(deadlines, &outbox[..published]).await;
    let first_failure = match deadline_failure.or(topic_failure).or(log_failure) {
        Some(reason) => Some(RelayFailure { record_id: items[published].0.clone(), reason }),
        None => undecodable,
    };
    RelayReport { published, ignored, first_failure }
}

/// Sends `items` through `port` in calls that respect its batch size and hold
/// each entity at most once. Returns how many leading items were accepted and,
/// if not all, the reason the next one was refused.
async fn publish_in_order<P: Port>(port: &P, items: &[&OutboxItem]) -> (usize, Option<String>) {
    let mut sent = 0;
    while sent < items.len() {
        let call = next_call(&items[sent..], port.max_batch().max(1), port.max_batch_bytes());
        let results = port.send(call).await;
        for (offset, item) in call.iter().enumerate() {
            match results.get(offset) {
                Some(Ok(())) => {}
                Some(Err(error)) => return (sent + offset, Some(describe(port, item, &Chain(error).to_string()))),
                None => {
                    return (sent + offset, Some(describe(port, item, "no result returned")));
                }
            }
        }
        sent += call.len();
    }
    (sent, None)
}

/// The longest prefix of `items` within the port's limits that holds no
/// entity twice (never empty: one item always fits, the outbox caps its size).
fn next_call<'a, 'b>(items: &'b [&'a OutboxItem], max: usize, max_bytes: usize) -> &'b [&'a OutboxItem] {
    let mut entities = HashSet::new();
    let mut bytes = 0;
    let end = items
        .iter()
        .take(max)
        .position(|item| {
            bytes += item.envelope.len();
            !entities.insert(item.pk.as_str()) || bytes > max_bytes
        })
        .unwrap_or(items.len().min(max));
    &items[..end.max(1)]
}

fn describe<P: Port>(port: &P, item: &OutboxItem, reason: &str) -> String {
    format!("{} refused {} #{} ({}): {reason}", port.name(), item.pk, item.sk, item.event_id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A port that records what it accepted and refuses chosen event ids once.
    #[derive(Debug)]
    pub struct FakePort {
        pub max: usize,
        pub accepted: Mutex<Vec<(String, u64)>>,
        pub calls: Mutex<Vec<usize>>,
        pub refuse_once: Mutex<Vec<String>>,
    }

    impl FakePort {
        pub fn new(max: usize) -> Self {
            Self { max, accepted: Mutex::default(), calls: Mutex::default(), refuse_once: Mutex::default() }
        }

        pub fn accepted(&self) -> Vec<(String, u64)> {
            self.accepted.lock().unwrap().clone()
        }
    }

    impl Port for FakePort {
        fn name(&self) -> &str {
            "fake"
        }

        fn max_batch(&self) -> usize {
            self.max
        }

        fn max_batch_bytes(&self) -> usize {
            1000
        }

        async fn send(&self, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
            self.calls.lock().unwrap().push(items.len());
            let mut refuse = self.refuse_once.lock().unwrap();
            items
                .iter()
                .map(|item| {
                    if let Some(at) = refuse.iter().position(|id| *id == item.event_id) {
                        refuse.remove(at);
                        Err(PublishError::refused("throttled"))
                    } else {
                        self.accepted.lock().unwrap().push((item.pk.clone(), item.sk));
                        Ok(())
                    }
                })
                .collect()
        }
    }

    pub fn item(pk: &str, sk: u64) -> OutboxItem {
        OutboxItem {
            pk: pk.into(),
            sk,
            event_id: format!("{pk}-{sk}"),
            event_type: "OrderPlaced".into(),
            source: "orders/order-events".into(),
            envelope: "{}".into(),
            expires_at: 0,
        }
    }

    fn insert(n: usize, pk: &str, sk: u64) -> StreamRecord {
        StreamRecord::Insert { record_id: format!("r{n}"), item: Ok(item(pk, sk)) }
    }

    /// Plays what the stream does: retry from the reported record until done.
    async fn run_until_done(
        records: &[StreamRecord],
        log: &FakePort,
        topic: &FakePort,
        deadlines: &FakePort,
    ) -> Vec<RelayReport> {
        let mut reports = Vec::new();
        let mut from = 0;
        loop {
            let report = relay(&records[from..], log, topic, deadlines).await;
            let failure = report.first_failure.clone();
            reports.push(report);
            match failure {
                None => return reports,
                Some(f) => from = records.iter().position(|r| matches!(r, StreamRecord::Insert { record_id, .. } | StreamRecord::Other { record_id } if *record_id == f.record_id)).unwrap(),
            }
        }
    }

    #[tokio::test]
    async fn publishes_every_insert_to_both_ports() {
        let (log, topic) = (FakePort::new(500), FakePort::new(10));
        let records: Vec<_> = (0..25).map(|n| insert(n, &format!("e{n}"), 1)).collect();
        let report = relay(&records, &log, &topic, &FakePort::new(10)).await;
        assert_eq!((report.published, report.first_failure), (25, None));
        assert_eq!(*topic.calls.lock().unwrap(), [10, 10, 5]);
        assert_eq!(*log.calls.lock().unwrap(), [25]);
    }

    #[tokio::test]
    async fn splits_calls_by_payload_size() {
        let (log, topic) = (FakePort::new(500), FakePort::new(10));
        let records: Vec<_> = (0..5)
            .map(|n| {
                let mut big = item(&format!("e{n}"), 1);
                big.envelope = "x".repeat(400);
                StreamRecord::Insert { record_id: format!("r{n}"), item: Ok(big) }
            })
            .collect();
        relay(&records, &log, &topic, &FakePort::new(10)).await;
        assert_eq!(*log.calls.lock().unwrap(), [2, 2, 1]);
    }

    #[tokio::test]
    async fn ignores_records_that_are_not_inserts() {
        let (log, topic) = (FakePort::new(500), FakePort::new(10));
        let records = [StreamRecord::Other { record_id: "r0".into() }, insert(1, "a", 1)];
        let report = relay(&records, &log, &topic, &FakePort::new(10)).await;
        assert_eq!((report.published, report.ignored), (1, 1));
    }

    #[tokio::test]
    async fn keeps_an_entity_once_per_call() {
        let (log, topic) = (FakePort::new(500), FakePort::new(10));
        let records = [insert(0, "a", 1), insert(1, "b", 1), insert(2, "a", 2), insert(3, "c", 1)];
        relay(&records, &log, &topic, &FakePort::new(10)).await;
        assert_eq!(*log.calls.lock().unwrap(), [2, 2]);
    }

    #[tokio::test]
    async fn names_the_first_failed_record_and_keeps_entity_order_on_retry() {
        let (log, topic, deadlines) = (FakePort::new(500), FakePort::new(10), FakePort::new(10));
        // Entities a, b, c interleaved, three events each.
        let records: Vec<_> = (0..9).map(|n| insert(n, ["a", "b", "c"][n % 3], (n / 3 + 1) as u64)).collect();
        log.refuse_once.lock().unwrap().push("b-2".into()); // record r4, mid-batch
        deadlines.refuse_once.lock().unwrap().push("a-3".into()); // record r6
        topic.refuse_once.lock().unwrap().push("c-3".into()); // record r8

        let reports = run_until_done(&records, &log, &topic, &deadlines).await;

        let failures: Vec<_> = reports.iter().filter_map(|r| r.first_failure.clone()).collect();
        // The topic's refusal of r8 is behind the scheduler's of r6: the
        // stream retries from r6, and r8 goes through then.
        assert_eq!(failures.iter().map(|f| f.record_id.as_str()).collect::<Vec<_>>(), ["r4", "r6"]);
        assert!(failures[0].reason.contains("refused b #2"), "{}", failures[0].reason);
        for port in [&log, &topic, &deadlines] {
            let accepted = port.accepted();
            for entity in ["a", "b", "c"] {
                let seen: Vec<u64> = accepted.iter().filter(|(pk, _)| pk == entity).map(|(_, sk)| *sk).collect();
                // Nothing lost, and never an older event after a newer one
                // (a repeat of the latest is a harmless duplicate).
                assert_eq!(seen.iter().copied().max(), Some(3), "{entity}: {seen:?}");
                assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{entity} out of order: {seen:?}");
                for sk in 1..=3 {
                    assert!(seen.contains(&sk), "{entity} #{sk} lost: {seen:?}");
                }
            }
        }
    }

    #[tokio::test]
    async fn stops_at_a_record_it_cannot_read() {
        let (log, topic) = (FakePort::new(500), FakePort::new(10));
        let records = [
            insert(0, "a", 1),
            StreamRecord::Insert { record_id: "r1".into(), item: Err("missing field `pk`".into()) },
            insert(2, "b", 1),
        ];
        let report = relay(&records, &log, &topic, &FakePort::new(10)).await;
        assert_eq!(report.published, 1);
        let failure = report.first_failure.unwrap();
        assert_eq!(failure.record_id, "r1");
        assert_eq!(failure.reason, "unreadable outbox record: missing field `pk`");
        assert_eq!(topic.accepted(), [("a".to_string(), 1)]);
    }
}

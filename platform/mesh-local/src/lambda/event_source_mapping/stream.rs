//! A stream shard under an event source mapping (Kinesis, DynamoDB Streams):
//! records are handed over in order, a batch at a time; a failure is retried
//! from the first failed record (or, on a function error with bisect on, as
//! the first half of the batch) until the retries or the record age run out,
//! then the batch's coordinates go to the on-failure destination and the
//! shard moves on.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Outcome, first_failure};

/// The mapping's settings that decide what happens on a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    pub batch_size: usize,
    /// Retries after the first invocation of a batch (`None`: -1, until the
    /// records expire).
    pub maximum_retry_attempts: Option<u32>,
    /// Oldest record still handed over (`None`: -1, no limit).
    pub maximum_record_age: Option<Duration>,
    pub bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
}

/// What the shard needs to know of a record.
pub trait ShardRecord: Clone {
    fn sequence_number(&self) -> &str;
    fn arrival(&self) -> DateTime<Utc>;
}

/// Why a batch was given up, in the on-failure record's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Records the shard stopped retrying: their coordinates go to the
/// on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp<R> {
    pub records: Vec<R>,
    pub condition: Condition,
    /// Invocations of these records, the first one included.
    pub invocations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<R> {
    /// Invoke the function with these records, then call [`Shard::complete`].
    Invoke(Vec<R>),
    /// Send these records' coordinates to the on-failure destination.
    GiveUp(GivenUp<R>),
    /// Nothing to do until more records arrive.
    Idle,
}

/// One shard's position and retry state.
#[derive(Debug, Clone)]
pub struct Shard<R> {
    settings: StreamSettings,
    pending: VecDeque<R>,
    /// The most records the next invocation may take (smaller after a bisect
    /// or a partial failure: only the failed part is retried).
    limit: usize,
    /// Failed invocations of the records at the head.
    failures: u32,
    in_flight: usize,
}

impl<R: ShardRecord> Shard<R> {
    pub fn new(settings: StreamSettings) -> Self {
        let limit = settings.batch_size.max(1);
        Self { settings, pending: VecDeque::new(), limit, failures: 0, in_flight: 0 }
    }

    /// Records read from the shard, in order.
    pub fn push(&mut self, records: impl IntoIterator<Item = R>) {
        self.pending.extend(records);
    }

    /// Records read and not yet checkpointed.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn next(&mut self, now: DateTime<Utc>) -> Step<R> {
        if self.in_flight > 0 {
            return Step::Idle;
        }
        if let Some(age) = self.settings.maximum_record_age {
            let expired = self.pending.iter().take(self.limit).take_while(|r| now - r.arrival() > age).count();
            if expired > 0 {
                let records: Vec<R> = self.pending.drain(..expired).collect();
                let given_up = GivenUp { records, condition: Condition::RecordAgeExceeded, invocations: self.failures };
                self.reset();
                return Step::GiveUp(given_up);
            }
        }
        if self.pending.is_empty() {
            return Step::Idle;
        }
        self.in_flight = self.limit.min(self.pending.len());
        Step::Invoke(self.pending.iter().take(self.in_flight).cloned().collect())
    }

    /// Applies the outcome of the invocation [`Shard::next`] asked for; a
    /// batch whose retries ran out is returned to be given up.
    pub fn complete(&mut self, outcome: &Outcome) -> Option<GivenUp<R>> {
        let batch = std::mem::take(&mut self.in_flight);
        let ids: Vec<&str> = self.pending.iter().take(batch).map(ShardRecord::sequence_number).collect();
        let Some(first) = first_failure(&ids, outcome, self.settings.report_batch_item_failures) else {
            self.pending.drain(..batch);
            self.reset();
            return None;
        };
        // Checkpoint before the first failed record; the rest is retried.
        self.pending.drain(..first);
        let remaining = batch - first;
        self.failures += 1;
        if self.settings.maximum_retry_attempts.is_some_and(|max| self.failures > max) {
            let records: Vec<R> = self.pending.drain(..remaining).collect();
            let given_up =
                GivenUp { records, condition: Condition::RetryAttemptsExhausted, invocations: self.failures };
            self.reset();
            return Some(given_up);
        }
        let bisect = self.settings.bisect_batch_on_function_error && *outcome == Outcome::Failed && remaining > 1;
        self.limit = if bisect { remaining / 2 } else { remaining };
        None
    }

    fn reset(&mut self) {
        self.failures = 0;
        self.limit = self.settings.batch_size.max(1);
    }
}

/// Which stream a mapping reads: the on-failure record names the batch
/// under a different key for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    DynamoDb,
    Kinesis,
}

/// The message Lambda sends to a stream mapping's on-failure destination:
/// the batch's coordinates, never its records.
pub fn on_failure_record<R: ShardRecord>(
    kind: StreamKind,
    given_up: &GivenUp<R>,
    stream_arn: &str,
    shard_id: &str,
    function_arn: &str,
    now: DateTime<Utc>,
) -> Value {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let (first, last) = (given_up.records.first(), given_up.records.last());
    let info = json!({
        "shardId": shard_id,
        "startSequenceNumber": first.map(ShardRecord::sequence_number),
        "endSequenceNumber": last.map(ShardRecord::sequence_number),
        "approximateArrivalOfFirstRecord": first.map(|r| time(r.arrival())),
        "approximateArrivalOfLastRecord": last.map(|r| time(r.arrival())),
        "batchSize": given_up.records.len(),
        "streamArn": stream_arn,
    });
    let key = match kind {
        StreamKind::DynamoDb => "DDBStreamBatchInfo",
        StreamKind::Kinesis => "KinesisBatchInfo",
    };
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::now_v7().to_string(),
            "functionArn": function_arn,
            "condition": given_up.condition.name(),
            "approximateInvokeCount": given_up.invocations,
        },
        "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
        "version": "1.0",
        "timestamp": time(now),
        key: info,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Rec(String, DateTime<Utc>);

    impl ShardRecord for Rec {
        fn sequence_number(&self) -> &str {
            &self.0
        }

        fn arrival(&self) -> DateTime<Utc> {
            self.1
        }
    }

    fn rec(n: u32, at: DateTime<Utc>) -> Rec {
        Rec(n.to_string(), at)
    }

    fn numbers(records: &[Rec]) -> Vec<u32> {
        records.iter().map(|r| r.0.parse().unwrap()).collect()
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z").unwrap().to_utc()
    }

    fn shard(batch_size: usize, retries: Option<u32>, bisect: bool) -> Shard<Rec> {
        let mut shard = Shard::new(StreamSettings {
            batch_size,
            maximum_retry_attempts: retries,
            maximum_record_age: Some(Duration::seconds(60)),
            bisect_batch_on_function_error: bisect,
            report_batch_item_failures: true,
        });
        shard.push((1..=6).map(|n| rec(n, t0())));
        shard
    }

    fn invoked(step: Step<Rec>) -> Vec<u32> {
        match step {
            Step::Invoke(records) => numbers(&records),
            other => panic!("expected an invocation, got {other:?}"),
        }
    }

    #[test]
    fn retries_a_partial_failure_from_the_first_failed_record() {
        let mut shard = shard(4, Some(3), true);
        assert_eq!(invoked(shard.next(t0())), [1, 2, 3, 4]);
        assert_eq!(shard.complete(&Outcome::failed_items(["4", "3"])), None);
        // 1 and 2 are checkpointed; only the failed part is retried, not bisected.
        assert_eq!(invoked(shard.next(t0())), [3, 4]);
        assert_eq!(shard.complete(&Outcome::success()), None);
        assert_eq!(invoked(shard.next(t0())), [5, 6]);
    }

    #[test]
    fn bisects_a_batch_on_a_function_error_until_the_bad_record_is_alone() {
        let mut shard = shard(6, None, true);
        assert_eq!(invoked(shard.next(t0())), [1, 2, 3, 4, 5, 6]);
        shard.complete(&Outcome::Failed);
        assert_eq!(invoked(shard.next(t0())), [1, 2, 3]);
        shard.complete(&Outcome::success());
        assert_eq!(invoked(shard.next(t0())), [4, 5, 6]);
        shard.complete(&Outcome::Failed);
        assert_eq!(invoked(shard.next(t0())), [4]);
        shard.complete(&Outcome::Failed);
        assert_eq!(invoked(shard.next(t0())), [4]);
    }

    #[test]
    fn gives_up_a_batch_when_its_retries_run_out_and_moves_on() {
        let mut shard = shard(2, Some(1), false);
        assert_eq!(invoked(shard.next(t0())), [1, 2]);
        assert_eq!(shard.complete(&Outcome::Failed), None);
        assert_eq!(invoked(shard.next(t0())), [1, 2]);
        let given_up = shard.complete(&Outcome::Failed).unwrap();
        assert_eq!(
            (numbers(&given_up.records), given_up.condition, given_up.invocations),
            (vec![1, 2], Condition::RetryAttemptsExhausted, 2)
        );
        assert_eq!(invoked(shard.next(t0())), [3, 4]);
    }

    #[test]
    fn gives_up_records_older_than_the_maximum_age_before_invoking() {
        let mut shard = shard(4, None, false);
        let late = t0() + Duration::seconds(61);
        match shard.next(late) {
            Step::GiveUp(given_up) => {
                assert_eq!(given_up.condition, Condition::RecordAgeExceeded);
                assert_eq!(given_up.records.len(), 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(shard.pending(), 2);
    }

    #[test]
    fn names_the_given_up_batch_by_its_coordinates_only() {
        let given_up = GivenUp {
            records: vec![rec(7, t0()), rec(9, t0() + Duration::seconds(2))],
            condition: Condition::RetryAttemptsExhausted,
            invocations: 4,
        };
        let record = on_failure_record(StreamKind::DynamoDb, &given_up, "arn:s", "shard-1", "arn:f", t0());
        let info = &record["DDBStreamBatchInfo"];
        assert_eq!(info["startSequenceNumber"], "7");
        assert_eq!(info["endSequenceNumber"], "9");
        assert_eq!(info["approximateArrivalOfLastRecord"], "2026-11-30T10:00:02.000Z");
        assert_eq!(info["batchSize"], 2);
        assert_eq!(record["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 4);
        assert!(on_failure_record(StreamKind::Kinesis, &given_up, "a", "s", "f", t0())["KinesisBatchInfo"].is_object());
    }
}

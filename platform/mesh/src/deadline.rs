//! Saga deadlines. A step that waits for another domain's answer (a credit
//! check, a shipment) must end even when the answer never comes: when the
//! relay publishes an event that starts such a step, it asks the scheduler
//! for a one-time message to the step's handler at the deadline. That
//! message is an envelope of the entity, caused by the starting event, and
//! its id is derived from it: however often the relay or the scheduler
//! repeats it, the handler's inbox applies it once. The handler decides what
//! a passed deadline means; an entity that is no longer waiting ignores it,
//! so a deadline is never removed when the step ends.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::envelope::Envelope;

/// The `type` of a deadline's envelope: the platform's, no product's.
pub const EVENT_TYPE: &str = "mesh.DeadlinePassed";
/// Its `dataschema`: the platform's own shape, `{step, started_by, due}`.
pub const DATASCHEMA: &str = "urn:mesh:deadline:1";
/// Scheduler names: 1 to 64 of `[0-9a-zA-Z-_.]`.
const MAX_NAME: usize = 64;

/// A deadline the descriptor declares (`saga.deadlines`), as the relay
/// reads it from `DEADLINES` (JSON): after an event of type `starts_with`,
/// `step` must end within `timeout_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRule {
    pub step: String,
    pub starts_with: String,
    pub timeout_seconds: u64,
    /// The ARN of the queue the deadline is delivered to: its handler's.
    pub queue: String,
    /// Where the scheduler puts a deadline it could not deliver.
    pub dead_letters: String,
}

/// A deadline that passed, as its handler reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub step: String,
    /// The event that started the step.
    pub started_by: Uuid,
    pub due: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
#[error("deadline {id}: {source}")]
pub struct DeadlineError {
    id: Uuid,
    #[source]
    source: serde_json::Error,
}

/// Parses `DEADLINES`: a JSON list of rules (empty text: none).
pub fn parse_rules(text: &str) -> Result<Vec<DeadlineRule>, serde_json::Error> {
    if text.trim().is_empty() { Ok(Vec::new()) } else { serde_json::from_str(text) }
}

impl DeadlineRule {
    /// The deadline `started` starts, if it starts this rule's step.
    pub fn deadline_for(&self, started: &Envelope) -> Option<Envelope> {
        (started.event_type == self.starts_with).then(|| {
            let due = due(started.time, Duration::seconds(self.timeout_seconds as i64));
            let deadline = Deadline { step: self.step.clone(), started_by: started.id, due };
            Envelope {
                id: Uuid::new_v5(&started.id, self.step.as_bytes()),
                source: format!("{}/deadlines", domain_of(&started.source)),
                event_type: EVENT_TYPE.to_string(),
                subject: started.subject.clone(),
                time: due,
                dataschema: DATASCHEMA.to_string(),
                data: json!(deadline),
                sequence: started.sequence,
                correlation_id: started.correlation_id,
                causation_id: started.id,
                traceparent: started.traceparent.clone(),
            }
        })
    }

    /// The schedule that keeps this step's deadline for `subject`: one per
    /// step and entity, so asking twice finds the first.
    pub fn schedule_name(&self, subject: &str) -> String {
        schedule_name(&self.step, subject)
    }
}

/// When a step started at `started` is due: to the second, as schedules are.
pub fn due(started: DateTime<Utc>, timeout: Duration) -> DateTime<Utc> {
    (started + timeout).trunc_subsecs(0)
}

/// `<step>.<subject>`, or `<step>.<UUIDv5 of the subject>` when the subject
/// has characters or a length a schedule's name does not allow.
pub fn schedule_name(step: &str, subject: &str) -> String {
    let name = format!("{step}.{subject}");
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.len() <= MAX_NAME && name.chars().all(allowed) {
        name
    } else {
        format!("{step}.{}", Uuid::new_v5(&Uuid::NAMESPACE_OID, subject.as_bytes()))
    }
}

/// The scheduler's one-time expression for `due`, or a few seconds from
/// `now` when it has passed (a relay far behind): late, never dropped.
pub fn at_expression(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let when = due.max((now + Duration::seconds(5)).trunc_subsecs(0));
    format!("at({})", when.format("%Y-%m-%dT%H:%M:%S"))
}

impl Deadline {
    /// The deadline `envelope` carries; `None` if it is a product's event.
    pub fn read(envelope: &Envelope) -> Option<Result<Self, DeadlineError>> {
        (envelope.event_type == EVENT_TYPE).then(|| {
            serde_json::from_value(envelope.data.clone()).map_err(|source| DeadlineError { id: envelope.id, source })
        })
    }
}

fn domain_of(source: &str) -> &str {
    source.split_once('/').map_or(source, |(domain, _)| domain)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::envelope::EventMeta;

    fn rule() -> DeadlineRule {
        DeadlineRule {
            step: "credit-check".into(),
            starts_with: "OrderPlaced".into(),
            timeout_seconds: 300,
            queue: "arn:aws:sqs:eu-west-1:000000000000:mesh-orders-customer-credit".into(),
            dead_letters: "arn:aws:sqs:eu-west-1:000000000000:mesh-orders-customer-credit-dlq".into(),
        }
    }

    fn placed() -> Envelope {
        let meta = EventMeta {
            correlation_id: Uuid::now_v7(),
            causation_id: Uuid::now_v7(),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        };
        Envelope::new("orders/order-events", "OrderPlaced", "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f", 1, json!({}), &meta)
    }

    #[test]
    fn the_starting_event_schedules_a_deadline_of_its_entity_in_its_conversation() {
        let placed = placed();

        let deadline = rule().deadline_for(&placed).unwrap();

        assert_eq!(deadline.event_type, EVENT_TYPE);
        assert_eq!(
            (deadline.source.as_str(), deadline.subject.as_str()),
            ("orders/deadlines", placed.subject.as_str())
        );
        assert_eq!((deadline.correlation_id, deadline.causation_id), (placed.correlation_id, placed.id));
        assert_eq!(deadline.traceparent, placed.traceparent, "the trace goes on through the scheduler");
        let read = Deadline::read(&deadline).unwrap().unwrap();
        assert_eq!((read.step.as_str(), read.started_by), ("credit-check", placed.id));
        assert_eq!(read.due, (placed.time + Duration::seconds(300)).trunc_subsecs(0));
        assert_eq!(deadline.time, read.due);
    }

    #[test]
    fn the_same_start_always_makes_the_same_deadline() {
        let placed = placed();

        let (first, again) = (rule().deadline_for(&placed).unwrap(), rule().deadline_for(&placed).unwrap());

        assert_eq!(first.id, again.id, "the handler's inbox applies it once");
        assert_eq!(first, again);
    }

    #[test]
    fn other_events_start_nothing_and_are_not_deadlines() {
        let mut approved = placed();
        approved.event_type = "OrderApproved".into();

        assert!(rule().deadline_for(&approved).is_none());
        assert!(Deadline::read(&approved).is_none());
    }

    #[test]
    fn a_deadline_with_a_broken_body_names_itself() {
        let mut deadline = rule().deadline_for(&placed()).unwrap();
        deadline.data = json!({"step": 1});

        let error = Deadline::read(&deadline).unwrap().unwrap_err();

        assert!(error.to_string().starts_with(&format!("deadline {}: ", deadline.id)), "{error}");
    }

    #[test]
    fn schedule_names_are_one_per_step_and_entity_and_always_valid() {
        let rule = rule();

        assert_eq!(
            rule.schedule_name("0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f"),
            "credit-check.0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f"
        );
        let odd = rule.schedule_name("customer#42/with spaces");
        assert_eq!(odd, rule.schedule_name("customer#42/with spaces"));
        assert!(odd.len() <= MAX_NAME && odd.starts_with("credit-check."), "{odd}");
        assert_ne!(odd, rule.schedule_name("customer#43/with spaces"));
        assert!(rule.schedule_name(&"x".repeat(80)).len() <= MAX_NAME);
    }

    #[test]
    fn a_deadline_already_past_is_kept_a_few_seconds_from_now() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T17:00:00.250Z").unwrap().to_utc();
        let due = DateTime::parse_from_rfc3339("2026-12-02T17:05:00Z").unwrap().to_utc();

        assert_eq!(at_expression(due, now), "at(2026-12-02T17:05:00)");
        assert_eq!(at_expression(now - Duration::seconds(60), now), "at(2026-12-02T17:00:05)");
    }

    #[test]
    fn rules_come_from_json_and_unknown_fields_are_refused() {
        let rules = parse_rules(
            &serde_json::to_string(&json!([{
                "step": "credit-check",
                "starts_with": "OrderPlaced",
                "timeout_seconds": 300,
                "queue": "arn:aws:sqs:eu-west-1:000000000000:mesh-orders-customer-credit",
                "dead_letters": "arn:aws:sqs:eu-west-1:000000000000:mesh-orders-customer-credit-dlq",
            }]))
            .unwrap(),
        );

        assert_eq!(rules.unwrap(), [rule()]);
        assert_eq!(parse_rules("").unwrap(), []);
        assert!(parse_rules(r#"[{"step":"s","starts_with":"T","timeout_seconds":1,"after":2}]"#).is_err());
    }
}

//! SQS events in, partial batch failures out, for every consumer; poison
//! parked in the queue's DLQ at once, with the reason.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;
use lambda_runtime::{LambdaEvent, service_fn};
use mesh::env;
use mesh::error::Chain;
use mesh::ordering::{Ordering, parse_modes};
use mesh::subscriber::{BatchReport, FailedMessage, Handler, Message, handle_in_order};

use crate::config::{self, ConfigError};
use crate::positions::DynamoPositions;

/// Message attribute holding why a message was parked in the DLQ.
pub const ERROR_ATTRIBUTE: &str = "mesh-error";
/// Message attribute holding the ARN of the queue it was consumed from.
pub const SOURCE_ATTRIBUTE: &str = "mesh-source-queue";

/// Runs a queue consumer's Lambda: every SQS batch goes through `handler`;
/// poison (a message no retry can fix) goes to the DLQ with its reason, and
/// only the messages that failed for a passing reason are reported for
/// redelivery.
pub async fn serve<H: Handler>(handler: H) -> Result<(), lambda_runtime::Error> {
    let handler = &handler;
    let sdk = config::sdk_config().await;
    let max_receives = config::optional(env::MAX_RECEIVE_COUNT).and_then(|n| n.parse().ok());
    let dead_letters = &DeadLetters::new(aws_sdk_sqs::Client::new(&sdk)).with_max_receives(max_receives);
    let ordering = &ordering_from_env(aws_sdk_dynamodb::Client::new(&sdk))?;
    // Protected fields are opened before the handler runs: clear for the
    // products this consumer is granted, tokens for every other.
    let opener = &config::opener(&sdk)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let mut report = handle_in_order(&messages(&event.payload), handler, ordering, opener).await;
        dead_letters.park(&event.payload.records, &mut report).await;
        log_report(&report);
        Ok::<_, lambda_runtime::Error>(batch_response(&report))
    }))
    .await
}

/// `ORDERING` (set by the template for subscriptions with an `order:`) and
/// the inbox table that keeps the entities' positions.
fn ordering_from_env(client: aws_sdk_dynamodb::Client) -> Result<Ordering<DynamoPositions>, ConfigError> {
    let modes = config::parsed(
        env::ORDERING,
        parse_modes,
        "expected <domain>/<product>=<any|sequence|strict>, comma-separated",
    )?;
    let retention = config::inbox_retention()?;
    let table = if modes.is_empty() { String::new() } else { config::required(env::INBOX_TABLE)? };
    Ok(Ordering::new(modes, DynamoPositions::new(client, table, retention)))
}

/// Why a message could not be parked in its DLQ (SQS then redelivers it).
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    #[error("the record names no source queue")]
    NoSource,
    #[error("{0} is not an SQS queue ARN")]
    NotAQueue(String),
    #[error("{operation} {queue}")]
    Sqs {
        operation: &'static str,
        queue: String,
        #[source]
        source: mesh::error::Cause,
    },
    #[error("GetQueueUrl {0} returned no URL")]
    NoUrl(String),
}

/// The DLQs of the queues a function consumes: `<queue>-dlq` in the queue's
/// account, the platform's naming, each URL looked up once.
#[derive(Debug)]
pub struct DeadLetters {
    sqs: aws_sdk_sqs::Client,
    urls: Mutex<HashMap<String, String>>,
    /// The queues' `maxReceiveCount`: an event still held back on its last
    /// receive is parked here with why, rather than moved by SQS without.
    max_receives: Option<u32>,
}

impl DeadLetters {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        Self { sqs, urls: Mutex::default(), max_receives: None }
    }

    pub fn with_max_receives(mut self, max_receives: Option<u32>) -> Self {
        self.max_receives = max_receives;
        self
    }

    /// Whether `failed` goes to the DLQ now: poison, or an early event whose
    /// predecessor did not come in all its receives.
    fn must_park(&self, failed: &FailedMessage, record: &SqsMessage) -> Option<String> {
        if failed.poison {
            return Some(failed.reason.clone());
        }
        let receives: u32 = record.attributes.get("ApproximateReceiveCount")?.parse().ok()?;
        let last = self.max_receives?;
        (failed.held_back && receives >= last)
            .then(|| format!("{} (still on receive {receives} of {last})", failed.reason))
    }

    /// Sends every poison message of `report` to its queue's DLQ, with its
    /// attributes and the reason, and drops it from the failures, so the
    /// queue deletes it. A message that cannot be parked stays failed: SQS
    /// redelivers it and, after `maxReceiveCount`, moves it to the DLQ itself.
    pub async fn park(&self, records: &[SqsMessage], report: &mut BatchReport) {
        let mut parked = Vec::new();
        for failed in &report.failed {
            let Some(record) = records.iter().find(|r| r.message_id.as_deref() == Some(failed.id.as_str())) else {
                continue;
            };
            let Some(reason) = self.must_park(failed, record) else { continue };
            match self.send(record, &reason).await {
                Ok(()) => {
                    tracing::error!(message_id = %failed.id, %reason, "message parked in the DLQ");
                    parked.push(failed.id.clone());
                }
                Err(problem) => tracing::warn!(
                    message_id = %failed.id,
                    problem = %Chain(&problem),
                    "could not park the message; SQS will retry it"
                ),
            }
        }
        report.failed.retain(|f| !parked.contains(&f.id));
    }

    async fn send(&self, record: &SqsMessage, reason: &str) -> Result<(), ParkError> {
        let source = record.event_source_arn.as_deref().ok_or(ParkError::NoSource)?;
        let url = self.url(source).await?;
        let string = |value: &str| MessageAttributeValue::builder().data_type("String").string_value(value).build();
        let mut attributes = HashMap::new();
        for (name, value) in &record.message_attributes {
            if let (Some(text), Some(kind)) = (&value.string_value, &value.data_type)
                && kind.starts_with("String")
                && let Ok(copy) = MessageAttributeValue::builder().data_type(kind).string_value(text).build()
            {
                attributes.insert(name.clone(), copy);
            }
        }
        // The start of a long reason is enough to triage; the log has it whole.
        let reason: String = reason.chars().take(1024).collect();
        let attribute = |e: aws_sdk_sqs::error::BuildError| ParkError::Sqs {
            operation: "building the message attributes for",
            queue: source.to_owned(),
            source: e.into(),
        };
        attributes.insert(ERROR_ATTRIBUTE.to_owned(), string(&reason).map_err(attribute)?);
        attributes.insert(SOURCE_ATTRIBUTE.to_owned(), string(source).map_err(attribute)?);
        // A FIFO DLQ takes the message's group, deduplicated by its id.
        let (group, deduplication) = match group_of(record) {
            Some(group) => (Some(group.to_owned()), record.message_id.clone()),
            None => (None, None),
        };
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(record.body.clone().unwrap_or_default())
            .set_message_attributes(Some(attributes))
            .set_message_group_id(group)
            .set_message_deduplication_id(deduplication)
            .send()
            .await
            .map_err(|e| ParkError::Sqs {
                operation: "SendMessage to the DLQ of",
                queue: source.to_owned(),
                source: e.into(),
            })?;
        Ok(())
    }

    async fn url(&self, source_arn: &str) -> Result<String, ParkError> {
        if let Some(url) = self.urls().get(source_arn) {
            return Ok(url.clone());
        }
        let (account, name) = dead_letter_queue(source_arn)?;
        let found = self
            .sqs
            .get_queue_url()
            .queue_name(&name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| ParkError::Sqs { operation: "GetQueueUrl", queue: name.clone(), source: e.into() })?;
        let url = found.queue_url().ok_or_else(|| ParkError::NoUrl(name.clone()))?.to_owned();
        self.urls().insert(source_arn.to_owned(), url.clone());
        Ok(url)
    }

    /// The URLs found so far; a panic elsewhere cannot make them wrong.
    fn urls(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.urls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `arn:aws:sqs:<region>:<account>:<queue>` → (`<account>`, `<queue>-dlq`),
/// or `<queue>-dlq.fifo` for `<queue>.fifo`.
fn dead_letter_queue(source_arn: &str) -> Result<(String, String), ParkError> {
    match source_arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", _, "sqs", _, account, queue] if !queue.is_empty() => Ok((account.to_owned(), dead_letter_name(queue))),
        _ => Err(ParkError::NotAQueue(source_arn.to_owned())),
    }
}

/// The platform's DLQ name for a subscription queue.
pub fn dead_letter_name(queue: &str) -> String {
    match queue.strip_suffix(".fifo") {
        Some(base) => format!("{base}-dlq.fifo"),
        None => format!("{queue}-dlq"),
    }
}

/// A FIFO queue's record carries its group (the entity id).
fn group_of(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

pub fn messages(event: &SqsEvent) -> Vec<Message> {
    event
        .records
        .iter()
        .map(|record| Message {
            id: record.message_id.clone().unwrap_or_default(),
            body: record.body.clone().unwrap_or_default(),
            group: group_of(record).map(str::to_owned),
        })
        .collect()
}

/// Only the failed messages come back; the rest are deleted from the queue.
pub fn batch_response(report: &BatchReport) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for failed in &report.failed {
        let mut item = BatchItemFailure::default();
        item.item_identifier = failed.id.clone();
        response.batch_item_failures.push(item);
    }
    response
}

/// One line per failed message (poison at error level: it is heading for
/// the DLQ) and one line of counts for the batch.
pub fn log_report(report: &BatchReport) {
    for failed in &report.failed {
        if failed.poison {
            tracing::error!(message_id = %failed.id, reason = %failed.reason, "message refused");
        } else {
            tracing::warn!(message_id = %failed.id, reason = %failed.reason, "message will be redelivered");
        }
    }
    if report.out_of_order > 0 {
        tracing::error!(count = report.out_of_order, "events applied after a later event of their entity");
    }
    tracing::info!(
        applied = report.applied,
        duplicates = report.duplicates,
        stale = report.stale,
        held_back = report.held_back,
        failed = report.failed.len(),
        "batch handled"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(poison: bool, held_back: bool) -> FailedMessage {
        FailedMessage { id: "m".into(), reason: "why".into(), poison, held_back }
    }

    fn received(times: u32) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.attributes.insert("ApproximateReceiveCount".into(), times.to_string());
        record
    }

    #[test]
    fn parks_poison_at_once_and_an_early_event_on_its_last_receive() {
        let sqs = aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::Config::builder().behavior_version_latest().build());
        let dead_letters = DeadLetters::new(sqs).with_max_receives(Some(3));
        assert_eq!(dead_letters.must_park(&failed(true, false), &received(1)), Some("why".into()));
        assert_eq!(dead_letters.must_park(&failed(false, true), &received(2)), None);
        assert_eq!(
            dead_letters.must_park(&failed(false, true), &received(3)),
            Some("why (still on receive 3 of 3)".into())
        );
        // A passing failure (a throttle) is left to SQS's own redrive.
        assert_eq!(dead_letters.must_park(&failed(false, false), &received(3)), None);
    }

    #[test]
    fn finds_the_dlq_by_the_platforms_naming() {
        assert_eq!(
            dead_letter_queue("arn:aws:sqs:eu-west-1:123456789012:mesh-orders-customer-credit").ok(),
            Some(("123456789012".to_owned(), "mesh-orders-customer-credit-dlq".to_owned()))
        );
        assert_eq!(
            dead_letter_queue("arn:aws:sqs:eu-west-1:123456789012:mesh-customers-order-events.fifo").ok(),
            Some(("123456789012".to_owned(), "mesh-customers-order-events-dlq.fifo".to_owned()))
        );
        assert!(dead_letter_queue("arn:aws:sns:eu-west-1:123456789012:topic").is_err());
    }
}

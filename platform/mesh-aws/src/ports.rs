//! The product's output ports: an SNS topic (fan-out to subscribers' queues)
//! and a Kinesis stream (the ordered, replayable log); and the scheduler
//! that keeps the saga deadlines its events start.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use chrono::Utc;
use mesh::Envelope;
use mesh::deadline::{DeadlineRule, at_expression};
use mesh::error::Chain;
use mesh::outbox::OutboxItem;
use mesh::relay::{Port, PublishError};
use tracing::instrument;

fn all_failed(count: usize, error: PublishError) -> Vec<Result<(), PublishError>> {
    vec![Err(error); count]
}

/// SNS topic: `PublishBatch`, 10 entries and 256 KiB per call; `type` and
/// `source` travel as message attributes so subscriptions can filter on them.
/// With a FIFO topic too (a subscriber asked for strict order), each event
/// is published to both and counts as sent once both took it.
#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    ordered_topic_arn: Option<String>,
}

impl SnsTopic {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn, ordered_topic_arn: None }
    }

    /// Also publishes to `arn`, a FIFO topic: one message group per entity,
    /// deduplicated by event id (a relay retry within 5 minutes is dropped).
    pub fn with_ordered_topic(mut self, arn: String) -> Self {
        self.ordered_topic_arn = Some(arn);
        self
    }

    async fn publish(&self, topic_arn: &str, fifo: bool, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
        let entries: Result<Vec<_>, aws_sdk_sns::error::BuildError> = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let entry = PublishBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message(&item.envelope)
                    .message_attributes("type", string_attribute(&item.event_type)?)
                    .message_attributes("source", string_attribute(&item.source)?);
                let entry = if fifo {
                    entry.message_group_id(&item.pk).message_deduplication_id(&item.event_id)
                } else {
                    entry
                };
                entry.build()
            })
            .collect();
        let entries = match entries {
            Ok(entries) => entries,
            Err(error) => return all_failed(items.len(), PublishError::call_failed("building the SNS batch", error)),
        };
        let output = match self
            .client
            .publish_batch()
            .topic_arn(topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                return all_failed(items.len(), PublishError::call_failed("SNS PublishBatch", e));
            }
        };
        let mut results = vec![Err(PublishError::refused("not acknowledged by SNS")); items.len()];
        for ok in output.successful() {
            if let Some(slot) = ok.id().and_then(|id| id.parse::<usize>().ok()).and_then(|i| results.get_mut(i)) {
                *slot = Ok(());
            }
        }
        for failed in output.failed() {
            if let Some(slot) = failed.id().parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
                *slot = Err(PublishError::refused(format!("{}: {}", failed.code(), failed.message().unwrap_or(""))));
            }
        }
        results
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, aws_sdk_sns::error::BuildError> {
    MessageAttributeValue::builder().data_type("String").string_value(value).build()
}

impl Port for SnsTopic {
    fn name(&self) -> &str {
        "SNS topic"
    }

    fn max_batch(&self) -> usize {
        10
    }

    fn max_batch_bytes(&self) -> usize {
        // Attributes count too; each envelope is capped below this by the outbox.
        256 * 1024 - 10 * 512
    }

    #[instrument(skip_all, fields(topic = %self.topic_arn, count = items.len()))]
    async fn send(&self, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
        let mut results = self.publish(&self.topic_arn, false, items).await;
        let Some(ordered) = &self.ordered_topic_arn else {
            return results;
        };
        // Only the prefix the standard topic took goes on: the relay retries
        // from the first failure, and a FIFO group must not skip ahead.
        let taken = results.iter().take_while(|r| r.is_ok()).count();
        if taken == 0 {
            return results;
        }
        let fifo = self.publish(ordered, true, &items[..taken]).await;
        for (slot, outcome) in results.iter_mut().zip(fifo) {
            if let Err(error) = outcome {
                *slot = Err(PublishError::refused(format!("FIFO topic: {}", Chain(&error))));
            }
        }
        results
    }
}

/// Kinesis stream: `PutRecords`, 500 records and 5 MiB per call, partition
/// key = the entity id so one entity's events stay on one shard, in order.
#[derive(Debug, Clone)]
pub struct KinesisLog {
    client: aws_sdk_kinesis::Client,
    stream_name: String,
}

impl KinesisLog {
    pub fn new(client: aws_sdk_kinesis::Client, stream_name: String) -> Self {
        Self { client, stream_name }
    }
}

impl Port for KinesisLog {
    fn name(&self) -> &str {
        "Kinesis stream"
    }

    fn max_batch(&self) -> usize {
        500
    }

    fn max_batch_bytes(&self) -> usize {
        // Partition keys count towards the 5 MiB as well.
        5 * 1024 * 1024 - 500 * 256
    }

    #[instrument(skip_all, fields(stream = %self.stream_name, count = items.len()))]
    async fn send(&self, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
        let entries: Result<Vec<_>, aws_sdk_kinesis::error::BuildError> = items
            .iter()
            .map(|item| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(item.envelope.as_bytes()))
                    .partition_key(&item.pk)
                    .build()
            })
            .collect();
        let entries = match entries {
            Ok(entries) => entries,
            Err(error) => return all_failed(items.len(), PublishError::call_failed("building Kinesis records", error)),
        };
        let output =
            match self.client.put_records().stream_name(&self.stream_name).set_records(Some(entries)).send().await {
                Ok(output) => output,
                Err(e) => {
                    return all_failed(items.len(), PublishError::call_failed("Kinesis PutRecords", e));
                }
            };
        let mut results: Vec<_> = output
            .records()
            .iter()
            .map(|record| match record.error_code() {
                None => Ok(()),
                Some(code) => Err(PublishError::refused(format!("{code}: {}", record.error_message().unwrap_or("")))),
            })
            .collect();
        results.resize(items.len(), Err(PublishError::refused("not acknowledged by Kinesis")));
        results
    }
}

/// The saga deadlines an event starts (`DEADLINES`), each kept by
/// EventBridge Scheduler as a one-time schedule that sends it to its
/// handler's queue and deletes itself. Asking again for a deadline is
/// harmless: the schedule's name is one per step and entity, and a
/// schedule that fired already makes a repeat the handler's inbox drops.
#[derive(Debug, Clone)]
pub struct DeadlineScheduler {
    client: aws_sdk_scheduler::Client,
    group: String,
    role_arn: String,
    rules: Vec<DeadlineRule>,
}

impl DeadlineScheduler {
    pub fn new(client: aws_sdk_scheduler::Client, group: String, role_arn: String, rules: Vec<DeadlineRule>) -> Self {
        Self { client, group, role_arn, rules }
    }

    /// Keeps every deadline `item` starts.
    async fn schedule(&self, item: &OutboxItem) -> Result<(), PublishError> {
        // Most events start no step: their envelope is not even parsed.
        if !self.rules.iter().any(|r| r.starts_with == item.event_type) {
            return Ok(());
        }
        let started = Envelope::from_json(&item.envelope)
            .map_err(|e| PublishError::refused(format!("its envelope does not parse: {e}")))?;
        for (rule, deadline) in self.rules.iter().filter_map(|r| Some((r, r.deadline_for(&started)?))) {
            self.create(rule, &deadline).await?;
        }
        Ok(())
    }

    async fn create(&self, rule: &DeadlineRule, deadline: &Envelope) -> Result<(), PublishError> {
        let building = |e| PublishError::call_failed("building the schedule", e);
        let input = deadline.to_json().map_err(|e| PublishError::refused(e.to_string()))?;
        let target = Target::builder()
            .arn(&rule.queue)
            .role_arn(&self.role_arn)
            .input(input)
            .dead_letter_config(DeadLetterConfig::builder().arn(&rule.dead_letters).build())
            .build()
            .map_err(building)?;
        let window = FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(building)?;
        let created = self
            .client
            .create_schedule()
            .group_name(&self.group)
            .name(rule.schedule_name(&deadline.subject))
            .description(format!("{} of {} (started by {})", rule.step, deadline.subject, deadline.causation_id))
            .schedule_expression(at_expression(deadline.time, Utc::now()))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .client_token(deadline.id.to_string())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // The same step of the same entity: asked for already.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(()),
            Err(e) => Err(PublishError::call_failed("Scheduler CreateSchedule", e)),
        }
    }
}

impl Port for DeadlineScheduler {
    fn name(&self) -> &str {
        "deadline scheduler"
    }

    fn max_batch(&self) -> usize {
        10
    }

    fn max_batch_bytes(&self) -> usize {
        usize::MAX
    }

    #[instrument(skip_all, fields(group = %self.group, count = items.len()))]
    async fn send(&self, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
        futures_util::future::join_all(items.iter().map(|item| self.schedule(item))).await
    }
}

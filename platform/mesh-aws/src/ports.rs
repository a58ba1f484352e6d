//! The product's output ports: an SNS topic (fan-out to subscribers' queues)
//! and a Kinesis stream (the ordered, replayable log).

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
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

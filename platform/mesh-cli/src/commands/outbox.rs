//! `mesh outbox redrive <domain>`: the relay gave up on some outbox stream
//! batches (their coordinates are in the domain's relay-failures queue);
//! re-publish the outbox items those batches held, in entity order, through
//! the same relay code (the saga deadlines they start included, as the
//! relay's own settings say), then drop each failure record.
//!
//! A failure record names its batch by shard, sequence range and arrival
//! times, not by key. The outbox items written in that time window (widened
//! by a second each side: the window is given to the second) are
//! re-published; an event published twice is absorbed by the consumers'
//! inboxes, one never published is lost, so the window errs wide.

use aws_config::SdkConfig;
use chrono::{DateTime, Duration, Utc};
use mesh::deadline::parse_rules;
use mesh::env;
use mesh::envelope::Envelope;
use mesh::outbox::OutboxItem;
use mesh::relay::{StreamRecord, relay};
use mesh_aws::ports::{DeadlineScheduler, KinesisLog, SnsTopic};
use serde_json::Value;

use super::CommandError;
use super::stack::Stack;

/// What a redrive did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redriven {
    /// Failure records handled (and deleted).
    pub batches: usize,
    /// Outbox items published again.
    pub events: usize,
}

/// The time window of one failure record (`DDBStreamBatchInfo`).
pub fn window(failure: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), CommandError> {
    let value: Value = serde_json::from_str(failure).map_err(CommandError::io("reading an on-failure record"))?;
    let info = &value["DDBStreamBatchInfo"];
    let time =
        |key: &str| {
            info[key].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc()).ok_or_else(|| {
                CommandError::Unexpected(format!("the on-failure record has no DDBStreamBatchInfo.{key}"))
            })
        };
    // An event's time is stamped by the function before its transaction;
    // the stream stamps the record when the write lands (rounded down to
    // the second), after any retries or a slow write, but within the
    // function's timeout. A wider window only re-publishes events the
    // consumers' inboxes absorb; a narrower one missed events on a loaded
    // LocalStack.
    let (before, after) = (Duration::seconds(60), Duration::seconds(1));
    Ok((time("approximateArrivalOfFirstRecord")? - before, time("approximateArrivalOfLastRecord")? + after))
}

async fn outbox_items(config: &SdkConfig, table: &str) -> Result<Vec<(DateTime<Utc>, OutboxItem)>, CommandError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(CommandError::aws(format!("Scan {table}")))?;
        for raw in page.items() {
            let item: OutboxItem = serde_dynamo::from_item(raw.clone())
                .map_err(CommandError::io(format!("reading an item of {table} as an outbox item")))?;
            let envelope = Envelope::from_json(&item.envelope)
                .map_err(CommandError::io(format!("reading outbox item {}#{}", item.pk, item.sk)))?;
            items.push((envelope.time, item));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Re-publishes what every failure record of `domain`'s relay names.
pub async fn redrive(config: &SdkConfig, prefix: &str, domain: &str) -> Result<Redriven, CommandError> {
    let (domain_stack, ports_stack) = (format!("{prefix}-{domain}"), format!("{prefix}-{domain}-ports"));
    let cloudformation = aws_sdk_cloudformation::Client::new(config);
    let own = Stack::describe(&cloudformation, &domain_stack).await?;
    let ports = Stack::describe(&cloudformation, &ports_stack).await?;
    let failures = own.output("RelayFailureQueueUrl")?;
    let table = own.output("OutboxTable")?;
    let log = KinesisLog::new(aws_sdk_kinesis::Client::new(config), ports.output("StreamName")?.into());
    let mut topic = SnsTopic::new(aws_sdk_sns::Client::new(config), ports.output("TopicArn")?.into());
    // Strict-order subscribers read the FIFO topic: the relay publishes to both.
    if let Some(ordered) = ports.outputs.get("OrderedTopicArn") {
        topic = topic.with_ordered_topic(ordered.clone());
    }
    let deadlines = relay_deadlines(config, own.output("RelayFunctionName")?).await?;
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut outbox = None;
    let mut done = Redriven::default();
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(failures)
            .max_number_of_messages(10)
            .visibility_timeout(120)
            .send()
            .await
            .map_err(CommandError::aws(format!("ReceiveMessage {failures}")))?;
        if batch.messages().is_empty() {
            return Ok(done);
        }
        if outbox.is_none() {
            outbox = Some(outbox_items(config, table).await?);
        }
        let items = outbox.as_deref().unwrap_or_default();
        for message in batch.messages() {
            let (from, to) = window(message.body().unwrap_or_default())?;
            let mut chosen: Vec<&OutboxItem> =
                items.iter().filter(|(time, _)| (from..=to).contains(time)).map(|(_, item)| item).collect();
            chosen.sort_by(|a, b| (&a.pk, a.sk).cmp(&(&b.pk, b.sk)));
            let records: Vec<StreamRecord> = chosen
                .iter()
                .map(|item| StreamRecord::Insert {
                    record_id: format!("{}#{}", item.pk, item.sk),
                    item: Ok((*item).clone()),
                })
                .collect();
            let report = relay(&records, &log, &topic, &deadlines).await;
            if let Some(failure) = report.first_failure {
                return Err(CommandError::Failed(format!(
                    "re-publishing stopped at {}: {}; the failure record stays for the next run",
                    failure.record_id, failure.reason
                )));
            }
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(failures)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(CommandError::aws(format!("DeleteMessage {failures}")))?;
            }
            done.batches += 1;
            done.events += report.published;
        }
    }
}

/// The deadlines the relay keeps, from its own environment: what it would
/// have scheduled for the events it gave up on.
async fn relay_deadlines(config: &SdkConfig, relay: &str) -> Result<DeadlineScheduler, CommandError> {
    let function = aws_sdk_lambda::Client::new(config)
        .get_function_configuration()
        .function_name(relay)
        .send()
        .await
        .map_err(CommandError::aws(format!("GetFunctionConfiguration {relay}")))?;
    let variables = function.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    let setting = |name: &str| variables.get(name).cloned().unwrap_or_default();
    let rules = parse_rules(&setting(env::DEADLINES))
        .map_err(|e| CommandError::Failed(format!("{relay}'s {}: {e}", env::DEADLINES)))?;
    let scheduler = aws_sdk_scheduler::Client::new(config);
    Ok(DeadlineScheduler::new(scheduler, setting(env::SCHEDULE_GROUP), setting(env::SCHEDULER_ROLE_ARN), rules))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn widens_the_failed_batchs_window_by_the_write_delay_before_and_a_second_after() {
        let record = r#"{"DDBStreamBatchInfo": {"shardId": "s", "startSequenceNumber": "1", "endSequenceNumber": "9",
            "approximateArrivalOfFirstRecord": "2026-11-22T10:00:00Z", "approximateArrivalOfLastRecord": "2026-11-22T10:00:03Z"}}"#;
        let (from, to) = window(record).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-22T09:59:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-22T10:00:04+00:00");
        assert_eq!(
            window("{}").unwrap_err().to_string(),
            "the on-failure record has no DDBStreamBatchInfo.approximateArrivalOfFirstRecord"
        );
    }
}

//! A queue mapping: receive a batch, hand what passes the filters to the
//! function as an `SqsEvent`, delete what Lambda would delete. What is not
//! deleted comes back after the queue's visibility timeout, and SQS's own
//! redrive policy parks it in the DLQ after `maxReceiveCount` receives.

use std::collections::HashMap;

use crate::lambda::event_source_mapping::filter::{Filter, passes, queue_record};
use crate::lambda::event_source_mapping::queue;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_lambda::types::FunctionResponseType;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::{describe, filters, invoke, queue_url};
use crate::HarnessError;
use crate::lambda::runtime_api::{InvokeError, LocalFunction};

/// A queue mapping as the endpoint describes it.
#[derive(Debug, Clone)]
pub struct QueueMapping {
    pub uuid: String,
    pub queue_arn: String,
    pub queue_url: String,
    pub function_arn: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
    pub filters: Vec<Filter>,
    pub region: String,
}

impl QueueMapping {
    /// Reads mapping `uuid` and finds its queue's URL.
    pub async fn read(
        lambda: &aws_sdk_lambda::Client,
        sqs: &aws_sdk_sqs::Client,
        uuid: &str,
    ) -> Result<Self, HarnessError> {
        let mapping = describe(lambda, uuid).await?;
        let queue_arn = mapping.event_source_arn().unwrap_or_default().to_owned();
        let region = queue_arn.split(':').nth(3).unwrap_or_default().to_owned();
        let queue_url =
            queue_url(sqs, &queue_arn).await.map_err(|e| HarnessError::Driver(format!("mapping {uuid}: {e}")))?;
        let filters = filters(uuid, mapping.filter_criteria())?;
        Ok(Self {
            uuid: uuid.to_owned(),
            region,
            queue_arn,
            queue_url,
            function_arn: mapping.function_arn().unwrap_or_default().to_owned(),
            batch_size: mapping.batch_size().unwrap_or(10).clamp(1, 10),
            report_batch_item_failures: mapping
                .function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
            filters,
        })
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Played {
    pub received: usize,
    /// Deleted without an invocation: they match none of the filters.
    pub filtered_out: usize,
    /// Deleted after the invocation (the function took them).
    pub deleted: usize,
    /// Left for the visibility timeout (and SQS's redrive to the DLQ).
    pub returned: usize,
    pub error: Option<InvokeError>,
}

/// Receives one batch, hands the messages that pass the filters to
/// `function` as an `SqsEvent`, and deletes what Lambda would delete.
pub async fn play_queue_once(
    sqs: &aws_sdk_sqs::Client,
    mapping: &QueueMapping,
    function: &LocalFunction,
) -> Result<Played, HarnessError> {
    let received = sqs
        .receive_message()
        .queue_url(&mapping.queue_url)
        .max_number_of_messages(mapping.batch_size)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(HarnessError::aws(format!("ReceiveMessage {}", mapping.queue_url)))?;
    let messages = received.messages();
    let mut played = Played { received: messages.len(), ..Played::default() };
    let (mut records, mut filtered) = (Vec::new(), Vec::new());
    for message in messages {
        if passes(&mapping.filters, &queue_record(message.body().unwrap_or_default())) {
            records.push(record(message, mapping));
        } else {
            filtered.push(message.receipt_handle().unwrap_or_default().to_owned());
        }
    }
    for handle in &filtered {
        delete(sqs, &mapping.queue_url, handle).await?;
    }
    played.filtered_out = filtered.len();
    if records.is_empty() {
        return Ok(played);
    }
    let mut event = SqsEvent::default();
    event.records = records;
    let (outcome, error) = invoke(function, &event).await?;
    played.error = error;
    let ids: Vec<&str> = event.records.iter().map(|r| r.message_id.as_deref().unwrap_or_default()).collect();
    let done = queue::to_delete(&ids, &outcome, mapping.report_batch_item_failures);
    for record in event.records.iter().filter(|r| done.contains(&r.message_id.as_deref().unwrap_or_default())) {
        delete(sqs, &mapping.queue_url, record.receipt_handle.as_deref().unwrap_or_default()).await?;
    }
    played.deleted = done.len();
    played.returned = event.records.len() - done.len();
    Ok(played)
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, handle: &str) -> Result<(), HarnessError> {
    sqs.delete_message()
        .queue_url(queue_url)
        .receipt_handle(handle)
        .send()
        .await
        .map_err(HarnessError::aws(format!("DeleteMessage {queue_url}")))?;
    Ok(())
}

/// A received message as Lambda puts it in an `SqsEvent`.
fn record(message: &aws_sdk_sqs::types::Message, mapping: &QueueMapping) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = message.body().map(str::to_owned);
    record.md5_of_body = message.md5_of_body().map(str::to_owned);
    record.md5_of_message_attributes = message.md5_of_message_attributes().map(str::to_owned);
    record.attributes = message
        .attributes()
        .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
        .unwrap_or_default();
    let mut attributes = HashMap::new();
    for (name, value) in message.message_attributes().into_iter().flatten() {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = value.string_value().map(str::to_owned);
        attribute.data_type = Some(value.data_type().to_owned());
        attributes.insert(name.clone(), attribute);
    }
    record.message_attributes = attributes;
    record.event_source_arn = Some(mapping.queue_arn.clone());
    record.event_source = Some("aws:sqs".to_owned());
    record.aws_region = Some(mapping.region.clone());
    record
}

//! A subscription's dead letters: what is there and why (`mesh dlq list`),
//! and moving them back once the cause is fixed (`mesh dlq redrive`).
//! A subscription is `<consumer domain>/<consumed product>`; its queues are
//! `<prefix>-<domain>-<product>` and `...-dlq` (`.fifo` for a subscription
//! in strict order), the platform's naming.

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use mesh_aws::sqs_batch::{ERROR_ATTRIBUTE, SOURCE_ATTRIBUTE};
use mesh_infra::descriptor::Mesh;

use super::CommandError;

/// One message in a DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    /// The event type (`type` attribute), when it carries one.
    pub event_type: Option<String>,
    /// Why it was parked (`mesh-error`); `None` when SQS moved it after
    /// `maxReceiveCount` failed receives (the function's log has why).
    pub reason: Option<String>,
    pub receives: u32,
    pub body: String,
}

/// The queue and DLQ names of a subscription the descriptors declare.
pub fn queues(mesh: &Mesh, prefix: &str, subscription: &str) -> Result<(String, String), CommandError> {
    let (domain, product) = subscription
        .split_once('/')
        .ok_or_else(|| CommandError::Usage(format!("`{subscription}` is not <consumer domain>/<consumed product>")))?;
    let consumer =
        mesh.domain(domain).ok_or_else(|| CommandError::Usage(format!("no domain `{domain}` in the descriptors")))?;
    let Some(consumed) = consumer.consumes.iter().find(|s| s.product.product == product) else {
        let known: Vec<String> = consumer.consumes.iter().map(|s| format!("{domain}/{}", s.product.product)).collect();
        return Err(CommandError::Usage(format!(
            "{domain} consumes no product `{product}`; its subscriptions: {}",
            known.join(", ")
        )));
    };
    let (queue, dlq) = mesh_infra::templates::queue_names(domain, consumed);
    Ok((queue.replace("${Prefix}", prefix), dlq.replace("${Prefix}", prefix)))
}

async fn url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, CommandError> {
    let out =
        sqs.get_queue_url().queue_name(name).send().await.map_err(CommandError::aws(format!("GetQueueUrl {name}")))?;
    out.queue_url()
        .map(str::to_owned)
        .ok_or_else(|| CommandError::Unexpected(format!("GetQueueUrl {name} returned no URL")))
}

/// Up to `max` messages of the DLQ, left in it (each is received, then made
/// visible again at once).
pub async fn list(sqs: &aws_sdk_sqs::Client, dlq: &str, max: usize) -> Result<Vec<DeadLetter>, CommandError> {
    let url = url(sqs, dlq).await?;
    let mut letters: Vec<DeadLetter> = Vec::new();
    let mut handles = Vec::new();
    while letters.len() < max {
        let batch = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10.min(max - letters.len()) as i32)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(CommandError::aws(format!("ReceiveMessage {dlq}")))?;
        if batch.messages().is_empty() {
            break;
        }
        for message in batch.messages() {
            let attribute = |name: &str| {
                message.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_owned)
            };
            let receives = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            letters.push(DeadLetter {
                message_id: message.message_id().unwrap_or_default().to_owned(),
                event_type: attribute("type"),
                reason: attribute(ERROR_ATTRIBUTE),
                receives,
                body: message.body().unwrap_or_default().to_owned(),
            });
            handles.extend(message.receipt_handle().map(str::to_owned));
        }
    }
    // Listing must not hide them from a redrive or another look.
    for handle in handles {
        sqs.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(CommandError::aws(format!("ChangeMessageVisibility {dlq}")))?;
    }
    Ok(letters)
}

/// Moves every message that was in `dlq` when the redrive began back to
/// `queue`, with its own attributes (not the DLQ's reason): each is sent,
/// then deleted from the DLQ, so a crash in between duplicates a message
/// (which the consumer's inbox absorbs) and never loses one. A message
/// parked again while the redrive runs (still poison, and the consumer was
/// quick) is left in the DLQ, or a redrive would chase it for ever. Returns
/// how many moved.
pub async fn redrive(sqs: &aws_sdk_sqs::Client, queue: &str, dlq: &str) -> Result<usize, CommandError> {
    let (queue_url, dlq_url) = (url(sqs, queue).await?, url(sqs, dlq).await?);
    let began = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let mut moved = 0;
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(CommandError::aws(format!("ReceiveMessage {dlq}")))?;
        let (older, parked_since): (Vec<&Message>, Vec<&Message>) = batch.messages().iter().partition(|m| {
            let sent = m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp));
            sent.and_then(|s| s.parse::<u128>().ok()).is_none_or(|sent| sent < began)
        });
        for message in &parked_since {
            // Visible again at once, for `dlq list` and the next redrive.
            if let Some(handle) = message.receipt_handle() {
                sqs.change_message_visibility()
                    .queue_url(&dlq_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(CommandError::aws(format!("ChangeMessageVisibility {dlq}")))?;
            }
        }
        if older.is_empty() {
            return Ok(moved);
        }
        for message in older {
            let attributes: std::collections::HashMap<String, MessageAttributeValue> = message
                .message_attributes()
                .into_iter()
                .flatten()
                .filter(|(name, _)| name.as_str() != ERROR_ATTRIBUTE && name.as_str() != SOURCE_ATTRIBUTE)
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            // Back to a FIFO queue: its entity's group, a fresh deduplication id.
            let group = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .filter(|_| queue.ends_with(".fifo"))
                .cloned();
            let deduplication = group.as_ref().and(message.message_id().map(str::to_owned));
            sqs.send_message()
                .queue_url(&queue_url)
                .message_body(message.body().unwrap_or_default())
                .set_message_attributes(Some(attributes))
                .set_message_group_id(group)
                .set_message_deduplication_id(deduplication)
                .send()
                .await
                .map_err(CommandError::aws(format!("SendMessage {queue}")))?;
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(&dlq_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(CommandError::aws(format!("DeleteMessage {dlq}")))?;
            }
            moved += 1;
        }
    }
}

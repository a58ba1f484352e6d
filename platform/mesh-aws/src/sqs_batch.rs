//! SQS events in, partial batch failures out, for every consumer.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use mesh::subscriber::{BatchReport, Handler, Message, handle_batch};

/// Runs a queue consumer's Lambda: every SQS batch goes through `handler`,
/// and only the messages that failed are reported for redelivery.
pub async fn serve<H: Handler>(handler: H) -> Result<(), lambda_runtime::Error> {
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let report = handle_batch(&messages(&event.payload), handler).await;
        log_report(&report);
        Ok::<_, lambda_runtime::Error>(batch_response(&report))
    }))
    .await
}

pub fn messages(event: &SqsEvent) -> Vec<Message> {
    event
        .records
        .iter()
        .map(|record| Message {
            id: record.message_id.clone().unwrap_or_default(),
            body: record.body.clone().unwrap_or_default(),
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
            tracing::warn!(message_id = %failed.id, reason = %failed.reason, "message will be retried");
        }
    }
    tracing::info!(
        applied = report.applied,
        duplicates = report.duplicates,
        failed = report.failed.len(),
        "batch handled"
    );
}

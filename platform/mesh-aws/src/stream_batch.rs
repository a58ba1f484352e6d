//! DynamoDB Streams events in, partial batch failures out, for the relay.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use mesh::relay::{RelayReport, StreamRecord};

/// The stream batch as the core sees it: outbox inserts (decoded from the new
/// image) and everything else, each identified by its sequence number, which
/// is what Lambda expects back as `itemIdentifier`.
pub fn stream_records(event: &Event) -> Vec<StreamRecord> {
    event
        .records
        .iter()
        .map(|record| {
            let record_id = record.change.sequence_number.clone().unwrap_or_else(|| record.event_id.clone());
            if record.event_name == "INSERT" {
                let item = serde_dynamo::from_item(record.change.new_image.clone()).map_err(|e| e.to_string());
                StreamRecord::Insert { record_id, item }
            } else {
                StreamRecord::Other { record_id }
            }
        })
        .collect()
}

/// Names the first failed record, so the stream retries from it on.
pub fn batch_response(report: &RelayReport) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(failure) = &report.first_failure {
        let mut item = DynamoDbBatchItemFailure::default();
        item.item_identifier = Some(failure.record_id.clone());
        response.batch_item_failures.push(item);
    }
    response
}

//! Entity positions for subscriptions taken in order, kept in the
//! consumer's inbox table beside the event ids: one item per source product
//! and entity, `pk = position#<source>#<subject>`.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use mesh::ordering::Positions;
use mesh::store::StoreError;

/// The key prefix that tells a position from an event id in the inbox table.
pub const POSITION_PREFIX: &str = "position#";

#[derive(Debug, Clone)]
pub struct DynamoPositions {
    client: Client,
    table: String,
    /// As long as the inbox remembers event ids, refreshed on every move.
    retention: Duration,
}

impl DynamoPositions {
    pub fn new(client: Client, table: String, retention: Duration) -> Self {
        Self { client, table, retention }
    }

    fn key(source: &str, subject: &str) -> AttributeValue {
        AttributeValue::S(format!("{POSITION_PREFIX}{source}#{subject}"))
    }

    fn expires_at(&self) -> AttributeValue {
        AttributeValue::N((chrono::Utc::now().timestamp() + self.retention.as_secs() as i64).to_string())
    }
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(operation: &str, error: E) -> StoreError {
    StoreError::unavailable(operation, error)
}

impl Positions for DynamoPositions {
    async fn last(&self, source: &str, subject: &str) -> Result<Option<u64>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(source, subject))
            .projection_expression("#s")
            .expression_attribute_names("#s", "sequence")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        match output.item.as_ref().and_then(|item| item.get("sequence")) {
            None => Ok(None),
            Some(AttributeValue::N(n)) => {
                n.parse().map(Some).map_err(|_| StoreError::Corrupt(format!("position of {subject}: {n}")))
            }
            Some(other) => Err(StoreError::Corrupt(format!("position of {subject}: {other:?}"))),
        }
    }

    async fn advance(&self, source: &str, subject: &str, sequence: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(source, subject))
            .update_expression("SET #s = :s, expires_at = :e")
            // `<=`: a retried call whose first attempt landed (its answer was
            // lost) finds the position at its own sequence, and that is a move.
            .condition_expression("attribute_not_exists(#s) OR #s <= :s")
            .expression_attribute_names("#s", "sequence")
            .expression_attribute_values(":s", AttributeValue::N(sequence.to_string()))
            .expression_attribute_values(":e", self.expires_at())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(error) => Err(unavailable("UpdateItem", error)),
        }
    }

    async fn flag_out_of_order(&self, source: &str, subject: &str, _sequence: u64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(source, subject))
            .update_expression("ADD out_of_order :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", e))?;
        Ok(())
    }
}

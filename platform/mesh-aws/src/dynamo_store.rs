//! The DynamoDB state store: state item, outbox items and inbox item in one
//! `TransactWriteItems`, each with its condition.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use mesh::outbox::OutboxItem;
use mesh::store::{Commit, StateStore, StoreError, Versioned};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tracing::instrument;

/// DynamoDB allows 100 actions per transaction.
const MAX_ACTIONS: usize = 100;

/// Where a domain keeps its state, its outbox and (if it consumes) its inbox.
#[derive(Debug, Clone)]
pub struct Tables {
    pub state: String,
    pub outbox: String,
    pub inbox: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DynamoStore<S> {
    client: Client,
    tables: Tables,
    outbox_retention: Duration,
    inbox_retention: Duration,
    state: PhantomData<fn() -> S>,
}

/// The state item's attributes naming the latest event (see [`StateItem`]).
pub const LAST_EVENT_TYPE: &str = "last_event_type";
pub const LAST_EVENT_TIME: &str = "last_event_time";

/// How an entity's state is stored: its id, version and the state as a map,
/// and the type and time of the latest event it emitted: an entity whose
/// latest event started a saga step still waits for it (`mesh sagas stuck`).
#[derive(Debug, Serialize, Deserialize)]
struct StateItem<S> {
    pk: String,
    version: u64,
    state: S,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_event_time: Option<String>,
}

/// Which kind of action sits at each position of a transaction, to map
/// `CancellationReasons` back to what failed.
#[derive(Debug, Clone)]
enum Action {
    State { entity_id: String, expected_version: u64 },
    Inbox { event_id: uuid::Uuid },
    Outbox { entity_id: String, sequence: u64 },
}

impl<S> DynamoStore<S> {
    pub fn new(client: Client, tables: Tables, outbox_retention: Duration, inbox_retention: Duration) -> Self {
        Self { client, tables, outbox_retention, inbox_retention, state: PhantomData }
    }
}

impl<S> StateStore<S> for DynamoStore<S>
where
    S: Serialize + DeserializeOwned + Send + Sync,
{
    #[instrument(skip(self), fields(table = %self.tables.state))]
    async fn load(&self, entity_id: &str) -> Result<Option<Versioned<S>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.state)
            .key("pk", AttributeValue::S(entity_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::unavailable(format!("GetItem {entity_id}"), e))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let stored: StateItem<S> =
            serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("{entity_id}: {e}")))?;
        Ok(Some(Versioned { state: stored.state, version: stored.version }))
    }

    #[instrument(skip_all, fields(events = commit.events.len(), inbox = ?commit.inbox))]
    async fn commit(&self, commit: Commit<S>) -> Result<(), StoreError> {
        if commit.is_empty() {
            return Ok(());
        }
        let (items, actions) = self.transaction(commit)?;
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(error) => Err(cancellation_to_store_error(error, &actions)),
        }
    }
}

impl<S: Serialize> DynamoStore<S> {
    fn transaction(&self, commit: Commit<S>) -> Result<(Vec<TransactWriteItem>, Vec<Action>), StoreError> {
        let count = usize::from(commit.change.is_some()) + usize::from(commit.inbox.is_some()) + commit.events.len();
        if count > MAX_ACTIONS {
            return Err(StoreError::TooLarge(format!(
                "{count} writes in one transaction; DynamoDB allows {MAX_ACTIONS}"
            )));
        }
        let mut items = Vec::with_capacity(count);
        let mut actions = Vec::with_capacity(count);

        if let Some(change) = commit.change {
            let last = commit.events.last();
            let item = to_item(&StateItem {
                pk: change.entity_id.clone(),
                version: change.new_version,
                state: change.state,
                last_event_type: last.map(|e| e.event_type.clone()),
                last_event_time: last.map(|e| e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            })?;
            let put = if change.expected_version == 0 {
                Put::builder().condition_expression("attribute_not_exists(pk)")
            } else {
                Put::builder()
                    .condition_expression("version = :expected")
                    .expression_attribute_values(":expected", AttributeValue::N(change.expected_version.to_string()))
            };
            items.push(write(put.table_name(&self.tables.state).set_item(Some(item)))?);
            actions.push(Action::State { entity_id: change.entity_id, expected_version: change.expected_version });
        }

        if let Some(event_id) = commit.inbox {
            let inbox = self.tables.inbox.as_ref().ok_or_else(|| {
                StoreError::Corrupt("this store has no inbox table (set INBOX_TABLE for consumers)".into())
            })?;
            let expires_at = chrono::Utc::now().timestamp() + self.inbox_retention.as_secs() as i64;
            let item = HashMap::from([
                ("pk".to_string(), AttributeValue::S(event_id.to_string())),
                ("expires_at".to_string(), AttributeValue::N(expires_at.to_string())),
            ]);
            let put =
                Put::builder().table_name(inbox).set_item(Some(item)).condition_expression("attribute_not_exists(pk)");
            items.push(write(put)?);
            actions.push(Action::Inbox { event_id });
        }

        for envelope in &commit.events {
            let outbox_item =
                OutboxItem::new(envelope, self.outbox_retention).map_err(|e| StoreError::TooLarge(e.to_string()))?;
            let put = Put::builder()
                .table_name(&self.tables.outbox)
                .set_item(Some(to_item(&outbox_item)?))
                .condition_expression("attribute_not_exists(pk)");
            items.push(write(put)?);
            actions.push(Action::Outbox { entity_id: envelope.subject.clone(), sequence: envelope.sequence });
        }
        Ok((items, actions))
    }
}

fn to_item<T: Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn write(put: aws_sdk_dynamodb::types::builders::PutBuilder) -> Result<TransactWriteItem, StoreError> {
    let put = put.build().map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Maps a cancelled transaction to the domain's error by the position of the
/// condition that failed; anything else is the store being unavailable.
fn cancellation_to_store_error<R: std::fmt::Debug + Send + Sync + 'static>(
    error: SdkError<TransactWriteItemsError, R>,
    actions: &[Action],
) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() {
        let failed: Vec<&Action> = cancelled
            .cancellation_reasons()
            .iter()
            .zip(actions)
            .filter(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"))
            .map(|(_, action)| action)
            .collect();
        // An event already in the inbox explains every other failed
        // condition: this very commit landed before (a retried write whose
        // answer was lost moved the entity's version on, too).
        let first = failed.iter().find(|a| matches!(a, Action::Inbox { .. })).or(failed.first());
        if let Some(action) = first {
            return match (*action).clone() {
                Action::State { entity_id, expected_version: 0 } => StoreError::AlreadyExists { entity_id },
                Action::State { entity_id, expected_version } => {
                    StoreError::VersionConflict { entity_id, expected_version }
                }
                Action::Inbox { event_id } => StoreError::AlreadyApplied { event_id },
                Action::Outbox { entity_id, sequence } => StoreError::DuplicateEvent { entity_id, sequence },
            };
        }
    }
    StoreError::unavailable("TransactWriteItems", error)
}

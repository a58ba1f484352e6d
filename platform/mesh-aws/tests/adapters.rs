//! Adapter tests: recorded Lambda events in, exact SDK request shapes out,
//! and service errors mapped to the core's errors (aws-smithy-mocks).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_sdk_scheduler::operation::create_schedule::{CreateScheduleError, CreateScheduleOutput};
use aws_sdk_scheduler::types::error::{ConflictException, ValidationException};
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
use aws_sdk_sns::types::{BatchResultErrorEntry, PublishBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use mesh::deadline::DeadlineRule;
use mesh::envelope::{Envelope, EventMeta};
use mesh::outbox::OutboxItem;
use mesh::relay::{Port, StreamRecord};
use mesh::store::{Commit, StateChange, StateStore, StoreError};
use mesh_aws::dynamo_store::{DynamoStore, Tables};
use mesh_aws::ports::{DeadlineScheduler, KinesisLog, SnsTopic};
use mesh_aws::stream_batch;
use serde_json::json;
use uuid::Uuid;

fn tables() -> Tables {
    Tables { state: "state".into(), outbox: "outbox".into(), inbox: Some("inbox".into()) }
}

fn event(subject: &str, sequence: u64) -> Envelope {
    Envelope::new(
        "orders/order-events",
        "OrderPlaced",
        subject,
        sequence,
        json!({"n": 1}),
        &EventMeta::root(Uuid::now_v7()),
    )
}

fn commit(expected_version: u64, inbox: Option<Uuid>) -> Commit<serde_json::Value> {
    Commit {
        change: Some(StateChange {
            entity_id: "o-1".into(),
            expected_version,
            new_version: expected_version + 1,
            state: json!({"status": "approved"}),
        }),
        events: vec![event("o-1", expected_version + 1)],
        inbox,
    }
}

#[tokio::test]
async fn writes_state_inbox_and_outbox_in_one_conditional_transaction() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|request| {
            let items = request.transact_items();
            let puts: Vec<_> = items.iter().map(|item| item.put().unwrap()).collect();
            puts.len() == 3
                && puts[0].table_name() == "state"
                && puts[0].condition_expression() == Some("version = :expected")
                && puts[1].table_name() == "inbox"
                && puts[1].condition_expression() == Some("attribute_not_exists(pk)")
                && puts[2].table_name() == "outbox"
                && puts[2].condition_expression() == Some("attribute_not_exists(pk)")
                && puts[2].item().get("sk").and_then(|v| v.as_n().ok()).map(String::as_str) == Some("3")
                && puts[2].item().contains_key("expires_at")
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let store = DynamoStore::new(client, tables(), Duration::from_secs(60), Duration::from_secs(60));
    store.commit(commit(2, Some(Uuid::now_v7()))).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

fn cancelled(codes: &'static [&'static str]) -> TransactWriteItemsError {
    let reasons = codes.iter().map(|code| CancellationReason::builder().code(*code).build()).collect();
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build(),
    )
}

async fn commit_failing_with(codes: &'static [&'static str], expected_version: u64, inbox: Option<Uuid>) -> StoreError {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(move || cancelled(codes));
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let store = DynamoStore::new(client, tables(), Duration::from_secs(60), Duration::from_secs(60));
    store.commit(commit(expected_version, inbox)).await.unwrap_err()
}

#[tokio::test]
async fn maps_a_failed_version_check_to_a_conflict() {
    let error = commit_failing_with(&["ConditionalCheckFailed", "None", "None"], 2, Some(Uuid::now_v7())).await;
    assert_eq!(error, StoreError::VersionConflict { entity_id: "o-1".into(), expected_version: 2 });
}

#[tokio::test]
async fn maps_an_existing_entity_to_already_exists() {
    let error = commit_failing_with(&["ConditionalCheckFailed", "None"], 0, None).await;
    assert_eq!(error, StoreError::AlreadyExists { entity_id: "o-1".into() });
}

#[tokio::test]
async fn maps_a_known_inbox_entry_to_already_applied() {
    let event_id = Uuid::now_v7();
    let error = commit_failing_with(&["None", "ConditionalCheckFailed", "None"], 2, Some(event_id)).await;
    assert_eq!(error, StoreError::AlreadyApplied { event_id });
}

/// A commit retried after its first attempt landed (the answer was lost)
/// fails both its version check and its inbox check: it was applied.
#[tokio::test]
async fn a_known_inbox_entry_explains_a_failed_version_check_too() {
    let event_id = Uuid::now_v7();
    let error =
        commit_failing_with(&["ConditionalCheckFailed", "ConditionalCheckFailed", "None"], 2, Some(event_id)).await;
    assert_eq!(error, StoreError::AlreadyApplied { event_id });
}

#[tokio::test]
async fn refuses_more_writes_than_one_transaction_holds() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let store = DynamoStore::new(client, tables(), Duration::from_secs(60), Duration::from_secs(60));
    let mut too_big = commit(1, None);
    too_big.events = (2..=101).map(|n| event("o-1", n)).collect();
    let error = store.commit(too_big).await.unwrap_err();
    assert!(matches!(&error, StoreError::TooLarge(m) if m.contains("101 writes")), "{error}");
    assert_eq!(rule.num_calls(), 0, "nothing may be written");
}

fn outbox_items(n: u64) -> Vec<OutboxItem> {
    (1..=n).map(|i| OutboxItem::new(&event(&format!("o-{i}"), 1), Duration::ZERO).unwrap()).collect()
}

#[tokio::test]
async fn reports_which_kinesis_records_failed() {
    let rule = mock!(aws_sdk_kinesis::Client::put_records)
        .match_requests(|request| {
            request.records().iter().map(|r| r.partition_key()).collect::<Vec<_>>()
                == [Some("o-1"), Some("o-2"), Some("o-3")]
        })
        .then_output(|| {
            PutRecordsOutput::builder()
                .failed_record_count(1)
                .records(PutRecordsResultEntry::builder().sequence_number("1").shard_id("s").build())
                .records(
                    PutRecordsResultEntry::builder()
                        .error_code("ProvisionedThroughputExceededException")
                        .error_message("Rate exceeded for shard")
                        .build(),
                )
                .records(PutRecordsResultEntry::builder().sequence_number("3").shard_id("s").build())
                .build()
                .unwrap()
        });
    let log = KinesisLog::new(mock_client!(aws_sdk_kinesis, [&rule]), "stream".into());
    let items = outbox_items(3);
    let results = log.send(&items.iter().collect::<Vec<_>>()).await;
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().to_string(),
        "ProvisionedThroughputExceededException: Rate exceeded for shard"
    );
}

#[tokio::test]
async fn publishes_type_and_source_as_sns_attributes_and_maps_failed_entries() {
    let rule = mock!(aws_sdk_sns::Client::publish_batch)
        .match_requests(|request| {
            request.publish_batch_request_entries().iter().all(|entry| {
                let attributes = entry.message_attributes().unwrap();
                attributes["type"].string_value() == Some("OrderPlaced")
                    && attributes["source"].string_value() == Some("orders/order-events")
            })
        })
        .then_output(|| {
            PublishBatchOutput::builder()
                .successful(PublishBatchResultEntry::builder().id("0").message_id("m0").build())
                .failed(
                    BatchResultErrorEntry::builder()
                        .id("1")
                        .code("InternalError")
                        .message("try again")
                        .sender_fault(false)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let topic = SnsTopic::new(mock_client!(aws_sdk_sns, [&rule]), "arn:aws:sns:us-east-1:000000000000:t".into());
    let items = outbox_items(2);
    let results = topic.send(&items.iter().collect::<Vec<_>>()).await;
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().to_string(), "InternalError: try again");
    assert_eq!(rule.num_calls(), 1);
}

/// With a FIFO topic: each event goes to both topics, the FIFO copy in its
/// entity's group and deduplicated by event id, and only the prefix the
/// standard topic took goes on (a group must not skip ahead of a failure).
#[tokio::test]
async fn publishes_the_standard_topics_prefix_to_the_fifo_topic_grouped_by_entity() {
    let standard = mock!(aws_sdk_sns::Client::publish_batch)
        .match_requests(|request| request.topic_arn() == Some("arn:aws:sns:us-east-1:000000000000:t"))
        .then_output(|| {
            PublishBatchOutput::builder()
                .successful(PublishBatchResultEntry::builder().id("0").message_id("m0").build())
                .successful(PublishBatchResultEntry::builder().id("1").message_id("m1").build())
                .failed(BatchResultErrorEntry::builder().id("2").code("Throttled").sender_fault(false).build().unwrap())
                .build()
        });
    let items = outbox_items(3);
    let expected: Vec<(String, String)> = items[..2].iter().map(|i| (i.pk.clone(), i.event_id.clone())).collect();
    let fifo = mock!(aws_sdk_sns::Client::publish_batch)
        .match_requests(move |request| {
            let sent: Vec<(String, String)> = request
                .publish_batch_request_entries()
                .iter()
                .map(|e| {
                    (
                        e.message_group_id().unwrap_or("").to_owned(),
                        e.message_deduplication_id().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            request.topic_arn() == Some("arn:aws:sns:us-east-1:000000000000:t.fifo") && sent == expected
        })
        .then_output(|| {
            PublishBatchOutput::builder()
                .successful(PublishBatchResultEntry::builder().id("0").message_id("f0").build())
                .failed(BatchResultErrorEntry::builder().id("1").code("Throttled").sender_fault(false).build().unwrap())
                .build()
        });
    let topic = SnsTopic::new(
        mock_client!(aws_sdk_sns, aws_smithy_mocks::RuleMode::MatchAny, [&standard, &fifo]),
        "arn:aws:sns:us-east-1:000000000000:t".into(),
    )
    .with_ordered_topic("arn:aws:sns:us-east-1:000000000000:t.fifo".into());
    let results = topic.send(&items.iter().collect::<Vec<_>>()).await;
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().to_string(), "FIFO topic: Throttled: ");
    assert_eq!(results[2].as_ref().unwrap_err().to_string(), "Throttled: ");
    assert_eq!((standard.num_calls(), fifo.num_calls()), (1, 1));
}

#[test]
fn decodes_a_recorded_outbox_stream_event() {
    let event: Event = serde_json::from_str(include_str!("fixtures/outbox-stream-event.json")).unwrap();
    let records = stream_batch::stream_records(&event);
    assert_eq!(records.len(), 3);
    match &records[0] {
        StreamRecord::Insert { record_id, item: Ok(item) } => {
            assert_eq!(record_id, "111100000000000000000001");
            assert_eq!(
                (item.pk.as_str(), item.sk, item.event_type.as_str()),
                ("0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f", 1, "OrderPlaced")
            );
            assert_eq!(Envelope::from_json(&item.envelope).unwrap().data["amount_cents"], 1250);
        }
        other => panic!("expected an outbox insert, got {other:?}"),
    }
    assert_eq!(records[1], StreamRecord::Other { record_id: "111100000000000000000002".into() });
    assert!(matches!(&records[2], StreamRecord::Insert { item: Err(reason), .. } if reason.contains("missing field")));
}

#[tokio::test]
async fn the_state_item_names_the_entitys_latest_event() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|request| {
            let state = request.transact_items()[0].put().unwrap().item();
            state.get("last_event_type").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("OrderPlaced")
                && state.get("last_event_time").and_then(|v| v.as_s().ok()).is_some_and(|t| t.ends_with('Z'))
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let store = DynamoStore::new(client, tables(), Duration::from_secs(60), Duration::from_secs(60));
    store.commit(commit(0, None)).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

fn deadline_rules() -> Vec<DeadlineRule> {
    vec![DeadlineRule {
        step: "credit-check".into(),
        starts_with: "OrderPlaced".into(),
        timeout_seconds: 300,
        queue: "arn:aws:sqs:us-east-1:000000000000:mesh-orders-customer-credit".into(),
        dead_letters: "arn:aws:sqs:us-east-1:000000000000:mesh-orders-customer-credit-dlq".into(),
    }]
}

fn scheduler(client: aws_sdk_scheduler::Client) -> DeadlineScheduler {
    DeadlineScheduler::new(
        client,
        "mesh-orders".into(),
        "arn:aws:iam::000000000000:role/mesh-orders-deadlines-us-east-1".into(),
        deadline_rules(),
    )
}

fn outbox_item(envelope: &Envelope) -> OutboxItem {
    OutboxItem::new(envelope, Duration::from_secs(60)).unwrap()
}

#[tokio::test]
async fn an_event_that_starts_a_step_schedules_its_deadline_once_per_entity() {
    let placed = event("0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f", 1);
    let expected = deadline_rules()[0].deadline_for(&placed).unwrap();
    let rule = mock!(aws_sdk_scheduler::Client::create_schedule)
        .match_requests(move |request| {
            let target = request.target().unwrap();
            let input = Envelope::from_json(target.input().unwrap()).unwrap();
            request.group_name() == Some("mesh-orders")
                && request.name() == Some("credit-check.0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f")
                && request.schedule_expression().is_some_and(|e| e.starts_with("at(") && e.ends_with(')'))
                && request.action_after_completion() == Some(&ActionAfterCompletion::Delete)
                && request.flexible_time_window().map(|w| w.mode()) == Some(&FlexibleTimeWindowMode::Off)
                && target.arn() == "arn:aws:sqs:us-east-1:000000000000:mesh-orders-customer-credit"
                && target.dead_letter_config().and_then(|d| d.arn())
                    == Some("arn:aws:sqs:us-east-1:000000000000:mesh-orders-customer-credit-dlq")
                && input == expected
                && request.client_token() == Some(expected.id.to_string().as_str())
        })
        .then_output(|| CreateScheduleOutput::builder().schedule_arn("arn").build().unwrap());
    let client = mock_client!(aws_sdk_scheduler, [&rule]);
    let mut approved = event("0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f", 2);
    approved.event_type = "OrderApproved".into();

    let results = scheduler(client).send(&[&outbox_item(&placed), &outbox_item(&approved)]).await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(rule.num_calls(), 1, "only the starting event asks for a deadline");
}

#[tokio::test]
async fn a_deadline_asked_for_again_is_kept_and_a_refusal_is_reported() {
    let exists = mock!(aws_sdk_scheduler::Client::create_schedule)
        .match_requests(|request| request.name().is_some_and(|n| n.ends_with("-000000000001")))
        .then_error(|| {
            CreateScheduleError::ConflictException(ConflictException::builder().message("exists").build().unwrap())
        });
    let refused = mock!(aws_sdk_scheduler::Client::create_schedule).then_error(|| {
        CreateScheduleError::ValidationException(
            ValidationException::builder().message("no such group").build().unwrap(),
        )
    });
    let client = mock_client!(aws_sdk_scheduler, RuleMode::MatchAny, [&exists, &refused]);
    let first = event("0194a6c2-0000-7000-8000-000000000001", 1);
    let second = event("0194a6c2-0000-7000-8000-000000000002", 1);

    let results = scheduler(client).send(&[&outbox_item(&first), &outbox_item(&second)]).await;

    assert!(results[0].is_ok(), "already scheduled: {:?}", results[0]);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.to_string(), "Scheduler CreateSchedule failed");
    assert!(mesh::error::Chain(error).to_string().contains("no such group"), "{}", mesh::error::Chain(error));
}

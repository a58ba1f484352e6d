//! Whatever a DynamoDB stream hands the relay (any image, any event name),
//! nothing panics: a readable outbox insert is published, anything else is
//! ignored or stops the batch at that record with a reason.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use aws_lambda_events::event::dynamodb::Event;
use mesh::outbox::OutboxItem;
use mesh::relay::{Port, PublishError, relay};
use mesh_aws::stream_batch::{batch_response, stream_records};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Accepts everything; counts what it got.
#[derive(Debug, Default)]
struct Accepting(Mutex<usize>);

impl Port for Accepting {
    fn name(&self) -> &str {
        "accepting"
    }
    fn max_batch(&self) -> usize {
        10
    }
    fn max_batch_bytes(&self) -> usize {
        256 * 1024
    }
    async fn send(&self, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
        *self.0.lock().unwrap() += items.len();
        items.iter().map(|_| Ok(())).collect()
    }
}

/// A DynamoDB JSON attribute value, nested a little.
fn attribute() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(|s| json!({"S": s})),
        any::<i64>().prop_map(|n| json!({"N": n.to_string()})),
        any::<String>().prop_map(|s| json!({"N": s})),
        any::<bool>().prop_map(|b| json!({"BOOL": b})),
        Just(json!({"NULL": true})),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|l| json!({"L": l})),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4).prop_map(|m| json!({"M": m})),
        ]
    })
}

/// An outbox image with some fields missing or of the wrong type.
fn image() -> impl Strategy<Value = Value> {
    let fields = ["pk", "sk", "event_id", "event_type", "source", "envelope", "expires_at"];
    let valid = json!({
        "pk": {"S": "o-1"}, "sk": {"N": "1"}, "event_id": {"S": "e-1"}, "event_type": {"S": "OrderPlaced"},
        "source": {"S": "orders/order-events"}, "envelope": {"S": "{}"}, "expires_at": {"N": "1"},
    });
    (prop::sample::subsequence(fields.to_vec(), 0..=fields.len()), prop::collection::vec(attribute(), 7)).prop_map(
        move |(broken, values)| {
            let mut image = valid.clone();
            for (field, value) in broken.into_iter().zip(values) {
                image[field] = value;
            }
            image
        },
    )
}

fn event(records: Vec<(String, Value)>) -> Event {
    let records: Vec<Value> = records
        .into_iter()
        .enumerate()
        .map(|(n, (name, image))| {
            json!({
                "eventID": format!("id-{n}"), "eventName": name, "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {"SequenceNumber": format!("{}", 100 + n), "NewImage": image, "StreamViewType": "NEW_IMAGE", "SizeBytes": 100, "ApproximateCreationDateTime": 1_700_000_000.0},
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_stream_batch_is_relayed_ignored_or_stopped_with_a_reason(
        records in prop::collection::vec((prop::sample::select(vec!["INSERT", "MODIFY", "REMOVE"]), image()), 1..8),
    ) {
        let records: Vec<(String, Value)> = records.into_iter().map(|(n, i)| (n.to_owned(), i)).collect();
        let batch = stream_records(&event(records.clone()));
        prop_assert_eq!(batch.len(), records.len());
        let (log, topic, deadlines) = (Accepting::default(), Accepting::default(), Accepting::default());
        let report = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(relay(&batch, &log, &topic, &deadlines));
        match &report.first_failure {
            Some(failure) => {
                // Stopped at an unreadable insert: the batch retries from it.
                prop_assert!(failure.reason.starts_with("unreadable outbox record: "), "{}", failure.reason);
                let response = batch_response(&report);
                prop_assert_eq!(response.batch_item_failures[0].item_identifier.as_deref(), Some(failure.record_id.as_str()));
            }
            None => prop_assert_eq!(report.published + report.ignored, records.len()),
        }
        prop_assert_eq!(*log.0.lock().unwrap(), report.published);
    }
}

//! Crash points: a function process killed by the fault proxy right after a
//! call it made was applied, before it could see the answer. Each test
//! records what must hold afterwards: every event delivered, every effect
//! applied exactly once, nothing parked in a DLQ.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use mesh_local::faults::{CrashPoint, FaultPlan};
use mesh_local::{DeployOptions, EmulatorOptions};
use mesh_tests::{TestMesh, eventually};

const SETTLE: Duration = Duration::from_secs(90);

/// What a crash test observes once the mesh has settled.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Order statuses, in the order the orders were placed.
    statuses: Vec<String>,
    /// The customer's reserved credit.
    reserved_cents: u64,
    /// `CreditReserved` events per order on the customers' stream.
    credit_events_per_order: Vec<usize>,
    /// Records of each order's `OrderPlaced` on the orders' stream.
    placed_records_per_order: Vec<usize>,
    /// Messages in every DLQ and on-failure queue.
    dead_letters: u64,
    /// Processes the proxy killed: (function, operation).
    crashes: Vec<(String, String)>,
}

async fn mesh_with_crash_proxy() -> Option<TestMesh> {
    let emulator = EmulatorOptions { fault_proxy: true, ..EmulatorOptions::default() };
    let options = DeployOptions { queue_visibility_timeout: 10, max_receive_count: 5, ..DeployOptions::default() };
    let mesh = TestMesh::start_with(emulator, options).await.unwrap();
    if mesh.emulator.faults().is_none() {
        eprintln!("skipped: AWS_ENDPOINT_URL is set, so no fault proxy can stand in front of the functions");
        return None;
    }
    Some(mesh)
}

/// Waits until every order is decided and the customer's credit is what the
/// approved orders add up to, then reads the outcome.
async fn settle(mesh: &TestMesh, customer: &str, orders: &[String], expected_reserved: u64) -> Outcome {
    let client = mesh.client();
    eventually("every order decided and its credit reserved", SETTLE, || async {
        let mut statuses = Vec::new();
        for order in orders {
            statuses.push(client.get_order(order).await?["status"].as_str().unwrap_or_default().to_owned());
        }
        let reserved = client.get_customer(customer).await?["reserved_cents"].as_u64().unwrap_or_default();
        Ok((statuses.iter().all(|s| s != "pending") && reserved == expected_reserved).then_some(()))
    })
    .await
    .unwrap();
    // Redeliveries still on their way would show as queue depth.
    for (_, queue) in &mesh.endpoints.queues {
        eventually("the consumer queues to drain", SETTLE, || async {
            Ok((mesh.observer.queue_depth(queue).await? == 0).then_some(()))
        })
        .await
        .unwrap();
    }

    let mut statuses = Vec::new();
    for order in orders {
        statuses.push(client.get_order(order).await.unwrap()["status"].as_str().unwrap().to_owned());
    }
    let per_order = |events: &[mesh::envelope::Envelope], event_type: &str| {
        let mut counts: BTreeMap<&str, usize> = orders.iter().map(|o| (o.as_str(), 0)).collect();
        for event in events.iter().filter(|e| e.event_type == event_type) {
            let order = event.data["order_id"].as_str().unwrap_or_default();
            if let Some(count) = counts.get_mut(order) {
                *count += 1;
            }
        }
        orders.iter().map(|o| counts[o.as_str()]).collect::<Vec<_>>()
    };
    let credit = mesh.observer.stream_events(&mesh.endpoints.customers_stream).await.unwrap();
    let placed = mesh.observer.stream_events(&mesh.endpoints.orders_stream).await.unwrap();
    let mut dead_letters = 0;
    for (_, queue) in &mesh.endpoints.dead_letters {
        dead_letters += mesh.observer.queue_depth(queue).await.unwrap();
    }
    let crashes = mesh.emulator.faults().unwrap().stats().crashes;
    let prefix = format!("{}-", mesh.mesh.prefix());
    Outcome {
        statuses,
        reserved_cents: client.get_customer(customer).await.unwrap()["reserved_cents"].as_u64().unwrap(),
        credit_events_per_order: per_order(&credit, "CreditReserved"),
        placed_records_per_order: per_order(&placed, "OrderPlaced"),
        dead_letters,
        crashes: crashes
            .into_iter()
            .map(|c| (c.function.trim_start_matches(&prefix).to_owned(), c.operation))
            .collect(),
    }
}

fn crash(function: &str, operation: &str) -> Vec<(String, String)> {
    vec![(function.to_owned(), operation.to_owned())]
}

/// The relay's last call (the topic's `PublishBatch`) lands, then the relay
/// dies: the stream hands the same batch to a new relay, which publishes it
/// again. The copy reaches the log and the topic; the consumer's inbox
/// absorbs it.
#[tokio::test]
async fn the_relay_killed_after_publishing_and_before_returning_publishes_again_and_credit_is_reserved_once() {
    let Some(mesh) = mesh_with_crash_proxy().await else { return };
    let client = mesh.client();
    let customer = client.register_customer("Hedy", 50_000).await.unwrap();
    mesh.emulator.faults().unwrap().set_plan(
        FaultPlan::default().with_crash_points(vec![CrashPoint::once("orders-outbox-relay", "PublishBatch")]),
    );

    let order = client.place_order(&customer, 4_200).await.unwrap();
    let outcome = settle(&mesh, &customer, std::slice::from_ref(&order), 4_200).await;

    assert_eq!(
        outcome,
        Outcome {
            statuses: vec!["approved".into()],
            reserved_cents: 4_200,
            credit_events_per_order: vec![1],
            placed_records_per_order: vec![2],
            dead_letters: 0,
            crashes: crash("orders-outbox-relay", "PublishBatch"),
        }
    );
    mesh.stop().await.unwrap();
}

/// The consumer's transaction (credit reserved, event in its inbox and its
/// own outbox) lands, then the consumer dies: the message is not deleted and
/// comes back after its visibility timeout; the inbox knows it.
#[tokio::test]
async fn a_consumer_killed_after_its_transaction_and_before_the_delete_applies_the_event_once() {
    let Some(mesh) = mesh_with_crash_proxy().await else { return };
    let client = mesh.client();
    let customer = client.register_customer("Katherine", 50_000).await.unwrap();
    mesh.emulator.faults().unwrap().set_plan(
        FaultPlan::default().with_crash_points(vec![CrashPoint::once("customers-credit", "TransactWriteItems")]),
    );

    let order = client.place_order(&customer, 3_100).await.unwrap();
    let outcome = settle(&mesh, &customer, std::slice::from_ref(&order), 3_100).await;

    assert_eq!(
        outcome,
        Outcome {
            statuses: vec!["approved".into()],
            reserved_cents: 3_100,
            credit_events_per_order: vec![1],
            placed_records_per_order: vec![1],
            dead_letters: 0,
            crashes: crash("customers-credit", "TransactWriteItems"),
        }
    );
    mesh.stop().await.unwrap();
}

/// Four orders wait in the consumer's queue and arrive as one batch; the
/// consumer dies right after the second one's transaction. The whole batch
/// comes back: two are duplicates, two are new, each applied once.
#[tokio::test]
async fn a_consumer_killed_mid_batch_applies_every_event_of_the_batch_exactly_once() {
    let Some(mesh) = mesh_with_crash_proxy().await else { return };
    let client = mesh.client();
    let customer = client.register_customer("Margaret", 100_000).await.unwrap();
    let lambda = aws_sdk_lambda::Client::new(&mesh.emulator.sdk_config());
    let consumer = mesh.mesh.domain("customers").unwrap().consumer_function_name("order-events").unwrap().to_owned();
    let mappings = lambda.list_event_source_mappings().function_name(&consumer).send().await.unwrap();
    let mapping = mappings.event_source_mappings()[0].uuid().unwrap().to_owned();
    let set_enabled = |enabled: bool| {
        let (lambda, mapping) = (lambda.clone(), mapping.clone());
        async move { lambda.update_event_source_mapping().uuid(mapping).enabled(enabled).send().await.unwrap() }
    };

    set_enabled(false).await;
    let mut orders = Vec::new();
    for amount in [1_000, 2_000, 3_000, 4_000] {
        orders.push(client.place_order(&customer, amount).await.unwrap());
    }
    let queue = mesh.endpoints.queues[0].1.clone();
    eventually("the four orders to wait in the consumer's queue", SETTLE, || async {
        Ok((mesh.observer.queue_depth(&queue).await? == 4).then_some(()))
    })
    .await
    .unwrap();
    let second = CrashPoint { skip: 1, ..CrashPoint::once("customers-credit", "TransactWriteItems") };
    mesh.emulator.faults().unwrap().set_plan(FaultPlan::default().with_crash_points(vec![second]));
    set_enabled(true).await;

    let outcome = settle(&mesh, &customer, &orders, 10_000).await;

    assert_eq!(
        outcome,
        Outcome {
            statuses: vec!["approved".into(); 4],
            reserved_cents: 10_000,
            credit_events_per_order: vec![1; 4],
            placed_records_per_order: vec![1; 4],
            dead_letters: 0,
            crashes: crash("customers-credit", "TransactWriteItems"),
        }
    );
    mesh.stop().await.unwrap();
}

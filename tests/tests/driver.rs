//! The mapping driver plays a mapping deployed disabled: the real
//! `analytics-sales` binary runs on this machine behind a local Runtime
//! API, gets the exact `SqsEvent` Lambda would send, and the batch is
//! settled by Lambda's rules (what the function took is deleted, what it
//! reported failed comes back).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use mesh::envelope::{Envelope, EventMeta};
use mesh_local::DeployOptions;
use mesh_local::lambda::driver::{QueueMapping, play_queue_once};
use mesh_local::lambda::runtime_api::LocalFunction;
use mesh_tests::TestMesh;
use serde_json::json;
use uuid::Uuid;

async fn send(sqs: &aws_sdk_sqs::Client, queue: &str, envelope: &Envelope) {
    let attribute =
        MessageAttributeValue::builder().data_type("String").string_value(&envelope.event_type).build().unwrap();
    sqs.send_message()
        .queue_url(queue)
        .message_body(envelope.to_json().unwrap())
        .message_attributes("type", attribute)
        .send()
        .await
        .unwrap();
}

fn order_event(event_type: &str, order: &str, sequence: u64, data: serde_json::Value) -> Envelope {
    let mut envelope =
        Envelope::new("orders/order-events", event_type, order, sequence, data, &EventMeta::root(Uuid::now_v7()));
    envelope.dataschema = format!("urn:mesh:schema:orders:order-events:v2:{event_type}:1");
    envelope
}

#[tokio::test]
async fn plays_a_disabled_queue_mapping_with_the_real_function_binary() {
    let mut options = DeployOptions::default();
    options.extra_parameters.insert("EventSourceMappings".into(), "Disabled".into());
    let mesh = TestMesh::start(options).await.unwrap();
    let config = mesh.emulator.sdk_config();
    let (lambda, sqs) = (aws_sdk_lambda::Client::new(&config), aws_sdk_sqs::Client::new(&config));

    // The mapping and the function as the endpoint describes them.
    let function_name = format!("{}-analytics-sales", mesh.mesh.prefix());
    let listed = lambda.list_event_source_mappings().function_name(&function_name).send().await.unwrap();
    let uuid = listed.event_source_mappings()[0].uuid().unwrap().to_owned();
    let mapping = QueueMapping::read(&lambda, &sqs, &uuid).await.unwrap();
    assert!(mapping.report_batch_item_failures);
    assert_eq!(mapping.queue_url, mesh.mesh.domain("analytics").unwrap().queue_url("order-events").unwrap());
    let configuration = lambda.get_function_configuration().function_name(&function_name).send().await.unwrap();
    let mut environment: Vec<(String, String)> =
        configuration.environment().and_then(|e| e.variables()).cloned().unwrap_or_default().into_iter().collect();
    // The standard AWS settings a developer's shell would hold.
    for (key, value) in [
        ("AWS_ENDPOINT_URL", mesh.emulator.endpoint()),
        ("AWS_ENDPOINT_URL_GLUE", mesh.emulator.glue_endpoint()),
        ("AWS_REGION", mesh.emulator.region()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ] {
        environment.push((key.to_owned(), value.to_owned()));
    }
    let binary = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("analytics-sales");
    let function =
        LocalFunction::spawn(&binary, &mapping.function_arn, &environment, Duration::from_secs(30)).await.unwrap();

    // A placement, an early approval of another order (held back) and a
    // message no consumer can read (parked by the function with its reason).
    let (order, other) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let customer = Uuid::now_v7().to_string();
    send(
        &sqs,
        &mapping.queue_url,
        &order_event(
            "OrderPlaced",
            &order,
            1,
            json!({"order_id": order, "customer_id": customer, "amount_cents": 500}),
        ),
    )
    .await;
    send(
        &sqs,
        &mapping.queue_url,
        &order_event(
            "OrderApproved",
            &other,
            2,
            json!({"order_id": other, "customer_id": customer, "amount_cents": 1}),
        ),
    )
    .await;
    sqs.send_message().queue_url(&mapping.queue_url).message_body("not an event").send().await.unwrap();

    let mut total = mesh_local::lambda::driver::Played::default();
    for _ in 0..10 {
        let played = play_queue_once(&sqs, &mapping, &function).await.unwrap();
        assert_eq!(played.error, None);
        total.received += played.received;
        total.deleted += played.deleted;
        total.returned += played.returned;
        if total.received >= 3 {
            break;
        }
    }
    // Taken: the placement and the poison (parked); returned: the early approval.
    assert_eq!((total.received, total.deleted, total.returned), (3, 2, 1));
    let rows = mesh.observer.sales(&mesh.endpoints.analytics_state_table).await.unwrap();
    let ids: Vec<String> = rows.iter().map(|(row, _)| row.order_id.to_string()).collect();
    assert_eq!(ids, [order], "only the placement reached the view");
    let dlq = mesh.mesh.domain("analytics").unwrap().dlq_url("order-events").unwrap();
    assert_eq!(mesh.observer.queue_depth(dlq).await.unwrap(), 1);
    drop(function);
    mesh.stop().await.unwrap();
}

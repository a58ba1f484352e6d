//! `mesh dev`: a deployed consumer attached to its real queue runs here.
//! While attached its mapping is disabled on the endpoint (the deployed
//! function stops competing), so an event sent to the queue is applied by
//! the local process; detaching enables the mapping again.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_sqs::types::MessageAttributeValue;
use mesh::envelope::{Envelope, EventMeta};
use mesh_cli::commands::dev;
use mesh_local::DeployOptions;
use mesh_tests::{TestMesh, eventually};
use serde_json::json;
use uuid::Uuid;

async fn mapping_state(lambda: &aws_sdk_lambda::Client, uuid: &str) -> String {
    let mapping = lambda.get_event_source_mapping().uuid(uuid).send().await.unwrap();
    mapping.state().unwrap_or_default().to_owned()
}

fn order_placed(order: &str) -> Envelope {
    let data = json!({"order_id": order, "customer_id": Uuid::now_v7().to_string(), "amount_cents": 500});
    let mut envelope =
        Envelope::new("orders/order-events", "OrderPlaced", order, 1, data, &EventMeta::root(Uuid::now_v7()));
    envelope.dataschema = "urn:mesh:schema:orders:order-events:v2:OrderPlaced:1".to_owned();
    envelope
}

#[tokio::test]
async fn attached_consumer_takes_its_queue_from_the_deployed_function_until_detached() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let config = mesh.emulator.sdk_config();
    let (lambda, sqs) = (aws_sdk_lambda::Client::new(&config), aws_sdk_sqs::Client::new(&config));
    let analytics = mesh.mesh.domain("analytics").unwrap();
    let function = analytics.consumer_function_name("order-events").unwrap().to_owned();
    let queue = analytics.queue_url("order-events").unwrap().to_owned();
    // Built by the deployment: no cargo build in the test.
    let binaries = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();

    // Given the consumer deployed with its mapping enabled.
    let listed = lambda.list_event_source_mappings().function_name(&function).send().await.unwrap();
    let uuid = listed.event_source_mappings()[0].uuid().unwrap().to_owned();
    assert_eq!(mapping_state(&lambda, &uuid).await, "Enabled");

    // When it is attached: the shell's AWS settings are the emulator's.
    let settings = mesh_local::lambda::host::emulator_settings(&mesh.emulator);
    let crates = dev::mesh_functions(&mesh_local::workspace_root().unwrap()).unwrap();
    let attached = dev::attach(&config, &function, &crates, &binaries, &settings).await.unwrap();
    assert_eq!(attached.played(), std::slice::from_ref(&uuid));
    assert_eq!(attached.mappings().len(), 1);
    assert!(attached.mappings()[0].disabled_here);
    assert_eq!(mapping_state(&lambda, &uuid).await, "Disabled", "the emulator no longer delivers");

    // Then a placement sent to the queue reaches the view through the local process.
    let order = Uuid::now_v7().to_string();
    let envelope = order_placed(&order);
    let attribute =
        MessageAttributeValue::builder().data_type("String").string_value(&envelope.event_type).build().unwrap();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(envelope.to_json().unwrap())
        .message_attributes("type", attribute)
        .send()
        .await
        .unwrap();
    let ids = eventually("the placement in the sales view", Duration::from_secs(60), || async {
        let rows = mesh.observer.sales(&mesh.endpoints.analytics_state_table).await?;
        let ids: Vec<String> = rows.iter().map(|(row, _)| row.order_id.to_string()).collect();
        Ok(ids.contains(&order).then_some(ids))
    })
    .await
    .unwrap();
    assert_eq!(ids, [order]);

    // And detaching enables exactly that mapping again.
    assert_eq!(attached.detach().await.unwrap(), std::slice::from_ref(&uuid));
    assert_eq!(mapping_state(&lambda, &uuid).await, "Enabled");
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn attaching_an_unknown_function_names_the_endpoint() {
    let emulator = mesh_local::Emulator::start().await.unwrap();
    let missing = "mesh-ghost-analytics-sales";
    let crates = dev::mesh_functions(&mesh_local::workspace_root().unwrap()).unwrap();
    let error =
        dev::attach(&emulator.sdk_config(), missing, &crates, std::path::Path::new("."), &[]).await.unwrap_err();
    let at = format!("{} ({})", emulator.endpoint(), emulator.region());
    assert_eq!(error.to_string(), format!("no function {missing} at {at}"));
}

//! The analytics domain end to end, on the emulator with the real function
//! binaries: its sales view follows orders placed through the orders API
//! (with and without a channel) to their final status, whatever the order
//! its events arrive in, while customers-credit, which still reads
//! `OrderPlaced` at schema version 1, decides every order.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use analytics::{OrderSale, SaleStatus};
use aws_sdk_sqs::types::MessageAttributeValue;
use mesh::envelope::{Envelope, EventMeta};
use mesh_local::DeployOptions;
use mesh_tests::{TestMesh, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(60);

/// The sales view's rows, by order id, with their versions.
async fn sales(mesh: &TestMesh) -> anyhow::Result<BTreeMap<String, (OrderSale, u64)>> {
    let rows = mesh.observer.sales(&mesh.endpoints.analytics_state_table).await?;
    Ok(rows.into_iter().map(|(sale, version)| (sale.order_id.to_string(), (sale, version))).collect())
}

/// Waits until the view has `order` in a state `wanted` accepts.
async fn sale(mesh: &TestMesh, order: &str, wanted: impl Fn(&OrderSale) -> bool) -> anyhow::Result<(OrderSale, u64)> {
    eventually(&format!("the sales row of {order}"), SETTLE, || async {
        Ok(sales(mesh).await?.remove(order).filter(|(sale, _)| wanted(sale)))
    })
    .await
}

fn view(sale: &OrderSale) -> (SaleStatus, Option<&str>) {
    (sale.status, sale.channel.as_deref())
}

#[tokio::test]
async fn the_sales_view_follows_every_order_with_its_channel_in_any_arrival_order() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let client = mesh.client();

    // Through the orders API: each order's fate does not depend on the others'.
    let ada = client.register_customer("Ada", 5_000).await.unwrap();
    let bob = client.register_customer("Bob", 1_000).await.unwrap();
    let stranger = Uuid::now_v7().to_string();
    let web = client.place_order_in(&ada, 3_000, Some("web")).await.unwrap();
    let unnamed = client.place_order_in(&ada, 1_000, None).await.unwrap();
    let mobile = client.place_order_in(&bob, 2_000, Some("mobile")).await.unwrap();
    let partner = client.place_order_in(&stranger, 500, Some("partner")).await.unwrap();

    // customers-credit reads OrderPlaced v1 (Avro resolution from the writer's
    // v2, fetched from the schema registry) and still decides every order.
    mesh.order_status(&web, "approved").await.unwrap();
    mesh.order_status(&unnamed, "approved").await.unwrap();
    mesh.order_status(&mobile, "rejected").await.unwrap();
    mesh.order_status(&partner, "rejected").await.unwrap();
    client.cancel_order(&web).await.unwrap();
    mesh.order_status(&web, "cancelled").await.unwrap();
    eventually("Ada's cancelled order to release its credit", SETTLE, || async {
        let found = client.get_customer(&ada).await?;
        Ok((found["reserved_cents"] == 1_000).then_some(()))
    })
    .await
    .unwrap();

    let expected = [
        (&web, SaleStatus::Cancelled, Some("web"), 3_000),
        (&unnamed, SaleStatus::Approved, None, 1_000),
        (&mobile, SaleStatus::Rejected, Some("mobile"), 2_000),
        (&partner, SaleStatus::Rejected, Some("partner"), 500),
    ];
    for (order, status, channel, amount) in expected {
        let (row, _) = sale(&mesh, order, |s| view(s) == (status, channel)).await.unwrap();
        assert_eq!((row.amount_cents, row.placed), (amount, true), "{row:?}");
    }
    assert_eq!(sales(&mesh).await.unwrap().len(), 4);

    // The producer wrote v2 of OrderPlaced, with the channel or null.
    let log = mesh.observer.stream_events(&mesh.endpoints.orders_stream).await.unwrap();
    let placed_web = log.iter().find(|e| e.subject == *web && e.event_type == "OrderPlaced").unwrap();
    assert_eq!(placed_web.data["channel"], "web");
    assert_eq!(placed_web.dataschema, "urn:mesh:schema:orders:order-events:v2:OrderPlaced:2");
    let placed_unnamed = log.iter().find(|e| e.subject == *unnamed && e.event_type == "OrderPlaced").unwrap();
    assert_eq!(placed_unnamed.data.get("channel"), Some(&Value::Null));

    // Out of order, straight into the view's queue (`order: sequence`): the
    // approval overtakes the placement and is held back, the placement is
    // applied, then the approval on its redelivery; a stale copy of the
    // approval under a new id (as a replay would send it) is dropped.
    let order = Uuid::now_v7().to_string();
    let approval =
        event("OrderApproved", &order, 2, 1, json!({"order_id": order, "customer_id": ada, "amount_cents": 700}));
    let placement = event(
        "OrderPlaced",
        &order,
        1,
        2,
        json!({"order_id": order, "customer_id": ada, "amount_cents": 700, "channel": "partner"}),
    );
    send(&mesh, &approval).await;
    let queue = mesh.endpoints.queues[2].1.clone();
    eventually("the early approval to be received and held back", SETTLE, || async {
        Ok((mesh.observer.queue_in_flight(&queue).await? == 1).then_some(()))
    })
    .await
    .unwrap();
    assert!(!sales(&mesh).await.unwrap().contains_key(&order), "an event was applied before its predecessor");
    send(&mesh, &placement).await;
    let (row, version) = sale(&mesh, &order, |s| s.status == SaleStatus::Approved).await.unwrap();
    assert_eq!(view(&row), (SaleStatus::Approved, Some("partner")));
    assert_eq!((row.placed, row.last_sequence, version), (true, 2, 2), "{row:?}");
    send(&mesh, &Envelope { id: Uuid::now_v7(), ..approval }).await;
    eventually("the analytics queue to drain", SETTLE, || async {
        Ok((mesh.observer.queue_depth(&queue).await? == 0).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(sales(&mesh).await.unwrap()[&order].1, 2, "a stale event changed the row");

    // An event whose predecessor never comes is held back on every receive,
    // then parked in the DLQ with why; nothing of it reaches the view.
    let orphan = Uuid::now_v7().to_string();
    let approval =
        event("OrderApproved", &orphan, 2, 1, json!({"order_id": orphan, "customer_id": ada, "amount_cents": 100}));
    send(&mesh, &approval).await;
    let sqs = aws_sdk_sqs::Client::new(&mesh.emulator.sdk_config());
    let (_, analytics_dlq) = mesh.endpoints.dead_letters.iter().find(|(name, _)| name.contains("analytics")).unwrap();
    let parked = eventually("the orphan to be parked in the analytics DLQ", Duration::from_secs(90), || async {
        let listed = mesh_cli::commands::dlq::list(&sqs, analytics_dlq.rsplit('/').next().unwrap(), 10)
            .await
            .map_err(anyhow::Error::msg)?;
        Ok(listed.into_iter().next())
    })
    .await
    .unwrap();
    assert_eq!(
        parked.reason.as_deref(),
        Some(
            format!(
                "held back: event 2 of orders/order-events {orphan} waits for event 1 (last applied: none) \
                 (still on receive 3 of 3)"
            )
            .as_str()
        )
    );
    assert!(!sales(&mesh).await.unwrap().contains_key(&orphan));
    for (name, dlq) in &mesh.endpoints.dead_letters {
        let expected = u64::from(dlq == analytics_dlq);
        assert_eq!(mesh.observer.queue_depth(dlq).await.unwrap(), expected, "{name}");
    }
    mesh.stop().await.unwrap();
}

/// An order event as the orders domain writes it (schema `version` of its type).
fn event(event_type: &str, order: &str, sequence: u64, version: u32, data: Value) -> Envelope {
    let mut envelope =
        Envelope::new("orders/order-events", event_type, order, sequence, data, &EventMeta::root(Uuid::now_v7()));
    envelope.dataschema = format!("urn:mesh:schema:orders:order-events:v2:{event_type}:{version}");
    envelope
}

async fn send(mesh: &TestMesh, envelope: &Envelope) {
    let sqs = aws_sdk_sqs::Client::new(&mesh.emulator.sdk_config());
    let attribute =
        MessageAttributeValue::builder().data_type("String").string_value(&envelope.event_type).build().unwrap();
    sqs.send_message()
        .queue_url(&mesh.endpoints.queues[2].1)
        .message_body(envelope.to_json().unwrap())
        .message_attributes("type", attribute)
        .send()
        .await
        .unwrap();
}

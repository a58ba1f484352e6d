//! The reference mesh, end to end, on the emulator with the real function
//! binaries: the saga, bad input, duplicates, poison messages, atomicity.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use mesh::envelope::{Envelope, EventMeta};
use mesh::store::{Commit, StateStore, StoreError};
use mesh_aws::dynamo_store::{DynamoStore, Tables};
use mesh_cli::commands::sagas;
use mesh_local::{DeployOptions, verify_stack_resources};
use mesh_tests::{TestMesh, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(60);

async fn reserved(mesh: &TestMesh, customer: &str, wanted: u64) -> anyhow::Result<Value> {
    let client = mesh.client();
    eventually(&format!("customer {customer} to reserve {wanted}"), SETTLE, || async {
        let found = client.get_customer(customer).await?;
        Ok((found["reserved_cents"] == wanted).then_some(found))
    })
    .await
}

#[tokio::test]
async fn saga_approves_within_the_limit_rejects_over_it_and_releases_on_cancel() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let client = mesh.client();
    let customer = client.register_customer("Ada", 5_000).await.unwrap();

    let approved = client.place_order(&customer, 3_000).await.unwrap();
    mesh.order_status(&approved, "approved").await.unwrap();
    reserved(&mesh, &customer, 3_000).await.unwrap();

    let rejected = client.place_order(&customer, 4_000).await.unwrap();
    let order = mesh.order_status(&rejected, "rejected").await.unwrap();
    assert_eq!(order["rejection_reason"], "credit limit exceeded: requested 4000, available 2000");

    client.cancel_order(&approved).await.unwrap();
    mesh.order_status(&approved, "cancelled").await.unwrap();
    reserved(&mesh, &customer, 0).await.unwrap();

    // The whole conversation is on the products' logs, in entity order. The
    // state shows a change as soon as its transaction is done; its event
    // reaches the stream when the relay has run (later on a loaded LocalStack).
    let on_stream = |stream: String, wanted: usize| {
        let observer = &mesh.observer;
        eventually("every event of the conversation on its stream", SETTLE, move || {
            let stream = stream.clone();
            async move {
                let events = observer.stream_events(&stream).await?;
                Ok((events.len() >= wanted).then_some(events))
            }
        })
    };
    let events = on_stream(mesh.endpoints.orders_stream.clone(), 5).await.unwrap();
    let of_approved: Vec<(&str, u64)> =
        events.iter().filter(|e| e.subject == approved).map(|e| (e.event_type.as_str(), e.sequence)).collect();
    assert_eq!(of_approved, [("OrderPlaced", 1), ("OrderApproved", 2), ("OrderCancelled", 3)]);
    let credit = on_stream(mesh.endpoints.customers_stream.clone(), 4).await.unwrap();
    // The customer is PII: its events' subject is its token (the one customer here).
    let registered = credit.iter().find(|e| e.event_type == "CustomerRegistered").unwrap();
    let token = registered.data["customer_id"]["token"].as_str().unwrap();
    assert_eq!(registered.subject, token);
    let types: Vec<&str> = credit.iter().filter(|e| e.subject == token).map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["CustomerRegistered", "CreditReserved", "CreditLimitExceeded", "CreditReleased"]);
    let reserved_event = credit.iter().find(|e| e.event_type == "CreditReserved").unwrap();
    let placed = events.iter().find(|e| e.subject == approved && e.event_type == "OrderPlaced").unwrap();
    assert_eq!((reserved_event.causation_id, reserved_event.correlation_id), (placed.id, placed.correlation_id));
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn bad_http_input_gets_400_naming_the_field_and_writes_nothing() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let client = mesh.client();
    let url = client.orders_url("/orders");
    let cases = [
        (json!({"customer_id": "not-a-uuid", "amount_cents": 100}), "customer_id"),
        (json!({"customer_id": Uuid::now_v7().to_string(), "amount_cents": 0}), "amount_cents"),
        (json!({"customer_id": Uuid::now_v7().to_string()}), "amount_cents"),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let (status, answer) = client.call("POST", &url, Some(body.clone())).await.unwrap();
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(answer["fields"][0]["field"], field, "{body} → {answer}");
    }
    let (status, answer) =
        client.call("GET", &client.orders_url(&format!("/orders/{}", Uuid::now_v7())), None).await.unwrap();
    assert_eq!(status, 404, "{answer}");
    assert!(mesh.observer.orders(&mesh.endpoints.orders_state_table).await.unwrap().is_empty());
    let outbox = mesh.mesh.domain("orders").unwrap().outbox_table().unwrap();
    let dynamodb = aws_sdk_dynamodb::Client::new(&mesh.emulator.sdk_config());
    assert_eq!(dynamodb.scan().table_name(outbox).send().await.unwrap().count(), 0);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_state_condition_writes_neither_state_nor_event() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let config = mesh.emulator.sdk_config();
    let tables = Tables {
        state: mesh.mesh.domain("orders").unwrap().state_table().unwrap().into(),
        outbox: mesh.mesh.domain("orders").unwrap().outbox_table().unwrap().into(),
        inbox: None,
    };
    let store: DynamoStore<Value> = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        tables.clone(),
        Duration::from_secs(60),
        Duration::ZERO,
    );
    let event = |sequence| {
        Envelope::new(
            "orders/order-events",
            "OrderPlaced",
            "e-1",
            sequence,
            json!({}),
            &EventMeta::root(Uuid::now_v7()),
        )
    };
    store.commit(Commit::decided("e-1", 0, json!({"n": 1}), vec![event(1)], None)).await.unwrap();

    // A writer that read version 0 again: its condition fails.
    let error = store.commit(Commit::decided("e-1", 0, json!({"n": 2}), vec![event(1)], None)).await.unwrap_err();
    assert_eq!(error, StoreError::AlreadyExists { entity_id: "e-1".into() });
    // A writer with a stale version.
    let mut stale = Commit::decided("e-1", 5, json!({"n": 3}), vec![event(6)], None);
    stale.events.push(event(7));
    let error = store.commit(stale).await.unwrap_err();
    assert_eq!(error, StoreError::VersionConflict { entity_id: "e-1".into(), expected_version: 5 });

    assert_eq!(store.load("e-1").await.unwrap().unwrap().state, json!({"n": 1}));
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    assert_eq!(dynamodb.scan().table_name(&tables.outbox).send().await.unwrap().count(), 1);
    mesh.stop().await.unwrap();
}

async fn send_raw(mesh: &TestMesh, queue: &str, entries: Vec<(String, String)>) {
    let sqs = aws_sdk_sqs::Client::new(&mesh.emulator.sdk_config());
    let entries = entries
        .into_iter()
        .enumerate()
        .map(|(n, (event_type, body))| {
            // A FIFO queue (a strict-order subscription): each message its
            // own group and deduplication id, so every copy is delivered.
            let fifo = queue.ends_with(".fifo").then(|| Uuid::now_v7().to_string());
            SendMessageBatchRequestEntry::builder()
                .id(n.to_string())
                .message_body(body)
                .set_message_group_id(fifo.clone())
                .set_message_deduplication_id(fifo)
                .message_attributes(
                    "type",
                    MessageAttributeValue::builder().data_type("String").string_value(event_type).build().unwrap(),
                )
                .build()
                .unwrap()
        })
        .collect();
    let sent = sqs.send_message_batch().queue_url(queue).set_entries(Some(entries)).send().await.unwrap();
    assert!(sent.failed().is_empty(), "{:?}", sent.failed());
}

#[tokio::test]
async fn a_duplicate_delivery_changes_nothing() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let client = mesh.client();
    let customer = client.register_customer("Grace", 10_000).await.unwrap();
    let order = client.place_order(&customer, 2_500).await.unwrap();
    mesh.order_status(&order, "approved").await.unwrap();
    let before = reserved(&mesh, &customer, 2_500).await.unwrap();
    let versions = mesh.observer.customers(&mesh.endpoints.customers_state_table).await.unwrap();

    let placed = mesh
        .observer
        .stream_events(&mesh.endpoints.orders_stream)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.subject == order && e.event_type == "OrderPlaced")
        .unwrap();
    let queue = mesh.endpoints.queues[0].1.clone();
    send_raw(&mesh, &queue, vec![("OrderPlaced".into(), placed.to_json().unwrap()); 2]).await;
    eventually("the redelivered messages to be consumed", SETTLE, || async {
        Ok((mesh.observer.queue_depth(&queue).await? == 0).then_some(()))
    })
    .await
    .unwrap();

    assert_eq!(client.get_customer(&customer).await.unwrap(), before);
    assert_eq!(
        mesh.observer
            .customers(&mesh.endpoints.customers_state_table)
            .await
            .unwrap()
            .into_iter()
            .map(|(c, v)| (c.id, v))
            .collect::<Vec<_>>(),
        versions.into_iter().map(|(c, v)| (c.id, v)).collect::<Vec<_>>()
    );
    assert_eq!(mesh.observer.queue_depth(&mesh.endpoints.dead_letters[0].1).await.unwrap(), 0);
    mesh.stop().await.unwrap();
}

#[tokio::test]
async fn a_poison_message_is_parked_in_the_dlq_with_its_reason_while_the_rest_of_the_batch_is_applied() {
    let options = DeployOptions { queue_visibility_timeout: 10, max_receive_count: 2, ..DeployOptions::default() };
    let mesh = TestMesh::start(options).await.unwrap();
    let client = mesh.client();
    let customer = client.register_customer("Edsger", 10_000).await.unwrap();

    // A well-formed OrderPlaced for an order the orders domain never saw, and
    // a message no consumer can read, in one batch.
    let order_id = Uuid::now_v7().to_string();
    let mut good = Envelope::new(
        "orders/order-events",
        "OrderPlaced",
        order_id.clone(),
        1,
        json!({"order_id": order_id, "customer_id": customer, "amount_cents": 700}),
        &EventMeta::root(Uuid::now_v7()),
    );
    good.dataschema = "urn:mesh:schema:orders:order-events:v2:OrderPlaced:1".to_owned();
    let queue = mesh.endpoints.queues[0].1.clone();
    send_raw(
        &mesh,
        &queue,
        vec![("OrderPlaced".into(), "{\"not\": \"an event\"}".into()), ("OrderPlaced".into(), good.to_json().unwrap())],
    )
    .await;

    reserved(&mesh, &customer, 700).await.unwrap();
    let dlq = mesh.endpoints.dead_letters[0].1.clone();
    eventually("the poison message to reach the DLQ", SETTLE, || async {
        Ok((mesh.observer.queue_depth(&dlq).await? == 1).then_some(()))
    })
    .await
    .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&mesh.emulator.sdk_config());
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let message = &dead.messages()[0];
    assert_eq!(message.body(), Some("{\"not\": \"an event\"}"));
    let attribute = |name: &str| {
        message.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_owned)
    };
    // Parked on its first receive: no retry can make it readable.
    let receives = message
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(receives.as_deref(), Some("1"), "parked at once, not after max_receive_count receives");
    let reason = attribute("mesh-error").expect("the reason travels with the message");
    assert!(reason.contains("not a valid CloudEvent") || reason.contains("missing field"), "{reason}");
    let queue_name = queue.rsplit('/').next().unwrap();
    let source = attribute("mesh-source-queue").unwrap();
    assert!(source.ends_with(&format!(":{queue_name}")), "{source}");
    assert_eq!(attribute("type").as_deref(), Some("OrderPlaced"), "its own attributes are kept for a redrive");
    sqs.change_message_visibility()
        .queue_url(&dlq)
        .receipt_handle(message.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();

    // `mesh dlq list customers/order-events` shows it and why, and leaves it there.
    let root = mesh_local::workspace_root().unwrap();
    let descriptors = mesh_infra::load_mesh(&root).unwrap();
    let (source, dead_letters) =
        mesh_cli::commands::dlq::queues(&descriptors, mesh.mesh.prefix(), "customers/order-events").unwrap();
    assert_eq!(
        (source.as_str(), dead_letters.as_str()),
        (
            format!("{}-customers-order-events.fifo", mesh.mesh.prefix()).as_str(),
            format!("{}-customers-order-events-dlq.fifo", mesh.mesh.prefix()).as_str()
        )
    );
    let listed = mesh_cli::commands::dlq::list(&sqs, &dead_letters, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].event_type.as_deref(), listed[0].reason.as_deref()),
        (Some("OrderPlaced"), Some(reason.as_str()))
    );
    assert_eq!(
        mesh_cli::commands::dlq::list(&sqs, &dead_letters, 10).await.unwrap().len(),
        1,
        "listing leaves it in place"
    );

    // `mesh dlq redrive` moves it back; still poison, it is parked again.
    assert_eq!(mesh_cli::commands::dlq::redrive(&sqs, &source, &dead_letters).await.unwrap(), 1);
    eventually("the redriven message to be parked again", SETTLE, || async {
        let again = mesh_cli::commands::dlq::list(&sqs, &dead_letters, 10).await.map_err(anyhow::Error::msg)?;
        Ok((again.len() == 1 && again[0].message_id != listed[0].message_id).then_some(()))
    })
    .await
    .unwrap();
    mesh.stop().await.unwrap();
}

/// Every resource of every generated template exists in its service with
/// the settings it declares (encryption, point-in-time recovery, TTL, redrive,
/// filter policies, batch sizes, retries, on-failure destinations), and a
/// setting changed behind the template's back is reported.
#[tokio::test]
async fn every_template_resource_exists_after_deployment_with_its_settings() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let stacks = mesh.mesh.stacks();
    assert_eq!(stacks.len(), 9);
    for stack in &stacks {
        let missing = verify_stack_resources(&mesh.emulator, stack.name(), stack.template()).await.unwrap();
        assert!(missing.is_empty(), "{}: missing {missing:?}", stack.name());
    }

    // Drift: a shorter visibility timeout and point-in-time recovery off.
    let orders = mesh.mesh.domain("orders").unwrap();
    let sqs = aws_sdk_sqs::Client::new(&mesh.emulator.sdk_config());
    sqs.set_queue_attributes()
        .queue_url(orders.queue_url("customer-credit").unwrap())
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "7")
        .send()
        .await
        .unwrap();
    let dynamodb = aws_sdk_dynamodb::Client::new(&mesh.emulator.sdk_config());
    let pitr = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(false)
        .build()
        .unwrap();
    dynamodb
        .update_continuous_backups()
        .table_name(orders.outbox_table().unwrap())
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .unwrap();
    let found = verify_stack_resources(&mesh.emulator, orders.name(), orders.template()).await.unwrap();
    let problems: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("CustomerCreditQueue (AWS::SQS::Queue): VisibilityTimeout: declared"),
        "{problems:#?}"
    );
    assert!(problems[0].ends_with("found 7"), "{problems:#?}");
    assert!(problems[1].starts_with("OutboxTable (AWS::DynamoDB::Table): point-in-time recovery"), "{problems:#?}");
    assert!(problems[1].ends_with("found DISABLED"), "{problems:#?}");
    mesh.stop().await.unwrap();
}

/// The relay gives up on a batch (its Kinesis port is gone, retries
/// exhausted): the events wait in the outbox and the batch's coordinates in
/// the relay-failures queue. Once the port is back, `mesh outbox redrive
/// orders` publishes them and the saga carries on, as if nothing happened.
#[tokio::test]
async fn events_the_relay_gave_up_on_are_published_by_an_outbox_redrive() {
    let options = DeployOptions { relay_maximum_retry_attempts: 0, ..DeployOptions::default() };
    let mesh = TestMesh::start(options).await.unwrap();
    let client = mesh.client();
    let customer = client.register_customer("Barbara", 10_000).await.unwrap();
    let config = mesh.emulator.sdk_config();
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let stream = mesh.mesh.ports("orders").unwrap().stream_name().unwrap().to_owned();
    kinesis.delete_stream().stream_name(&stream).send().await.unwrap();
    // Deleting takes a while (on AWS too: the stream is DELETING first), and
    // a stream of that name cannot be created again until it is gone.
    eventually("the stream to be gone", SETTLE, || async {
        let described = kinesis.describe_stream_summary().stream_name(&stream).send().await;
        Ok(described
            .is_err_and(|e| e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()))
            .then_some(()))
    })
    .await
    .unwrap();

    let order = client.place_order(&customer, 900).await.unwrap();
    let failures = mesh.mesh.domain("orders").unwrap().relay_failure_queue_url().unwrap().to_owned();
    eventually("the relay to give up on the batch", SETTLE, || async {
        Ok((mesh.observer.queue_depth(&failures).await? >= 1).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(client.get_order(&order).await.unwrap()["status"], "pending", "no event left the outbox");

    kinesis.create_stream().stream_name(&stream).shard_count(1).send().await.unwrap();
    // A stream takes writes once it is active (LocalStack's kinesis-mock takes half a second).
    eventually("the stream to be active again", SETTLE, || async {
        let summary = kinesis.describe_stream_summary().stream_name(&stream).send().await?;
        let status = summary.stream_description_summary().map(|s| s.stream_status().as_str().to_owned());
        Ok((status.as_deref() == Some("ACTIVE")).then_some(()))
    })
    .await
    .unwrap();
    let done = mesh_cli::commands::outbox::redrive(&config, mesh.mesh.prefix(), "orders").await.unwrap();
    assert!(done.batches >= 1 && done.events >= 1, "{done:?}");
    mesh.order_status(&order, "approved").await.unwrap();
    assert_eq!(mesh.observer.queue_depth(&failures).await.unwrap(), 0, "the failure records are handled");
    mesh.stop().await.unwrap();
}

/// `EventSourceMappings=Disabled` (for an endpoint that cannot run
/// functions, where a driver plays the mappings): every mapping exists with
/// the real `Enabled: false`, and nothing is consumed, so an event waits on
/// its stream and the order stays pending.
#[tokio::test]
async fn mappings_deployed_disabled_exist_and_consume_nothing() {
    let mut options = DeployOptions::default();
    options.extra_parameters.insert("EventSourceMappings".into(), "Disabled".into());
    let mesh = TestMesh::start(options).await.unwrap();
    let lambda = aws_sdk_lambda::Client::new(&mesh.emulator.sdk_config());
    let listed = lambda.list_event_source_mappings().send().await.unwrap();
    let prefix = format!(":function:{}-", mesh.mesh.prefix());
    let states: Vec<(String, String)> = listed
        .event_source_mappings()
        .iter()
        .filter(|m| m.function_arn().is_some_and(|arn| arn.contains(&prefix)))
        .map(|m| {
            let function = m.function_arn().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_owned();
            (function, m.state().unwrap_or_default().to_owned())
        })
        .collect();
    // Two relays and three consumers.
    assert_eq!(states.len(), 5, "{states:?}");
    assert!(states.iter().all(|(_, state)| state == "Disabled"), "{states:?}");

    let client = mesh.client();
    let customer = client.register_customer("Hedy", 10_000).await.unwrap();
    let order = client.place_order(&customer, 1_000).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(client.get_order(&order).await.unwrap()["status"], "pending");
    let inbox = mesh.endpoints.inboxes.iter().find(|(domain, _)| domain == "customers").unwrap().1.clone();
    assert!(mesh.observer.inbox(&inbox).await.unwrap().is_empty(), "a disabled mapping delivered");
    mesh.stop().await.unwrap();
}

/// The event types of `entity`'s events in `table` (an outbox), in order.
async fn outbox_types(mesh: &TestMesh, table: &str, entity: &str) -> anyhow::Result<Vec<String>> {
    let mut events: Vec<Envelope> = mesh
        .observer
        .outbox(table)
        .await?
        .into_iter()
        .filter(|e| e.subject == entity || e.data["order_id"] == entity)
        .collect();
    events.sort_by_key(|e| (e.time, e.sequence));
    Ok(events.into_iter().map(|e| e.event_type).collect())
}

/// With the customers consumer stopped, an order's credit answer never
/// comes: the scheduler delivers its deadline and the order is rejected.
/// When the consumer starts again, the credit it reserves too late is
/// declined by orders and released by customers, once.
#[tokio::test]
async fn an_unanswered_order_is_rejected_at_its_deadline_and_a_late_reservation_released() {
    let parameters = [("CreditCheckTimeoutSeconds".to_owned(), "15".to_owned())].into();
    let mesh =
        TestMesh::start(DeployOptions { extra_parameters: parameters, ..DeployOptions::default() }).await.unwrap();
    let client = mesh.client();
    let customer = client.register_customer("Grace", 5_000).await.unwrap();
    let lambda = aws_sdk_lambda::Client::new(&mesh.emulator.sdk_config());
    let consumer = mesh.mesh.domain("customers").unwrap().consumer_function_name("order-events").unwrap().to_owned();
    let mappings = lambda.list_event_source_mappings().function_name(&consumer).send().await.unwrap();
    let mapping = mappings.event_source_mappings()[0].uuid().unwrap().to_owned();
    lambda.update_event_source_mapping().uuid(&mapping).enabled(false).send().await.unwrap();

    let order = client.place_order(&customer, 1_500).await.unwrap();
    let rejected = mesh.order_status(&order, "rejected").await.unwrap();

    assert_eq!(rejected["rejection_reason"], "credit check timed out");
    assert_eq!(client.get_customer(&customer).await.unwrap()["reserved_cents"], 0, "customers has not seen the order");

    lambda.update_event_source_mapping().uuid(&mapping).enabled(true).send().await.unwrap();
    let (orders_outbox, customers_outbox) = (&mesh.endpoints.outboxes[0].1, &mesh.endpoints.outboxes[1].1);
    let credit = eventually("the late reservation to be released", SETTLE, || async {
        let credit = outbox_types(&mesh, customers_outbox, &order).await?;
        Ok(credit.contains(&"CreditReleased".to_owned()).then_some(credit))
    })
    .await
    .unwrap();
    assert_eq!(credit, ["CreditReserved", "CreditReleased"]);
    assert_eq!(
        outbox_types(&mesh, orders_outbox, &order).await.unwrap(),
        ["OrderPlaced", "OrderRejected", "OrderCreditDeclined"]
    );
    assert_eq!(reserved(&mesh, &customer, 0).await.unwrap()["reserved_cents"], 0);
    assert_eq!(client.get_order(&order).await.unwrap()["status"], "rejected", "a late answer decides nothing");

    // With the saga stopped too, an order waits past its deadline, and
    // `mesh sagas stuck orders` names it; started again, the saga ends it.
    let saga = mesh.mesh.domain("orders").unwrap().consumer_function_name("customer-credit").unwrap().to_owned();
    let saga_mappings = lambda.list_event_source_mappings().function_name(&saga).send().await.unwrap();
    let saga_mapping = saga_mappings.event_source_mappings()[0].uuid().unwrap().to_owned();
    lambda.update_event_source_mapping().uuid(&saga_mapping).enabled(false).send().await.unwrap();
    let waiting = client.place_order(&customer, 1_000).await.unwrap();
    let stuck = || async {
        let root = mesh_local::workspace_root()?;
        let descriptors = mesh_infra::load_mesh(&root).map_err(|p| anyhow::anyhow!("{p:?}"))?;
        let deadlines = &descriptors.domain("orders").unwrap().saga.as_ref().unwrap().deadlines;
        let asked = sagas::Asked {
            domain: "orders",
            deadlines,
            prefix: mesh.mesh.prefix(),
            older_than: chrono::TimeDelta::zero(),
            now: chrono::Utc::now(),
        };
        let report = sagas::check(&sagas::Clients::new(&mesh.emulator.sdk_config()), &asked).await?;
        Ok::<_, anyhow::Error>(report.stuck().into_iter().map(|s| (s.entity.clone(), s.why)).collect::<Vec<_>>())
    };
    let found = eventually("the order to wait past its deadline", SETTLE, || async {
        let found = stuck().await?;
        Ok((!found.is_empty()).then_some(found))
    })
    .await
    .unwrap();
    assert_eq!(found, [(waiting.clone(), sagas::Why::PastDeadline)]);

    lambda.update_event_source_mapping().uuid(&saga_mapping).enabled(true).send().await.unwrap();
    eventually("the saga to end the waiting order", SETTLE, || async {
        Ok((client.get_order(&waiting).await?["status"] != "pending").then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(stuck().await.unwrap(), [], "nothing stuck once the saga ran");
    mesh.stop().await.unwrap();
}

//! PII protected by the platform, end to end on the emulator with the real
//! function binaries: a few orders run through the reference mesh, then every
//! Kinesis record, every SQS message (the consumers' queues, their DLQs, the
//! relays' failure queues and a test subscriber's queue on both topics) and
//! every outbox item is searched for the clear values the test used (the
//! customer's name and id): none is found. The granted readers see the clear
//! id (customers reserves credit by it, analytics keeps it in its view); the
//! test subscriber, granted nothing, opens each event to the token only, the
//! same token in both products.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesh::envelope::Envelope;
use mesh::pii::{CONTEXT_KEY, Opener, TOKEN_PREFIX};
use mesh_local::DeployOptions;
use mesh_tests::{TestMesh, eventually};
use serde_json::Value;
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(60);

/// A queue subscribed (raw delivery) to both products' topics: a subscriber
/// the producers grant a subscription (their topic policies, as a descriptor's
/// `access.subscribers` would) and no PII, and a copy of every message SNS
/// delivered.
async fn spy(mesh: &TestMesh) -> String {
    let config = mesh.emulator.sdk_config();
    let (sqs, sns) = (aws_sdk_sqs::Client::new(&config), aws_sdk_sns::Client::new(&config));
    let name = format!("{}-pii-spy", mesh.mesh.prefix());
    let url = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url.unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let topics: Vec<String> =
        ["orders", "customers"].iter().map(|p| mesh.mesh.ports(p).unwrap().topic_arn().unwrap().to_owned()).collect();
    let admits = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topics}}}]});
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, admits.to_string())
        .send()
        .await
        .unwrap();
    for topic in &topics {
        // The topic policy denies Subscribe to every endpoint but the granted
        // queues; MiniStack gives that Deny no `sns:Endpoint`, so it refuses
        // every endpoint. Set it aside for this one subscription, as the
        // producer's team granting a subscription would, then put it back.
        let attributes = sns.get_topic_attributes().topic_arn(topic).send().await.unwrap();
        let policy = attributes.attributes().unwrap()["Policy"].clone();
        let mut open: Value = serde_json::from_str(&policy).unwrap();
        open["Statement"].as_array_mut().unwrap().retain(|s| s["Effect"] != "Deny");
        let set = |text: String| {
            sns.set_topic_attributes().topic_arn(topic).attribute_name("Policy").attribute_value(text).send()
        };
        set(open.to_string()).await.unwrap();
        sns.subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(&arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        set(policy).await.unwrap();
    }
    url
}

/// Every message now in the queue, left there (received, never deleted):
/// its body and its attributes, as text.
async fn messages(mesh: &TestMesh, url: &str) -> Vec<(String, String)> {
    let sqs = mesh.observer.sqs();
    let mut found = Vec::new();
    loop {
        let page = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if page.messages().is_empty() {
            return found;
        }
        for message in page.messages() {
            let attributes = format!("{:?}", message.message_attributes());
            found.push((message.body().unwrap_or_default().to_owned(), attributes));
        }
    }
}

/// Every record of a stream: its partition key and data, as text.
async fn records(mesh: &TestMesh, stream: &str) -> Vec<String> {
    let kinesis = aws_sdk_kinesis::Client::new(&mesh.emulator.sdk_config());
    let mut texts = Vec::new();
    for shard in kinesis.list_shards().stream_name(stream).send().await.unwrap().shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator {
            let page = kinesis.get_records().shard_iterator(current).limit(10_000).send().await.unwrap();
            for record in page.records() {
                let data = String::from_utf8_lossy(record.data().as_ref()).into_owned();
                texts.push(format!("{} {data}", record.partition_key().unwrap_or_default()));
            }
            let caught_up = page.records().is_empty() || page.millis_behind_latest() == Some(0);
            iterator = if caught_up { None } else { page.next_shard_iterator };
        }
    }
    texts
}

#[tokio::test]
async fn no_port_holds_a_clear_pii_value_and_only_granted_readers_see_one() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let spy = spy(&mesh).await;
    let client = mesh.client();
    // Values no other test or fixture writes: found anywhere, they leaked.
    let name = format!("Ada Lovelace {}", Uuid::now_v7().simple());
    let customer = client.register_customer(&name, 5_000).await.unwrap();
    let approved = client.place_order_in(&customer, 3_000, Some("web")).await.unwrap();
    let rejected = client.place_order_in(&customer, 4_000, None).await.unwrap();
    mesh.order_status(&approved, "approved").await.unwrap();
    mesh.order_status(&rejected, "rejected").await.unwrap();
    client.cancel_order(&approved).await.unwrap();
    mesh.order_status(&approved, "cancelled").await.unwrap();

    // Granted: customers found the customer by its clear id (it reserved,
    // then released), analytics keeps the clear id in its view.
    eventually("the cancelled order's credit to be released", SETTLE, || async {
        Ok((client.get_customer(&customer).await?["reserved_cents"] == 0).then_some(()))
    })
    .await
    .unwrap();
    let sales = eventually("the sales rows of both orders", SETTLE, || async {
        let rows = mesh.observer.sales(&mesh.endpoints.analytics_state_table).await?;
        Ok((rows.len() >= 2 && rows.iter().all(|(sale, _)| sale.last_sequence >= 2)).then_some(rows))
    })
    .await
    .unwrap();
    for (sale, _) in &sales {
        assert_eq!(sale.customer_id.to_string(), customer, "analytics reads customer_id in clear");
    }

    // Everything that left a domain, or waits to: 3 order-events for the
    // cancelled order, 2 for the rejected one; a registration and 3 credit
    // decisions. The last decision may still be on its way to the stream when
    // the customer's state shows it: read until every event is there.
    const EVENTS: usize = 9;
    let mut searched: Vec<(String, String)> = eventually("all 9 events on the streams", SETTLE, || async {
        let mut texts = Vec::new();
        for stream in [&mesh.endpoints.orders_stream, &mesh.endpoints.customers_stream] {
            texts.extend(records(&mesh, stream).await.into_iter().map(|text| (format!("kinesis {stream}"), text)));
        }
        Ok((texts.len() >= EVENTS).then_some(texts))
    })
    .await
    .unwrap();
    let records = searched.len();
    let mut spied = Vec::new();
    let deadline = std::time::Instant::now() + SETTLE;
    while spied.len() < EVENTS && std::time::Instant::now() < deadline {
        spied.extend(messages(&mesh, &spy).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(spied.len(), EVENTS, "the test subscriber got every event once: {spied:#?}");
    for (body, attributes) in &spied {
        searched.push(("sqs the test subscriber".to_owned(), format!("{body} {attributes}")));
    }
    for (label, url) in mesh.endpoints.queues.iter().chain(&mesh.endpoints.dead_letters) {
        for (body, attributes) in messages(&mesh, url).await {
            searched.push((format!("sqs {label}"), format!("{body} {attributes}")));
        }
    }
    for (domain, table) in &mesh.endpoints.outboxes {
        let items = mesh.observer.outbox(table).await.unwrap();
        searched.extend(items.iter().map(|e| (format!("{domain} outbox"), e.to_json().unwrap())));
    }
    for (label, text) in &searched {
        assert!(!text.contains(&name), "{label} holds the customer's name in clear: {text}");
        assert!(!text.contains(&customer), "{label} holds the customer id in clear: {text}");
    }

    // Not granted: every protected field opens to its token, one per value
    // across both products, so counting and joining still work.
    let opener = Opener::tokens_only();
    let mut tokens = std::collections::BTreeSet::new();
    for (body, _) in &spied {
        let mut envelope = Envelope::from_json(body).unwrap();
        let opened = opener.open(&mut envelope).await.unwrap();
        assert!(opened.fields.contains(&"customer_id".to_owned()), "{body}");
        let token = envelope.data["customer_id"].as_str().unwrap().to_owned();
        assert!(token.starts_with(TOKEN_PREFIX), "{token}");
        if envelope.event_type == "CustomerRegistered" {
            let name_token = envelope.data["name"].as_str().unwrap();
            assert!(name_token.starts_with(TOKEN_PREFIX) && name_token != token, "{name_token}");
        }
        tokens.insert(token);
    }
    assert_eq!(tokens.len(), 1, "one customer, one token in both products: {tokens:?}");
    a_subscriber_not_granted_the_pii_is_refused_its_data_key_by_kms(&mesh, &searched).await;
    println!(
        "pii: {} records and messages searched ({records} Kinesis records, {} test-subscriber messages): \
         no clear name or customer id",
        searched.len(),
        spied.len()
    );
    mesh.stop().await.unwrap();
}

/// Data keys unwrapped with the roles' own sessions under `AUTH=true`: the
/// orders saga's role, a subscriber of customer-credit that is granted none
/// of its PII, is refused by KMS; the customers credit handler's role, a
/// granted reader of order-events, unwraps that product's key.
async fn a_subscriber_not_granted_the_pii_is_refused_its_data_key_by_kms(
    mesh: &TestMesh,
    searched: &[(String, String)],
) {
    if !mesh.emulator.is_embedded() {
        return eprintln!("AWS_ENDPOINT_URL is set: its KMS key policies are its own, nothing to check here");
    }
    let wrapped_key_on = |stream: &str| {
        let label = format!("kinesis {stream}");
        let sealed = searched
            .iter()
            .filter(|(on, _)| *on == label)
            .find_map(|(_, text)| text.split('"').find(|part| part.starts_with("s1.")).map(str::to_owned))
            .unwrap_or_else(|| panic!("a sealed value on {stream}"));
        URL_SAFE_NO_PAD.decode(sealed.split('.').nth(1).unwrap()).unwrap()
    };
    let config = mesh.emulator.sdk_config();
    let (lambda, sts) = (aws_sdk_lambda::Client::new(&config), aws_sdk_sts::Client::new(&config));
    let unwrap_as = |function: &str, wrapped: Vec<u8>, product: &'static str| {
        let (lambda, sts, config) = (lambda.clone(), sts.clone(), config.clone());
        let function = format!("{}-{function}", mesh.mesh.prefix());
        async move {
            let role = lambda.get_function_configuration().function_name(&function).send().await.unwrap();
            let session = sts.assume_role().role_arn(role.role().unwrap()).role_session_name(&function).send();
            let credentials = session.await.unwrap().credentials.unwrap();
            let credentials = aws_sdk_kms::config::Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key(),
                Some(credentials.session_token().to_owned()),
                None,
                "the role's session",
            );
            let kms = aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(&config).credentials_provider(credentials).build(),
            );
            kms.decrypt()
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped))
                .encryption_context(CONTEXT_KEY, product)
                .send()
                .await
        }
    };
    let credit_key = wrapped_key_on(&mesh.endpoints.customers_stream);
    let refused = unwrap_as("orders-saga", credit_key, "customers/customer-credit").await.expect_err("not granted");
    assert!(format!("{refused:?}").contains("AccessDenied"), "{refused:?}");
    let orders_key = wrapped_key_on(&mesh.endpoints.orders_stream);
    unwrap_as("customers-credit", orders_key, "orders/order-events").await.expect("a granted reader unwraps it");
}

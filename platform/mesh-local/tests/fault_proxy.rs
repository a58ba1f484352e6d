//! The fault proxy answers as AWS does when it throttles or fails, applies
//! the calls it drops, and the SDK's retries absorb what it injects.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType};
use aws_sdk_dynamodb::types::{Put, ScalarAttributeType, TransactWriteItem};
use mesh_local::faults::{Fault, FaultPlan};
use mesh_local::{Emulator, EmulatorOptions};

async fn emulator() -> Option<Emulator> {
    let options = EmulatorOptions { fault_proxy: true, ..EmulatorOptions::default() };
    let emulator = Emulator::start_with(options).await.expect("the emulator starts");
    if emulator.faults().is_none() {
        eprintln!("skipped: AWS_ENDPOINT_URL is set, so there is no fault proxy in front of the functions");
        return None;
    }
    Some(emulator)
}

/// A client that goes through the proxy, as the functions do.
fn through_proxy(emulator: &Emulator, attempts: u32) -> aws_sdk_dynamodb::Client {
    let proxy = emulator.faults().expect("a proxy").url();
    let config = aws_sdk_dynamodb::config::Builder::from(&emulator.sdk_config())
        .endpoint_url(proxy)
        .retry_config(
            RetryConfig::standard().with_max_attempts(attempts).with_initial_backoff(Duration::from_millis(20)),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

async fn table(emulator: &Emulator, name: &str) {
    aws_sdk_dynamodb::Client::new(&emulator.sdk_config())
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .expect("CreateTable");
}

async fn stored(emulator: &Emulator, table: &str, pk: &str) -> bool {
    let direct = aws_sdk_dynamodb::Client::new(&emulator.sdk_config());
    let item = direct.get_item().table_name(table).key("pk", AttributeValue::S(pk.into())).send().await.unwrap();
    item.item.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_look_like_aws_and_the_sdk_retries_absorb_them() {
    let Some(emulator) = emulator().await else { return };
    let proxy = emulator.faults().unwrap();
    table(&emulator, "faults").await;

    // A throttle, as DynamoDB sends it: nothing written.
    proxy.set_plan(FaultPlan::only(1.0, &[Fault::Throttle]));
    let once = through_proxy(&emulator, 1);
    let put = once.put_item().table_name("faults").item("pk", AttributeValue::S("throttled".into()));
    let error = put.send().await.expect_err("every call is throttled");
    assert_eq!(error.code(), Some("ProvisionedThroughputExceededException"), "{error:?}");
    assert!(!stored(&emulator, "faults", "throttled").await);

    // A 500: nothing written.
    proxy.set_plan(FaultPlan::only(1.0, &[Fault::ServerError]));
    let put = once.put_item().table_name("faults").item("pk", AttributeValue::S("failed".into()));
    let error = put.send().await.expect_err("every call fails");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(500), "{error:?}");
    assert!(!stored(&emulator, "faults", "failed").await);

    // Dropped after it was applied: the client sees a failure, the write happened.
    proxy.set_plan(FaultPlan::only(1.0, &[Fault::DroppedAfterApply]));
    let put = once.put_item().table_name("faults").item("pk", AttributeValue::S("dropped".into()));
    let error = put.send().await.expect_err("every answer is dropped");
    assert!(matches!(error, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)), "{error:?}");
    assert!(stored(&emulator, "faults", "dropped").await);

    // Half the calls faulted, every kind: with retries, every transaction
    // lands exactly once. A retried transaction whose first attempt was
    // applied succeeds on its idempotency token instead of failing its
    // condition.
    let mut plan = FaultPlan::mixed(0.5, 7);
    plan.max_delay = Duration::from_millis(200);
    proxy.set_plan(plan);
    let retrying = through_proxy(&emulator, 12);
    for n in 0..30 {
        let put = Put::builder()
            .table_name("faults")
            .item("pk", AttributeValue::S(format!("tx-{n}")))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .unwrap();
        retrying
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("transaction {n}: {e:?}"));
    }
    for n in 0..30 {
        assert!(stored(&emulator, "faults", &format!("tx-{n}")).await, "tx-{n} was lost");
    }
    let stats = proxy.stats();
    eprintln!("{stats:?}");
    for kind in Fault::ALL {
        assert!(stats.faults.get(&kind).copied().unwrap_or(0) > 0, "no {kind:?} was injected: {stats:?}");
    }
}

//! The embedded emulator's DynamoDB-stream mappings behave like AWS Lambda's
//! (the fix in `emulator/launch_ministack.py`): a reported
//! `batchItemFailures` record is retried from, not lost; `MaximumRetryAttempts`
//! ends the retries with an on-failure record; `BisectBatchOnFunctionError`
//! splits a failing batch until the bad record is alone.
//!
//! The function is a tiny Python `provided.al2023` bootstrap that logs the
//! records of each invocation and fails the ones whose `mode` says so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_lambda::types::{DestinationConfig, FunctionResponseType, OnFailure, Runtime};
use mesh_local::{Emulator, EmulatorOptions};

const BOOTSTRAP: &str = r#"#!/usr/bin/env python3
import json, os, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    r = urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    records = json.loads(r.read()).get("Records", [])
    names, failures, crash = [], [], False
    for rec in records:
        image = rec["dynamodb"].get("NewImage", {})
        names.append(image["pk"]["S"])
        mode = image["mode"]["S"]
        if mode == "partial":
            failures.append({"itemIdentifier": rec["dynamodb"]["SequenceNumber"]})
        crash = crash or mode == "crash"
    with open(os.environ["INVOCATION_LOG"], "a") as log:
        log.write(" ".join(names) + "\n")
    if crash:
        path, body = "error", {"errorType": "Crash", "errorMessage": "boom"}
    else:
        path, body = "response", {"batchItemFailures": failures}
    req = urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/{path}",
                                 data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(req).read()
"#;

fn bootstrap_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("bootstrap", options).expect("zip entry");
    zip.write_all(BOOTSTRAP.as_bytes()).expect("zip write");
    zip.finish().expect("zip finish").into_inner()
}

struct Scenario<'a> {
    emulator: &'a Emulator,
    failure_queue_url: &'a str,
    failure_queue_arn: &'a str,
    dir: &'a Path,
}

impl Scenario<'_> {
    /// Writes `items` (name, mode), then maps the table's stream to a new
    /// function from TRIM_HORIZON in one batch, and returns the invocation
    /// log once an on-failure record arrived and the mapping went quiet,
    /// with the `batchSize` of that record.
    async fn run(&self, name: &str, items: &[(&str, &str)], retries: i32, bisect: bool) -> (Vec<String>, u64) {
        let config = self.emulator.sdk_config();
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let lambda = aws_sdk_lambda::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let table = ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().expect("key"))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .expect("stream"),
            )
            .send()
            .await
            .expect("CreateTable");
        let stream_arn = table.table_description().and_then(|t| t.latest_stream_arn()).expect("stream arn").to_owned();
        for (pk, mode) in items {
            ddb.put_item()
                .table_name(name)
                .item("pk", AttributeValue::S((*pk).to_owned()))
                .item("mode", AttributeValue::S((*mode).to_owned()))
                .send()
                .await
                .expect("PutItem");
        }
        let log = self.dir.join(format!("{name}.log"));
        lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role("arn:aws:iam::000000000000:role/test")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(bootstrap_zip()))
                    .build(),
            )
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables("INVOCATION_LOG", log.to_string_lossy())
                    .build(),
            )
            .send()
            .await
            .expect("CreateFunction");
        lambda
            .create_event_source_mapping()
            .function_name(name)
            .event_source_arn(stream_arn)
            .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
            .batch_size(10)
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .maximum_retry_attempts(retries)
            .bisect_batch_on_function_error(bisect)
            .destination_config(
                DestinationConfig::builder()
                    .on_failure(OnFailure::builder().destination(self.failure_queue_arn).build())
                    .build(),
            )
            .send()
            .await
            .expect("CreateEventSourceMapping");

        let deadline = Instant::now() + Duration::from_secs(30);
        let batch_size = loop {
            let received = sqs
                .receive_message()
                .queue_url(self.failure_queue_url)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            if let Some(message) = received.messages().first() {
                sqs.delete_message()
                    .queue_url(self.failure_queue_url)
                    .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                    .send()
                    .await
                    .expect("DeleteMessage");
                let record: serde_json::Value =
                    serde_json::from_str(message.body().unwrap_or_default()).expect("on-failure record is JSON");
                assert_eq!(record["requestContext"]["condition"], "RetryAttemptsExhausted", "{record}");
                break record["DDBStreamBatchInfo"]["batchSize"].as_u64().expect("batchSize");
            }
            assert!(Instant::now() < deadline, "{name}: no on-failure record; invocations: {:?}", read_log(&log));
        };
        // What follows the give-up (the rest of the stream) and then nothing.
        tokio::time::sleep(Duration::from_secs(3)).await;
        (read_log(&log), batch_size)
    }
}

fn read_log(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mappings_retry_from_the_failed_record_bisect_and_give_up_like_aws() {
    // The test's own function has no role of a stack: IAM is not what is checked.
    let emulator = Emulator::start_with(EmulatorOptions { iam_enforcement: false, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts");
    if !emulator.is_embedded() {
        eprintln!("AWS_ENDPOINT_URL is set: the poller fix is the embedded emulator's, nothing to check");
        return;
    }
    let sqs = aws_sdk_sqs::Client::new(&emulator.sdk_config());
    let queue = sqs.create_queue().queue_name("stream-failures").send().await.expect("CreateQueue");
    let url = queue.queue_url().expect("queue url").to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue arn")
        .to_owned();
    let dir = std::env::temp_dir().join(format!("mesh-local-pollers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = Scenario { emulator: &emulator, failure_queue_url: &url, failure_queue_arn: &arn, dir: &dir };

    // b is reported failed: retried from b (with c), twice, then given up.
    let (log, batch) = scenario.run("partial", &[("a", "ok"), ("b", "partial"), ("c", "ok")], 2, false).await;
    assert_eq!(log, ["a b c", "b c", "b c"]);
    assert_eq!(batch, 2);

    // x3 crashes the function: halves until x3 is alone, one retry, given up, x4 goes on.
    let items = [("x1", "ok"), ("x2", "ok"), ("x3", "crash"), ("x4", "ok")];
    let (log, batch) = scenario.run("bisect", &items, 1, true).await;
    assert_eq!(log, ["x1 x2 x3 x4", "x1 x2", "x3 x4", "x3", "x3", "x4"]);
    assert_eq!(batch, 1);

    std::fs::remove_dir_all(&dir).expect("temp dir removed");
}

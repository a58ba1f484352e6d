//! The mapping driver settles batches by Lambda's rules, end to end: each
//! test creates its table or queue and a disabled mapping with the SDK,
//! plays the mapping with the `scripted_function` example (records script
//! its answers; it logs every batch it is handed), and checks the exact
//! batches, what was deleted, retried, bisected, given up or filtered out.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_lambda::operation::create_event_source_mapping::builders::CreateEventSourceMappingFluentBuilder;
use aws_sdk_lambda::types::{
    DestinationConfig, Environment, EventSourcePosition, Filter, FilterCriteria, FunctionCode, FunctionResponseType,
    OnFailure, Runtime,
};
use aws_sdk_sqs::types::QueueAttributeName;
use mesh_local::lambda::driver::{Played, PlayedStream, QueueMapping, StreamMapping, StreamPlayer, play_queue_once};
use mesh_local::lambda::runtime_api::LocalFunction;
use mesh_local::{Emulator, EmulatorOptions, workspace_root};
use serde_json::{Value, json};

/// Rounds a test plays before it calls the mapping stuck.
const MAX_ROUNDS: usize = 40;

/// One test's emulator, clients and uniquely named resources.
struct Fixture {
    /// Kept alive for the test: dropping it stops an embedded emulator.
    _emulator: Emulator,
    /// The table, queue, function and log name prefix of this test.
    name: String,
    /// Where the function logs the batches it is handed.
    log: PathBuf,
    ddb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    lambda: aws_sdk_lambda::Client,
    config: aws_config::SdkConfig,
}

#[derive(Debug)]
struct Queue {
    url: String,
    arn: String,
}

impl Fixture {
    async fn start(test: &str) -> Self {
        // The test's own function has no role of a stack (its mapping is
        // played here, not by the endpoint): IAM is not what is checked.
        let emulator = Emulator::start_with(EmulatorOptions { iam_enforcement: false, ..EmulatorOptions::default() })
            .await
            .unwrap();
        let config = emulator.sdk_config();
        let name = format!("{test}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let log = std::env::temp_dir().join(format!("mesh-driver-{name}.log"));
        Self {
            _emulator: emulator,
            ddb: aws_sdk_dynamodb::Client::new(&config),
            streams: aws_sdk_dynamodbstreams::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            config,
            name,
            log,
        }
    }

    /// A table keyed by `pk` with a NEW_AND_OLD_IMAGES stream; its stream ARN.
    async fn stream_table(&self) -> String {
        let created = self
            .ddb
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let stream = created.table_description().and_then(|t| t.latest_stream_arn()).unwrap().to_owned();
        // LocalStack backs a table's stream with a kinesis-mock stream that
        // takes about half a second to create: records written before it
        // is there are lost. Wait until the stream lists its shard.
        for _ in 0..100 {
            let described = self.streams.describe_stream().stream_arn(&stream).send().await.unwrap();
            let description = described.stream_description().unwrap();
            let enabled = description.stream_status().is_some_and(|s| s.as_str() == "ENABLED");
            if enabled && !description.shards().is_empty() {
                return stream;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("stream {stream} lists no shard after 10 s");
    }

    /// Writes one item of string attributes (`pk` first).
    async fn put(&self, attributes: &[(&str, &str)]) {
        let item = attributes.iter().map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned()))).collect();
        self.ddb.put_item().table_name(&self.name).set_item(Some(item)).send().await.unwrap();
    }

    async fn queue(&self, suffix: &str, attributes: &[(QueueAttributeName, String)]) -> Queue {
        let created = self
            .sqs
            .create_queue()
            .queue_name(format!("{}-{suffix}", self.name))
            .set_attributes(Some(attributes.iter().cloned().collect()))
            .send()
            .await
            .unwrap();
        let url = created.queue_url().unwrap().to_owned();
        let read =
            self.sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await;
        let arn = read.unwrap().attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
        Queue { url, arn }
    }

    async fn send(&self, queue: &Queue, body: Value) {
        self.sqs.send_message().queue_url(&queue.url).message_body(body.to_string()).send().await.unwrap();
    }

    /// Messages in `queue`, visible or in flight.
    async fn messages_in(&self, queue: &Queue) -> usize {
        let read = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        read.attributes().unwrap().values().map(|n| n.parse::<usize>().unwrap()).sum()
    }

    /// The `scripted_function` deployed as a `provided.al2023` function; its
    /// ARN. The endpoint must never run it (its mapping stays disabled), and
    /// if it did, its invocations would land in the same log and break the
    /// exact batches the tests expect.
    async fn function(&self) -> String {
        let environment = Environment::builder().variables("INVOCATION_LOG", self.log.to_string_lossy()).build();
        let created = self
            .lambda
            .create_function()
            .function_name(&self.name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role("arn:aws:iam::000000000000:role/test")
            .code(FunctionCode::builder().zip_file(bootstrap_zip(&scripted_function()).into()).build())
            .environment(environment)
            .send()
            .await
            .unwrap();
        created.function_arn().unwrap().to_owned()
    }

    /// A mapping of `source` to this test's function, created disabled so
    /// that only the driver plays it.
    fn mapping_of(&self, source: &str) -> CreateEventSourceMappingFluentBuilder {
        self.lambda.create_event_source_mapping().function_name(&self.name).event_source_arn(source).enabled(false)
    }

    /// Creates the mapping and checks the endpoint keeps it disabled; its UUID.
    async fn create(&self, mapping: CreateEventSourceMappingFluentBuilder) -> String {
        let uuid = mapping.send().await.unwrap().uuid().unwrap().to_owned();
        let read = self.lambda.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
        assert_eq!(read.state(), Some("Disabled"), "the endpoint must not play the mapping itself");
        uuid
    }

    /// The function's binary on this machine, with the environment the
    /// endpoint holds for it.
    async fn spawn(&self, function_arn: &str) -> LocalFunction {
        let configuration = self.lambda.get_function_configuration().function_name(&self.name).send().await.unwrap();
        let environment: Vec<(String, String)> =
            configuration.environment().and_then(|e| e.variables()).cloned().unwrap_or_default().into_iter().collect();
        LocalFunction::spawn(&scripted_function(), function_arn, &environment, Duration::from_secs(10)).await.unwrap()
    }

    async fn stream_player(&self, uuid: &str) -> StreamPlayer {
        let mapping = StreamMapping::read(&self.lambda, &self.sqs, uuid).await.unwrap();
        StreamPlayer::new(mapping, &self.config)
    }

    /// Each invocation's batch as `(pk, itemIdentifier)` pairs, in order.
    fn invocations(&self) -> Vec<Vec<(String, String)>> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// Each invocation's batch as record names.
    fn batches(&self) -> Vec<Vec<String>> {
        self.invocations().into_iter().map(|batch| batch.into_iter().map(|(pk, _)| pk).collect()).collect()
    }

    /// The `itemIdentifier` (sequence number, message id) the function saw for `pk`.
    fn identifier_of(&self, pk: &str) -> String {
        let seen = self.invocations().into_iter().flatten().find(|(name, _)| name == pk);
        seen.unwrap_or_else(|| panic!("{pk} was never delivered")).1
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // The log is scratch; a missing one (nothing delivered) is fine.
        std::fs::remove_file(&self.log).ok();
    }
}

/// `<target>/<profile>/examples/scripted_function`. A workspace test run
/// has just built it; a run of this test alone (`--test driver_semantics`)
/// does not build examples, so a missing or older binary is built here
/// (in a workspace run, a nested `cargo build -p mesh-local` would rebuild
/// the crate's dependencies with other features: minutes).
fn scripted_function() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let profile_dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_owned();
            let binary = profile_dir.join("examples").join("scripted_function");
            let source = workspace_root().unwrap().join("platform/mesh-local/examples/scripted_function.rs");
            let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified(&binary).is_some_and(|built| modified(&source).is_some_and(|edited| built >= edited)) {
                return binary;
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut build = std::process::Command::new(cargo);
            build.current_dir(workspace_root().unwrap()).args([
                "build",
                "-p",
                "mesh-local",
                "--example",
                "scripted_function",
            ]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            assert!(build.status().unwrap().success(), "building the scripted_function example failed");
            binary
        })
        .clone()
}

/// A Lambda zip holding `binary` as an executable `bootstrap`.
fn bootstrap_zip(binary: &Path) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(&std::fs::read(binary).unwrap()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// Plays rounds until one finds nothing left to do after the function was
/// invoked; what all the rounds did.
async fn play_stream(player: &mut StreamPlayer, function: &LocalFunction) -> PlayedStream {
    let mut total = PlayedStream::default();
    for _ in 0..MAX_ROUNDS {
        let played = player.play_once(function).await.unwrap();
        if played.is_idle() {
            if !total.invocations.is_empty() {
                return total;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        total.read += played.read;
        total.filtered_out += played.filtered_out;
        total.invocations.extend(played.invocations);
        total.given_up += played.given_up;
        total.on_failure.extend(played.on_failure);
        total.errors.extend(played.errors);
    }
    panic!("the stream mapping still had work after {MAX_ROUNDS} rounds: {total:?}");
}

/// Polls the queue until a poll receives something (the visibility timeout
/// returns a message only after a while); what that poll did.
async fn play_queue_until_received(
    sqs: &aws_sdk_sqs::Client,
    mapping: &QueueMapping,
    function: &LocalFunction,
) -> Played {
    for _ in 0..MAX_ROUNDS {
        let played = play_queue_once(sqs, mapping, function).await.unwrap();
        if played.received > 0 {
            return played;
        }
    }
    panic!("nothing received from {} in {MAX_ROUNDS} polls", mapping.queue_url);
}

fn names(batches: &[&[&str]]) -> Vec<Vec<String>> {
    batches.iter().map(|batch| batch.iter().map(|pk| (*pk).to_owned()).collect()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_batch_with_an_item_failure_is_retried_from_the_first_failed_record() {
    let fixture = Fixture::start("retry").await;
    let stream = fixture.stream_table().await;
    for pk in ["r1", "r2", "r3", "r4", "r5"] {
        let fail = if pk == "r3" { "item-once" } else { "none" };
        fixture.put(&[("pk", pk), ("fail", fail)]).await;
    }
    let function_arn = fixture.function().await;
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&stream)
                .starting_position(EventSourcePosition::TrimHorizon)
                .batch_size(10)
                .maximum_retry_attempts(2)
                .function_response_types(FunctionResponseType::ReportBatchItemFailures),
        )
        .await;
    let mut player = fixture.stream_player(&uuid).await;
    let function = fixture.spawn(&function_arn).await;

    let played = play_stream(&mut player, &function).await;

    // r1 and r2 are checkpointed; the retry starts at r3, not at r1.
    assert_eq!(fixture.batches(), names(&[&["r1", "r2", "r3", "r4", "r5"], &["r3", "r4", "r5"]]));
    assert_eq!(played.invocations, [5, 3]);
    assert_eq!((played.read, played.given_up, played.errors.len()), (5, 0, 0));
    assert!(played.on_failure.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_batch_returns_only_the_failed_messages() {
    let fixture = Fixture::start("returns").await;
    let dlq = fixture.queue("dlq", &[]).await;
    let redrive = json!({ "deadLetterTargetArn": dlq.arn, "maxReceiveCount": 2 }).to_string();
    let queue = fixture
        .queue(
            "in",
            &[(QueueAttributeName::VisibilityTimeout, "1".into()), (QueueAttributeName::RedrivePolicy, redrive)],
        )
        .await;
    fixture.send(&queue, json!({ "pk": "m1" })).await;
    fixture.send(&queue, json!({ "pk": "m2", "fail": "item" })).await;
    fixture.send(&queue, json!({ "pk": "m3" })).await;
    let function_arn = fixture.function().await;
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&queue.arn)
                .batch_size(10)
                .function_response_types(FunctionResponseType::ReportBatchItemFailures),
        )
        .await;
    let mapping = QueueMapping::read(&fixture.lambda, &fixture.sqs, &uuid).await.unwrap();
    let function = fixture.spawn(&function_arn).await;

    let first = play_queue_until_received(&fixture.sqs, &mapping, &function).await;
    assert_eq!(first, Played { received: 3, deleted: 2, returned: 1, ..Played::default() });
    // Back after the visibility timeout, the same message (same id).
    let second = play_queue_until_received(&fixture.sqs, &mapping, &function).await;
    assert_eq!(second, Played { received: 1, returned: 1, ..Played::default() });
    let m2 = fixture.identifier_of("m2");
    assert_eq!(fixture.invocations()[1], [("m2".to_owned(), m2.clone())]);
    assert_eq!(fixture.batches(), names(&[&["m1", "m2", "m3"], &["m2"]]));

    // Its second receive was its last (maxReceiveCount 2): SQS's redrive
    // parks it in the DLQ instead of handing it over a third time.
    let mut parked = None;
    for _ in 0..MAX_ROUNDS {
        let played = play_queue_once(&fixture.sqs, &mapping, &function).await.unwrap();
        assert_eq!(played, Played::default(), "m2 was handed over a third time");
        let received = fixture.sqs.receive_message().queue_url(&dlq.url).send().await.unwrap();
        if let Some(message) = received.messages().first() {
            parked = Some((message.message_id().unwrap().to_owned(), message.body().unwrap().to_owned()));
            break;
        }
    }
    let (parked_id, parked_body) = parked.expect("m2 reached the DLQ");
    assert_eq!(parked_id, m2);
    assert_eq!(serde_json::from_str::<Value>(&parked_body).unwrap()["pk"], "m2");
    assert_eq!(fixture.batches().len(), 2);
    assert_eq!(fixture.messages_in(&queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_bisects_the_batch() {
    let fixture = Fixture::start("bisect").await;
    let stream = fixture.stream_table().await;
    for pk in ["b1", "b2", "b3", "b4"] {
        let fail = if pk == "b4" { "error" } else { "none" };
        fixture.put(&[("pk", pk), ("fail", fail)]).await;
    }
    let function_arn = fixture.function().await;
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&stream)
                .starting_position(EventSourcePosition::TrimHorizon)
                .batch_size(4)
                .bisect_batch_on_function_error(true)
                .maximum_retry_attempts(1)
                .function_response_types(FunctionResponseType::ReportBatchItemFailures),
        )
        .await;
    let mut player = fixture.stream_player(&uuid).await;
    let function = fixture.spawn(&function_arn).await;

    let played = play_stream(&mut player, &function).await;

    // Halved on each error until b4 is alone; a half that succeeds is
    // checkpointed and resets the retry count. Alone, b4 gets its one retry
    // and is given up.
    let expected = names(&[&["b1", "b2", "b3", "b4"], &["b1", "b2"], &["b3", "b4"], &["b3"], &["b4"], &["b4"]]);
    assert_eq!(fixture.batches(), expected);
    assert_eq!(played.invocations, [4, 2, 2, 1, 1, 1]);
    assert_eq!((played.errors.len(), played.given_up, played.on_failure.len()), (4, 1, 1));
    let record = &played.on_failure[0];
    let b4 = fixture.identifier_of("b4");
    assert_eq!(record["DDBStreamBatchInfo"]["startSequenceNumber"], b4.as_str());
    assert_eq!(record["DDBStreamBatchInfo"]["endSequenceNumber"], b4.as_str());
    assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 1);
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_send_the_batch_coordinates_to_the_on_failure_queue() {
    let fixture = Fixture::start("onfailure").await;
    let stream = fixture.stream_table().await;
    let on_failure = fixture.queue("onfailure", &[]).await;
    for pk in ["f1", "f2", "f3"] {
        let fail = if pk == "f1" { "error" } else { "none" };
        fixture.put(&[("pk", pk), ("fail", fail)]).await;
    }
    let function_arn = fixture.function().await;
    let destination =
        DestinationConfig::builder().on_failure(OnFailure::builder().destination(&on_failure.arn).build()).build();
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&stream)
                .starting_position(EventSourcePosition::TrimHorizon)
                .batch_size(2)
                .maximum_retry_attempts(1)
                .destination_config(destination),
        )
        .await;
    let mut player = fixture.stream_player(&uuid).await;
    let function = fixture.spawn(&function_arn).await;

    let played = play_stream(&mut player, &function).await;

    // The first invocation and its one retry, then the shard moves on.
    assert_eq!(fixture.batches(), names(&[&["f1", "f2"], &["f1", "f2"], &["f3"]]));
    assert_eq!((played.invocations.clone(), played.given_up), (vec![2, 2, 1], 2));
    let received =
        fixture.sqs.receive_message().queue_url(&on_failure.url).max_number_of_messages(10).send().await.unwrap();
    let [message] = received.messages() else { panic!("expected one on-failure message: {received:?}") };
    let record: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(played.on_failure, std::slice::from_ref(&record));
    let batch = &record["DDBStreamBatchInfo"];
    let described = fixture.streams.describe_stream().stream_arn(&stream).send().await.unwrap();
    let shards: Vec<&str> =
        described.stream_description().unwrap().shards().iter().filter_map(|s| s.shard_id()).collect();
    assert!(shards.contains(&batch["shardId"].as_str().unwrap()), "{batch} names no shard of {shards:?}");
    assert_eq!(batch["startSequenceNumber"], fixture.identifier_of("f1").as_str());
    assert_eq!(batch["endSequenceNumber"], fixture.identifier_of("f2").as_str());
    assert_eq!(batch["batchSize"], 2);
    assert_eq!(batch["streamArn"], stream.as_str());
    assert_eq!(record["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(record["requestContext"]["functionArn"], function_arn.as_str());
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_criteria_drop_records_that_match_no_filter() {
    let fixture = Fixture::start("filter").await;
    let stream = fixture.stream_table().await;
    fixture.put(&[("pk", "k1"), ("kind", "keep")]).await;
    fixture.put(&[("pk", "k2"), ("kind", "drop")]).await;
    fixture.put(&[("pk", "k3"), ("kind", "keep")]).await;
    fixture.put(&[("pk", "k4")]).await;
    let function_arn = fixture.function().await;
    let pattern = json!({ "dynamodb": { "NewImage": { "kind": { "S": ["keep"] } } } }).to_string();
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&stream)
                .starting_position(EventSourcePosition::TrimHorizon)
                .batch_size(10)
                .filter_criteria(FilterCriteria::builder().filters(Filter::builder().pattern(pattern).build()).build()),
        )
        .await;
    let mut player = fixture.stream_player(&uuid).await;
    let function = fixture.spawn(&function_arn).await;

    let played = play_stream(&mut player, &function).await;

    assert_eq!(fixture.batches(), names(&[&["k1", "k3"]]));
    assert_eq!((played.read, played.filtered_out, played.invocations), (4, 2, vec![2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_criteria_delete_queue_messages_that_match_no_filter() {
    let fixture = Fixture::start("qfilter").await;
    let queue = fixture.queue("in", &[(QueueAttributeName::VisibilityTimeout, "1".into())]).await;
    fixture.send(&queue, json!({ "pk": "q1", "kind": "keep" })).await;
    fixture.send(&queue, json!({ "pk": "q2", "kind": "drop" })).await;
    fixture.send(&queue, json!({ "pk": "q3", "kind": "keep" })).await;
    let function_arn = fixture.function().await;
    let pattern = json!({ "body": { "kind": ["keep"] } }).to_string();
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&queue.arn)
                .batch_size(10)
                .filter_criteria(FilterCriteria::builder().filters(Filter::builder().pattern(pattern).build()).build()),
        )
        .await;
    let mapping = QueueMapping::read(&fixture.lambda, &fixture.sqs, &uuid).await.unwrap();
    let function = fixture.spawn(&function_arn).await;

    let played = play_queue_until_received(&fixture.sqs, &mapping, &function).await;

    assert_eq!(played, Played { received: 3, filtered_out: 1, deleted: 2, ..Played::default() });
    assert_eq!(fixture.batches(), names(&[&["q1", "q3"]]));
    // The filtered-out message is deleted too, not left to come back.
    assert_eq!(fixture.messages_in(&queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_batch_is_filtered_on_its_data_and_retried_from_the_first_failed_record() {
    let fixture = Fixture::start("kinesis").await;
    let kinesis = aws_sdk_kinesis::Client::new(&fixture.config);
    kinesis.create_stream().stream_name(&fixture.name).shard_count(1).send().await.unwrap();
    let mut stream = None;
    for _ in 0..100 {
        let summary = kinesis.describe_stream_summary().stream_name(&fixture.name).send().await.unwrap();
        let summary = summary.stream_description_summary().unwrap();
        if summary.stream_status().as_str() == "ACTIVE" {
            stream = Some(summary.stream_arn().to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stream = stream.expect("the stream became active");
    for (pk, kind, fail) in
        [("k1", "keep", "none"), ("k2", "drop", "none"), ("k3", "keep", "item-once"), ("k4", "keep", "none")]
    {
        let data = json!({ "pk": pk, "kind": kind, "fail": fail }).to_string();
        kinesis
            .put_record()
            .stream_arn(&stream)
            .partition_key("one-shard")
            .data(aws_sdk_kinesis::primitives::Blob::new(data))
            .send()
            .await
            .unwrap();
    }
    let function_arn = fixture.function().await;
    let filter = Filter::builder().pattern(json!({ "data": { "kind": ["keep"] } }).to_string()).build();
    let uuid = fixture
        .create(
            fixture
                .mapping_of(&stream)
                .starting_position(EventSourcePosition::TrimHorizon)
                .batch_size(10)
                .maximum_retry_attempts(2)
                .function_response_types(FunctionResponseType::ReportBatchItemFailures)
                .filter_criteria(FilterCriteria::builder().filters(filter).build()),
        )
        .await;
    let mut player = fixture.stream_player(&uuid).await;
    let function = fixture.spawn(&function_arn).await;

    let played = play_stream(&mut player, &function).await;

    // k2 never reaches the function; the retry starts at k3.
    assert_eq!(fixture.batches(), names(&[&["k1", "k3", "k4"], &["k3", "k4"]]));
    assert_eq!((played.read, played.filtered_out, played.invocations.clone()), (4, 1, vec![3, 2]));
    assert_eq!((played.given_up, played.errors.len()), (0, 0));
}

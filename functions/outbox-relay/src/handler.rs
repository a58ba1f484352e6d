//! A DynamoDB Streams batch in, `batchItemFailures` naming the first record
//! that did not reach every port out.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use mesh::env;
use mesh::relay::{Port, relay};
use mesh_aws::ports::{KinesisLog, SnsTopic};
use mesh_aws::{ConfigError, config, metrics, stream_batch};

pub struct Deps<L, T> {
    pub log: L,
    pub topic: T,
    /// `DOMAIN` and `PRODUCT`: the dimensions of the outbox age metric.
    pub domain: String,
    pub product: String,
}

impl Deps<KinesisLog, SnsTopic> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let topic_arn = config::required(env::TOPIC_ARN)?;
        let stream_name = config::required(env::STREAM_NAME)?;
        let sdk = config::sdk_config().await;
        let mut topic = SnsTopic::new(aws_sdk_sns::Client::new(&sdk), topic_arn);
        // Set when a subscriber takes the product in strict order.
        if let Some(ordered) = config::optional(env::ORDERED_TOPIC_ARN) {
            topic = topic.with_ordered_topic(ordered);
        }
        Ok(Self {
            log: KinesisLog::new(aws_sdk_kinesis::Client::new(&sdk), stream_name),
            topic,
            domain: config::required(env::DOMAIN)?,
            product: config::required(env::PRODUCT)?,
        })
    }
}

pub async fn handle<L: Port, T: Port>(deps: &Deps<L, T>, event: Event) -> DynamoDbEventResponse {
    let records = stream_batch::stream_records(&event);
    let report = relay(&records, &deps.log, &deps.topic).await;
    match &report.first_failure {
        Some(failure) => tracing::warn!(
            published = report.published,
            retry_from = %failure.record_id,
            reason = %failure.reason,
            "relay stopped; the stream retries from the failed record"
        ),
        None => tracing::info!(published = report.published, ignored = report.ignored, "batch relayed"),
    }
    // The alarm on this metric is the product's freshness promise.
    let oldest = event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .map(|r| r.change.approximate_creation_date_time)
        .min();
    if let Some(line) = metrics::outbox_event_age(&deps.domain, &deps.product, oldest, chrono::Utc::now()) {
        println!("{line}");
    }
    stream_batch::batch_response(&report)
}

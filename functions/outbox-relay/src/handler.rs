//! A DynamoDB Streams batch in, `batchItemFailures` naming the first record
//! that did not reach every port out.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use mesh::deadline::parse_rules;
use mesh::env;
use mesh::relay::{Port, relay};
use mesh_aws::ports::{DeadlineScheduler, KinesisLog, SnsTopic};
use mesh_aws::{ConfigError, config, metrics, stream_batch};

pub struct Deps<L, T, D> {
    pub log: L,
    pub topic: T,
    /// The saga deadlines the events start (none unless `DEADLINES` is set).
    pub deadlines: D,
    /// `DOMAIN` and `PRODUCT`: the dimensions of the outbox age metric.
    pub domain: String,
    pub product: String,
}

impl Deps<KinesisLog, SnsTopic, DeadlineScheduler> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let topic_arn = config::required(env::TOPIC_ARN)?;
        let stream_name = config::required(env::STREAM_NAME)?;
        let sdk = config::sdk_config().await;
        let mut topic = SnsTopic::new(aws_sdk_sns::Client::new(&sdk), topic_arn);
        // Set when a subscriber takes the product in strict order.
        if let Some(ordered) = config::optional(env::ORDERED_TOPIC_ARN) {
            topic = topic.with_ordered_topic(ordered);
        }
        let rules = config::parsed(
            env::DEADLINES,
            parse_rules,
            "expected a JSON list of {step, starts_with, timeout_seconds, queue, dead_letters}",
        )?;
        let (group, role) = if rules.is_empty() {
            (String::new(), String::new())
        } else {
            (config::required(env::SCHEDULE_GROUP)?, config::required(env::SCHEDULER_ROLE_ARN)?)
        };
        Ok(Self {
            log: KinesisLog::new(aws_sdk_kinesis::Client::new(&sdk), stream_name),
            topic,
            deadlines: DeadlineScheduler::new(aws_sdk_scheduler::Client::new(&sdk), group, role, rules),
            domain: config::required(env::DOMAIN)?,
            product: config::required(env::PRODUCT)?,
        })
    }
}

pub async fn handle<L: Port, T: Port, D: Port>(deps: &Deps<L, T, D>, event: Event) -> DynamoDbEventResponse {
    let records = stream_batch::stream_records(&event);
    let report = relay(&records, &deps.log, &deps.topic, &deps.deadlines).await;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use mesh::outbox::OutboxItem;
    use mesh::relay::PublishError;

    use super::*;

    /// A port that keeps the event ids it accepted and refuses one of them.
    #[derive(Debug, Default)]
    struct FakePort {
        refuse: Option<&'static str>,
        accepted: Mutex<Vec<String>>,
    }

    impl FakePort {
        fn refusing(event_id: &'static str) -> Self {
            Self { refuse: Some(event_id), ..Self::default() }
        }

        fn accepted(&self) -> Vec<String> {
            self.accepted.lock().unwrap().clone()
        }
    }

    impl Port for FakePort {
        fn name(&self) -> &str {
            "fake"
        }

        fn max_batch(&self) -> usize {
            10
        }

        fn max_batch_bytes(&self) -> usize {
            256 * 1024
        }

        async fn send(&self, items: &[&OutboxItem]) -> Vec<Result<(), PublishError>> {
            let mut accepted = self.accepted.lock().unwrap();
            items
                .iter()
                .map(|item| {
                    if self.refuse == Some(item.event_id.as_str()) {
                        return Err(PublishError::refused("throttled"));
                    }
                    accepted.push(item.event_id.clone());
                    Ok(())
                })
                .collect()
        }
    }

    /// The orders outbox's stream: A placed, B placed, an expired item
    /// removed by TTL (the trigger's filter drops those; the relay must too),
    /// A approved.
    fn recorded_event() -> Event {
        serde_json::from_str(include_str!("../fixtures/dynamodb-outbox-stream.json")).unwrap()
    }

    const A_PLACED: &str = "0194a6c2-5f20-7aa0-8b1e-1a2b3c4d5e6f";
    const B_PLACED: &str = "0194a6c2-6a10-7aa0-8b1e-1a2b3c4d5e72";
    const A_APPROVED: &str = "0194a6c2-5f40-7aa0-8b1e-1a2b3c4d5e71";

    fn deps(log: FakePort, topic: FakePort) -> Deps<FakePort, FakePort, FakePort> {
        Deps { log, topic, deadlines: FakePort::default(), domain: "orders".into(), product: "order-events".into() }
    }

    fn failed_records(response: &DynamoDbEventResponse) -> Vec<&str> {
        response.batch_item_failures.iter().filter_map(|f| f.item_identifier.as_deref()).collect()
    }

    #[tokio::test]
    async fn publishes_every_outbox_insert_in_order_to_the_log_and_the_topic() {
        let deps = deps(FakePort::default(), FakePort::default());

        let response = handle(&deps, recorded_event()).await;

        assert!(failed_records(&response).is_empty(), "{response:?}");
        assert_eq!(deps.log.accepted(), [A_PLACED, B_PLACED, A_APPROVED]);
        assert_eq!(deps.topic.accepted(), [A_PLACED, B_PLACED, A_APPROVED], "the removal is not an event");
    }

    #[tokio::test]
    async fn a_refusing_topic_names_the_first_record_it_refused_for_the_stream_to_retry_from() {
        let deps = deps(FakePort::default(), FakePort::refusing(B_PLACED));

        let response = handle(&deps, recorded_event()).await;

        assert_eq!(failed_records(&response), ["100000000004213871702"], "B placed's sequence number");
        assert_eq!(deps.topic.accepted(), [A_PLACED], "nothing after the refused record");
        let answer = serde_json::to_value(&response).unwrap();
        assert_eq!(answer, serde_json::json!({"batchItemFailures": [{"itemIdentifier": "100000000004213871702"}]}));
    }

    #[tokio::test]
    async fn a_refusing_log_names_its_record_and_the_topic_gets_only_what_the_log_took() {
        let deps = deps(FakePort::refusing(A_APPROVED), FakePort::default());

        let response = handle(&deps, recorded_event()).await;

        assert_eq!(failed_records(&response), ["100000000004213871704"], "A approved's sequence number");
        assert_eq!(deps.log.accepted(), [A_PLACED, B_PLACED]);
        assert_eq!(deps.topic.accepted(), [A_PLACED, B_PLACED]);
    }
}

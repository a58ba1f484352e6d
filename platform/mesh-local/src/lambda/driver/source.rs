//! The two kinds of stream a mapping reads, behind one reader: a DynamoDB
//! stream or a Kinesis stream, their shards, iterators and pages, and each
//! record as Lambda puts it in the event (`aws_lambda_events`).

use crate::lambda::event_source_mapping::stream::{ShardRecord, StreamKind};
use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use aws_lambda_events::event::kinesis::{KinesisEncryptionType, KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_sdk_dynamodbstreams::types::ShardIteratorType as DynamoDbPosition;
use aws_sdk_kinesis::types::ShardIteratorType as KinesisPosition;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::HarnessError;

/// Where a shard is read from when the mapping starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    TrimHorizon,
    Latest,
}

/// A record as Lambda hands it over.
#[derive(Debug, Clone)]
pub(super) enum Delivered {
    DynamoDb(EventRecord),
    Kinesis(KinesisEventRecord),
}

impl ShardRecord for Delivered {
    fn sequence_number(&self) -> &str {
        match self {
            Self::DynamoDb(record) => record.change.sequence_number.as_deref().unwrap_or_default(),
            Self::Kinesis(record) => &record.kinesis.sequence_number,
        }
    }

    fn arrival(&self) -> DateTime<Utc> {
        match self {
            Self::DynamoDb(record) => record.change.approximate_creation_date_time,
            Self::Kinesis(record) => record.kinesis.approximate_arrival_timestamp.0,
        }
    }
}

impl Delivered {
    /// What filter criteria are matched against: the record, and for
    /// Kinesis its `kinesis` part with `data` decoded when it is JSON.
    pub(super) fn filter_view(&self) -> Result<Value, HarnessError> {
        let failed = |e: serde_json::Error| HarnessError::Driver(format!("serializing a stream record: {e}"));
        match self {
            Self::DynamoDb(record) => serde_json::to_value(record).map_err(failed),
            Self::Kinesis(record) => {
                let mut view = serde_json::to_value(&record.kinesis).map_err(failed)?;
                if let Ok(data) = serde_json::from_slice::<Value>(&record.kinesis.data.0) {
                    view["data"] = data;
                }
                Ok(view)
            }
        }
    }
}

/// The event one invocation hands over, as JSON: a DynamoDB `Event` or a
/// `KinesisEvent` (a batch comes from one stream, so never both).
pub(super) fn event(records: Vec<Delivered>) -> Result<Value, HarnessError> {
    let (mut dynamodb, mut kinesis) = (Event::default(), KinesisEvent::default());
    for record in records {
        match record {
            Delivered::DynamoDb(record) => dynamodb.records.push(record),
            Delivered::Kinesis(record) => kinesis.records.push(record),
        }
    }
    let event =
        if kinesis.records.is_empty() { serde_json::to_value(&dynamodb) } else { serde_json::to_value(&kinesis) };
    event.map_err(|e| HarnessError::Driver(format!("serializing an event: {e}")))
}

/// A stream's API.
#[derive(Debug, Clone)]
pub(super) enum Reader {
    DynamoDb(aws_sdk_dynamodbstreams::Client),
    Kinesis(aws_sdk_kinesis::Client),
}

/// One page of a shard.
pub(super) struct Page {
    pub records: Vec<Delivered>,
    /// `None`: the shard is closed and read to its end.
    pub next: Option<String>,
}

impl Reader {
    pub(super) fn kind(&self) -> StreamKind {
        match self {
            Self::DynamoDb(_) => StreamKind::DynamoDb,
            Self::Kinesis(_) => StreamKind::Kinesis,
        }
    }

    /// `(shard, parent)` of every shard of the stream.
    pub(super) async fn shards(&self, arn: &str) -> Result<Vec<(String, Option<String>)>, HarnessError> {
        let mut shards = Vec::new();
        match self {
            Self::DynamoDb(client) => {
                let mut start: Option<String> = None;
                loop {
                    let described = client
                        .describe_stream()
                        .stream_arn(arn)
                        .set_exclusive_start_shard_id(start)
                        .send()
                        .await
                        .map_err(HarnessError::aws(format!("DescribeStream {arn}")))?;
                    let Some(description) = described.stream_description() else { return Ok(shards) };
                    shards.extend(
                        description
                            .shards()
                            .iter()
                            .filter_map(|s| Some((s.shard_id()?.to_owned(), s.parent_shard_id().map(str::to_owned)))),
                    );
                    start = description.last_evaluated_shard_id().map(str::to_owned);
                    if start.is_none() {
                        return Ok(shards);
                    }
                }
            }
            Self::Kinesis(client) => {
                let mut token: Option<String> = None;
                loop {
                    // ListShards takes the stream or a token, never both.
                    let request = match &token {
                        Some(token) => client.list_shards().next_token(token),
                        None => client.list_shards().stream_arn(arn),
                    };
                    let listed = request.send().await.map_err(HarnessError::aws(format!("ListShards {arn}")))?;
                    shards.extend(
                        listed
                            .shards()
                            .iter()
                            .map(|s| (s.shard_id().to_owned(), s.parent_shard_id().map(str::to_owned))),
                    );
                    token = listed.next_token().map(str::to_owned);
                    if token.is_none() {
                        return Ok(shards);
                    }
                }
            }
        }
    }

    pub(super) async fn iterator(
        &self,
        arn: &str,
        shard: &str,
        position: Position,
    ) -> Result<Option<String>, HarnessError> {
        let context = format!("GetShardIterator {shard}");
        Ok(match self {
            Self::DynamoDb(client) => client
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard)
                .shard_iterator_type(match position {
                    Position::TrimHorizon => DynamoDbPosition::TrimHorizon,
                    Position::Latest => DynamoDbPosition::Latest,
                })
                .send()
                .await
                .map_err(HarnessError::aws(context))?
                .shard_iterator()
                .map(str::to_owned),
            Self::Kinesis(client) => client
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard)
                .shard_iterator_type(match position {
                    Position::TrimHorizon => KinesisPosition::TrimHorizon,
                    Position::Latest => KinesisPosition::Latest,
                })
                .send()
                .await
                .map_err(HarnessError::aws(context))?
                .shard_iterator()
                .map(str::to_owned),
        })
    }

    /// Up to `limit` records from `iterator`, as Lambda hands them over.
    pub(super) async fn page(
        &self,
        arn: &str,
        region: &str,
        shard: &str,
        iterator: String,
        limit: i32,
    ) -> Result<Page, HarnessError> {
        let context = format!("GetRecords {shard}");
        match self {
            Self::DynamoDb(client) => {
                let page = client
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(limit.min(1000))
                    .send()
                    .await
                    .map_err(HarnessError::aws(context))?;
                let records =
                    page.records().iter().map(|r| Delivered::DynamoDb(dynamodb_record(r, arn, region))).collect();
                Ok(Page { records, next: page.next_shard_iterator().map(str::to_owned) })
            }
            Self::Kinesis(client) => {
                let page = client
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(limit.min(10_000))
                    .send()
                    .await
                    .map_err(HarnessError::aws(context))?;
                let records =
                    page.records().iter().map(|r| Delivered::Kinesis(kinesis_record(r, arn, region, shard))).collect();
                Ok(Page { records, next: page.next_shard_iterator().map(str::to_owned) })
            }
        }
    }
}

/// A DynamoDB stream record as Lambda puts it in a DynamoDB `Event`.
fn dynamodb_record(record: &aws_sdk_dynamodbstreams::types::Record, arn: &str, region: &str) -> EventRecord {
    let mut event = EventRecord::default();
    event.aws_region = region.to_owned();
    event.event_id = record.event_id().unwrap_or_default().to_owned();
    event.event_name = record.event_name().map(|n| n.as_str().to_owned()).unwrap_or_default();
    event.event_source = Some("aws:dynamodb".to_owned());
    event.event_version = Some(record.event_version().unwrap_or("1.1").to_owned());
    event.event_source_arn = Some(arn.to_owned());
    if let Some(change) = record.dynamodb() {
        let mut stream = StreamRecord::default();
        if let Some(created) = change.approximate_creation_date_time() {
            stream.approximate_creation_date_time =
                DateTime::from_timestamp(created.secs(), created.subsec_nanos()).unwrap_or_default();
        }
        stream.keys = change.keys().cloned().unwrap_or_default().into();
        stream.new_image = change.new_image().cloned().unwrap_or_default().into();
        stream.old_image = change.old_image().cloned().unwrap_or_default().into();
        stream.sequence_number = change.sequence_number().map(str::to_owned);
        stream.size_bytes = change.size_bytes().unwrap_or_default();
        stream.stream_view_type = change.stream_view_type().and_then(|v| match v.as_str() {
            "NEW_IMAGE" => Some(StreamViewType::NewImage),
            "OLD_IMAGE" => Some(StreamViewType::OldImage),
            "NEW_AND_OLD_IMAGES" => Some(StreamViewType::NewAndOldImages),
            "KEYS_ONLY" => Some(StreamViewType::KeysOnly),
            _ => None,
        });
        event.change = stream;
    }
    event
}

/// A Kinesis record as Lambda puts it in a `KinesisEvent`.
fn kinesis_record(record: &aws_sdk_kinesis::types::Record, arn: &str, region: &str, shard: &str) -> KinesisEventRecord {
    let mut event = KinesisEventRecord::default();
    event.aws_region = Some(region.to_owned());
    event.event_id = Some(format!("{shard}:{}", record.sequence_number()));
    event.event_name = Some("aws:kinesis:record".to_owned());
    event.event_source = Some("aws:kinesis".to_owned());
    event.event_source_arn = Some(arn.to_owned());
    event.event_version = Some("1.0".to_owned());
    let mut kinesis = KinesisRecord::default();
    if let Some(arrived) = record.approximate_arrival_timestamp() {
        kinesis.approximate_arrival_timestamp =
            SecondTimestamp(DateTime::from_timestamp(arrived.secs(), arrived.subsec_nanos()).unwrap_or_default());
    }
    *kinesis.data = record.data().as_ref().to_vec();
    kinesis.encryption_type = match record.encryption_type().map(|e| e.as_str()) {
        Some("KMS") => KinesisEncryptionType::Kms,
        _ => KinesisEncryptionType::None,
    };
    kinesis.partition_key = record.partition_key().unwrap_or_default().to_owned();
    kinesis.sequence_number = record.sequence_number().to_owned();
    kinesis.kinesis_schema_version = Some("1.0".to_owned());
    event.kinesis = kinesis;
    event
}

//! A stream mapping (DynamoDB Streams or Kinesis): every shard read in
//! order (a child shard only once its parent is drained), records that pass
//! the filters handed to the function as a DynamoDB `Event` or a
//! `KinesisEvent`, and each shard's batch retried, bisected or given up to
//! the on-failure destination by [`crate::lambda::event_source_mapping::stream::Shard`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::lambda::event_source_mapping::filter::{Filter, passes};
use crate::lambda::event_source_mapping::stream::{GivenUp, Shard, Step, StreamSettings, on_failure_record};
use aws_config::SdkConfig;
use aws_sdk_lambda::types::FunctionResponseType;
use chrono::Utc;

pub use super::source::Position;
use super::source::{Delivered, Reader, event};
use super::{describe, filters, invoke, limit, queue_url};
use crate::HarnessError;
use crate::lambda::runtime_api::{InvokeError, LocalFunction};

/// A stream mapping as the endpoint describes it.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    pub uuid: String,
    pub stream_arn: String,
    pub function_arn: String,
    pub region: String,
    pub settings: StreamSettings,
    /// `MaximumBatchingWindowInSeconds`: how long a batch smaller than the
    /// batch size waits for more records.
    pub batching_window: Duration,
    pub starting_position: Position,
    pub filters: Vec<Filter>,
    /// `DestinationConfig.OnFailure`, when it is a queue.
    pub on_failure_queue_url: Option<String>,
}

impl StreamMapping {
    /// Reads mapping `uuid` (its on-failure queue's URL too).
    pub async fn read(
        lambda: &aws_sdk_lambda::Client,
        sqs: &aws_sdk_sqs::Client,
        uuid: &str,
    ) -> Result<Self, HarnessError> {
        let mapping = describe(lambda, uuid).await?;
        let stream_arn = mapping.event_source_arn().unwrap_or_default().to_owned();
        let dynamodb = stream_arn.starts_with("arn:aws:dynamodb:") && stream_arn.contains("/stream/");
        if !dynamodb && !stream_arn.starts_with("arn:aws:kinesis:") {
            return Err(HarnessError::Driver(format!(
                "mapping {uuid}: {stream_arn} is neither a DynamoDB nor a Kinesis stream"
            )));
        }
        let region = stream_arn.split(':').nth(3).unwrap_or_default().to_owned();
        let on_failure_queue_url =
            match mapping.destination_config().and_then(|d| d.on_failure()).and_then(|o| o.destination()) {
                Some(arn) if arn.starts_with("arn:aws:sqs:") => Some(queue_url(sqs, arn).await?),
                Some(arn) => {
                    return Err(HarnessError::Driver(format!(
                        "mapping {uuid}: on-failure destination {arn} is not a queue"
                    )));
                }
                None => None,
            };
        let starting_position = match mapping.starting_position().map(|p| p.as_str()) {
            Some("LATEST") => Position::Latest,
            Some("TRIM_HORIZON") | None => Position::TrimHorizon,
            Some(other) => {
                return Err(HarnessError::Driver(format!("mapping {uuid}: starting position {other} is not played")));
            }
        };
        Ok(Self {
            uuid: uuid.to_owned(),
            function_arn: mapping.function_arn().unwrap_or_default().to_owned(),
            region,
            settings: StreamSettings {
                batch_size: usize::try_from(mapping.batch_size().unwrap_or(100).clamp(1, 10_000)).unwrap_or(100),
                maximum_retry_attempts: limit(mapping.maximum_retry_attempts()),
                maximum_record_age: limit(mapping.maximum_record_age_in_seconds())
                    .map(|s| chrono::Duration::seconds(i64::from(s))),
                bisect_batch_on_function_error: mapping.bisect_batch_on_function_error().unwrap_or(false),
                report_batch_item_failures: mapping
                    .function_response_types()
                    .contains(&FunctionResponseType::ReportBatchItemFailures),
            },
            batching_window: Duration::from_secs(
                u64::try_from(mapping.maximum_batching_window_in_seconds().unwrap_or(0)).unwrap_or(0),
            ),
            starting_position,
            filters: filters(uuid, mapping.filter_criteria())?,
            on_failure_queue_url,
            stream_arn,
        })
    }
}

/// What one round over the shards did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PlayedStream {
    /// Records read from the shards.
    pub read: usize,
    /// Dropped before any invocation: they match none of the filters.
    pub filtered_out: usize,
    /// The size of each invocation's batch, in order.
    pub invocations: Vec<usize>,
    /// Records whose batch was given up (their coordinates sent on).
    pub given_up: usize,
    /// The on-failure records sent.
    pub on_failure: Vec<serde_json::Value>,
    pub errors: Vec<InvokeError>,
}

impl PlayedStream {
    /// Nothing read, invoked or given up.
    pub fn is_idle(&self) -> bool {
        self.read == 0 && self.invocations.is_empty() && self.given_up == 0
    }
}

#[derive(Debug)]
struct ShardState {
    parent: Option<String>,
    /// `None` once the shard is closed and read to its end.
    iterator: Option<String>,
    started: bool,
    shard: Shard<Delivered>,
    /// When the oldest record waiting for a fuller batch was read.
    waiting_since: Option<Instant>,
}

impl ShardState {
    fn drained(&self) -> bool {
        self.started && self.iterator.is_none() && self.shard.pending() == 0
    }
}

/// Plays one stream mapping; keeps each shard's position between rounds.
#[derive(Debug)]
pub struct StreamPlayer {
    mapping: StreamMapping,
    reader: Reader,
    sqs: aws_sdk_sqs::Client,
    shards: BTreeMap<String, ShardState>,
}

impl StreamPlayer {
    /// A player for `mapping`, reading its stream with clients from `config`.
    pub fn new(mapping: StreamMapping, config: &SdkConfig) -> Self {
        let reader = if mapping.stream_arn.starts_with("arn:aws:kinesis:") {
            Reader::Kinesis(aws_sdk_kinesis::Client::new(config))
        } else {
            Reader::DynamoDb(aws_sdk_dynamodbstreams::Client::new(config))
        };
        Self { mapping, reader, sqs: aws_sdk_sqs::Client::new(config), shards: BTreeMap::new() }
    }

    pub fn mapping(&self) -> &StreamMapping {
        &self.mapping
    }

    /// One round: finds new shards, reads each readable shard once and
    /// makes at most one invocation (or one give-up) per shard.
    pub async fn play_once(&mut self, function: &LocalFunction) -> Result<PlayedStream, HarnessError> {
        self.discover().await?;
        let mut played = PlayedStream::default();
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let parent_drained = match self.shards[&id].parent.as_ref().and_then(|p| self.shards.get(p)) {
                Some(parent) => parent.drained(),
                None => true,
            };
            if !parent_drained || self.shards[&id].drained() {
                continue;
            }
            self.read(&id, &mut played).await?;
            self.step(&id, function, &mut played).await?;
        }
        Ok(played)
    }

    /// Adds the shards the stream has that this player does not know yet.
    async fn discover(&mut self) -> Result<(), HarnessError> {
        for (id, parent) in self.reader.shards(&self.mapping.stream_arn).await? {
            self.shards.entry(id).or_insert_with(|| ShardState {
                parent,
                iterator: None,
                started: false,
                shard: Shard::new(self.mapping.settings.clone()),
                waiting_since: None,
            });
        }
        Ok(())
    }

    /// Reads the next page of shard `id` while it has fewer records waiting
    /// than a batch holds.
    async fn read(&mut self, id: &str, played: &mut PlayedStream) -> Result<(), HarnessError> {
        let batch_size = self.mapping.settings.batch_size;
        let state = self.shards.get_mut(id).ok_or_else(|| HarnessError::Driver(format!("no shard {id}")))?;
        if !state.started {
            // A child shard starts at its beginning: its parent was read to the end.
            let position = if state.parent.is_some() { Position::TrimHorizon } else { self.mapping.starting_position };
            state.iterator = self.reader.iterator(&self.mapping.stream_arn, id, position).await?;
            state.started = true;
        }
        let Some(iterator) = state.iterator.clone().filter(|_| state.shard.pending() < batch_size) else {
            return Ok(());
        };
        let mapping = &self.mapping;
        let limit = i32::try_from(batch_size).unwrap_or(i32::MAX);
        let page = self.reader.page(&mapping.stream_arn, &mapping.region, id, iterator, limit).await?;
        state.iterator = page.next;
        played.read += page.records.len();
        let mut passed = Vec::new();
        for record in page.records {
            if passes(&mapping.filters, &record.filter_view()?) {
                passed.push(record);
            } else {
                played.filtered_out += 1;
            }
        }
        if !passed.is_empty() && state.waiting_since.is_none() {
            state.waiting_since = Some(Instant::now());
        }
        state.shard.push(passed);
        Ok(())
    }

    /// At most one invocation or give-up on shard `id`.
    async fn step(
        &mut self,
        id: &str,
        function: &LocalFunction,
        played: &mut PlayedStream,
    ) -> Result<(), HarnessError> {
        let mapping = &self.mapping;
        let state = self.shards.get_mut(id).ok_or_else(|| HarnessError::Driver(format!("no shard {id}")))?;
        // A short batch waits out the batching window while the shard is open.
        let short = state.shard.pending() < mapping.settings.batch_size && state.iterator.is_some();
        if short && state.waiting_since.is_some_and(|since| since.elapsed() < mapping.batching_window) {
            return Ok(());
        }
        let given_up = match state.shard.next(Utc::now()) {
            Step::Idle => None,
            Step::GiveUp(given_up) => Some(given_up),
            Step::Invoke(records) => {
                played.invocations.push(records.len());
                let (outcome, error) = invoke(function, &event(records)?).await?;
                played.errors.extend(error);
                state.shard.complete(&outcome)
            }
        };
        state.waiting_since = (state.shard.pending() > 0).then(Instant::now);
        if let Some(given_up) = given_up {
            played.given_up += given_up.records.len();
            played.on_failure.push(self.give_up(id, &given_up).await?);
        }
        Ok(())
    }

    /// Sends the batch's coordinates to the on-failure queue (without one,
    /// the records are dropped, as Lambda drops them).
    async fn give_up(&self, shard_id: &str, given_up: &GivenUp<Delivered>) -> Result<serde_json::Value, HarnessError> {
        let mapping = &self.mapping;
        let record = on_failure_record(
            self.reader.kind(),
            given_up,
            &mapping.stream_arn,
            shard_id,
            &mapping.function_arn,
            Utc::now(),
        );
        if let Some(url) = &mapping.on_failure_queue_url {
            self.sqs
                .send_message()
                .queue_url(url)
                .message_body(record.to_string())
                .send()
                .await
                .map_err(HarnessError::aws(format!("SendMessage {url}")))?;
        }
        Ok(record)
    }
}

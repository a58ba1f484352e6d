//! Reads what the mesh did, straight from its tables, streams and queues.

use std::collections::{HashMap, HashSet};

use analytics::OrderSale;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_sqs::types::QueueAttributeName;
use mesh::envelope::Envelope;
use mesh_aws::positions::POSITION_PREFIX;
use serde::Deserialize;
use uuid::Uuid;

/// An entity's position in a product a consumer takes in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub source: String,
    pub subject: String,
    /// The last sequence applied.
    pub sequence: u64,
    /// Events applied after a later one of the entity.
    pub out_of_order: u64,
}

/// An order as stored in the orders domain's state table.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub customer_id: String,
    pub amount_cents: u64,
    pub status: String,
    #[serde(default)]
    pub channel: Option<String>,
}

/// A customer's reservations, as stored in the customers state table.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerRow {
    pub id: String,
    pub credit_limit_cents: u64,
    #[serde(default)]
    pub reservations: HashMap<String, u64>,
}

impl CustomerRow {
    pub fn reserved_cents(&self) -> u64 {
        self.reservations.values().sum()
    }
}

#[derive(Debug, Deserialize)]
struct Stored<S> {
    version: u64,
    state: S,
}

#[derive(Debug, Clone)]
pub struct Observer {
    dynamodb: aws_sdk_dynamodb::Client,
    kinesis: aws_sdk_kinesis::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Observer {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }

    /// Every order in the orders state table.
    pub async fn orders(&self, table: &str) -> anyhow::Result<Vec<OrderRow>> {
        Ok(self.entities(table).await?.into_iter().map(|(row, _)| row).collect())
    }

    /// Every customer in the customers state table, with its version.
    pub async fn customers(&self, table: &str) -> anyhow::Result<Vec<(CustomerRow, u64)>> {
        self.entities(table).await
    }

    /// Every row of the analytics domain's sales view, with its version.
    pub async fn sales(&self, table: &str) -> anyhow::Result<Vec<(OrderSale, u64)>> {
        self.entities(table).await
    }

    /// Every entity of a state table with its version.
    pub async fn entities<S: serde::de::DeserializeOwned>(&self, table: &str) -> anyhow::Result<Vec<(S, u64)>> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let page = self.dynamodb.scan().table_name(table).set_exclusive_start_key(start).send().await?;
            for item in page.items() {
                let stored: Stored<S> = serde_dynamo::from_item(item.clone())?;
                rows.push((stored.state, stored.version));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(rows);
            }
        }
    }

    /// Every event in an outbox table (items TTL has not removed yet).
    pub async fn outbox(&self, table: &str) -> anyhow::Result<Vec<Envelope>> {
        let mut events = Vec::new();
        for item in self.scan(table).await? {
            let envelope = item.get("envelope").and_then(|v| v.as_s().ok());
            let envelope = envelope.ok_or_else(|| anyhow::anyhow!("an item of {table} has no envelope"))?;
            events.push(Envelope::from_json(envelope)?);
        }
        Ok(events)
    }

    /// The event ids a consumer's inbox holds: the events it applied.
    pub async fn inbox(&self, table: &str) -> anyhow::Result<HashSet<Uuid>> {
        Ok(self.inbox_and_positions(table).await?.0)
    }

    /// The event ids in a consumer's inbox table, and the entity positions
    /// kept beside them for the products it takes in order.
    pub async fn inbox_and_positions(&self, table: &str) -> anyhow::Result<(HashSet<Uuid>, Vec<Position>)> {
        let (mut ids, mut positions) = (HashSet::new(), Vec::new());
        for item in self.scan(table).await? {
            let pk = item.get("pk").and_then(|v| v.as_s().ok());
            let pk = pk.ok_or_else(|| anyhow::anyhow!("an item of {table} has no pk"))?;
            let Some(key) = pk.strip_prefix(POSITION_PREFIX) else {
                ids.insert(pk.parse()?);
                continue;
            };
            let (source, subject) =
                key.rsplit_once('#').ok_or_else(|| anyhow::anyhow!("{table}: position key {pk} has no subject"))?;
            let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
            positions.push(Position {
                source: source.to_owned(),
                subject: subject.to_owned(),
                sequence: number("sequence").unwrap_or(0),
                out_of_order: number("out_of_order").unwrap_or(0),
            });
        }
        Ok((ids, positions))
    }

    async fn scan(&self, table: &str) -> anyhow::Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self.dynamodb.scan().table_name(table).set_exclusive_start_key(start).send().await?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every event on a product's Kinesis stream, shard by shard, in order.
    pub async fn stream_events(&self, stream: &str) -> anyhow::Result<Vec<Envelope>> {
        let shards = self.kinesis.list_shards().stream_name(stream).send().await?;
        let mut events = Vec::new();
        for shard in shards.shards() {
            let mut iterator = self
                .kinesis
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            while let Some(current) = iterator {
                let page = self.kinesis.get_records().shard_iterator(current).limit(10_000).send().await?;
                for record in page.records() {
                    events.push(Envelope::from_json(std::str::from_utf8(record.data().as_ref())?)?);
                }
                let caught_up = page.records().is_empty() || page.millis_behind_latest() == Some(0);
                iterator = if caught_up { None } else { page.next_shard_iterator };
            }
        }
        Ok(events)
    }

    /// Visible plus in-flight messages of a queue.
    /// Sends `body` to a consumer queue as SNS would deliver it (raw, with its
    /// `type` attribute), to test what the consumer does with it. A FIFO
    /// queue takes it in `group` (the entity id), with a fresh deduplication
    /// id so that a deliberate copy is delivered.
    pub async fn send_to_queue(&self, queue: &str, body: &str, event_type: &str, group: &str) -> anyhow::Result<()> {
        let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event_type)
            .build()?;
        let fifo = queue.ends_with(".fifo");
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .message_attributes("type", attribute)
            .set_message_group_id(fifo.then(|| group.to_owned()))
            .set_message_deduplication_id(fifo.then(|| Uuid::now_v7().to_string()))
            .send()
            .await?;
        Ok(())
    }

    /// Messages received and not yet deleted (being handled, or failed and
    /// waiting for their visibility timeout).
    pub async fn queue_in_flight(&self, url: &str) -> anyhow::Result<u64> {
        let name = QueueAttributeName::ApproximateNumberOfMessagesNotVisible;
        let attributes = self.sqs.get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await?;
        Ok(attributes.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub async fn queue_depth(&self, url: &str) -> anyhow::Result<u64> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?;
        let map: HashMap<_, _> = attributes.attributes().cloned().unwrap_or_default();
        Ok([QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
            .iter()
            .filter_map(|name| map.get(name).and_then(|v| v.parse::<u64>().ok()))
            .sum())
    }

    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }
}

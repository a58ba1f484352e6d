//! AWS adapters for the mesh core: DynamoDB store with outbox and inbox,
//! SNS and Kinesis output ports, and the glue between Lambda events
//! (`aws_lambda_events`) and the core's relay and subscriber.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod dynamo_store;
pub mod esm;
pub mod http;
pub mod infra;
pub mod metrics;
pub mod ports;
pub mod positions;
pub mod schema_registry;
pub mod sqs_batch;
pub mod stream_batch;

pub use config::{ConfigError, Settings};
pub use dynamo_store::DynamoStore;

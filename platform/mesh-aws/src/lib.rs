//! What ships inside a Lambda: the AWS adapters of the mesh core (DynamoDB
//! store with outbox and inbox, SNS and Kinesis output ports, writer schemas
//! from the Glue Schema Registry, the catalog registrar) and the glue between
//! Lambda events (`aws_lambda_events`) and the core's relay and subscriber.
//! Nothing here parses a descriptor or writes a template: that is build
//! time, in `mesh-infra`.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod dynamo_store;
pub mod http;
pub mod kms;
pub mod metrics;
pub mod ports;
pub mod positions;
pub mod process;
pub mod schema_registry;
pub mod sqs_batch;
pub mod stream_batch;

pub use config::{ConfigError, Settings};
pub use dynamo_store::DynamoStore;

//! The environment variables the generated templates set and the functions
//! read: one name per setting, used by both sides, so a renamed setting
//! cannot leave a function reading a variable nobody sets.

/// The domain the function belongs to.
pub const DOMAIN: &str = "DOMAIN";
/// The product the function writes (its outbox's events).
pub const PRODUCT: &str = "PRODUCT";
/// The deployment prefix (`mesh`, `m1a2b3c4d`): names the schema registries.
pub const MESH_PREFIX: &str = "MESH_PREFIX";
/// The domain's private state table.
pub const STATE_TABLE: &str = "STATE_TABLE";
/// The domain's outbox table (a producer's).
pub const OUTBOX_TABLE: &str = "OUTBOX_TABLE";
/// The consumer's inbox table (event ids applied, entity positions).
pub const INBOX_TABLE: &str = "INBOX_TABLE";
/// Seconds an outbox item stays after its event (then TTL removes it).
pub const OUTBOX_RETENTION_SECONDS: &str = "OUTBOX_RETENTION_SECONDS";
/// Seconds a consumed event id and an entity's position are remembered.
pub const INBOX_RETENTION_SECONDS: &str = "INBOX_RETENTION_SECONDS";
/// The relay's SNS port.
pub const TOPIC_ARN: &str = "TOPIC_ARN";
/// The relay's FIFO copy of the topic, when a subscriber takes the product in strict order.
pub const ORDERED_TOPIC_ARN: &str = "ORDERED_TOPIC_ARN";
/// The relay's Kinesis port.
pub const STREAM_NAME: &str = "STREAM_NAME";
/// A consumer's ordered subscriptions: `<domain>/<product>=<order>`, comma separated.
pub const ORDERING: &str = "ORDERING";
/// The consumer queue's `maxReceiveCount`: the last receive before the DLQ.
pub const MAX_RECEIVE_COUNT: &str = "MAX_RECEIVE_COUNT";
/// The mesh's token key (a KMS HMAC key in the platform stack): the key
/// every PII token is derived from, the same for every product.
pub const TOKEN_KEY_ARN: &str = "TOKEN_KEY_ARN";
/// The producing domain's key, which wraps the data keys sealing its PII.
pub const SEALING_KEY_ARN: &str = "SEALING_KEY_ARN";
/// The products whose PII a consumer reads in clear (`access.pii_readers`):
/// `<domain>/<product>`, comma separated. Every other product's protected
/// fields reach its handler as tokens.
pub const PII_READS: &str = "PII_READS";
/// The relay's saga deadlines (`saga.deadlines` of the descriptor), as
/// JSON: `[{"step", "starts_with", "timeout_seconds", "queue", "dead_letters"}]`.
pub const DEADLINES: &str = "DEADLINES";
/// The scheduler group that keeps the domain's deadlines.
pub const SCHEDULE_GROUP: &str = "SCHEDULE_GROUP";
/// The role the scheduler sends deadlines as.
pub const SCHEDULER_ROLE_ARN: &str = "SCHEDULER_ROLE_ARN";
/// The log filter (`tracing`'s `EnvFilter` directives).
pub const RUST_LOG: &str = "RUST_LOG";

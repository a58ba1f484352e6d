//! The names of the metrics the platform's functions emit and the generated
//! alarms watch: defined once, for both sides.

/// The CloudWatch namespace of every platform metric.
pub const NAMESPACE: &str = "DataMesh";
/// Age of the oldest outbox event in a relayed batch, in milliseconds.
pub const OUTBOX_EVENT_AGE: &str = "OutboxEventAge";

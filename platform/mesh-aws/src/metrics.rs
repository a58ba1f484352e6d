//! Metrics as CloudWatch embedded metric format (EMF) log lines: Lambda
//! ships stdout to CloudWatch Logs, which turns each line into a metric. No
//! API call, no extra permission, nothing lost when the function is throttled.

use chrono::{DateTime, Utc};
use serde_json::json;

use mesh::metrics::{NAMESPACE as METRICS_NAMESPACE, OUTBOX_EVENT_AGE};

/// The EMF line for the age of the oldest event in a relayed batch: how long
/// the oldest event waited between its transaction and reaching the ports.
/// `None` for a batch without events.
pub fn outbox_event_age(
    domain: &str,
    product: &str,
    oldest_written: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    let age_ms = (now - oldest_written?).num_milliseconds().max(0);
    let line = json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Domain", "Product"]],
                "Metrics": [{ "Name": OUTBOX_EVENT_AGE, "Unit": "Milliseconds" }],
            }],
        },
        "Domain": domain,
        "Product": product,
        OUTBOX_EVENT_AGE: age_ms,
    });
    Some(line.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_metric_the_outbox_alarm_watches() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:05Z").unwrap().to_utc();
        let written = DateTime::parse_from_rfc3339("2026-11-22T10:00:02.500Z").unwrap().to_utc();
        let line = outbox_event_age("orders", "order-events", Some(written), now).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["OutboxEventAge"], 2500);
        assert_eq!(value["Domain"], "orders");
        assert_eq!(value["_aws"]["CloudWatchMetrics"][0]["Namespace"], "DataMesh");
        assert_eq!(value["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][1], "Product");
        assert_eq!(outbox_event_age("orders", "order-events", None, now), None);
    }
}

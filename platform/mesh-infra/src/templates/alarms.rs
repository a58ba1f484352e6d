//! The alarms every domain gets: messages in a DLQ or in the relay's
//! failure queue, a relay falling behind its outbox stream, and outbox
//! events older than the product's freshness promise.

use crate::descriptor::{Descriptor, Product};
use mesh::metrics::{NAMESPACE, OUTBOX_EVENT_AGE};
use serde_norway::Value;

use super::cfn::{Template, att, if_, list, map, r, s, split_part};
use super::domain::{consumed_topic_parameter, subscription_id};

struct Alarm<'a> {
    id: String,
    description: String,
    namespace: &'a str,
    metric: &'a str,
    dimensions: Vec<(&'a str, Value)>,
    statistic: &'a str,
    threshold: u64,
}

/// SNS's own metric of messages it could deliver neither to a subscription's
/// queue nor to its DLQ: those are lost.
const LOST_DELIVERIES: &str = "NumberOfNotificationsFailedToRedriveToDlq";

impl Alarm<'_> {
    fn add_to(self, t: &mut Template) {
        t.resource(
            &self.id,
            None,
            "AWS::CloudWatch::Alarm",
            map([
                ("AlarmDescription", s(self.description)),
                ("Namespace", s(self.namespace)),
                ("MetricName", s(self.metric)),
                (
                    "Dimensions",
                    list(self.dimensions.into_iter().map(|(name, value)| map([("Name", s(name)), ("Value", value)]))),
                ),
                ("Statistic", s(self.statistic)),
                ("Period", 60.into()),
                ("EvaluationPeriods", 1.into()),
                ("Threshold", self.threshold.into()),
                ("ComparisonOperator", s("GreaterThanThreshold")),
                // No data = nothing queued or nothing relayed: not a failure.
                ("TreatMissingData", s("notBreaching")),
                ("AlarmActions", if_("HasAlarmAction", list([r("AlarmActionArn")]), r("AWS::NoValue"))),
            ]),
        );
    }
}

pub fn add(t: &mut Template, domain: &Descriptor, product: Option<&Product>) {
    let name = &domain.domain;
    for subscription in &domain.consumes {
        let id = subscription_id(subscription);
        Alarm {
            id: format!("{id}DlqDepthAlarm"),
            description: format!(
                "{name}: {} events its handler could not apply are in the DLQ. Read them \
                 (aws sqs receive-message), fix the cause, then move them back (aws sqs \
                 start-message-move-task).",
                subscription.product
            ),
            namespace: "AWS/SQS",
            metric: "ApproximateNumberOfMessagesVisible",
            dimensions: vec![("QueueName", att(&format!("{id}Dlq"), "QueueName"))],
            statistic: "Maximum",
            threshold: 0,
        }
        .add_to(t);
        // The metric is the topic's (SNS has no subscription dimension): any
        // subscriber's loss shows here, and each subscriber hears of it.
        Alarm {
            id: format!("{id}DeliveryLostAlarm"),
            description: format!(
                "{name}: SNS could deliver {} events neither to the queue nor to its DLQ (the DLQ's policy or key \
                 refused them, or it is gone). Fix the DLQ; the events are still in the producer's Kinesis stream \
                 for a replay.",
                subscription.product
            ),
            namespace: "AWS/SNS",
            metric: LOST_DELIVERIES,
            dimensions: vec![("TopicName", split_part(r(&consumed_topic_parameter(subscription)), ":", 5))],
            statistic: "Sum",
            threshold: 0,
        }
        .add_to(t);
    }
    let Some(product) = product else { return };
    let freshness_ms = u64::from(product.service_levels.freshness_seconds) * 1000;
    Alarm {
        id: "RelayFailuresAlarm".to_owned(),
        description: format!(
            "{name}: the relay gave up on outbox stream records; their events reached no port. \
             Each message names the shard and sequence range: re-publish those outbox items."
        ),
        namespace: "AWS/SQS",
        metric: "ApproximateNumberOfMessagesVisible",
        dimensions: vec![("QueueName", att("RelayFailureQueue", "QueueName"))],
        statistic: "Maximum",
        threshold: 0,
    }
    .add_to(t);
    Alarm {
        id: "RelayIteratorAgeAlarm".to_owned(),
        description: format!(
            "{name}: the relay is further behind its outbox stream than the {} freshness promise ({} s).",
            product.name, product.service_levels.freshness_seconds
        ),
        namespace: "AWS/Lambda",
        metric: "IteratorAge",
        dimensions: vec![("FunctionName", r("RelayFunction"))],
        statistic: "Maximum",
        threshold: freshness_ms,
    }
    .add_to(t);
    Alarm {
        id: "OutboxEventAgeAlarm".to_owned(),
        description: format!(
            "{name}: outbox events reach the {} ports later than its freshness promise ({} s).",
            product.name, product.service_levels.freshness_seconds
        ),
        namespace: NAMESPACE,
        metric: OUTBOX_EVENT_AGE,
        dimensions: vec![("Domain", s(name.clone())), ("Product", s(product.name.clone()))],
        statistic: "Maximum",
        threshold: freshness_ms,
    }
    .add_to(t);
}

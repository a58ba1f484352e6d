//! The domain's customer managed KMS key: it encrypts the domain's tables,
//! queues, topic and stream. A customer managed key (not `aws/sqs`) because
//! SNS must encrypt what it delivers to the domain's subscription queues, and
//! only a key policy can let it.

use crate::descriptor::{Descriptor, Mesh};
use serde_norway::Value;

use super::cfn::{OnDelete, Template, list, map, s, strings, sub};

/// The logical id of the key in the stack that holds it.
pub const KEY: &str = "DomainKey";

/// The SNS topic a subscription receives from, by the naming convention of
/// the ports stacks (`${Prefix}-<domain>-<topic>`); built from names so
/// that no stack depends on another's creation order.
pub fn consumed_topic_arns(mesh: &Mesh, domain: &Descriptor) -> Vec<Value> {
    domain
        .consumes
        .iter()
        .filter_map(|subscription| {
            let producer = mesh.domain(&subscription.product.domain)?;
            let product = producer.product(&subscription.product.product)?;
            Some(sub(format!(
                "arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:${{Prefix}}-{}-{}",
                producer.domain, product.ports.sns.topic
            )))
        })
        .collect()
}

/// Adds the key and its alias `alias/<Prefix>-<domain>`.
pub fn add_domain_key(t: &mut Template, mesh: &Mesh, domain: &Descriptor) {
    let mut statements = vec![map([
        ("Sid", s("AccountIamPolicies")),
        ("Effect", s("Allow")),
        ("Principal", map([("AWS", sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))])),
        ("Action", s("kms:*")),
        ("Resource", s("*")),
    ])];
    let topics = consumed_topic_arns(mesh, domain);
    if !topics.is_empty() {
        statements.push(map([
            ("Sid", s("SnsDeliversToSubscriptionQueues")),
            ("Effect", s("Allow")),
            ("Principal", map([("Service", s("sns.amazonaws.com"))])),
            ("Action", strings(["kms:Decrypt", "kms:GenerateDataKey"])),
            ("Resource", s("*")),
            ("Condition", map([("ArnEquals", map([("aws:SourceArn", list(topics))]))])),
        ]));
    }
    t.stateful(
        KEY,
        Some(
            "Encrypts everything this domain stores or sends. In a key policy \"*\" means\n\
             this key; the account statement lets IAM policies (the roles below) grant\n\
             its use, the SNS statement lets the consumed topics deliver to our queues.\n\
             Retained with the tables: without it their data cannot be read.",
        ),
        "AWS::KMS::Key",
        OnDelete::Retain,
        map([
            (
                "Description",
                sub(format!("${{Prefix}} data mesh, domain {}: tables, queues, topic and stream.", domain.domain)),
            ),
            ("EnableKeyRotation", true.into()),
            ("PendingWindowInDays", 7.into()),
            ("KeyPolicy", map([("Version", s("2012-10-17")), ("Statement", list(statements))])),
        ]),
    );
    t.resource(
        &format!("{KEY}Alias"),
        None,
        "AWS::KMS::Alias",
        map([("AliasName", sub(format!("alias/${{Prefix}}-{}", domain.domain))), ("TargetKeyId", super::cfn::r(KEY))]),
    );
}

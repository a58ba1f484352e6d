//! `infra/<domain>-ports.yaml`: the domain's key and its product's output
//! ports (an SNS topic for fan-out, a Kinesis stream as the ordered,
//! replayable log). Deployed before every domain stack, so that a consumer
//! can subscribe whatever the order its own stack is created in.

use serde_norway::Value;

use crate::descriptor::{Descriptor, Mesh, Product};

use super::cfn::{OnDelete, Template, arn, att, list, map, r, s, strings, sub};
use super::key::{KEY, add_domain_key};
use super::params;

/// The FIFO topic's logical id, and the output that carries its ARN.
pub const ORDERED_TOPIC: &str = "OrderedTopic";

pub fn ports_template(mesh: &Mesh, domain: &Descriptor, product: &Product) -> Template {
    let name = &domain.domain;
    let mut t = Template::new(format!(
        "Data mesh, domain \"{name}\": its KMS key and the output ports of the data product \"{}\" v{} \
         (an SNS topic for fan-out, a Kinesis stream as the ordered, replayable log). Pass TopicArn, \
         StreamName, StreamArn and KeyArn to {name}.yaml, and TopicArn to every consumer's stack.",
        product.name, product.version
    ));
    params::prefix(&mut t);
    params::number(
        &mut t,
        "RetentionPeriodHours",
        i64::from(product.ports.kinesis.retention_hours),
        (24, 8760),
        "How long the Kinesis port keeps events for replay, in hours (the descriptor's retention_hours).",
    );
    params::number(&mut t, "ShardCount", 1, (1, 500), "Shards of the Kinesis port (events are keyed by entity id).");
    add_domain_key(&mut t, mesh, domain);
    // Only when a consumer asks for strict order (a FIFO queue can only
    // subscribe to a FIFO topic); the relay publishes to both topics.
    let strict = mesh.strict_subscribers(name, &product.name);
    topics(&mut t, domain, product, !strict.is_empty());
    topic_policy(&mut t, product, &strict);
    stream(&mut t, domain, product);
    outputs(&mut t, domain, product, !strict.is_empty());
    t
}

/// `mesh:domain`, `mesh:product` and `mesh:port` tags of a port.
fn tags(domain: &Descriptor, product: &Product, port: &str) -> Value {
    list(
        [("mesh:domain", domain.domain.as_str()), ("mesh:product", product.name.as_str()), ("mesh:port", port)]
            .map(|(k, v)| map([("Key", s(k)), ("Value", s(v))])),
    )
}

/// The product's topic, and its FIFO copy when a subscriber takes it in strict order.
fn topics(t: &mut Template, domain: &Descriptor, product: &Product, ordered: bool) {
    let name = &domain.domain;
    let resource_name = format!("${{Prefix}}-{name}-{}", product.ports.sns.topic);
    t.resource(
        "Topic",
        None,
        "AWS::SNS::Topic",
        map([
            ("TopicName", sub(resource_name.clone())),
            ("DisplayName", s(format!("{name} {}", product.name))),
            ("KmsMasterKeyId", att(KEY, "Arn")),
            ("Tags", tags(domain, product, "sns")),
        ]),
    );
    if ordered {
        t.resource(
            ORDERED_TOPIC,
            Some("Strict per-entity order for the subscribers that ask for it: MessageGroupId = entity id."),
            "AWS::SNS::Topic",
            map([
                ("TopicName", sub(format!("{resource_name}.fifo"))),
                ("DisplayName", s(format!("{name} {} (ordered)", product.name))),
                ("FifoTopic", true.into()),
                ("ContentBasedDeduplication", false.into()),
                ("KmsMasterKeyId", att(KEY, "Arn")),
                ("Tags", tags(domain, product, "sns-fifo")),
            ]),
        );
    }
}

/// Governance on AWS, not only in `mesh validate`: a subscription from any
/// queue but a granted domain's is refused by SNS itself.
fn topic_policy(t: &mut Template, product: &Product, strict: &[&str]) {
    let mut granted = Vec::new();
    for subscriber in &product.access.subscribers {
        let queue = format!("${{Prefix}}-{subscriber}-{}", product.name);
        // A strict subscriber's queue is FIFO (see `domain::queue_names`).
        let queue = if strict.contains(&subscriber.as_str()) { format!("{queue}.fifo") } else { queue };
        granted.push(arn("sqs", &queue));
    }
    let topics = if strict.is_empty() { vec![r("Topic")] } else { vec![r("Topic"), r(ORDERED_TOPIC)] };
    t.resource(
        "TopicPolicy",
        Some("Only the subscribers the descriptor grants (access.subscribers) may subscribe."),
        "AWS::SNS::TopicPolicy",
        map([
            ("Topics", list(topics.clone())),
            (
                "PolicyDocument",
                map([
                    ("Version", s("2012-10-17")),
                    (
                        "Statement",
                        list([map([
                            ("Sid", s("OnlyGrantedSubscribers")),
                            ("Effect", s("Deny")),
                            ("Principal", map([("AWS", s("*"))])),
                            ("Action", strings(["sns:Subscribe"])),
                            ("Resource", if strict.is_empty() { r("Topic") } else { list(topics) }),
                            ("Condition", map([("StringNotEquals", map([("sns:Endpoint", list(granted))]))])),
                        ])]),
                    ),
                ]),
            ),
        ]),
    );
}

/// The replayable log.
fn stream(t: &mut Template, domain: &Descriptor, product: &Product) {
    t.stateful(
        "Stream",
        Some("The replayable log. Deleted with the stack: the outbox is the record."),
        "AWS::Kinesis::Stream",
        OnDelete::Delete,
        map([
            ("Name", sub(format!("${{Prefix}}-{}-{}", domain.domain, product.ports.kinesis.stream))),
            ("StreamModeDetails", map([("StreamMode", s("PROVISIONED"))])),
            ("ShardCount", r("ShardCount")),
            ("RetentionPeriodHours", r("RetentionPeriodHours")),
            ("StreamEncryption", map([("EncryptionType", s("KMS")), ("KeyId", att(KEY, "Arn"))])),
            ("Tags", tags(domain, product, "kinesis")),
        ]),
    );
}

fn outputs(t: &mut Template, domain: &Descriptor, product: &Product, ordered: bool) {
    let name = &domain.domain;
    t.output(
        "TopicArn",
        &format!("ARN of the {} SNS topic (consumers subscribe their queues to it).", product.name),
        r("Topic"),
    );
    if ordered {
        t.output(
            "OrderedTopicArn",
            &format!(
                "ARN of the {} FIFO topic (strict-order subscribers subscribe their FIFO queues to it).",
                product.name
            ),
            r(ORDERED_TOPIC),
        );
    }
    t.output("TopicName", &format!("Name of the {} SNS topic.", product.name), att("Topic", "TopicName"));
    t.output("StreamName", &format!("Name of the {} Kinesis stream.", product.name), r("Stream"));
    t.output("StreamArn", &format!("ARN of the {} Kinesis stream.", product.name), att("Stream", "Arn"));
    t.output("KeyArn", &format!("ARN of the {name} domain's KMS key (pass it to {name}.yaml)."), att(KEY, "Arn"));
}

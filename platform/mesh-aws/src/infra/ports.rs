//! `infra/<domain>-ports.yaml`: the domain's key and its product's output
//! ports (an SNS topic for fan-out, a Kinesis stream as the ordered,
//! replayable log). Deployed before every domain stack, so that a consumer
//! can subscribe whatever the order its own stack is created in.

use mesh::descriptor::{Descriptor, Mesh, Product};

use super::cfn::{OnDelete, Template, arn, att, list, map, r, s, strings, sub};
use super::key::{KEY, add_domain_key};
use super::params;

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
    let tags = |port: &str| {
        list(
            [("mesh:domain", name.as_str()), ("mesh:product", product.name.as_str()), ("mesh:port", port)]
                .map(|(k, v)| map([("Key", s(k)), ("Value", s(v))])),
        )
    };
    let resource_name = format!("${{Prefix}}-{name}-{}", product.ports.sns.topic);
    t.resource(
        "Topic",
        None,
        "AWS::SNS::Topic",
        map([
            ("TopicName", sub(resource_name)),
            ("DisplayName", s(format!("{name} {}", product.name))),
            ("KmsMasterKeyId", att(KEY, "Arn")),
            ("Tags", tags("sns")),
        ]),
    );
    // Governance on AWS, not only in `mesh validate`: a subscription from
    // any queue but a granted domain's is refused by SNS itself.
    let granted: Vec<_> = product
        .access
        .subscribers
        .iter()
        .map(|subscriber| arn("sqs", &format!("${{Prefix}}-{subscriber}-{}", product.name)))
        .collect();
    t.resource(
        "TopicPolicy",
        Some("Only the subscribers the descriptor grants (access.subscribers) may subscribe."),
        "AWS::SNS::TopicPolicy",
        map([
            ("Topics", list([r("Topic")])),
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
                            ("Resource", r("Topic")),
                            ("Condition", map([("StringNotEquals", map([("sns:Endpoint", list(granted))]))])),
                        ])]),
                    ),
                ]),
            ),
        ]),
    );
    t.stateful(
        "Stream",
        Some("The replayable log. Deleted with the stack: the outbox is the record."),
        "AWS::Kinesis::Stream",
        OnDelete::Delete,
        map([
            ("Name", sub(format!("${{Prefix}}-{name}-{}", product.ports.kinesis.stream))),
            ("StreamModeDetails", map([("StreamMode", s("PROVISIONED"))])),
            ("ShardCount", r("ShardCount")),
            ("RetentionPeriodHours", r("RetentionPeriodHours")),
            ("StreamEncryption", map([("EncryptionType", s("KMS")), ("KeyId", att(KEY, "Arn"))])),
            ("Tags", tags("kinesis")),
        ]),
    );
    t.output(
        "TopicArn",
        &format!("ARN of the {} SNS topic (consumers subscribe their queues to it).", product.name),
        r("Topic"),
    );
    t.output("TopicName", &format!("Name of the {} SNS topic.", product.name), att("Topic", "TopicName"));
    t.output("StreamName", &format!("Name of the {} Kinesis stream.", product.name), r("Stream"));
    t.output("StreamArn", &format!("ARN of the {} Kinesis stream.", product.name), att("Stream", "Arn"));
    t.output("KeyArn", &format!("ARN of the {name} domain's KMS key (pass it to {name}.yaml)."), att(KEY, "Arn"));
    t
}

//! `infra/<domain>.yaml`: everything a domain owns besides its ports: state,
//! outbox and inbox tables, the outbox relay, one queue + DLQ +
//! subscription + function per consumed product, the HTTP API, and alarms.

use crate::descriptor::{Api, Descriptor, Mesh, Order, Product, Route, RouteAuth, Subscription, Throttling};
use mesh::env;
use serde_norway::Value;

use super::alarms;
use super::cfn::{
    OnDelete, Template, arn, att, camel, deny_insecure_transport, if_, list, map, not_equals, r, s, strings, sub,
};
use super::checkov::FunctionKind;
use super::deadlines;
use super::iam::{Function, Statement, function_name, key_use, registry_arns};
use super::identity::client_id_parameter;
use super::key::{KEY, PII_READ, TOKEN_USE, add_domain_key};
use super::params;
use super::platform::TOKEN_KEY_ARN;

const KEY_ARN_PATTERN: &str = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+$";

/// The relay: the platform's generic crate, deployed once per producing domain.
pub const RELAY_CRATE: &str = "outbox-relay";
/// The longest a function may run; queues hide a message for at least this long.
const FUNCTION_TIMEOUT: u32 = 10;
const RELAY_TIMEOUT: u32 = 30;
/// The most concurrent batches one subscription queue's mapping runs (SQS's
/// minimum); its handler reserves as many per queue it consumes.
const QUEUE_CONCURRENCY: u32 = 2;
/// The parameter holding the issuer every token must come from.
pub const JWT_ISSUER: &str = "JwtIssuer";
const JWT_AUTHORIZER: &str = "HttpApiJwtAuthorizer";
const ACCESS_LOG_GROUP: &str = "HttpApiAccessLogGroup";

/// A subscription's logical-id stem: the consumed product's name,
/// camel-cased (`order-events` → `OrderEvents`). Its queue, DLQ and function
/// are `<stem>Queue`, `<stem>Dlq`, `<stem>Function`, with outputs
/// `<stem>QueueUrl`, `<stem>DlqUrl` and `<stem>FunctionName`.
pub fn subscription_id(subscription: &Subscription) -> String {
    subscription_stem(&subscription.product.product)
}

/// [`subscription_id`] from the consumed product's name alone.
pub fn subscription_stem(product: &str) -> String {
    camel(product)
}

/// The parameter through which a consumer's stack gets the consumed topic.
pub fn consumed_topic_parameter(subscription: &Subscription) -> String {
    format!("{}TopicArn", subscription_id(subscription))
}

/// The parameter through which a consumer's stack gets the key of a product
/// whose PII it is granted (the producer's domain key, which wraps its data keys).
pub fn consumed_key_parameter(subscription: &Subscription) -> String {
    format!("{}KeyArn", subscription_id(subscription))
}

/// Whether `domain` reads the PII of the product `subscription` consumes in
/// clear: the producer lists it in `access.pii_readers`.
pub fn reads_pii(mesh: &Mesh, domain: &Descriptor, subscription: &Subscription) -> bool {
    mesh.domain(&subscription.product.domain)
        .and_then(|producer| producer.product(&subscription.product.product))
        .is_some_and(|product| product.grants_pii_to(&domain.domain))
}

/// Whether the domain's product has PII: its writers then protect it.
fn protects_pii(product: Option<&Product>) -> bool {
    product.is_some_and(|product| !product.pii.is_empty())
}

/// The producer's ports output a subscription's queue is subscribed to: the
/// FIFO topic for strict order, the standard one otherwise.
pub fn consumed_topic_output(subscription: &Subscription) -> &'static str {
    if subscription.order == Order::Strict { "OrderedTopicArn" } else { "TopicArn" }
}

/// A subscription's queue name (with `${Prefix}`) and its DLQ's: FIFO
/// queues must end in `.fifo`.
pub fn queue_names(domain: &str, subscription: &Subscription) -> (String, String) {
    let base = format!("${{Prefix}}-{domain}-{}", subscription.product.product);
    match subscription.order {
        Order::Strict => (format!("{base}.fifo"), format!("{base}-dlq.fifo")),
        Order::Any | Order::Sequence => (base.clone(), format!("{base}-dlq")),
    }
}

/// Whether the domain's product has a FIFO topic its relay publishes to.
pub fn ordered_topic(mesh: &Mesh, domain: &Descriptor, product: &Product) -> bool {
    !mesh.strict_subscribers(&domain.domain, &product.name).is_empty()
}

pub fn domain_template(mesh: &Mesh, domain: &Descriptor) -> Template {
    let product = domain.products.first();
    let mut t = Template::new(description(domain, product));
    parameters(&mut t, mesh, domain, product);

    // A producer's key is created with its ports; a read-side domain has none.
    let key_arn = if product.is_some() {
        r("KeyArn")
    } else {
        add_domain_key(&mut t, mesh, domain);
        att(KEY, "Arn")
    };

    tables(&mut t, domain, product, &key_arn);
    let mut handlers: Vec<&str> = Vec::new();
    for subscription in &domain.consumes {
        subscription_queues(&mut t, domain, subscription, &key_arn);
        if !handlers.contains(&subscription.handler.as_str()) {
            handlers.push(&subscription.handler);
        }
    }
    for handler in handlers {
        consumer_function(&mut t, mesh, domain, product, handler, &key_arn);
    }
    for subscription in &domain.consumes {
        queue_mapping(&mut t, subscription);
    }
    // After the queues: a deadline is delivered to one of them.
    if let Some(product) = product {
        let deadlines = deadlines::add(&mut t, domain, &key_arn);
        relay(&mut t, domain, product, &key_arn, ordered_topic(mesh, domain, product), deadlines);
    }
    if let Some(api) = &domain.api {
        http_api(&mut t, domain, product, api, &key_arn);
    }
    alarms::add(&mut t, domain, product);
    outputs(&mut t, domain, product);
    t
}

/// The stack's parameters: the deployment settings, the ports a producer
/// gets from its ports stack, each consumed topic, and the knobs of its
/// queues and relay.
fn parameters(t: &mut Template, mesh: &Mesh, domain: &Descriptor, product: Option<&Product>) {
    let name = &domain.domain;
    let consumes = !domain.consumes.is_empty();
    params::prefix(t);
    params::code(t);
    if let Some(product) = product {
        params::topic_arn(
            t,
            "TopicArn",
            format!("ARN of this domain's {} topic (output TopicArn of the {name}-ports stack).", product.name),
        );
        params::string(
            t,
            "StreamName",
            &format!("Name of this domain's {} stream (output StreamName of the {name}-ports stack).", product.name),
            "^[A-Za-z0-9_.-]{1,128}$",
        );
        params::string(
            t,
            "StreamArn",
            &format!("ARN of this domain's {} stream (output StreamArn of the {name}-ports stack).", product.name),
            "^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[A-Za-z0-9_.-]{1,128}$",
        );
        if ordered_topic(mesh, domain, product) {
            params::topic_arn(
                t,
                "OrderedTopicArn",
                format!(
                    "ARN of this domain's {} FIFO topic (output OrderedTopicArn of the {name}-ports stack).",
                    product.name
                ),
            );
        }
        params::string(
            t,
            "KeyArn",
            &format!("ARN of the domain's KMS key (output KeyArn of the {name}-ports stack)."),
            KEY_ARN_PATTERN,
        );
        if protects_pii(Some(product)) {
            params::string(
                t,
                TOKEN_KEY_ARN,
                "ARN of the mesh's PII token key (output TokenKeyArn of the platform stack).",
                KEY_ARN_PATTERN,
            );
        }
    }
    for subscription in domain.consumes.iter().filter(|s| reads_pii(mesh, domain, s)) {
        params::string(
            t,
            &consumed_key_parameter(subscription),
            &format!(
                "ARN of the {} domain's KMS key (output KeyArn of the {}-ports stack): this domain reads the PII of {}.",
                subscription.product.domain, subscription.product.domain, subscription.product
            ),
            KEY_ARN_PATTERN,
        );
    }
    for subscription in &domain.consumes {
        params::topic_arn(
            t,
            &consumed_topic_parameter(subscription),
            format!(
                "ARN of the {} topic (output {} of the {}-ports stack).",
                subscription.product,
                consumed_topic_output(subscription),
                subscription.product.domain
            ),
        );
    }
    if consumes {
        params::number(
            t,
            "QueueVisibilityTimeout",
            60,
            (i64::from(FUNCTION_TIMEOUT), 43200),
            "Seconds a received message stays hidden: at least the function's timeout (10 s); AWS recommends 6x.",
        );
        params::number(t, "MaxReceiveCount", 5, (1, 1000), "Receives of one message before SQS moves it to its DLQ.");
    }
    if product.is_some() {
        params::number(
            t,
            "RelayMaximumRetryAttempts",
            10,
            (-1, 10000),
            "Retries of a failing outbox stream batch before its coordinates go to the relay-failures queue (-1 = until the record expires).",
        );
        params::number(
            t,
            "RelayMaximumRecordAgeInSeconds",
            3600,
            (-1, 604800),
            "Oldest outbox stream record the relay still retries, in seconds (-1 = no limit).",
        );
    }
    if let Some(api) = &domain.api {
        api_parameters(t, api);
    }
    if product.is_some() {
        deadlines::parameters(t, domain);
    }
    params::alarm_action(t);
    t.condition("HasAlarmAction", not_equals(r("AlarmActionArn"), s("")));
    if product.is_some() || consumes {
        params::event_source_mappings(t);
    }
}

/// The subscription queue's event-source mapping onto its handler.
fn queue_mapping(t: &mut Template, subscription: &Subscription) {
    let id = subscription_id(subscription);
    t.resource(
        &format!("{id}EventSourceMapping"),
        Some(
            "Failures are per message (ReportBatchItemFailures); a message that keeps\n\
             failing goes to the DLQ after MaxReceiveCount receives.",
        ),
        "AWS::Lambda::EventSourceMapping",
        map([
            ("EventSourceArn", att(&format!("{id}Queue"), "Arn")),
            ("FunctionName", r(&format!("{}Function", camel(&subscription.handler)))),
            ("Enabled", if_(params::MAPPINGS_ENABLED, true.into(), false.into())),
            ("BatchSize", 10.into()),
            ("FunctionResponseTypes", strings(["ReportBatchItemFailures"])),
            ("ScalingConfig", map([("MaximumConcurrency", QUEUE_CONCURRENCY.into())])),
        ]),
    );
}

fn description(domain: &Descriptor, product: Option<&Product>) -> String {
    let name = &domain.domain;
    let mut parts = vec![format!("Data mesh, domain \"{name}\": {}", domain.description.trim_end_matches('.'))];
    match product {
        Some(product) => parts.push(format!(
            "It keeps its state with a transactional outbox relayed to the {} ports (deploy after {name}-ports.yaml)",
            product.name
        )),
        None => parts.push("It publishes nothing: no outbox, no relay, no ports".to_owned()),
    }
    for subscription in &domain.consumes {
        parts.push(format!(
            "It consumes {} v{} through its own queue and DLQ (deploy after {}-ports.yaml)",
            subscription.product, subscription.version, subscription.product.domain
        ));
    }
    parts.join(". ") + "."
}

fn table(key_arn: &Value, keys: &[(&str, &str, &str)], extra: Vec<(&str, Value)>) -> Value {
    let mut properties = vec![
        ("BillingMode", s("PAY_PER_REQUEST")),
        (
            "AttributeDefinitions",
            list(keys.iter().map(|(name, kind, _)| map([("AttributeName", s(*name)), ("AttributeType", s(*kind))]))),
        ),
        (
            "KeySchema",
            list(keys.iter().map(|(name, _, role)| map([("AttributeName", s(*name)), ("KeyType", s(*role))]))),
        ),
        (
            "SSESpecification",
            map([("SSEEnabled", true.into()), ("SSEType", s("KMS")), ("KMSMasterKeyId", key_arn.clone())]),
        ),
        ("PointInTimeRecoverySpecification", map([("PointInTimeRecoveryEnabled", true.into())])),
    ];
    properties.extend(extra);
    map(properties)
}

fn tables(t: &mut Template, domain: &Descriptor, product: Option<&Product>, key_arn: &Value) {
    let state_comment = if product.is_some() {
        "The domain's private state, one item per entity (pk = entity id)."
    } else {
        "The domain's view, one item per entity (pk = entity id). It can be rebuilt\n\
         by replaying the consumed products; point-in-time recovery spares the replay."
    };
    t.stateful(
        "StateTable",
        Some(state_comment),
        "AWS::DynamoDB::Table",
        OnDelete::Retain,
        table(key_arn, &[("pk", "S", "HASH")], vec![]),
    );
    if product.is_some() {
        t.stateful(
            "OutboxTable",
            Some(
                "One item per event (pk = entity id, sk = entity sequence), written in the\n\
                 same transaction as the state; its stream is the only way events leave.",
            ),
            "AWS::DynamoDB::Table",
            OnDelete::Retain,
            table(
                key_arn,
                &[("pk", "S", "HASH"), ("sk", "N", "RANGE")],
                vec![
                    ("StreamSpecification", map([("StreamViewType", s("NEW_IMAGE"))])),
                    ("TimeToLiveSpecification", map([("AttributeName", s("expires_at")), ("Enabled", true.into())])),
                ],
            ),
        );
    }
    if !domain.consumes.is_empty() {
        t.stateful(
            "InboxTable",
            Some("Idempotency: one item per consumed event id, written with its effect."),
            "AWS::DynamoDB::Table",
            OnDelete::Delete,
            table(
                key_arn,
                &[("pk", "S", "HASH")],
                vec![("TimeToLiveSpecification", map([("AttributeName", s("expires_at")), ("Enabled", true.into())]))],
            ),
        );
    }
}

fn queue_tags(domain: &str, role: &str) -> Value {
    list([("mesh:domain", domain), ("mesh:queue", role)].map(|(k, v)| map([("Key", s(k)), ("Value", s(v))])))
}

/// The writes a domain function makes: every store write is a `Put` in a
/// transaction (authorised as `PutItem` on its table), reads are `GetItem`.
fn store_statements(product: Option<&Product>, inbox: bool) -> Vec<Statement> {
    let mut statements =
        vec![Statement::new("State", &["dynamodb:GetItem", "dynamodb:PutItem"], vec![att("StateTable", "Arn")])];
    if product.is_some() {
        statements.push(Statement::new("Outbox", &["dynamodb:PutItem"], vec![att("OutboxTable", "Arn")]));
    }
    if inbox {
        statements.push(Statement::new("Inbox", &["dynamodb:PutItem"], vec![att("InboxTable", "Arn")]));
    }
    statements
}

fn store_environment(domain: &Descriptor, product: Option<&Product>, inbox: bool) -> Vec<(String, Value)> {
    let mut environment = vec![(env::DOMAIN.to_owned(), s(domain.domain.clone()))];
    if let Some(product) = product {
        environment.push((env::PRODUCT.to_owned(), s(product.name.clone())));
    }
    environment.push((env::STATE_TABLE.to_owned(), r("StateTable")));
    if product.is_some() {
        environment.push((env::OUTBOX_TABLE.to_owned(), r("OutboxTable")));
    }
    if inbox {
        environment.push((env::INBOX_TABLE.to_owned(), r("InboxTable")));
    }
    environment
}

/// What a function writing a product with PII needs: its token key derived
/// once (`kms:GenerateMac` on the mesh's token key) and data keys under the
/// domain's key bound to the product (`kms:GenerateDataKey`, called
/// directly, not through a service); the two ARNs as settings.
fn pii_protection(
    domain: &Descriptor,
    product: Option<&Product>,
    statements: &mut Vec<Statement>,
    environment: &mut Vec<(String, Value)>,
) {
    let Some(product) = product.filter(|p| protects_pii(Some(p))) else { return };
    statements.push(Statement::new("PiiTokens", &TOKEN_USE, vec![r(TOKEN_KEY_ARN)]));
    statements.push(
        Statement::new("PiiSeal", &["kms:GenerateDataKey"], vec![r("KeyArn")])
            .when(pii_context(&format!("{}/{}", domain.domain, product.name))),
    );
    environment.push((env::TOKEN_KEY_ARN.to_owned(), r(TOKEN_KEY_ARN)));
    environment.push((env::SEALING_KEY_ARN.to_owned(), r("KeyArn")));
}

/// The condition binding a key call to one product's data keys.
fn pii_context(product: &str) -> Value {
    map([("StringEquals", map([(format!("kms:EncryptionContext:{}", mesh::pii::CONTEXT_KEY), s(product))]))])
}

fn relay(
    t: &mut Template,
    domain: &Descriptor,
    product: &Product,
    key_arn: &Value,
    ordered: bool,
    deadlines: Option<deadlines::RelayDeadlines>,
) {
    let name = &domain.domain;
    let mut environment = vec![
        (env::DOMAIN.to_owned(), s(name.clone())),
        (env::PRODUCT.to_owned(), s(product.name.clone())),
        (env::TOPIC_ARN.to_owned(), r("TopicArn")),
        (env::STREAM_NAME.to_owned(), r("StreamName")),
    ];
    let mut topics = vec![r("TopicArn")];
    if ordered {
        environment.push((env::ORDERED_TOPIC_ARN.to_owned(), r("OrderedTopicArn")));
        topics.push(r("OrderedTopicArn"));
    }
    t.stateful(
        "RelayFailureQueue",
        Some(
            "On-failure destination of the relay's stream mapping: Lambda writes the\n\
             shard and sequence range of every batch it gives up on, for a replay.",
        ),
        "AWS::SQS::Queue",
        OnDelete::Delete,
        map([
            ("QueueName", sub(format!("${{Prefix}}-{name}-relay-failures"))),
            ("MessageRetentionPeriod", 1_209_600.into()),
            ("KmsMasterKeyId", key_arn.clone()),
            ("Tags", queue_tags(name, "on-failure")),
        ]),
    );
    // Lambda writes the on-failure records with the relay's role: no service needs a grant here.
    queue_policy(t, "RelayFailureQueue", None, vec![]);
    let mut statements = vec![
        Statement::new(
            "OutboxStream",
            &["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            vec![att("OutboxTable", "StreamArn")],
        ),
        // ListStreams has no resource type in IAM: it applies to "*" only
        // (it lists stream ARNs, no data). Lambda's stream poller needs it.
        Statement::new("OutboxStreamList", &["dynamodb:ListStreams"], vec![s("*")]),
        Statement::new("Topic", &["sns:Publish"], topics),
        Statement::new("Stream", &["kinesis:PutRecords"], vec![r("StreamArn")]),
        // The mapping's on-failure destination is written with this role.
        Statement::new("OnFailure", &["sqs:SendMessage"], vec![att("RelayFailureQueue", "Arn")]),
        key_use(key_arn.clone(), &["dynamodb", "sns", "kinesis", "sqs"]),
    ];
    if let Some(deadlines) = deadlines {
        environment.extend(deadlines.environment);
        statements.extend(deadlines.statements);
    }
    let function = Function {
        stem: "Relay".to_owned(),
        crate_name: RELAY_CRATE.to_owned(),
        name: function_name(name, RELAY_CRATE),
        description: format!("Outbox relay: the outbox stream to the {} topic and stream.", product.name),
        timeout_seconds: RELAY_TIMEOUT,
        memory_mb: 256,
        environment,
        statements,
        kind: FunctionKind::Relay,
        log_key: key_arn.clone(),
        reserved_concurrency: None,
    };
    function.add_to(t);
    t.resource(
        "RelayEventSourceMapping",
        Some(
            "The relay reports the first failed record; the shard retries from there,\n\
             so per-entity order holds. Only INSERTs are events (TTL expiry = REMOVE).",
        ),
        "AWS::Lambda::EventSourceMapping",
        map([
            ("EventSourceArn", att("OutboxTable", "StreamArn")),
            ("FunctionName", r("RelayFunction")),
            ("Enabled", if_(params::MAPPINGS_ENABLED, true.into(), false.into())),
            ("StartingPosition", s("TRIM_HORIZON")),
            ("BatchSize", 100.into()),
            ("MaximumBatchingWindowInSeconds", 0.into()),
            ("FunctionResponseTypes", strings(["ReportBatchItemFailures"])),
            ("BisectBatchOnFunctionError", true.into()),
            ("MaximumRetryAttempts", r("RelayMaximumRetryAttempts")),
            ("MaximumRecordAgeInSeconds", r("RelayMaximumRecordAgeInSeconds")),
            ("DestinationConfig", map([("OnFailure", map([("Destination", att("RelayFailureQueue", "Arn"))]))])),
            ("FilterCriteria", map([("Filters", list([map([("Pattern", s(r#"{"eventName": ["INSERT"]}"#))])]))])),
        ]),
    );
}

fn subscription_queues(t: &mut Template, domain: &Descriptor, subscription: &Subscription, key_arn: &Value) {
    subscription_queue_and_dlq(t, domain, subscription, key_arn);
    subscribe_queue(t, subscription);
}

/// `<queue>Policy`: only what `allow` names may send, and nobody may use the
/// queue without TLS.
fn queue_policy(t: &mut Template, queue: &str, comment: Option<&str>, allow: Vec<Value>) {
    let mut statements = allow;
    statements.push(deny_insecure_transport("sqs", vec![att(queue, "Arn")]));
    t.resource(
        &format!("{queue}Policy"),
        comment,
        "AWS::SQS::QueuePolicy",
        map([
            ("Queues", list([r(queue)])),
            ("PolicyDocument", map([("Version", s("2012-10-17")), ("Statement", list(statements))])),
        ]),
    );
}

/// Lets SNS send to `queue` from `topic` only.
fn topic_sends(sid: String, queue: &str, topic: Value) -> Value {
    map([
        ("Sid", s(sid)),
        ("Effect", s("Allow")),
        ("Principal", map([("Service", s("sns.amazonaws.com"))])),
        ("Action", s("sqs:SendMessage")),
        ("Resource", att(queue, "Arn")),
        ("Condition", map([("ArnEquals", map([("aws:SourceArn", topic)]))])),
    ])
}

/// The subscription's queue and its DLQ, FIFO for strict order.
fn subscription_queue_and_dlq(t: &mut Template, domain: &Descriptor, subscription: &Subscription, key_arn: &Value) {
    let name = &domain.domain;
    let id = subscription_id(subscription);
    let (queue_name, dlq_name) = queue_names(name, subscription);
    let fifo = subscription.order == Order::Strict;
    let (queue, dlq) = (format!("{id}Queue"), format!("{id}Dlq"));
    t.stateful(
        &dlq,
        Some(&format!(
            "The subscription to {} v{}, owned by this (consumer) domain: its DLQ.\n\
             Only its queue may use it, and SQS redrive (StartMessageMoveTask) can\n\
             move messages back. The queue's ARN is built from its name: a\n\
             reference would be a cycle.",
            subscription.product, subscription.version
        )),
        "AWS::SQS::Queue",
        OnDelete::Delete,
        fifo_queue(
            fifo,
            [
                ("QueueName", sub(dlq_name)),
                ("MessageRetentionPeriod", 1_209_600.into()),
                ("KmsMasterKeyId", key_arn.clone()),
                (
                    "RedriveAllowPolicy",
                    map([("redrivePermission", s("byQueue")), ("sourceQueueArns", list([arn("sqs", &queue_name)]))]),
                ),
                ("Tags", queue_tags(name, "dlq")),
            ],
        ),
    );
    t.stateful(
        &queue,
        Some("Shorter retention than the DLQ's 14 days: a message keeps its age when moved."),
        "AWS::SQS::Queue",
        OnDelete::Delete,
        fifo_queue(
            fifo,
            [
                ("QueueName", sub(queue_name.clone())),
                ("VisibilityTimeout", r("QueueVisibilityTimeout")),
                ("MessageRetentionPeriod", 345_600.into()),
                ("KmsMasterKeyId", key_arn.clone()),
                (
                    "RedrivePolicy",
                    map([("deadLetterTargetArn", att(&dlq, "Arn")), ("maxReceiveCount", r("MaxReceiveCount"))]),
                ),
                ("Tags", queue_tags(name, "subscription")),
            ],
        ),
    );
}

/// The queues' policies (only the consumed topic may send: to the queue,
/// and to the DLQ what SNS could not deliver) and the filtered subscription
/// to the topic.
fn subscribe_queue(t: &mut Template, subscription: &Subscription) {
    let id = subscription_id(subscription);
    let (queue, dlq) = (format!("{id}Queue"), format!("{id}Dlq"));
    let topic = r(&consumed_topic_parameter(subscription));
    queue_policy(
        t,
        &queue,
        Some("Only the consumed topic may send to the queue."),
        vec![topic_sends(format!("Allow{id}Topic"), &queue, topic.clone())],
    );
    queue_policy(
        t,
        &dlq,
        Some("The consumed topic puts here what it could not deliver to the queue (the subscription's redrive)."),
        vec![topic_sends(format!("Allow{id}TopicRedrive"), &dlq, topic.clone())],
    );
    t.resource_with(
        &format!("{id}Subscription"),
        Some(
            "SNS only delivers once the queue policies let the topic send. A message it\n\
             cannot deliver (the queue refused it, the key did) goes to the DLQ, not away.",
        ),
        map([
            ("Type", s("AWS::SNS::Subscription")),
            ("DependsOn", strings([format!("{id}QueuePolicy"), format!("{dlq}Policy")])),
            (
                "Properties",
                map([
                    ("TopicArn", topic),
                    ("Protocol", s("sqs")),
                    ("Endpoint", att(&queue, "Arn")),
                    ("RawMessageDelivery", true.into()),
                    ("FilterPolicyScope", s("MessageAttributes")),
                    ("FilterPolicy", map([("type", strings(subscription.events.iter().cloned()))])),
                    ("RedrivePolicy", map([("deadLetterTargetArn", att(&dlq, "Arn"))])),
                ]),
            ),
        ]),
    );
}

/// A queue's properties, `FifoQueue: true` first for a FIFO queue
/// (deduplication by the id the relay sets: the event id).
fn fifo_queue<const N: usize>(fifo: bool, properties: [(&str, Value); N]) -> Value {
    let mut all = Vec::with_capacity(N + 2);
    if fifo {
        all.push(("FifoQueue", true.into()));
        all.push(("ContentBasedDeduplication", false.into()));
    }
    all.extend(properties);
    map(all)
}

fn consumer_function(
    t: &mut Template,
    mesh: &Mesh,
    domain: &Descriptor,
    product: Option<&Product>,
    handler: &str,
    key_arn: &Value,
) {
    let subscriptions: Vec<&Subscription> = domain.consumes.iter().filter(|s| s.handler == handler).collect();
    let consumed: Vec<String> = subscriptions.iter().map(|s| s.product.to_string()).collect();
    let mut statements = store_statements(product, true);
    // The platform keeps each entity's position for these products, in the inbox table.
    let ordered: Vec<String> = subscriptions
        .iter()
        .filter(|s| !s.order.is_any())
        .map(|s| format!("{}={}", s.product, s.order.name()))
        .collect();
    if !ordered.is_empty() {
        statements.push(Statement::new(
            "Positions",
            &["dynamodb:GetItem", "dynamodb:UpdateItem"],
            vec![att("InboxTable", "Arn")],
        ));
    }
    // Reading an event written with a schema version this function was not
    // built with: the writer's schema, from the producer's registry.
    let mut registries = Vec::new();
    for subscription in &subscriptions {
        registries.extend(registry_arns(&subscription.product.domain));
    }
    statements.push(Statement::new("WriterSchemas", &["glue:GetSchemaVersion"], registries));
    statements.push(Statement::new(
        "Queue",
        &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
        subscriptions.iter().map(|s| att(&format!("{}Queue", subscription_id(s)), "Arn")).collect(),
    ));
    // Poison goes to the DLQ at once, with the reason as an attribute.
    statements.push(Statement::new(
        "DeadLetters",
        &["sqs:GetQueueUrl", "sqs:SendMessage"],
        subscriptions.iter().map(|s| att(&format!("{}Dlq", subscription_id(s)), "Arn")).collect(),
    ));
    statements.push(key_use(key_arn.clone(), &["dynamodb", "sqs"]));
    // The products whose PII this domain is granted: their subscriber
    // unwraps the producer's data keys (kms:Decrypt on its domain key).
    let reads: Vec<&&Subscription> = subscriptions.iter().filter(|s| reads_pii(mesh, domain, s)).collect();
    for read in &reads {
        statements.push(
            Statement::new(
                format!("PiiRead{}", subscription_id(read)),
                &PII_READ,
                vec![r(&consumed_key_parameter(read))],
            )
            .when(pii_context(&read.product.to_string())),
        );
    }
    let mut environment = store_environment(domain, product, true);
    pii_protection(domain, product, &mut statements, &mut environment);
    environment.push((env::MESH_PREFIX.to_owned(), r("Prefix")));
    if !reads.is_empty() {
        let products: Vec<String> = reads.iter().map(|s| s.product.to_string()).collect();
        environment.push((env::PII_READS.to_owned(), s(products.join(","))));
    }
    if !ordered.is_empty() {
        environment.push((env::ORDERING.to_owned(), s(ordered.join(","))));
        // An event still held back on its last receive is parked with why.
        environment.push((env::MAX_RECEIVE_COUNT.to_owned(), r("MaxReceiveCount")));
    }
    Function {
        stem: camel(handler),
        crate_name: handler.to_owned(),
        name: function_name(&domain.domain, handler),
        description: format!("Consumes {} for the {} domain.", consumed.join(", "), domain.domain),
        timeout_seconds: FUNCTION_TIMEOUT,
        memory_mb: 256,
        environment,
        statements,
        kind: FunctionKind::Consumer,
        log_key: key_arn.clone(),
        // What its queues' mappings may run at once: other functions cannot
        // starve it (a throttled batch would count a receive towards the
        // DLQ), and a backlog cannot take the account's concurrency.
        reserved_concurrency: Some(
            QUEUE_CONCURRENCY.saturating_mul(u32::try_from(subscriptions.len()).unwrap_or(u32::MAX)).into(),
        ),
    }
    .add_to(t);
}

/// What API Gateway writes per request to the stage's access log, as JSON:
/// who called (the token's client, or the IAM principal), which route, the
/// answer, and why a request was refused (the authorizer's or the
/// integration's error).
const ACCESS_LOG_FORMAT: &str = concat!(
    r#"{"requestId":"$context.requestId","requestTime":"$context.requestTime","#,
    r#""sourceIp":"$context.identity.sourceIp","routeKey":"$context.routeKey","status":"$context.status","#,
    r#""protocol":"$context.protocol","responseLength":"$context.responseLength","#,
    r#""responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency","#,
    r#""integrationStatus":"$context.integrationStatus","#,
    r#""integrationErrorMessage":"$context.integrationErrorMessage","#,
    r#""authorizerError":"$context.authorizer.error","clientId":"$context.authorizer.claims.client_id","#,
    r#""iamCaller":"$context.identity.userArn"}"#
);
/// How long the access log keeps a request, in days.
const ACCESS_LOG_RETENTION_DAYS: u32 = 90;
/// The condition under which API functions reserve concurrency.
const RESERVES_CONCURRENCY: &str = "ApiReservesConcurrency";

/// The API's parameters: the token issuer and the ids of the clients it
/// accepts (from the identity stack, or another OIDC issuer's), and its
/// function's reserved concurrency.
fn api_parameters(t: &mut Template, api: &Api) {
    if api.has_jwt_routes() {
        params::string(
            t,
            JWT_ISSUER,
            "Issuer (iss) of the tokens the API accepts: output IssuerUrl of the identity stack, or another OIDC issuer.",
            "^https://[^\\s]+$",
        );
        for client in &api.clients {
            params::string(
                t,
                &client_id_parameter(&client.name),
                &format!(
                    "Id of the {} client, an audience the API accepts (output {} of the identity stack, or the \
                     other issuer's).",
                    client.name,
                    client_id_parameter(&client.name)
                ),
                "^[^\\s,]{1,256}$",
            );
        }
    }
    params::number(
        t,
        "ApiReservedConcurrency",
        20,
        (-1, 1000),
        "Instances of the API function that may run at once (and are kept for it); -1 = no reservation, \
         the account's shared pool.",
    );
    t.condition(RESERVES_CONCURRENCY, not_equals(r("ApiReservedConcurrency"), s("-1")));
}

fn http_api(t: &mut Template, domain: &Descriptor, product: Option<&Product>, api: &Api, key_arn: &Value) {
    let name = &domain.domain;
    let mut statements = store_statements(product, false);
    statements.push(key_use(key_arn.clone(), &["dynamodb"]));
    let mut environment = store_environment(domain, product, false);
    pii_protection(domain, product, &mut statements, &mut environment);
    Function {
        stem: "Api".to_owned(),
        crate_name: api.handler.clone(),
        name: function_name(name, &api.handler),
        description: format!("HTTP commands and queries of the {name} domain."),
        timeout_seconds: FUNCTION_TIMEOUT,
        memory_mb: 256,
        environment,
        statements,
        kind: FunctionKind::Api,
        log_key: key_arn.clone(),
        reserved_concurrency: Some(if_(RESERVES_CONCURRENCY, r("ApiReservedConcurrency"), r("AWS::NoValue"))),
    }
    .add_to(t);
    t.resource(
        "HttpApi",
        None,
        "AWS::ApiGatewayV2::Api",
        map([
            ("Name", sub(format!("${{Prefix}}-{name}"))),
            ("Description", s(format!("Commands and queries of the {name} domain."))),
            ("ProtocolType", s("HTTP")),
        ]),
    );
    t.resource(
        "HttpApiIntegration",
        None,
        "AWS::ApiGatewayV2::Integration",
        map([
            ("ApiId", r("HttpApi")),
            ("IntegrationType", s("AWS_PROXY")),
            ("IntegrationUri", att("ApiFunction", "Arn")),
            ("PayloadFormatVersion", s("2.0")),
        ]),
    );
    if api.has_jwt_routes() {
        jwt_authorizer(t, name, api);
    }
    for route in &api.routes {
        api_route(t, route);
    }
    api_stage(t, name, api, key_arn);
    t.resource(
        "HttpApiInvokePermission",
        Some("Only this API may invoke the function."),
        "AWS::Lambda::Permission",
        map([
            ("FunctionName", r("ApiFunction")),
            ("Action", s("lambda:InvokeFunction")),
            ("Principal", s("apigateway.amazonaws.com")),
            ("SourceArn", arn("execute-api", "${HttpApi}/*")),
        ]),
    );
}

/// Checks every token before the function sees the request: signed by the
/// issuer's keys, from `JwtIssuer`, not expired, for one of the clients.
fn jwt_authorizer(t: &mut Template, name: &str, api: &Api) {
    t.resource(
        JWT_AUTHORIZER,
        Some(
            "A request without a valid token is answered 401, one whose token lacks the\n\
             route's scope 403, both by API Gateway: the function never runs.",
        ),
        "AWS::ApiGatewayV2::Authorizer",
        map([
            ("ApiId", r("HttpApi")),
            ("Name", sub(format!("${{Prefix}}-{name}-jwt"))),
            ("AuthorizerType", s("JWT")),
            ("IdentitySource", strings(["$request.header.Authorization"])),
            (
                "JwtConfiguration",
                map([
                    ("Issuer", r(JWT_ISSUER)),
                    ("Audience", list(api.clients.iter().map(|c| r(&client_id_parameter(&c.name))))),
                ]),
            ),
        ]),
    );
}

/// A route and who may call it: a token with one of its scopes, or a
/// SigV4 signature of an IAM principal allowed `execute-api:Invoke` on it.
fn api_route(t: &mut Template, route: &Route) {
    let mut properties = vec![
        ("ApiId", r("HttpApi")),
        ("RouteKey", s(route.route.clone())),
        ("Target", sub("integrations/${HttpApiIntegration}")),
    ];
    match route.auth {
        RouteAuth::Jwt => properties.extend([
            ("AuthorizationType", s("JWT")),
            ("AuthorizerId", r(JWT_AUTHORIZER)),
            ("AuthorizationScopes", strings(route.scopes.iter().cloned())),
        ]),
        RouteAuth::Iam => properties.push(("AuthorizationType", s("AWS_IAM"))),
    }
    t.resource(&route_id(&route.route), None, "AWS::ApiGatewayV2::Route", map(properties));
}

/// The `$default` stage: throttled per the descriptor (or the platform's
/// default), every request in a JSON access log encrypted with the domain's key.
fn api_stage(t: &mut Template, name: &str, api: &Api, key_arn: &Value) {
    let throttling = api.throttling.unwrap_or(Throttling::DEFAULT);
    t.stateful(
        ACCESS_LOG_GROUP,
        Some("Who called which route and what they got, one JSON line per request."),
        "AWS::Logs::LogGroup",
        OnDelete::Delete,
        map([
            ("LogGroupName", sub(access_log_group_name(name))),
            ("RetentionInDays", ACCESS_LOG_RETENTION_DAYS.into()),
            ("KmsKeyId", key_arn.clone()),
        ]),
    );
    t.resource(
        "HttpApiStage",
        Some(&format!(
            "At most {} requests/s ({} at once) over all routes: API Gateway answers 429 beyond.",
            throttling.rate_limit, throttling.burst_limit
        )),
        "AWS::ApiGatewayV2::Stage",
        map([
            ("ApiId", r("HttpApi")),
            ("StageName", s("$default")),
            ("AutoDeploy", true.into()),
            (
                "DefaultRouteSettings",
                map([
                    ("ThrottlingRateLimit", throttling.rate_limit.into()),
                    ("ThrottlingBurstLimit", throttling.burst_limit.into()),
                ]),
            ),
            (
                "AccessLogSettings",
                map([("DestinationArn", att(ACCESS_LOG_GROUP, "Arn")), ("Format", s(ACCESS_LOG_FORMAT))]),
            ),
        ]),
    );
}

/// `/aws/apigateway/${Prefix}-<domain>-access`: the API's access log (the
/// domain key lets CloudWatch Logs use it for this name only).
pub fn access_log_group_name(domain: &str) -> String {
    format!("/aws/apigateway/${{Prefix}}-{domain}-access")
}

/// `POST /orders/{id}/cancel` → `PostOrdersIdCancelRoute`.
pub fn route_id(route: &str) -> String {
    let words: Vec<String> =
        route.split([' ', '/', '{', '}']).filter(|w| !w.is_empty()).map(|w| camel(&w.to_ascii_lowercase())).collect();
    format!("{}Route", words.join(""))
}

fn outputs(t: &mut Template, domain: &Descriptor, product: Option<&Product>) {
    let name = &domain.domain;
    t.output("StateTable", &format!("Name of the {name} state table (private to the domain)."), r("StateTable"));
    if product.is_some() {
        t.output("OutboxTable", &format!("Name of the {name} outbox table."), r("OutboxTable"));
    }
    if !domain.consumes.is_empty() {
        t.output(
            "InboxTable",
            &format!("Name of the {name} inbox table (idempotency of its consumers)."),
            r("InboxTable"),
        );
    }
    if t.has_resource(KEY) {
        t.output("KeyArn", &format!("ARN of the {name} domain's KMS key."), att(KEY, "Arn"));
    }
    if domain.api.is_some() {
        t.output("HttpApiId", &format!("Id of the {name} HTTP API."), r("HttpApi"));
        t.output(
            "HttpApiEndpoint",
            &format!("Base URL of the {name} HTTP API ($default stage)."),
            att("HttpApi", "ApiEndpoint"),
        );
        t.output("ApiFunctionName", "Name of the HTTP API's function.", r("ApiFunction"));
    }
    for subscription in &domain.consumes {
        let id = subscription_id(subscription);
        let product = &subscription.product;
        t.output(
            &format!("{id}QueueUrl"),
            &format!("URL of the queue subscribed to {product}."),
            r(&format!("{id}Queue")),
        );
        t.output(
            &format!("{id}QueueArn"),
            &format!("ARN of the queue subscribed to {product}."),
            att(&format!("{id}Queue"), "Arn"),
        );
        t.output(
            &format!("{id}DlqUrl"),
            &format!("URL of the {product} queue's dead-letter queue."),
            r(&format!("{id}Dlq")),
        );
        t.output(
            &format!("{id}FunctionName"),
            &format!("Name of the function consuming {product}."),
            r(&format!("{}Function", camel(&subscription.handler))),
        );
    }
    if product.is_some() {
        t.output(
            "RelayFailureQueueUrl",
            "URL of the queue receiving outbox stream batches the relay gave up on.",
            r("RelayFailureQueue"),
        );
        t.output("RelayFunctionName", "Name of the outbox relay function.", r("RelayFunction"));
    }
}

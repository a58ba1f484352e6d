//! The domain's customer managed KMS key: it encrypts the domain's tables,
//! queues, topic, stream and log groups. A customer managed key (not
//! `aws/sqs`) because SNS must encrypt what it delivers to the domain's
//! subscription queues, and only a key policy can let it.
//!
//! The policy keeps administration apart from use: the account administers
//! the key (no Encrypt, Decrypt or GenerateDataKey), and only the domain's
//! own function roles, the AWS services holding the domain's data, the
//! topics that deliver to its queues and CloudWatch Logs for its log groups
//! may use it.

use crate::descriptor::{Descriptor, Mesh, Order, Product, Subscription};
use serde_norway::Value;

use super::cfn::{OnDelete, Template, camel, list, map, r, s, strings, sub};
use super::checkov;

/// The logical id of the key in the stack that holds it.
pub const KEY: &str = "DomainKey";
/// The logical id of the platform stack's key.
pub const PLATFORM_KEY: &str = "PlatformKey";
/// The logical id of the mesh's PII token key (in the platform stack).
pub const TOKEN_KEY: &str = "TokenKey";

/// What a producer of PII calls on the token key: once, at init, to derive
/// the key its tokens are computed with.
pub const TOKEN_USE: [&str; 1] = ["kms:GenerateMac"];
/// What a subscriber granted a product's PII calls on the producer's key:
/// unwrapping the data keys that sealed the fields.
pub const PII_READ: [&str; 1] = ["kms:Decrypt"];

/// What the account may do with the key: manage it, never use it. Without
/// `PutKeyPolicy` here KMS refuses the policy (it would lock the key out).
const ADMINISTRATION: [&str; 22] = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
];

/// What the domain's functions call the key for (through the services
/// their identity policies name, or directly).
pub const FUNCTION_USE: [&str; 2] = ["kms:Decrypt", "kms:GenerateDataKey"];

/// What DynamoDB, SQS, SNS and Kinesis call on behalf of an account
/// principal that reads or writes the domain's data (a function, an
/// operator reading a DLQ, the deployer creating a table).
const SERVICE_USE: [&str; 7] = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
];

/// What SNS needs to put a message into a queue encrypted with the key.
pub const SNS_DELIVERY: [&str; 2] = ["kms:Decrypt", "kms:GenerateDataKey"];

/// What CloudWatch Logs needs to keep a log group encrypted with the key.
const LOGS_USE: [&str; 7] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
];

/// The topic a subscription's queue is subscribed to, by the naming
/// convention of the ports stacks (`${Prefix}-<domain>-<topic>`, `.fifo` for
/// strict order, see `domain::consumed_topic_output`); built from names so
/// that no stack depends on another's creation order.
pub fn delivering_topic_arn(mesh: &Mesh, subscription: &Subscription) -> Option<Value> {
    let producer = mesh.domain(&subscription.product.domain)?;
    let product = producer.product(&subscription.product.product)?;
    let fifo = if subscription.order == Order::Strict { ".fifo" } else { "" };
    Some(sub(format!(
        "arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:${{Prefix}}-{}-{}{fifo}",
        producer.domain, product.ports.sns.topic
    )))
}

/// Every topic that delivers to one of the domain's queues, standard or FIFO.
pub fn delivering_topic_arns(mesh: &Mesh, domain: &Descriptor) -> Vec<Value> {
    domain.consumes.iter().filter_map(|subscription| delivering_topic_arn(mesh, subscription)).collect()
}

/// The role every function of the domain runs with is named
/// `${Prefix}-<domain>-...` (see `iam::role_name`).
pub fn domain_role_pattern(domain: &str) -> Value {
    sub(format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{Prefix}}-{domain}-*"))
}

/// The log groups of the domain's functions (`/aws/lambda/${Prefix}-<domain>-...`,
/// see `iam::function_name`).
pub fn domain_log_groups(domain: &str) -> Value {
    log_groups_arn(&format!("/aws/lambda/${{Prefix}}-{domain}-*"))
}

fn log_groups_arn(pattern: &str) -> Value {
    sub(format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{pattern}"))
}

fn account() -> Value {
    map([("AWS", sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))])
}

fn statement(sid: &str, principal: Value, actions: &[&str], condition: Option<Value>) -> Value {
    let mut pairs = vec![
        ("Sid", s(sid)),
        ("Effect", s("Allow")),
        ("Principal", principal),
        ("Action", strings(actions.iter().copied())),
        ("Resource", s("*")),
    ];
    pairs.extend(condition.map(|c| ("Condition", c)));
    map(pairs)
}

fn administration() -> Value {
    statement("KeyAdministration", account(), &ADMINISTRATION, None)
}

/// CloudWatch Logs, for the log groups `log_groups` only (their ARN is the
/// encryption context Logs uses).
fn logs_use(log_groups: Value) -> Value {
    statement(
        "LogsEncryptsTheLogGroups",
        map([("Service", sub("logs.${AWS::Region}.amazonaws.com"))]),
        &LOGS_USE,
        Some(map([("ArnLike", map([("kms:EncryptionContext:aws:logs:arn", log_groups)]))])),
    )
}

/// The services that hold a domain's data: DynamoDB always, SQS for its
/// queues, SNS and Kinesis for the ports of a producer.
fn services(domain: &Descriptor) -> Vec<&'static str> {
    let mut services = vec!["dynamodb"];
    if !domain.consumes.is_empty() || !domain.products.is_empty() {
        services.push("sqs");
    }
    if !domain.products.is_empty() {
        services.extend(["sns", "kinesis"]);
    }
    services
}

/// The key policy's statements for `domain`.
fn domain_statements(mesh: &Mesh, domain: &Descriptor) -> Vec<Value> {
    let name = &domain.domain;
    let via: Vec<Value> =
        services(domain).iter().map(|service| sub(format!("{service}.${{AWS::Region}}.amazonaws.com"))).collect();
    let from_account = || map([("kms:ViaService", list(via.clone())), ("kms:CallerAccount", r("AWS::AccountId"))]);
    let mut statements = vec![
        administration(),
        // The roles are created after this key (the domain's stack comes
        // later), so they are named by pattern: a key policy cannot name a
        // role that does not exist yet.
        statement(
            "DomainFunctionsUseTheKey",
            account(),
            &FUNCTION_USE,
            Some(map([("ArnLike", map([("aws:PrincipalArn", domain_role_pattern(name))]))])),
        ),
        statement("DomainServicesUseTheKey", account(), &SERVICE_USE, Some(map([("StringEquals", from_account())]))),
        // DynamoDB keeps a grant for each table it encrypts with the key.
        statement(
            "DomainServicesHoldGrants",
            account(),
            &["kms:CreateGrant"],
            Some(map([("StringEquals", from_account()), ("Bool", map([("kms:GrantIsForAWSResource", s("true"))]))])),
        ),
    ];
    let topics = delivering_topic_arns(mesh, domain);
    if !topics.is_empty() {
        statements.push(statement(
            "TopicsDeliverToTheQueues",
            map([("Service", s("sns.amazonaws.com"))]),
            &SNS_DELIVERY,
            Some(map([("ArnEquals", map([("aws:SourceArn", list(topics))]))])),
        ));
    }
    statements.extend(domain.products.iter().filter_map(|product| pii_readers(domain, product)));
    let mut log_groups = vec![domain_log_groups(name)];
    if domain.api.is_some() {
        log_groups.push(log_groups_arn(&super::domain::access_log_group_name(name)));
    }
    statements.push(logs_use(list(log_groups)));
    statements
}

/// The roles of the domains granted `product`'s PII (`access.pii_readers`)
/// may unwrap its data keys, and only its: the encryption context names the
/// product (see `mesh::pii::CONTEXT_KEY`). Named by pattern like the
/// domain's own roles, since the readers' stacks come later.
fn pii_readers(domain: &Descriptor, product: &Product) -> Option<Value> {
    if product.pii.is_empty() || product.access.pii_readers.is_empty() {
        return None;
    }
    let readers = list(product.pii_readers().map(domain_role_pattern));
    Some(statement(
        &format!("PiiReadersOf{}", camel(&product.name)),
        account(),
        &PII_READ,
        Some(map([
            ("ArnLike", map([("aws:PrincipalArn", readers)])),
            ("StringEquals", map([(context_condition(), s(format!("{}/{}", domain.domain, product.name)))])),
        ])),
    ))
}

/// The condition key on the product a data key is bound to.
fn context_condition() -> String {
    format!("kms:EncryptionContext:{}", mesh::pii::CONTEXT_KEY)
}

/// The mesh's token key: a KMS HMAC key that never leaves KMS. Each
/// producer of PII derives its token key from it once at init
/// (`GenerateMac`); one key for the whole mesh, so one value has one token in
/// every product. KMS does not rotate HMAC keys: a new token generation is a
/// new derivation label (`mesh_aws::kms::TOKEN_KEY_INFO`).
pub fn add_token_key(t: &mut Template, mesh: &Mesh) {
    let producers: Vec<Value> = mesh
        .domains
        .iter()
        .map(|file| &file.descriptor)
        .filter(|domain| domain.products.iter().any(|product| !product.pii.is_empty()))
        .map(|domain| domain_role_pattern(&domain.domain))
        .collect();
    let mut statements = vec![administration()];
    if !producers.is_empty() {
        statements.push(statement(
            "PiiProducersDeriveTheirTokenKey",
            account(),
            &TOKEN_USE,
            Some(map([("ArnLike", map([("aws:PrincipalArn", list(producers))]))])),
        ));
    }
    t.resource_with(
        TOKEN_KEY,
        Some(
            "The key PII tokens are derived from. The account administers it; only the\n\
             roles of the domains that publish PII may use it, to derive their token key.\n\
             Retained: a new key would give every value a new token, and tokens already\n\
             in the products' archives would no longer join with new ones.",
        ),
        map([
            ("Type", s("AWS::KMS::Key")),
            ("Metadata", checkov::token_key_metadata()),
            ("DeletionPolicy", s("Retain")),
            ("UpdateReplacePolicy", s("Retain")),
            (
                "Properties",
                map([
                    (
                        "Description",
                        sub("${Prefix} data mesh: the key PII tokens are derived from (HMAC, one for every product)."),
                    ),
                    ("KeySpec", s("HMAC_256")),
                    ("KeyUsage", s("GENERATE_VERIFY_MAC")),
                    ("PendingWindowInDays", 7.into()),
                    ("KeyPolicy", map([("Version", s("2012-10-17")), ("Statement", list(statements))])),
                ]),
            ),
        ]),
    );
    t.resource(
        &format!("{TOKEN_KEY}Alias"),
        None,
        "AWS::KMS::Alias",
        map([("AliasName", sub("alias/${Prefix}-pii-tokens")), ("TargetKeyId", r(TOKEN_KEY))]),
    );
}

/// Adds the key and its alias `alias/<Prefix>-<domain>`.
pub fn add_domain_key(t: &mut Template, mesh: &Mesh, domain: &Descriptor) {
    add_key(
        t,
        KEY,
        "Encrypts everything this domain stores, sends or logs. In a key policy \"*\"\n\
         means this key. The account administers it but cannot use it; only the\n\
         statements below may: the domain's roles, the services holding its data\n\
         (for a caller of this account), the topics delivering to its queues and\n\
         CloudWatch Logs for its log groups. Retained with the tables: without it\n\
         their data cannot be read.",
        &format!("${{Prefix}} data mesh, domain {}: tables, queues, topic, stream and logs.", domain.domain),
        &domain.domain,
        domain_statements(mesh, domain),
    );
}

/// Adds the platform's key, for its log groups (`/aws/lambda/<function>`)
/// only: the platform holds no other data.
pub fn add_platform_key(t: &mut Template, functions: &[&str]) {
    let groups = list(functions.iter().map(|name| log_groups_arn(&format!("/aws/lambda/{name}"))));
    add_key(
        t,
        PLATFORM_KEY,
        "Encrypts the platform's logs, and nothing else: the platform keeps no data.\n\
         The account administers it; only CloudWatch Logs may use it, for these log\n\
         groups. Retained like the domains' keys.",
        "${Prefix} data mesh platform: its functions' logs.",
        "platform",
        vec![administration(), logs_use(groups)],
    );
}

fn add_key(t: &mut Template, id: &str, comment: &str, description: &str, alias: &str, statements: Vec<Value>) {
    t.stateful(
        id,
        Some(comment),
        "AWS::KMS::Key",
        OnDelete::Retain,
        map([
            ("Description", sub(description)),
            ("EnableKeyRotation", true.into()),
            ("PendingWindowInDays", 7.into()),
            ("KeyPolicy", map([("Version", s("2012-10-17")), ("Statement", list(statements))])),
        ]),
    );
    t.resource(
        &format!("{id}Alias"),
        None,
        "AWS::KMS::Alias",
        map([("AliasName", sub(format!("alias/${{Prefix}}-{alias}"))), ("TargetKeyId", r(id))]),
    );
}

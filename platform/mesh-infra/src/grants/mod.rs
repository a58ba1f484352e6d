//! The cross-stack check (`mesh infra check`): what one template grants must
//! meet what another needs. A subscription spans three stacks (the
//! producer's topic, the consumer's queue and its key, the consumer's role),
//! and AWS drops a delivery silently when any of them refuses; no
//! single-template rule can see that. Pure code over the generated templates
//! and the plan, no AWS call:
//!
//! - every subscription's queues (and the DLQ it redrives to) admit the topic
//!   it is subscribed to, in their queue policy and in their key's policy;
//! - the consumer's role may receive from its queue and decrypt with its key;
//! - every role holds only grants some flow of its function uses;
//! - every queue and bucket refuses plain HTTP;
//! - a producer of PII may derive its token key (the mesh's token key) and
//!   seal under its domain's key, a subscriber granted the PII may unwrap
//!   the producer's data keys, and no other subscriber may (role and key
//!   policy both, the product as the encryption context).

mod flows;
mod policy;
mod stacks;

use std::path::Path;

use serde_norway::Value;

use crate::descriptor::{Mesh, Subscription};
use crate::plan::{StackKind, plan};
use crate::templates::{SNS_DELIVERY, TOKEN_USE, subscription_id};
use mesh::env;

pub use flows::{Flow, flows, scheduler_flows};
pub use policy::{Decision, Principal, Request, decide, glob};
pub use stacks::{ReadError, Resolved, Stacks, Target};

use policy::{statements, texts};
use stacks::queue_arn_of_ref;

/// One problem, as one line naming the stacks, resources and grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding(pub String);

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was checked, for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub subscriptions: usize,
    pub roles: usize,
    pub queues_and_buckets: usize,
    /// Key grants protecting PII: a producer's, a subscriber's (granted or not).
    pub pii_grants: usize,
    pub findings: Vec<Finding>,
}

/// Reads every planned stack's template under `root`.
pub fn read(root: &Path, mesh: &Mesh) -> Result<Stacks, ReadError> {
    Stacks::parse(plan(mesh), |stack| std::fs::read_to_string(root.join(&stack.template)).ok())
}

/// Every check over `stacks`.
pub fn check(mesh: &Mesh, stacks: &Stacks) -> Report {
    let mut report = Report::default();
    for domain in mesh.domains.iter().map(|d| &d.descriptor) {
        for subscription in &domain.consumes {
            report.subscriptions += 1;
            report.findings.extend(check_subscription(stacks, &domain.domain, subscription));
        }
    }
    for domain in mesh.domains.iter().map(|d| &d.descriptor) {
        for subscription in &domain.consumes {
            if let Some(finding) = pii_read(mesh, stacks, &domain.domain, subscription, &mut report.pii_grants) {
                report.findings.push(finding);
            }
        }
    }
    for (function, _) in stacks.all("AWS::Lambda::Function") {
        report.findings.extend(pii_protection(stacks, &function, &mut report.pii_grants));
    }
    for (role, _) in stacks.all("AWS::IAM::Role") {
        report.roles += 1;
        report.findings.extend(unused_grants(mesh, stacks, &role));
    }
    for (kind, policy_kind) in
        [("AWS::SQS::Queue", "AWS::SQS::QueuePolicy"), ("AWS::S3::Bucket", "AWS::S3::BucketPolicy")]
    {
        for (target, _) in stacks.all(kind) {
            report.queues_and_buckets += 1;
            report.findings.extend(plain_http_refused(stacks, &target, policy_kind));
        }
    }
    report
}

/// `stack/id (text)`, or the text alone for what is no resource of the mesh.
fn label(resolved: &Resolved) -> String {
    match &resolved.target {
        Some(target) if target.to_string() != resolved.text => format!("{target} ({})", resolved.text),
        Some(target) => target.to_string(),
        None => resolved.text.clone(),
    }
}

fn domain_stack<'a>(stacks: &'a Stacks, domain: &str) -> Option<&'a str> {
    stacks
        .stacks
        .iter()
        .find(|(_, s)| matches!(&s.plan.kind, StackKind::Domain { domain: d } if d == domain))
        .map(|(name, _)| name.as_str())
}

fn check_subscription(stacks: &Stacks, domain: &str, subscription: &Subscription) -> Vec<Finding> {
    let Some(stack) = domain_stack(stacks, domain) else {
        return vec![Finding(format!(
            "{domain}: no stack in the plan for the domain consuming {}",
            subscription.product
        ))];
    };
    let id = format!("{}Subscription", subscription_id(subscription));
    let Some(resource) = stacks.stacks[stack].resources.get(&id) else {
        return vec![Finding(format!(
            "{stack}/{id}: missing: the subscription to {} is not in the template",
            subscription.product
        ))];
    };
    let p = &resource.properties;
    let (Some(topic), Some(queue)) =
        (p.get("TopicArn").and_then(|t| stacks.eval(stack, t)), p.get("Endpoint").and_then(|e| stacks.eval(stack, e)))
    else {
        return vec![Finding(format!("{stack}/{id}: its TopicArn or Endpoint does not resolve through the plan"))];
    };
    let mut deliveries = vec![queue.clone()];
    let redrive = p.get("RedrivePolicy").and_then(|r| r.get("deadLetterTargetArn"));
    deliveries.extend(redrive.and_then(|d| stacks.eval(stack, d)));
    let mut findings = Vec::new();
    for delivery in &deliveries {
        findings.extend(queue_admits(stacks, delivery, &topic));
        findings.extend(key_admits(stacks, delivery, &topic));
    }
    findings.extend(consumer_reads(stacks, &queue));
    findings
}

/// The policies (`policy_kind`, naming their resources in `property`) of `queue` or bucket, in its stack.
fn resource_policies<'a>(stacks: &'a Stacks, queue: &Target, policy_kind: &str, property: &str) -> Vec<&'a Value> {
    stacks
        .all(policy_kind)
        .into_iter()
        .filter(|(t, r)| {
            t.stack == queue.stack
                && stacks
                    .eval_all(&t.stack, r.properties.get(property).unwrap_or(&Value::Null))
                    .iter()
                    .any(|q| q.target.as_ref() == Some(queue))
        })
        .filter_map(|(_, r)| r.properties.get("PolicyDocument"))
        .collect()
}

/// The combined decision of several policy documents of one stack.
fn combined(stacks: &Stacks, stack: &str, documents: &[&Value], request: &Request, resource_policy: bool) -> Decision {
    let decisions: Vec<Decision> =
        documents.iter().map(|d| decide(stacks, stack, d, request, resource_policy)).collect();
    if decisions.contains(&Decision::Deny) {
        Decision::Deny
    } else if decisions.contains(&Decision::Allow) {
        Decision::Allow
    } else {
        Decision::Silent
    }
}

fn queue_admits(stacks: &Stacks, queue: &Resolved, topic: &Resolved) -> Option<Finding> {
    let target = queue.target.as_ref()?;
    let arn = queue_arn_of_ref(&queue.text);
    let request = Request::new(Principal::Service("sns.amazonaws.com".to_owned()), "sqs:SendMessage", arn)
        .with("aws:SourceArn", &topic.text)
        .with("aws:SourceAccount", "${AWS::AccountId}");
    let policies = resource_policies(stacks, target, "AWS::SQS::QueuePolicy", "Queues");
    (combined(stacks, &target.stack, &policies, &request, true) != Decision::Allow).then(|| {
        Finding(format!(
            "{target}: no queue policy lets sns.amazonaws.com sqs:SendMessage from {}: SNS cannot deliver to it",
            label(topic)
        ))
    })
}

fn key_admits(stacks: &Stacks, queue: &Resolved, topic: &Resolved) -> Option<Finding> {
    let target = queue.target.as_ref()?;
    let Some(key) = flows::key_of(stacks, target) else {
        return Some(Finding(format!("{target}: not encrypted with a key of the mesh")));
    };
    let key_target = key.target.clone()?;
    let policy = stacks.resource(&key_target)?.properties.get("KeyPolicy")?;
    let missing: Vec<&str> = SNS_DELIVERY
        .iter()
        .copied()
        .filter(|action| {
            let request = Request::new(Principal::Service("sns.amazonaws.com".to_owned()), action, &key.text)
                .with("aws:SourceArn", &topic.text)
                .with("aws:SourceAccount", "${AWS::AccountId}");
            decide(stacks, &key_target.stack, policy, &request, true) != Decision::Allow
        })
        .collect();
    (!missing.is_empty()).then(|| {
        Finding(format!(
            "{key_target}: the key policy does not let sns.amazonaws.com {} for {}, which delivers to {target}: \
             SNS cannot encrypt the messages and drops them",
            missing.join(", "),
            label(topic)
        ))
    })
}

/// The consumer's role may receive from and delete on its queue, and decrypt with the queue's key.
fn consumer_reads(stacks: &Stacks, queue: &Resolved) -> Vec<Finding> {
    let Some(target) = &queue.target else { return Vec::new() };
    let arn = queue_arn_of_ref(&queue.text).to_owned();
    let Some((function, role)) = consumer_of(stacks, &arn) else {
        return vec![Finding(format!("{target}: no function's event-source mapping reads it"))];
    };
    let role_arn =
        stacks.eval(&role.stack, &crate::templates::cfn::att(&role.id, "Arn")).map(|r| r.text).unwrap_or_default();
    let mut findings = Vec::new();
    let queue_policies = resource_policies(stacks, target, "AWS::SQS::QueuePolicy", "Queues");
    for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage"] {
        let request = Request::new(Principal::Account, action, &arn).with("aws:PrincipalArn", &role_arn);
        let by_role = identity_allows(stacks, &role, &request);
        let by_queue = combined(stacks, &target.stack, &queue_policies, &request, true) != Decision::Deny;
        if !(by_role && by_queue) {
            findings.push(Finding(format!("{role}: {function} cannot {action} on {target} ({arn})")));
        }
    }
    if let Some(key) = flows::key_of(stacks, target) {
        let request = Request::new(Principal::Account, "kms:Decrypt", &key.text)
            .with("aws:PrincipalArn", &role_arn)
            .with("kms:ViaService", "sqs.${AWS::Region}.amazonaws.com")
            .with("kms:CallerAccount", "${AWS::AccountId}");
        if !identity_allows(stacks, &role, &request) {
            findings.push(Finding(format!(
                "{role}: {function} cannot kms:Decrypt with {} (the key of {target})",
                label(&key)
            )));
        }
        let key_policy = key.target.as_ref().and_then(|k| Some((k, stacks.resource(k)?.properties.get("KeyPolicy")?)));
        if let Some((key_target, policy)) = key_policy
            && decide(stacks, &key_target.stack, policy, &request, true) != Decision::Allow
        {
            findings.push(Finding(format!(
                "{key_target}: the key policy does not let {role} ({role_arn}) kms:Decrypt, which {function} needs to read {target}"
            )));
        }
    }
    findings
}

/// The condition key naming the product a data key is bound to.
fn pii_context_key() -> String {
    format!("kms:EncryptionContext:{}", mesh::pii::CONTEXT_KEY)
}

/// The role a function runs with, and its ARN.
fn role_of(stacks: &Stacks, function: &Target) -> Option<(Target, String)> {
    let role = stacks.eval(&function.stack, stacks.resource(function)?.properties.get("Role")?)?.target?;
    let arn = stacks.eval(&role.stack, &crate::templates::cfn::att(&role.id, "Arn"))?.text;
    Some((role, arn))
}

/// The key's policy lets the role `role_arn` make `request`.
fn key_policy_allows(stacks: &Stacks, key: &Target, request: &Request) -> bool {
    let policy = stacks.resource(key).and_then(|k| k.properties.get("KeyPolicy"));
    policy.is_some_and(|policy| decide(stacks, &key.stack, policy, request, true) == Decision::Allow)
}

/// A subscriber of a product with PII: granted, its role and the producer's
/// key policy let it unwrap the product's data keys; not granted, neither does.
fn pii_read(
    mesh: &Mesh,
    stacks: &Stacks,
    consumer: &str,
    subscription: &Subscription,
    checked: &mut usize,
) -> Option<Finding> {
    let producer = mesh.domain(&subscription.product.domain)?;
    let product = producer.product(&subscription.product.product)?;
    if product.pii.is_empty() {
        return None;
    }
    *checked += 1;
    let granted = product.grants_pii_to(consumer);
    let stack = domain_stack(stacks, consumer)?;
    let queue_id = format!("{}Queue", subscription_id(subscription));
    let queue = stacks.eval(stack, &crate::templates::cfn::att(&queue_id, "Arn"))?;
    let (function, role) = consumer_of(stacks, &queue.text)?;
    let (_, role_arn) = role_of(stacks, &function)?;
    let Some(key) = flows::producer_key(stacks, &producer.domain) else {
        return Some(Finding(format!(
            "{}-ports: no key wraps the data keys of {}",
            producer.domain, subscription.product
        )));
    };
    let key_target = key.target.clone()?;
    let request = Request::new(Principal::Account, "kms:Decrypt", &key.text)
        .with("aws:PrincipalArn", &role_arn)
        .with(&pii_context_key(), &subscription.product.to_string());
    let by_role = identity_allows(stacks, &role, &request);
    let by_key = key_policy_allows(stacks, &key_target, &request);
    match (granted, by_role, by_key) {
        (true, true, true) | (false, false, false) => None,
        (true, _, _) => Some(Finding(format!(
            "{}: {function} cannot kms:Decrypt the data keys of {} with {key_target} ({}), which it is granted \
             (access.pii_readers): its handler would see tokens only",
            if by_role { key_target.to_string() } else { role.to_string() },
            subscription.product,
            if by_role { "the key policy refuses it" } else { "its role does not allow it" }
        ))),
        (false, _, _) => Some(Finding(format!(
            "{}: {function} may kms:Decrypt the data keys of {} with {key_target}, which grants {consumer} no PII \
             (access.pii_readers)",
            if by_key { key_target.to_string() } else { role.to_string() },
            subscription.product
        ))),
    }
}

/// A producer of PII (a function whose settings name the token key): its
/// role and the keys' policies let it derive its token key and seal under
/// its domain's key, for its own product.
fn pii_protection(stacks: &Stacks, function: &Target, checked: &mut usize) -> Vec<Finding> {
    let Some(resource) = stacks.resource(function) else { return Vec::new() };
    let variables = resource.properties.get("Environment").and_then(|e| e.get("Variables"));
    let setting = |name: &str| variables.and_then(|v| v.get(name)).and_then(|v| stacks.eval(&function.stack, v));
    let Some(token_key) = setting(env::TOKEN_KEY_ARN) else { return Vec::new() };
    *checked += 1;
    let Some((role, role_arn)) = role_of(stacks, function) else { return Vec::new() };
    let product = match (setting(env::DOMAIN), setting(env::PRODUCT)) {
        (Some(domain), Some(product)) => format!("{}/{}", domain.text, product.text),
        _ => return vec![Finding(format!("{function}: protects PII but its settings name no DOMAIN and PRODUCT"))],
    };
    let Some(sealing_key) = setting(env::SEALING_KEY_ARN) else {
        return vec![Finding(format!("{function}: derives tokens but its settings name no {}", env::SEALING_KEY_ARN))];
    };
    let mut findings = Vec::new();
    let calls = [(TOKEN_USE[0], &token_key), ("kms:GenerateDataKey", &sealing_key)];
    for (action, key) in calls {
        let request = Request::new(Principal::Account, action, &key.text)
            .with("aws:PrincipalArn", &role_arn)
            .with(&pii_context_key(), &product);
        if !identity_allows(stacks, &role, &request) {
            findings.push(Finding(format!(
                "{role}: {function} cannot {action} with {}, which protecting the PII of {product} needs",
                label(key)
            )));
        }
        if let Some(target) = &key.target
            && !key_policy_allows(stacks, target, &request)
        {
            findings.push(Finding(format!(
                "{target}: the key policy does not let {role} ({role_arn}) {action}, which protecting the PII of {product} needs"
            )));
        }
    }
    findings
}

/// The function reading the queue `arn` through a mapping, and its role.
fn consumer_of(stacks: &Stacks, arn: &str) -> Option<(Target, Target)> {
    stacks.all("AWS::Lambda::EventSourceMapping").into_iter().find_map(|(mapping, r)| {
        let source = stacks.eval(&mapping.stack, r.properties.get("EventSourceArn")?)?;
        if source.text != arn {
            return None;
        }
        let function = stacks.eval(&mapping.stack, r.properties.get("FunctionName")?)?.target?;
        let role = stacks.eval(&function.stack, stacks.resource(&function)?.properties.get("Role")?)?.target?;
        Some((function, role))
    })
}

/// The role's inline policies documents.
fn role_documents<'a>(stacks: &'a Stacks, role: &Target) -> Vec<&'a Value> {
    let policies = stacks.resource(role).and_then(|r| r.properties.get("Policies")).and_then(Value::as_sequence);
    policies.into_iter().flatten().filter_map(|p| p.get("PolicyDocument")).collect()
}

fn identity_allows(stacks: &Stacks, role: &Target, request: &Request) -> bool {
    combined(stacks, &role.stack, &role_documents(stacks, role), request, false) == Decision::Allow
}

/// Each Allow of the role that no flow of its functions explains.
fn unused_grants(mesh: &Mesh, stacks: &Stacks, role: &Target) -> Vec<Finding> {
    let functions: Vec<Target> = stacks
        .all("AWS::Lambda::Function")
        .into_iter()
        .filter(|(f, r)| {
            r.properties.get("Role").and_then(|v| stacks.eval(&f.stack, v)).and_then(|v| v.target).as_ref()
                == Some(role)
        })
        .map(|(f, _)| f)
        .collect();
    let (flows, names): (Vec<Flow>, Vec<String>) = if functions.is_empty() {
        let Some(flows) = scheduler_flows(mesh, stacks, role) else {
            return vec![Finding(format!("{role}: no function runs with this role"))];
        };
        (flows, vec!["EventBridge Scheduler".to_owned()])
    } else {
        (
            functions.iter().flat_map(|f| flows(mesh, stacks, f)).collect(),
            functions.iter().map(ToString::to_string).collect(),
        )
    };
    let mut findings = Vec::new();
    for document in role_documents(stacks, role) {
        for statement in
            statements(document).into_iter().filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        {
            let sid = statement.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)");
            for resource in texts(stacks, &role.stack, statement.get("Resource")) {
                let extra: Vec<String> = texts(stacks, &role.stack, statement.get("Action"))
                    .into_iter()
                    .filter(|action| !explained(&flows, action, &resource))
                    .collect();
                if !extra.is_empty() {
                    findings.push(Finding(format!(
                        "{role}: statement {sid} grants {} on {resource}, which no flow of {} uses",
                        extra.join(", "),
                        names.join(", ")
                    )));
                }
            }
        }
    }
    findings
}

fn explained(flows: &[Flow], action: &str, resource: &str) -> bool {
    flows.iter().any(|flow| {
        flow.actions.iter().any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && flow.resources.iter().any(|r| glob(r, resource))
    })
}

/// Some policy of the queue or bucket denies every call made without TLS.
fn plain_http_refused(stacks: &Stacks, target: &Target, policy_kind: &str) -> Option<Finding> {
    let (property, action, resource) = if policy_kind == "AWS::S3::BucketPolicy" {
        let name = stacks.eval(&target.stack, &crate::templates::cfn::r(&target.id))?.text;
        ("Bucket", "s3:GetObject", format!("arn:${{AWS::Partition}}:s3:::{name}/object"))
    } else {
        let arn = stacks.eval(&target.stack, &crate::templates::cfn::att(&target.id, "Arn"))?.text;
        ("Queues", "sqs:ReceiveMessage", arn)
    };
    let request = Request::new(Principal::Account, action, &resource).with("aws:SecureTransport", "false");
    let policies = resource_policies(stacks, target, policy_kind, property);
    (combined(stacks, &target.stack, &policies, &request, true) != Decision::Deny)
        .then(|| Finding(format!("{target}: no {policy_kind} denies {action} without TLS (aws:SecureTransport false)")))
}

#[cfg(test)]
mod tests;

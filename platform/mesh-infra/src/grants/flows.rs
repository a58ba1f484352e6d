//! What a function does with AWS, read from its template: its log group and
//! traces, the tables, topics and streams its environment names, the queues
//! and streams its mappings read (with their DLQs and on-failure
//! destinations), the producers' registries its subscriptions read, the
//! catalog it registers, the keys all of those are encrypted with, and the
//! keys protecting PII (the token key and its domain's key for a producer,
//! the producers' keys of the products it is granted for a reader), and the
//! saga deadlines its relay schedules. A service's role is run by what the
//! service does for the mesh: the scheduler delivering the deadlines. A
//! role's grant that none of these explains is one no code path needs.

use serde_norway::Value;

use crate::descriptor::Mesh;
use crate::plan::StackKind;
use mesh::env;

use crate::templates::{DOMAIN_KEY, FUNCTION_KEY_USE, PII_READ, TOKEN_USE, registry_arns, subscription_id};

use super::stacks::{Resolved, Stacks, Target};

/// One thing a function does: these actions on these resources (patterns).
#[derive(Debug, Clone)]
pub struct Flow {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Flow {
    fn new(actions: &[&str], resources: Vec<String>) -> Self {
        Self { actions: actions.iter().map(|a| (*a).to_owned()).collect(), resources }
    }
}

const TABLE_ITEMS: [&str; 3] = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"];
const STREAM_READ: [&str; 3] = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"];
const QUEUE_READ: [&str; 4] =
    ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"];
const DEAD_LETTER: [&str; 2] = ["sqs:GetQueueUrl", "sqs:SendMessage"];
const TRACES: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];
/// The mesh's own Glue catalog entries and registries (`<Prefix>_<domain>`, `<Prefix>-<domain>`).
const CATALOG: [&str; 5] =
    ["catalog", "database/${Prefix}_*", "table/${Prefix}_*/*", "registry/${Prefix}-*", "schema/${Prefix}-*/*"];

/// Every flow of the function `function`.
pub fn flows(mesh: &Mesh, stacks: &Stacks, function: &Target) -> Vec<Flow> {
    let Some(resource) = stacks.resource(function) else { return Vec::new() };
    let p = &resource.properties;
    let stack = function.stack.as_str();
    let mut flows = Vec::new();
    if let Some(name) = p.get("FunctionName").and_then(|n| stacks.eval(stack, n)) {
        flows.extend(log_flow(stacks, stack, &name.text));
    }
    if p.get("TracingConfig").and_then(|t| t.get("Mode")).and_then(Value::as_str) == Some("Active") {
        flows.push(Flow::new(&TRACES, vec!["*".to_owned()]));
    }
    let variables = p.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping);
    for (name, value) in variables.into_iter().flatten() {
        if let Some(target) = stacks.eval(stack, value).and_then(|r| r.target) {
            flows.extend(named_resource_flows(stacks, &target));
        }
        flows.extend(pii_flows(stacks, stack, name.as_str().unwrap_or_default(), value));
        flows.extend(deadline_flows(stacks, stack, name.as_str().unwrap_or_default(), value));
    }
    flows.extend(mapping_flows(stacks, function));
    flows.extend(registry_flows(mesh, stacks, function));
    if serves_the_catalog(stacks, function) {
        let resources = CATALOG.iter().map(|rest| glue_arn(rest)).collect();
        flows.push(Flow::new(&["glue:*"], resources));
    }
    flows
}

fn glue_arn(rest: &str) -> String {
    format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:{rest}")
}

/// Writing its log group (`/aws/lambda/<name>`).
fn log_flow(stacks: &Stacks, stack: &str, function_name: &str) -> Option<Flow> {
    let group = format!("/aws/lambda/{function_name}");
    let (target, _) = stacks.all("AWS::Logs::LogGroup").into_iter().find(|(target, r)| {
        target.stack == stack
            && r.properties.get("LogGroupName").and_then(|n| stacks.eval(stack, n)).is_some_and(|n| n.text == group)
    })?;
    let arn = stacks.eval(stack, &tagged_get_att(&target.id, "Arn"))?;
    Some(Flow::new(&["logs:CreateLogStream", "logs:PutLogEvents"], vec![arn.text]))
}

fn tagged_get_att(id: &str, attribute: &str) -> Value {
    crate::templates::cfn::att(id, attribute)
}

/// What a function does with a table, topic or stream its environment names.
fn named_resource_flows(stacks: &Stacks, target: &Target) -> Vec<Flow> {
    let Some(resource) = stacks.resource(target) else { return Vec::new() };
    let arn = |attribute| stacks.eval(&target.stack, &tagged_get_att(&target.id, attribute)).map(|r| r.text);
    let (actions, resource_arn): (&[&str], Option<String>) = match resource.resource_type.as_str() {
        "AWS::DynamoDB::Table" => (&TABLE_ITEMS, arn("Arn")),
        "AWS::SNS::Topic" => {
            (&["sns:Publish"], stacks.eval(&target.stack, &crate::templates::cfn::r(&target.id)).map(|r| r.text))
        }
        "AWS::Kinesis::Stream" => (&["kinesis:PutRecords"], arn("Arn")),
        _ => return Vec::new(),
    };
    let mut flows: Vec<Flow> = resource_arn.map(|a| Flow::new(actions, vec![a])).into_iter().collect();
    flows.extend(key_flow(stacks, target));
    flows
}

/// The key the resource is encrypted with, if any.
pub fn key_of(stacks: &Stacks, target: &Target) -> Option<Resolved> {
    let resource = stacks.resource(target)?;
    let p = &resource.properties;
    let key = match resource.resource_type.as_str() {
        "AWS::DynamoDB::Table" => p.get("SSESpecification")?.get("KMSMasterKeyId")?,
        "AWS::SQS::Queue" | "AWS::SNS::Topic" => p.get("KmsMasterKeyId")?,
        "AWS::Kinesis::Stream" => p.get("StreamEncryption")?.get("KeyId")?,
        "AWS::Logs::LogGroup" => p.get("KmsKeyId")?,
        _ => return None,
    };
    stacks.eval(&target.stack, key)
}

/// Using the key of `target` (through the service that holds it).
fn key_flow(stacks: &Stacks, target: &Target) -> Option<Flow> {
    key_of(stacks, target).map(|key| Flow::new(&FUNCTION_KEY_USE, vec![key.text]))
}

/// The key calls protecting PII that the setting `name` asks for: deriving
/// the token key, sealing under the domain's key, unwrapping the data keys
/// of the products read in clear (`PII_READS`).
fn pii_flows(stacks: &Stacks, stack: &str, name: &str, value: &Value) -> Vec<Flow> {
    let key = || stacks.eval(stack, value).map(|key| vec![key.text]).unwrap_or_default();
    match name {
        env::TOKEN_KEY_ARN => vec![Flow::new(&TOKEN_USE, key())],
        env::SEALING_KEY_ARN => vec![Flow::new(&["kms:GenerateDataKey"], key())],
        env::PII_READS => {
            let products = value.as_str().unwrap_or_default().split(',').filter(|p| !p.is_empty());
            let producers = products.filter_map(|product| product.split_once('/').map(|(domain, _)| domain));
            let keys = producers.filter_map(|domain| producer_key(stacks, domain)).map(|key| key.text);
            vec![Flow::new(&PII_READ, keys.collect())]
        }
        _ => Vec::new(),
    }
}

/// Asking the scheduler for the deadlines the relay's events start: in the
/// group `SCHEDULE_GROUP`, as the role `SCHEDULER_ROLE_ARN`.
fn deadline_flows(stacks: &Stacks, stack: &str, name: &str, value: &Value) -> Vec<Flow> {
    let resolved = || stacks.eval(stack, value).map(|r| r.text);
    let flow = |actions: &[&str], resource: Option<String>| resource.map(|r| Flow::new(actions, vec![r]));
    let found = match name {
        env::SCHEDULE_GROUP => flow(
            &["scheduler:CreateSchedule"],
            resolved().map(|group| {
                format!("arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule/{group}/*")
            }),
        ),
        env::SCHEDULER_ROLE_ARN => flow(&["iam:PassRole"], resolved()),
        _ => None,
    };
    found.into_iter().collect()
}

/// What a role assumed by EventBridge Scheduler does: deliver its domain's
/// deadlines to the queues of the subscriptions that end the steps (and one
/// it cannot deliver to their DLQs). `None` for any other service's role.
pub fn scheduler_flows(mesh: &Mesh, stacks: &Stacks, role: &Target) -> Option<Vec<Flow>> {
    let trust = stacks.resource(role)?.properties.get("AssumeRolePolicyDocument")?.get("Statement")?;
    let services = trust.as_sequence()?.iter().filter_map(|s| s.get("Principal")?.get("Service")?.as_str());
    if !services.into_iter().any(|s| s == "scheduler.amazonaws.com") {
        return None;
    }
    let StackKind::Domain { domain } = &stacks.stacks.get(&role.stack)?.plan.kind else { return None };
    let descriptor = mesh.domain(domain)?;
    let mut flows = Vec::new();
    for deadline in descriptor.saga.iter().flat_map(|s| &s.deadlines) {
        let Some(subscription) =
            descriptor.consumes.iter().find(|c| c.product == deadline.waits_for && c.handler == deadline.handler)
        else {
            continue;
        };
        let id = subscription_id(subscription);
        for queue in [format!("{id}Queue"), format!("{id}Dlq")] {
            let Some(arn) = stacks.eval(&role.stack, &tagged_get_att(&queue, "Arn")) else { continue };
            flows.push(Flow::new(&["sqs:SendMessage"], vec![arn.text.clone()]));
            flows.extend(arn.target.as_ref().and_then(|t| key_flow(stacks, t)));
        }
    }
    Some(flows)
}

/// The key of `domain`'s ports stack: the one wrapping its products' data keys.
pub fn producer_key(stacks: &Stacks, domain: &str) -> Option<Resolved> {
    let (name, _) =
        stacks.stacks.iter().find(|(_, s)| matches!(&s.plan.kind, StackKind::Ports { domain: d } if d == domain))?;
    stacks.eval(name, &tagged_get_att(DOMAIN_KEY, "Arn"))
}

/// What the function's event-source mappings read, and where they park failures.
fn mapping_flows(stacks: &Stacks, function: &Target) -> Vec<Flow> {
    let mut flows = Vec::new();
    for (mapping, resource) in stacks.all("AWS::Lambda::EventSourceMapping") {
        let p = &resource.properties;
        let runs = p.get("FunctionName").and_then(|f| stacks.eval(&mapping.stack, f)).and_then(|f| f.target);
        if runs.as_ref() != Some(function) {
            continue;
        }
        if let Some(source) = p.get("EventSourceArn").and_then(|s| stacks.eval(&mapping.stack, s)) {
            flows.extend(source_flows(stacks, &source));
        }
        let on_failure = p.get("DestinationConfig").and_then(|d| d.get("OnFailure")).and_then(|o| o.get("Destination"));
        if let Some(destination) = on_failure.and_then(|d| stacks.eval(&mapping.stack, d)) {
            flows.push(Flow::new(&["sqs:SendMessage"], vec![destination.text.clone()]));
            flows.extend(destination.target.as_ref().and_then(|t| key_flow(stacks, t)));
        }
    }
    flows
}

/// Reading a table's stream or a queue (and parking poison in the queue's DLQ).
fn source_flows(stacks: &Stacks, source: &Resolved) -> Vec<Flow> {
    let Some(target) = &source.target else { return Vec::new() };
    let Some(resource) = stacks.resource(target) else { return Vec::new() };
    let mut flows = Vec::new();
    match resource.resource_type.as_str() {
        "AWS::DynamoDB::Table" => {
            flows.push(Flow::new(&STREAM_READ, vec![source.text.clone()]));
            // ListStreams has no resource type: it applies to "*" only.
            flows.push(Flow::new(&["dynamodb:ListStreams"], vec!["*".to_owned()]));
        }
        "AWS::SQS::Queue" => {
            flows.push(Flow::new(&QUEUE_READ, vec![source.text.clone()]));
            let dlq = resource.properties.get("RedrivePolicy").and_then(|r| r.get("deadLetterTargetArn"));
            if let Some(dlq) = dlq.and_then(|d| stacks.eval(&target.stack, d)) {
                flows.push(Flow::new(&DEAD_LETTER, vec![dlq.text.clone()]));
                flows.extend(dlq.target.as_ref().and_then(|t| key_flow(stacks, t)));
            }
        }
        _ => {}
    }
    flows.extend(key_flow(stacks, target));
    flows
}

/// Reading writer schemas from the registry of each producer the function consumes.
fn registry_flows(mesh: &Mesh, stacks: &Stacks, function: &Target) -> Vec<Flow> {
    let Some(stack) = stacks.stacks.get(&function.stack) else { return Vec::new() };
    let StackKind::Domain { domain } = &stack.plan.kind else { return Vec::new() };
    let Some(crate_name) = function_crate(stacks, function) else { return Vec::new() };
    let Some(descriptor) = mesh.domain(domain) else { return Vec::new() };
    descriptor
        .consumes
        .iter()
        .filter(|s| s.handler == crate_name)
        .map(|s| {
            let arns = registry_arns(&s.product.domain)
                .into_iter()
                .filter_map(|a| stacks.eval(&function.stack, &a))
                .map(|r| r.text);
            Flow::new(&["glue:GetSchemaVersion"], arns.collect())
        })
        .collect()
}

/// The crate a function runs, from its zip's key (`<ArtifactPrefix><crate>.zip`).
fn function_crate(stacks: &Stacks, function: &Target) -> Option<String> {
    let key = stacks.resource(function)?.properties.get("Code")?.get("S3Key")?;
    let text = stacks.eval(&function.stack, key)?.text;
    Some(text.strip_prefix("${ArtifactPrefix}").unwrap_or(&text).trim_end_matches(".zip").to_owned())
}

/// Whether some stack's custom resources are served by `function`.
fn serves_the_catalog(stacks: &Stacks, function: &Target) -> bool {
    stacks.stacks.iter().any(|(name, stack)| {
        stack.resources.values().filter(|r| r.resource_type.starts_with("Custom::")).any(|r| {
            r.properties.get("ServiceToken").and_then(|t| stacks.eval(name, t)).and_then(|t| t.target).as_ref()
                == Some(function)
        })
    })
}

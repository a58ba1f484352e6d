//! Execution roles and the functions that use them: one role per function,
//! each statement naming the exact actions and resources the function's
//! code calls.

use mesh::env;
use serde_norway::Value;

use super::cfn::{OnDelete, Template, arn, att, list, map, r, s, strings, sub};
use super::checkov::{self, FunctionKind};

/// How long the functions' logs are kept.
const LOG_RETENTION_DAYS: u32 = 14;

/// One IAM policy statement.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: String,
    pub actions: Vec<&'static str>,
    pub resources: Vec<Value>,
    pub condition: Option<Value>,
}

impl Statement {
    pub fn new(sid: impl Into<String>, actions: &[&'static str], resources: Vec<Value>) -> Self {
        Self { sid: sid.into(), actions: actions.to_vec(), resources, condition: None }
    }

    pub fn when(mut self, condition: Value) -> Self {
        self.condition = Some(condition);
        self
    }

    fn render(&self) -> Value {
        let mut pairs = vec![
            ("Sid", s(self.sid.as_str())),
            ("Effect", s("Allow")),
            ("Action", strings(self.actions.iter().copied())),
            ("Resource", list(self.resources.iter().cloned())),
        ];
        if let Some(condition) = &self.condition {
            pairs.push(("Condition", condition.clone()));
        }
        map(pairs)
    }
}

/// Use of the domain's key through the listed services only (tables,
/// queues, topics and streams encrypted with it).
pub fn key_use(key_arn: Value, services: &[&str]) -> Statement {
    let via: Vec<Value> =
        services.iter().map(|service| sub(format!("{service}.${{AWS::Region}}.amazonaws.com"))).collect();
    Statement::new("DomainKey", &["kms:Decrypt", "kms:GenerateDataKey"], vec![key_arn])
        .when(map([("StringEquals", map([("kms:ViaService", list(via))]))]))
}

/// A function, its log group and its own role.
#[derive(Debug, Clone)]
pub struct Function {
    /// Logical id stem: `<stem>Function`, `<stem>Role`, `<stem>LogGroup`.
    pub stem: String,
    /// The crate under `functions/`; its zip is `<ArtifactPrefix><crate>.zip`.
    pub crate_name: String,
    /// `${Prefix}-...` name of the deployed function.
    pub name: String,
    pub description: String,
    pub timeout_seconds: u32,
    pub memory_mb: u32,
    pub environment: Vec<(String, Value)>,
    pub statements: Vec<Statement>,
    /// What the function is, for the checks the platform answers in its `Metadata`.
    pub kind: FunctionKind,
    /// The key its log group is encrypted with (its stack's key).
    pub log_key: Value,
    /// `ReservedConcurrentExecutions`: the most instances it runs at once
    /// (and that many kept for it); `None` = the account's shared pool.
    pub reserved_concurrency: Option<Value>,
}

/// A function's role is named after it, with the region: IAM names are
/// global to the account, and a key policy names the domain's roles by
/// their common start `${Prefix}-<domain>-` (see `key::domain_role_pattern`).
pub fn role_name(function_name: &str) -> String {
    format!("{function_name}-${{AWS::Region}}")
}

/// The deployed name of `crate_name` in `domain`: the crate's name when it
/// already starts with the domain's (`orders-api`), else `<domain>-<crate>`.
pub fn function_name(domain: &str, crate_name: &str) -> String {
    if crate_name.starts_with(&format!("{domain}-")) {
        format!("${{Prefix}}-{crate_name}")
    } else {
        format!("${{Prefix}}-{domain}-{crate_name}")
    }
}

impl Function {
    /// Adds the log group, role and function to `t`.
    pub fn add_to(&self, t: &mut Template) {
        let stem = &self.stem;
        let log_group = format!("{stem}LogGroup");
        let role = format!("{stem}Role");
        t.stateful(
            &log_group,
            None,
            "AWS::Logs::LogGroup",
            OnDelete::Delete,
            map([
                ("LogGroupName", sub(format!("/aws/lambda/{}", self.name))),
                ("RetentionInDays", LOG_RETENTION_DAYS.into()),
                ("KmsKeyId", self.log_key.clone()),
            ]),
        );
        let mut statements =
            vec![Statement::new("Logs", &["logs:CreateLogStream", "logs:PutLogEvents"], vec![att(&log_group, "Arn")])];
        // X-Ray has no resource types: these two actions apply to "*" only.
        statements.push(Statement::new("Tracing", &TRACING, vec![s("*")]));
        statements.extend(self.statements.iter().cloned());
        t.resource(
            &role,
            Some(&format!(
                "{} runs with this role and no other function does. X-Ray cannot scope\n\
                 PutTraceSegments and PutTelemetryRecords: they apply to \"*\" only.",
                self.crate_name
            )),
            "AWS::IAM::Role",
            service_role(
                &role_name(&self.name),
                &format!("{}: {}", self.crate_name, self.description),
                "lambda.amazonaws.com",
                None,
                &self.crate_name,
                &statements,
            ),
        );
        let mut environment = self.environment.clone();
        environment.push((env::RUST_LOG.to_owned(), r("LogLevel")));
        let mut properties = vec![
            ("FunctionName", sub(self.name.clone())),
            ("Description", s(self.description.clone())),
            ("Runtime", s("provided.al2023")),
            ("Handler", s("bootstrap")),
            ("Architectures", list([r("Architecture")])),
            (
                "Code",
                map([
                    ("S3Bucket", r("ArtifactBucket")),
                    ("S3Key", sub(format!("${{ArtifactPrefix}}{}.zip", self.crate_name))),
                ]),
            ),
            ("MemorySize", self.memory_mb.into()),
            ("Timeout", self.timeout_seconds.into()),
            ("Role", att(&role, "Arn")),
            ("Environment", map([("Variables", map(environment))])),
            ("TracingConfig", map([("Mode", s("Active"))])),
        ];
        if let Some(reserved) = &self.reserved_concurrency {
            properties.push(("ReservedConcurrentExecutions", reserved.clone()));
        }
        t.resource_with(
            &format!("{stem}Function"),
            None,
            checkov::annotate(self.kind, "AWS::Lambda::Function", map(properties)),
        );
    }
}

/// The properties of a role `service` assumes (only under `trust`, when
/// given), with one inline policy of `statements`.
pub fn service_role(
    name: &str,
    description: &str,
    service: &str,
    trust: Option<Value>,
    policy_name: &str,
    statements: &[Statement],
) -> Value {
    let mut assume =
        vec![("Effect", s("Allow")), ("Principal", map([("Service", s(service))])), ("Action", s("sts:AssumeRole"))];
    if let Some(condition) = trust {
        assume.push(("Condition", condition));
    }
    map([
        ("RoleName", sub(name)),
        ("Description", s(description)),
        ("AssumeRolePolicyDocument", map([("Version", s("2012-10-17")), ("Statement", list([map(assume)]))])),
        (
            "Policies",
            list([map([
                ("PolicyName", s(policy_name)),
                (
                    "PolicyDocument",
                    map([("Version", s("2012-10-17")), ("Statement", list(statements.iter().map(Statement::render)))]),
                ),
            ])]),
        ),
    ])
}

/// What every function's role may do to send its traces.
pub const TRACING: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

/// The ARN of a Glue schema registry and its schemas (a producer's writer schemas).
pub fn registry_arns(producer: &str) -> Vec<Value> {
    vec![
        arn("glue", &format!("registry/${{Prefix}}-{producer}")),
        arn("glue", &format!("schema/${{Prefix}}-{producer}/*")),
    ]
}

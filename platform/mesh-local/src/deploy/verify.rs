//! Checking that a stack really holds what its template declares. An emulator
//! may report CREATE_COMPLETE for a resource it silently skipped (moto does
//! for SNS subscriptions and queue policies), so the data-plane resources are
//! also looked up in their own service, and their settings (encryption,
//! recovery, redrive, batch sizes, filters, retries...) compared with the
//! template's, parameters resolved to the values the stack was created with.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_norway::Value;

use aws_sdk_cloudformation::types::{ResourceStatus, StackResourceSummary};

use crate::deploy::template::{Template, TemplateResource};
use crate::{Emulator, HarnessError};

/// A declared resource the stack or its service does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingResource {
    /// The template's logical id.
    pub logical_id: String,
    /// The template's `Type`.
    pub resource_type: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for MissingResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.logical_id, self.resource_type, self.problem)
    }
}

/// Every resource of `template_path` must be in the stack as CREATE_COMPLETE
/// with a physical id, and DynamoDB tables, SQS queues and their policies, SNS
/// topics and subscriptions, Kinesis streams, Lambda functions and
/// event-source mappings must exist in their service with the settings the
/// template declares. (Log groups and keys are not looked up: the harness has
/// no CloudWatch Logs or KMS client, and MiniStack only stores a log group's key.)
/// Returns what is missing or different (empty: all there). Resources with a
/// `Condition` may be absent from the stack.
pub async fn verify_stack_resources(
    emulator: &Emulator,
    stack_name: &str,
    template_path: &Path,
) -> Result<Vec<MissingResource>, HarnessError> {
    let template = Template::load(template_path)?;
    let config = emulator.sdk_config();
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let summaries: Vec<StackResourceSummary> = cfn
        .list_stack_resources()
        .stack_name(stack_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(HarnessError::aws(format!("CloudFormation ListStackResources {stack_name}")))?;
    let parameters: HashMap<String, String> = cfn
        .describe_stacks()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(HarnessError::aws(format!("CloudFormation DescribeStacks {stack_name}")))?
        .stacks()
        .iter()
        .flat_map(|s| s.parameters())
        .filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value()?.to_owned())))
        .collect();
    let physical: HashMap<String, String> = summaries
        .iter()
        .filter_map(|s| Some((s.logical_resource_id()?.to_owned(), s.physical_resource_id()?.to_owned())))
        .collect();
    let checker = Checker::new(&config, Scope { parameters, physical });

    let mut missing = Vec::new();
    for (logical_id, declared) in &template.resources {
        let miss = |problem: String| MissingResource {
            logical_id: logical_id.clone(),
            resource_type: declared.resource_type.clone(),
            problem,
        };
        let Some(summary) = summaries.iter().find(|s| s.logical_resource_id() == Some(logical_id.as_str())) else {
            if declared.condition.is_none() {
                missing.push(miss("not in ListStackResources".to_owned()));
            }
            continue;
        };
        if summary.resource_status() != Some(&ResourceStatus::CreateComplete) {
            let status = summary.resource_status().map_or("no status", |s| s.as_str());
            let reason = summary.resource_status_reason().unwrap_or("");
            missing.push(miss(format!("status {status} {reason}").trim_end().to_owned()));
            continue;
        }
        let Some(physical_id) = summary.physical_resource_id().filter(|p| !p.is_empty()) else {
            missing.push(miss("no physical id".to_owned()));
            continue;
        };
        if let Err(problem) = checker.check(declared, physical_id).await {
            missing.push(miss(problem));
        }
    }
    Ok(missing)
}

/// What a template value means in a deployed stack.
struct Scope {
    parameters: HashMap<String, String>,
    /// Physical id by logical id.
    physical: HashMap<String, String>,
}

/// A declared value, as the service should report it.
#[derive(Debug, PartialEq)]
enum Expected {
    Exact(String),
    /// The resource's id or name, which its ARN or URL ends with.
    EndsWith(String),
}

impl Scope {
    /// Literals and `!Ref` to a parameter or resource are exact; `!GetAtt
    /// X.Arn` is matched by X's id (a key id, or a queue's name).
    fn expected(&self, value: &Value) -> Option<Expected> {
        match value {
            Value::String(s) => Some(Expected::Exact(s.clone())),
            Value::Number(n) => Some(Expected::Exact(n.to_string())),
            Value::Bool(b) => Some(Expected::Exact(b.to_string())),
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let text = tagged.value.as_str()?;
                match tag.trim_start_matches('!') {
                    "Ref" => {
                        self.parameters.get(text).or_else(|| self.physical.get(text)).cloned().map(Expected::Exact)
                    }
                    "GetAtt" => {
                        let (resource, attribute) = text.split_once('.')?;
                        let id = self.physical.get(resource)?;
                        (attribute == "Arn").then(|| Expected::EndsWith(id.rsplit('/').next().unwrap_or(id).to_owned()))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The differences found in one resource: each declared setting compared
/// with what the service reports (skipped when the declaration cannot be
/// resolved here, e.g. a `!Sub`).
struct Findings<'a> {
    scope: &'a Scope,
    problems: Vec<String>,
}

impl<'a> Findings<'a> {
    fn new(scope: &'a Scope) -> Self {
        Self { scope, problems: Vec::new() }
    }

    /// Adds a problem when `actual` is not what `declared` says.
    fn compare(&mut self, what: &str, declared: Option<&Value>, actual: Option<String>) {
        let Some(expected) = declared.and_then(|d| self.scope.expected(d)) else { return };
        let matches = match (&expected, &actual) {
            (Expected::Exact(e), Some(a)) => e == a,
            (Expected::EndsWith(e), Some(a)) => a.ends_with(e.as_str()),
            (_, None) => false,
        };
        if !matches {
            self.problems
                .push(format!("{what}: declared {expected:?}, found {}", actual.as_deref().unwrap_or("nothing")));
        }
    }

    /// The setting must be `ENABLED`.
    fn enabled(&mut self, what: &str, actual: Option<String>) {
        self.compare(what, Some(&Value::from("ENABLED")), actual);
    }

    /// Adds a problem when two lists differ.
    fn same<T: PartialEq + fmt::Debug>(&mut self, what: &str, declared: &[T], actual: &[T]) {
        if declared != actual {
            self.problems.push(format!("{what}: declared {declared:?}, found {actual:?}"));
        }
    }

    fn done(self) -> Result<(), String> {
        if self.problems.is_empty() { Ok(()) } else { Err(self.problems.join("; ")) }
    }
}

/// One client per service, looked up lazily by resource type.
struct Checker {
    scope: Scope,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    kinesis: aws_sdk_kinesis::Client,
    lambda: aws_sdk_lambda::Client,
}

fn context<E: std::error::Error + 'static>(what: String) -> impl FnOnce(E) -> String {
    move |err| format!("{what} failed: {}", aws_sdk_cloudformation::error::DisplayErrorContext(&err))
}

/// A nested property: `at(p, &["StreamSpecification", "StreamViewType"])`.
fn at<'v>(properties: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(properties, |value, key| value.get(*key))
}

/// A JSON attribute (a queue's `RedrivePolicy`), `Null` when absent or unreadable.
fn json_attribute(attributes: &HashMap<String, String>, key: &str) -> serde_json::Value {
    attributes.get(key).and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

impl Checker {
    fn new(config: &aws_config::SdkConfig, scope: Scope) -> Self {
        Self {
            scope,
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
        }
    }

    /// `Err(problem)` when the service does not have the resource, or has it
    /// with other settings.
    async fn check(&self, declared: &TemplateResource, id: &str) -> Result<(), String> {
        match declared.resource_type.as_str() {
            "AWS::DynamoDB::Table" => self.table(declared, id).await,
            "AWS::SQS::Queue" => self.queue(&declared.properties, id).await,
            "AWS::SQS::QueuePolicy" => self.queue_policy(&declared.properties).await,
            "AWS::SNS::Topic" => self.topic(&declared.properties, id).await,
            "AWS::SNS::Subscription" => self.subscription(&declared.properties, id).await,
            "AWS::Kinesis::Stream" => self.stream(&declared.properties, id).await,
            "AWS::Lambda::Function" => self.function(&declared.properties, id).await,
            "AWS::Lambda::EventSourceMapping" => self.mapping(&declared.properties, id).await,
            _ => Ok(()),
        }
    }

    /// Stream, encryption, point-in-time recovery and TTL of a table.
    async fn table(&self, declared: &TemplateResource, id: &str) -> Result<(), String> {
        let p = &declared.properties;
        let mut found = Findings::new(&self.scope);
        let out = self
            .dynamodb
            .describe_table()
            .table_name(id)
            .send()
            .await
            .map_err(context(format!("DynamoDB DescribeTable {id}")))?;
        let table = out.table().ok_or_else(|| format!("DescribeTable {id} returned no table"))?;
        let streaming =
            table.stream_specification().is_some_and(|s| s.stream_enabled()) || table.latest_stream_arn().is_some();
        if declared.wants_stream && !streaming {
            return Err(format!("table {id} exists but its stream is not enabled"));
        }
        let sse = table.sse_description();
        if at(p, &["SSESpecification", "SSEEnabled"]).and_then(Value::as_bool) == Some(true) {
            found.enabled("SSE status", sse.and_then(|s| s.status()).map(|s| s.as_str().to_owned()));
        }
        found.compare(
            "SSE type",
            at(p, &["SSESpecification", "SSEType"]),
            sse.and_then(|s| s.sse_type()).map(|t| t.as_str().to_owned()),
        );
        found.compare(
            "SSE key",
            at(p, &["SSESpecification", "KMSMasterKeyId"]),
            sse.and_then(|s| s.kms_master_key_arn()).map(str::to_owned),
        );
        found.compare(
            "stream view",
            at(p, &["StreamSpecification", "StreamViewType"]),
            table.stream_specification().and_then(|s| s.stream_view_type()).map(|v| v.as_str().to_owned()),
        );
        if at(p, &["PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"]).and_then(Value::as_bool)
            == Some(true)
        {
            found.enabled("point-in-time recovery", self.point_in_time_recovery(id).await?);
        }
        if let Some(ttl) = p.get("TimeToLiveSpecification") {
            let out = self
                .dynamodb
                .describe_time_to_live()
                .table_name(id)
                .send()
                .await
                .map_err(context(format!("DynamoDB DescribeTimeToLive {id}")))?;
            let described = out.time_to_live_description();
            found.compare(
                "TTL attribute",
                ttl.get("AttributeName"),
                described.and_then(|d| d.attribute_name()).map(str::to_owned),
            );
            found.enabled("TTL status", described.and_then(|d| d.time_to_live_status()).map(|s| s.as_str().to_owned()));
        }
        found.done()
    }

    /// The table's point-in-time recovery status.
    async fn point_in_time_recovery(&self, id: &str) -> Result<Option<String>, String> {
        let backups = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(id)
            .send()
            .await
            .map_err(context(format!("DynamoDB DescribeContinuousBackups {id}")))?;
        Ok(backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|d| d.point_in_time_recovery_status())
            .map(|s| s.as_str().to_owned()))
    }

    /// Visibility, retention, key and the redrive policies of a queue.
    async fn queue(&self, p: &Value, id: &str) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        let url = self.queue_url(id).await?;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .map_err(context(format!("SQS GetQueueAttributes {url}")))?;
        let attributes: HashMap<String, String> =
            out.attributes().into_iter().flatten().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
        for key in ["VisibilityTimeout", "MessageRetentionPeriod", "KmsMasterKeyId"] {
            found.compare(key, p.get(key), attributes.get(key).cloned());
        }
        if let Some(redrive) = p.get("RedrivePolicy") {
            let actual = json_attribute(&attributes, "RedrivePolicy");
            let field = |key: &str| actual.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            found.compare("maxReceiveCount", redrive.get("maxReceiveCount"), field("maxReceiveCount"));
            found.compare("DLQ", redrive.get("deadLetterTargetArn"), field("deadLetterTargetArn"));
        }
        if let Some(allow) = p.get("RedriveAllowPolicy") {
            let actual = json_attribute(&attributes, "RedriveAllowPolicy");
            let permission = actual.get("redrivePermission").and_then(|v| v.as_str()).map(str::to_owned);
            found.compare("redrivePermission", allow.get("redrivePermission"), permission);
        }
        found.done()
    }

    /// The policy each of its queues has: the declared statements, by Sid and effect.
    async fn queue_policy(&self, p: &Value) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        let statements = |document: &serde_json::Value| -> Vec<String> {
            document["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| format!("{} {}", s["Sid"].as_str().unwrap_or("-"), s["Effect"].as_str().unwrap_or("-")))
                .collect()
        };
        let declared = statements(&serde_json::to_value(p.get("PolicyDocument")).unwrap_or_default());
        for queue in p.get("Queues").and_then(Value::as_sequence).into_iter().flatten() {
            let Some(Expected::Exact(url)) = self.scope.expected(queue) else { continue };
            let out = self
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
                .send()
                .await
                .map_err(context(format!("SQS GetQueueAttributes {url}")))?;
            let attributes: HashMap<String, String> =
                out.attributes().into_iter().flatten().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
            found.same(
                &format!("{url} Policy statements"),
                &declared,
                &statements(&json_attribute(&attributes, "Policy")),
            );
        }
        found.done()
    }

    /// A topic's key.
    async fn topic(&self, p: &Value, id: &str) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        let out = self
            .sns
            .get_topic_attributes()
            .topic_arn(id)
            .send()
            .await
            .map_err(context(format!("SNS GetTopicAttributes {id}")))?;
        let key = out.attributes().and_then(|a| a.get("KmsMasterKeyId")).cloned();
        found.compare("KmsMasterKeyId", p.get("KmsMasterKeyId"), key);
        found.done()
    }

    /// A subscription's delivery settings and filter policy.
    async fn subscription(&self, p: &Value, id: &str) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        let out = self
            .sns
            .get_subscription_attributes()
            .subscription_arn(id)
            .send()
            .await
            .map_err(context(format!("SNS GetSubscriptionAttributes {id}")))?;
        let attributes = out.attributes().cloned().unwrap_or_default();
        for key in ["RawMessageDelivery", "FilterPolicyScope"] {
            found.compare(key, p.get(key), attributes.get(key).cloned());
        }
        if let Some(redrive) = p.get("RedrivePolicy") {
            let actual = json_attribute(&attributes, "RedrivePolicy");
            let dlq = actual.get("deadLetterTargetArn").and_then(|v| v.as_str()).map(str::to_owned);
            found.compare("RedrivePolicy DLQ", redrive.get("deadLetterTargetArn"), dlq);
        }
        if let Some(filter) = p.get("FilterPolicy") {
            let declared: serde_json::Value = serde_json::to_value(filter).unwrap_or_default();
            let actual: Option<serde_json::Value> =
                attributes.get("FilterPolicy").and_then(|f| serde_json::from_str(f).ok());
            if actual.as_ref() != Some(&declared) {
                found.problems.push(format!("FilterPolicy: declared {declared}, found {actual:?}"));
            }
        }
        found.done()
    }

    /// A stream's encryption and retention.
    async fn stream(&self, p: &Value, id: &str) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        // The physical id is the stream name; accept an ARN too.
        let name = id.rsplit('/').next().unwrap_or(id);
        let out = self
            .kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(context(format!("Kinesis DescribeStreamSummary {name}")))?;
        let summary = out.stream_description_summary();
        found.compare(
            "EncryptionType",
            at(p, &["StreamEncryption", "EncryptionType"]),
            summary.and_then(|s| s.encryption_type()).map(|t| t.as_str().to_owned()),
        );
        found.compare(
            "KeyId",
            at(p, &["StreamEncryption", "KeyId"]),
            summary.and_then(|s| s.key_id()).map(str::to_owned),
        );
        found.compare(
            "RetentionPeriodHours",
            p.get("RetentionPeriodHours"),
            summary.map(|s| s.retention_period_hours().to_string()),
        );
        found.done()
    }

    /// A function's runtime, limits and environment.
    async fn function(&self, p: &Value, id: &str) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        let out = self
            .lambda
            .get_function()
            .function_name(id)
            .send()
            .await
            .map_err(context(format!("Lambda GetFunction {id}")))?;
        let config = out.configuration();
        found.compare("Runtime", p.get("Runtime"), config.and_then(|c| c.runtime()).map(|r| r.as_str().to_owned()));
        found.compare("Timeout", p.get("Timeout"), config.and_then(|c| c.timeout()).map(|t| t.to_string()));
        found.compare("MemorySize", p.get("MemorySize"), config.and_then(|c| c.memory_size()).map(|m| m.to_string()));
        found.compare("Role", p.get("Role"), config.and_then(|c| c.role()).map(str::to_owned));
        found.compare(
            "TracingConfig",
            at(p, &["TracingConfig", "Mode"]),
            config.and_then(|c| c.tracing_config()).and_then(|t| t.mode()).map(|m| m.as_str().to_owned()),
        );
        let variables = config.and_then(|c| c.environment()).and_then(|e| e.variables()).cloned().unwrap_or_default();
        if let Some(declared) = at(p, &["Environment", "Variables"]).and_then(Value::as_mapping) {
            for (name, value) in declared {
                let name = name.as_str().unwrap_or_default();
                found.compare(&format!("environment {name}"), Some(value), variables.get(name).cloned());
            }
        }
        found.done()
    }

    /// A mapping's batching, retries, destination, concurrency, response types and filters.
    async fn mapping(&self, p: &Value, id: &str) -> Result<(), String> {
        let mut found = Findings::new(&self.scope);
        // The physical id is the mapping's UUID; accept its ARN too.
        let uuid = id.rsplit(':').next().unwrap_or(id);
        let m = self
            .lambda
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(context(format!("Lambda GetEventSourceMapping {uuid}")))?;
        let number = |n: Option<i32>| n.map(|n| n.to_string());
        found.compare("BatchSize", p.get("BatchSize"), number(m.batch_size()));
        found.compare("EventSourceArn", p.get("EventSourceArn"), m.event_source_arn().map(str::to_owned));
        found.compare(
            "MaximumBatchingWindowInSeconds",
            p.get("MaximumBatchingWindowInSeconds"),
            number(m.maximum_batching_window_in_seconds()),
        );
        found.compare("MaximumRetryAttempts", p.get("MaximumRetryAttempts"), number(m.maximum_retry_attempts()));
        found.compare(
            "MaximumRecordAgeInSeconds",
            p.get("MaximumRecordAgeInSeconds"),
            number(m.maximum_record_age_in_seconds()),
        );
        found.compare(
            "BisectBatchOnFunctionError",
            p.get("BisectBatchOnFunctionError"),
            m.bisect_batch_on_function_error().map(|b| b.to_string()),
        );
        found.compare(
            "StartingPosition",
            p.get("StartingPosition"),
            m.starting_position().map(|s| s.as_str().to_owned()),
        );
        found.compare(
            "on-failure destination",
            at(p, &["DestinationConfig", "OnFailure", "Destination"]),
            m.destination_config().and_then(|d| d.on_failure()).and_then(|f| f.destination()).map(str::to_owned),
        );
        found.compare(
            "MaximumConcurrency",
            at(p, &["ScalingConfig", "MaximumConcurrency"]),
            number(m.scaling_config().and_then(|s| s.maximum_concurrency())),
        );
        if let Some(types) = p.get("FunctionResponseTypes").and_then(Value::as_sequence) {
            let declared: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let actual: Vec<&str> = m.function_response_types().iter().map(|t| t.as_str()).collect();
            found.same("FunctionResponseTypes", &declared, &actual);
        }
        if let Some(filters) = at(p, &["FilterCriteria", "Filters"]).and_then(Value::as_sequence) {
            let declared: Vec<serde_json::Value> = filters
                .iter()
                .filter_map(|f| f.get("Pattern")?.as_str().and_then(|p| serde_json::from_str(p).ok()))
                .collect();
            let actual: Vec<serde_json::Value> = m
                .filter_criteria()
                .map(|c| c.filters())
                .unwrap_or_default()
                .iter()
                .filter_map(|f| f.pattern().and_then(|p| serde_json::from_str(p).ok()))
                .collect();
            found.same("FilterCriteria", &declared, &actual);
        }
        found.done()
    }

    /// A queue's physical id is its URL; accept an ARN or a name too.
    async fn queue_url(&self, id: &str) -> Result<String, String> {
        if id.starts_with("http://") || id.starts_with("https://") {
            return Ok(id.to_owned());
        }
        let name = id.rsplit(':').next().unwrap_or(id);
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(context(format!("SQS GetQueueUrl {name}")))?;
        out.queue_url().map(str::to_owned).ok_or_else(|| format!("GetQueueUrl {name} returned no URL"))
    }
}

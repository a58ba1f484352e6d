//! Checking that a stack really holds what its template declares. An emulator
//! may report CREATE_COMPLETE for a resource it silently skipped (moto does
//! for SNS subscriptions and queue policies), so the data-plane resources are
//! also looked up in their own service.

use std::fmt;
use std::path::Path;

use aws_sdk_cloudformation::types::{ResourceStatus, StackResourceSummary};

use crate::template::{Template, TemplateResource};
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
/// with a physical id, and DynamoDB tables (with their stream, if asked for),
/// SQS queues, SNS topics and subscriptions, Kinesis streams, Lambda
/// functions and event-source mappings must exist in their service. Returns
/// what is missing (empty: all there). Resources with a `Condition` may be
/// absent from the stack.
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
    let checker = Checker::new(&config);

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

/// One client per service, looked up lazily by resource type.
struct Checker {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    kinesis: aws_sdk_kinesis::Client,
    lambda: aws_sdk_lambda::Client,
}

fn context<E: std::error::Error + 'static>(what: String) -> impl FnOnce(E) -> String {
    move |err| format!("{what} failed: {}", aws_sdk_cloudformation::error::DisplayErrorContext(&err))
}

impl Checker {
    fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
        }
    }

    /// `Err(problem)` when the service does not have the resource.
    async fn check(&self, declared: &TemplateResource, id: &str) -> Result<(), String> {
        match declared.resource_type.as_str() {
            "AWS::DynamoDB::Table" => {
                let out = self
                    .dynamodb
                    .describe_table()
                    .table_name(id)
                    .send()
                    .await
                    .map_err(context(format!("DynamoDB DescribeTable {id}")))?;
                let table = out.table().ok_or_else(|| format!("DescribeTable {id} returned no table"))?;
                let streaming = table.stream_specification().is_some_and(|s| s.stream_enabled())
                    || table.latest_stream_arn().is_some();
                if declared.wants_stream && !streaming {
                    return Err(format!("table {id} exists but its stream is not enabled"));
                }
                Ok(())
            }
            "AWS::SQS::Queue" => {
                let url = self.queue_url(id).await?;
                self.sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .map_err(context(format!("SQS GetQueueAttributes {url}")))?;
                Ok(())
            }
            "AWS::SNS::Topic" => {
                self.sns
                    .get_topic_attributes()
                    .topic_arn(id)
                    .send()
                    .await
                    .map_err(context(format!("SNS GetTopicAttributes {id}")))?;
                Ok(())
            }
            "AWS::SNS::Subscription" => {
                self.sns
                    .get_subscription_attributes()
                    .subscription_arn(id)
                    .send()
                    .await
                    .map_err(context(format!("SNS GetSubscriptionAttributes {id}")))?;
                Ok(())
            }
            "AWS::Kinesis::Stream" => {
                // The physical id is the stream name; accept an ARN too.
                let name = id.rsplit('/').next().unwrap_or(id);
                self.kinesis
                    .describe_stream_summary()
                    .stream_name(name)
                    .send()
                    .await
                    .map_err(context(format!("Kinesis DescribeStreamSummary {name}")))?;
                Ok(())
            }
            "AWS::Lambda::Function" => {
                self.lambda
                    .get_function()
                    .function_name(id)
                    .send()
                    .await
                    .map_err(context(format!("Lambda GetFunction {id}")))?;
                Ok(())
            }
            "AWS::Lambda::EventSourceMapping" => {
                // The physical id is the mapping's UUID; accept its ARN too.
                let uuid = id.rsplit(':').next().unwrap_or(id);
                self.lambda
                    .get_event_source_mapping()
                    .uuid(uuid)
                    .send()
                    .await
                    .map_err(context(format!("Lambda GetEventSourceMapping {uuid}")))?;
                Ok(())
            }
            _ => Ok(()),
        }
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

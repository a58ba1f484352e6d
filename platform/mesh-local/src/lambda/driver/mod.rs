//! Plays event source mappings the endpoint does not run (deployed with
//! `EventSourceMappings=Disabled`, or a real one a developer attaches to
//! with `mesh dev`): reads the mapping back, polls its source, builds the
//! exact event Lambda would send (`aws_lambda_events`), invokes a
//! [`LocalFunction`] and settles the batch by Lambda's rules
//! (`crate::lambda::event_source_mapping`).

mod queue;
mod source;
mod stream;

pub use queue::{Played, QueueMapping, play_queue_once};
pub use stream::{PlayedStream, Position, StreamMapping, StreamPlayer};

use crate::lambda::event_source_mapping::Outcome;
use serde::Serialize;
use serde_json::Value;

use crate::HarnessError;
use crate::lambda::runtime_api::{InvokeError, LocalFunction};
use mesh::error::Chain;

/// Invokes `function` with `event` and reads the answer as Lambda does.
async fn invoke<E: Serialize>(
    function: &LocalFunction,
    event: &E,
) -> Result<(Outcome, Option<InvokeError>), HarnessError> {
    let payload =
        serde_json::to_value(event).map_err(|e| HarnessError::Driver(format!("serializing an event: {e}")))?;
    Ok(match function.invoke(&payload).await {
        Ok(response) => (Outcome::Returned { failures: item_failures(&response) }, None),
        Err(error) => (Outcome::Failed, Some(error)),
    })
}

/// `batchItemFailures[].itemIdentifier` of a response, if it has the list.
fn item_failures(response: &Value) -> Option<Vec<Option<String>>> {
    let list = response.get("batchItemFailures")?.as_array()?;
    Some(list.iter().map(|f| f.get("itemIdentifier").and_then(Value::as_str).map(str::to_owned)).collect())
}

/// `-1` (or nothing) means "no limit" in a mapping's settings.
fn limit(value: Option<i32>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok())
}

/// Mapping `uuid` as the endpoint describes it.
async fn describe(
    lambda: &aws_sdk_lambda::Client,
    uuid: &str,
) -> Result<aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingOutput, HarnessError> {
    lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map_err(HarnessError::aws(format!("GetEventSourceMapping {uuid}")))
}

/// A mapping's filter criteria, parsed.
fn filters(
    uuid: &str,
    criteria: Option<&aws_sdk_lambda::types::FilterCriteria>,
) -> Result<Vec<crate::lambda::event_source_mapping::filter::Filter>, HarnessError> {
    let mut filters = Vec::new();
    for filter in criteria.map(|c| c.filters()).unwrap_or_default() {
        let pattern = filter.pattern().unwrap_or("{}");
        filters.push(
            crate::lambda::event_source_mapping::filter::Filter::parse(pattern)
                .map_err(|e| HarnessError::Driver(format!("mapping {uuid}: {}", Chain(&e))))?,
        );
    }
    Ok(filters)
}

/// The URL of the queue `arn` names (`arn:aws:sqs:<region>:<account>:<name>`).
async fn queue_url(sqs: &aws_sdk_sqs::Client, arn: &str) -> Result<String, HarnessError> {
    let [_, _, _, _, account, name] = arn.splitn(6, ':').collect::<Vec<_>>()[..] else {
        return Err(HarnessError::Driver(format!("{arn} is not a queue ARN")));
    };
    Ok(sqs
        .get_queue_url()
        .queue_name(name)
        .queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(HarnessError::aws(format!("GetQueueUrl {name}")))?
        .queue_url()
        .unwrap_or_default()
        .to_owned())
}

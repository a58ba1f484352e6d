//! A function for the mapping driver's tests whose answer each record
//! scripts. A DynamoDB record's `NewImage`, an SQS message's JSON body or a
//! Kinesis record's JSON data holds `pk` (the record's name in the log) and optionally `fail`:
//! - `"item"`: reported in `batchItemFailures` (its sequence number or
//!   message id as `itemIdentifier`), every time;
//! - `"item-once"`: reported only the first time this process sees it;
//! - `"error"`: the whole invocation returns an error.
//!
//! Every invocation appends one JSON line to the file `INVOCATION_LOG`
//! names: `[[pk, itemIdentifier], ...]`, the batch in order.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::{Value, json};

/// What a record asks of the function.
#[derive(Debug, Deserialize)]
struct Script {
    pk: String,
    fail: Option<String>,
}

/// A record of the batch: its script and the identifier Lambda matches a
/// reported failure against.
#[derive(Debug)]
struct Scripted {
    script: Script,
    item_identifier: String,
}

/// Records already failed by `"item-once"`: one process serves a whole test.
static FAILED_ONCE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

#[tokio::main]
async fn main() -> Result<(), Error> {
    let log = std::env::var("INVOCATION_LOG").map_err(|_| "INVOCATION_LOG is not set")?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&log, event.payload))).await
}

async fn handle(log: &str, payload: Value) -> Result<Value, Error> {
    let batch = scripted(payload)?;
    append(log, &batch)?;
    if batch.iter().any(|r| r.script.fail.as_deref() == Some("error")) {
        return Err("scripted function error".into());
    }
    let mut failed_once = FAILED_ONCE.lock().map_err(|_| "a poisoned lock")?;
    let failures: Vec<Value> = batch
        .iter()
        .filter(|r| match r.script.fail.as_deref() {
            Some("item") => true,
            Some("item-once") => failed_once.insert(r.script.pk.clone()),
            _ => false,
        })
        .map(|r| json!({ "itemIdentifier": r.item_identifier }))
        .collect();
    Ok(json!({ "batchItemFailures": failures }))
}

/// Reads the batch as the typed event its source sends.
fn scripted(payload: Value) -> Result<Vec<Scripted>, Error> {
    let source = payload.pointer("/Records/0/eventSource").and_then(Value::as_str).unwrap_or_default().to_owned();
    match source.as_str() {
        "aws:dynamodb" => {
            let event: StreamEvent = serde_json::from_value(payload)?;
            event
                .records
                .into_iter()
                .map(|record| {
                    Ok(Scripted {
                        script: serde_dynamo::from_item(record.change.new_image)?,
                        item_identifier: record.change.sequence_number.unwrap_or_default(),
                    })
                })
                .collect()
        }
        "aws:sqs" => {
            let event: SqsEvent = serde_json::from_value(payload)?;
            event
                .records
                .into_iter()
                .map(|message| {
                    Ok(Scripted {
                        script: serde_json::from_str(message.body.as_deref().unwrap_or_default())?,
                        item_identifier: message.message_id.unwrap_or_default(),
                    })
                })
                .collect()
        }
        "aws:kinesis" => {
            let event: KinesisEvent = serde_json::from_value(payload)?;
            event
                .records
                .into_iter()
                .map(|record| {
                    Ok(Scripted {
                        script: serde_json::from_slice(&record.kinesis.data)?,
                        item_identifier: record.kinesis.sequence_number,
                    })
                })
                .collect()
        }
        other => Err(format!("no script for an event from `{other}`").into()),
    }
}

fn append(log: &str, batch: &[Scripted]) -> Result<(), Error> {
    let line: Vec<[&str; 2]> = batch.iter().map(|r| [r.script.pk.as_str(), r.item_identifier.as_str()]).collect();
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    writeln!(file, "{}", serde_json::to_string(&line)?)?;
    Ok(())
}

//! Policy as code: the Guard rules under `infra/rules/` evaluated over the
//! templates with the `cfn-guard` library (the engine of the `cfn-guard`
//! command), each failure reported with Guard's own explanation.

use std::path::{Path, PathBuf};

use cfn_guard::commands::Executable;
use cfn_guard::commands::validate::{OutputFormatType, ShowSummaryType};
use cfn_guard::utils::reader::{ReadBuffer, Reader};
use cfn_guard::utils::writer::{WriteBuffer, Writer};
use cfn_guard::{CommandBuilder, ValidateBuilder};
use serde_json::Value;

use super::CommandError;

/// The rules the platform's templates must satisfy.
pub const RULES: &str = "infra/rules/secure-by-construction.guard";

/// What the rules say of one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub template: String,
    /// Rules broken, each with Guard's messages (which property, which value).
    pub failed: Vec<(String, Vec<String>)>,
    pub passed: Vec<String>,
    /// Rules whose `when` did not apply (e.g. stream rules on a stack without streams).
    pub not_applicable: Vec<String>,
}

/// Evaluates every rule of `rules` over each template.
pub fn evaluate(rules: &Path, templates: &[PathBuf]) -> Result<Vec<Verdict>, CommandError> {
    let command = ValidateBuilder::default()
        .rules(vec![rules.display().to_string()])
        .data(templates.iter().map(|t| t.display().to_string()).collect())
        .output_format(OutputFormatType::JSON)
        .structured(true)
        .show_summary(vec![ShowSummaryType::None])
        .try_build()
        .map_err(guard_error("building cfn-guard's command"))?;
    let mut writer = Writer::new(WriteBuffer::Vec(Vec::new())).map_err(guard_error("cfn-guard's writer"))?;
    let mut reader = Reader::new(ReadBuffer::Cursor(std::io::Cursor::new(Vec::new())));
    command.execute(&mut writer, &mut reader).map_err(guard_error(&format!("cfn-guard on {}", rules.display())))?;
    let output = writer.into_string().map_err(guard_error("cfn-guard's report"))?;
    let reports: Vec<Value> =
        serde_json::from_str(&output).map_err(CommandError::io("reading cfn-guard's report as the JSON expected"))?;
    Ok(reports.iter().map(verdict).collect())
}

/// cfn-guard's own error, kept as the cause.
fn guard_error<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> CommandError {
    let context = context.to_owned();
    // cfn-guard's errors are not `Send`: their message is all there is to keep.
    move |error| CommandError::Io { context, source: error.to_string().into() }
}

fn names(report: &Value, key: &str) -> Vec<String> {
    report[key].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_owned)).collect()
}

fn verdict(report: &Value) -> Verdict {
    let failed = report["not_compliant"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let rule = entry["Rule"]["name"].as_str().unwrap_or("?").to_owned();
            let mut messages = Vec::new();
            collect_messages(entry, &mut messages);
            (rule, messages)
        })
        .collect();
    Verdict {
        template: report["name"].as_str().unwrap_or_default().to_owned(),
        failed,
        passed: names(report, "compliant"),
        not_applicable: names(report, "not_applicable"),
    }
}

/// Every non-empty `error_message` in Guard's evaluation tree, in order.
fn collect_messages(value: &Value, messages: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("error_message" | "custom_message", Value::String(text)) if !text.is_empty() => {
                        messages.push(text.clone());
                    }
                    _ => collect_messages(child, messages),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_messages(item, messages)),
        _ => {}
    }
}

//! What the harness reads from a CloudFormation template: its parameters (to
//! pass only those it declares) and its resources (to verify a stack).
//! Parsed as YAML, which also reads JSON templates; short-form intrinsics
//! (`!Ref`, `!Sub`, ...) parse as tagged values and are never evaluated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::HarnessError;

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateParameter {
    /// Whether it has a `Default` (may be omitted at deploy time).
    pub has_default: bool,
}

/// One declared resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateResource {
    /// `Type`, e.g. `AWS::DynamoDB::Table`.
    pub resource_type: String,
    /// `Condition`: the resource may legitimately be absent.
    pub condition: Option<String>,
    /// Whether `Properties.StreamSpecification` asks for a stream.
    pub wants_stream: bool,
    /// `Properties`, as declared (intrinsics unevaluated).
    pub properties: Value,
}

/// The parts of a template the harness uses.
#[derive(Debug, Clone)]
pub struct Template {
    /// The file it was read from.
    pub path: PathBuf,
    /// The template text, sent as `TemplateBody`.
    pub body: String,
    /// `Parameters`, by name.
    pub parameters: BTreeMap<String, TemplateParameter>,
    /// `Resources`, by logical id.
    pub resources: BTreeMap<String, TemplateResource>,
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let body = std::fs::read_to_string(path).map_err(|e| HarnessError::Template {
            path: path.to_path_buf(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(path, body)
    }

    /// Parses template text (`path` is for messages).
    pub fn parse(path: &Path, body: String) -> Result<Self, HarnessError> {
        let fail = |message: String| HarnessError::Template { path: path.to_path_buf(), message };
        let doc: Value = serde_norway::from_str(&body).map_err(|e| fail(format!("not valid YAML/JSON: {e}")))?;
        let parameters = mapping(&doc, "Parameters")
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(name, decl)| {
                        let has_default = decl.get("Default").is_some();
                        Some((name.as_str()?.to_owned(), TemplateParameter { has_default }))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let Some(resource_map) = mapping(&doc, "Resources") else {
            return Err(fail("has no Resources mapping".to_owned()));
        };
        let mut resources = BTreeMap::new();
        for (id, decl) in resource_map {
            let id = id.as_str().ok_or_else(|| fail(format!("resource key {id:?} is not a string")))?;
            let resource_type = decl
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| fail(format!("resource {id} has no string Type")))?
                .to_owned();
            let condition = decl.get("Condition").and_then(Value::as_str).map(str::to_owned);
            let wants_stream = decl.get("Properties").and_then(|p| p.get("StreamSpecification")).is_some_and(|spec| {
                !spec.is_null() && spec.get("StreamEnabled").and_then(Value::as_bool) != Some(false)
            });
            let properties = decl.get("Properties").cloned().unwrap_or(Value::Null);
            resources.insert(id.to_owned(), TemplateResource { resource_type, condition, wants_stream, properties });
        }
        Ok(Self { path: path.to_path_buf(), body, parameters, resources })
    }
}

fn mapping<'a>(doc: &'a Value, key: &str) -> Option<&'a serde_norway::Mapping> {
    doc.get(key).and_then(Value::as_mapping)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Prefix: {Type: String, Default: mesh}
  TopicArn:
    Type: String
Conditions:
  IsProd: !Equals [!Ref Prefix, prod]
Resources:
  Outbox:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub '${Prefix}-outbox'
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  State:
    Type: AWS::DynamoDB::Table
    Condition: IsProd
    Properties:
      Tags: [{Key: a, Value: !Ref TopicArn}]
Outputs:
  OutboxTable: {Value: !Ref Outbox}
"#;

    #[test]
    fn reads_parameters_and_resources_through_short_form_tags() {
        let t = Template::parse(Path::new("t.yaml"), TEMPLATE.to_owned()).expect("parses");
        assert_eq!(t.parameters.get("Prefix"), Some(&TemplateParameter { has_default: true }));
        assert_eq!(t.parameters.get("TopicArn"), Some(&TemplateParameter { has_default: false }));
        let outbox = t.resources.get("Outbox").expect("Outbox");
        assert_eq!(outbox.resource_type, "AWS::DynamoDB::Table");
        assert!(outbox.wants_stream);
        let state = t.resources.get("State").expect("State");
        assert_eq!(state.condition.as_deref(), Some("IsProd"));
        assert!(!state.wants_stream);
    }

    #[test]
    fn reads_the_mesh_templates() {
        let infra = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra");
        for name in ["orders-ports.yaml", "customers-ports.yaml", "orders.yaml", "customers.yaml"] {
            let path = infra.join(name);
            if path.exists() {
                let t = Template::load(&path).expect("a mesh template parses");
                assert!(t.parameters.contains_key("Prefix"), "{name} declares Prefix");
            }
        }
    }
}

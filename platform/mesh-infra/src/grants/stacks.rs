//! The mesh's templates read back as data, one per planned stack, and their
//! values evaluated symbolically: a `!Ref` to a parameter follows the plan to
//! the earlier stack's output, names and ARNs are built from the resources'
//! name properties, and what only a deployment knows stays a placeholder
//! (`${Prefix}`, `${AWS::Region}`, `${AWS::AccountId}`, `${AWS::Partition}`).
//! Both sides of every comparison are built the same way, so comparing the
//! texts compares the ARNs.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use crate::plan::{PlannedStack, Source};

/// One declared resource.
#[derive(Debug, Clone)]
pub struct Resource {
    pub resource_type: String,
    pub properties: Value,
}

/// One stack: its plan entry and its template's resources and outputs.
#[derive(Debug, Clone)]
pub struct Stack {
    pub plan: PlannedStack,
    pub resources: BTreeMap<String, Resource>,
    pub outputs: Mapping,
}

/// A resource as `stack/logical id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub stack: String,
    pub id: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.stack, self.id)
    }
}

/// An evaluated value: its text and, when it names a resource, which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub text: String,
    pub target: Option<Target>,
}

impl Resolved {
    fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), target: None }
    }
}

/// Why a template could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{template}: {problem}")]
pub struct ReadError {
    pub template: String,
    pub problem: String,
    #[source]
    pub source: Option<serde_norway::Error>,
}

/// Every stack of the plan, by name.
#[derive(Debug, Clone, Default)]
pub struct Stacks {
    pub stacks: BTreeMap<String, Stack>,
}

/// The pseudo parameters and the deployment's prefix, kept as placeholders.
const PLACEHOLDERS: [&str; 5] = ["Prefix", "AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"];
/// How deep a `!Ref` may lead through parameters and outputs: more is a cycle.
const MAX_DEPTH: usize = 16;

impl Stacks {
    /// Parses each planned stack's template text.
    pub fn parse(plan: Vec<PlannedStack>, text: impl Fn(&PlannedStack) -> Option<String>) -> Result<Self, ReadError> {
        let mut stacks = BTreeMap::new();
        for planned in plan {
            let template = planned.template.display().to_string();
            let fail =
                |problem: &str, source| ReadError { template: template.clone(), problem: problem.to_owned(), source };
            let body = text(&planned).ok_or_else(|| fail("cannot be read", None))?;
            let doc: Value = serde_norway::from_str(&body).map_err(|e| fail("is not YAML", Some(e)))?;
            let resources = doc
                .get("Resources")
                .and_then(Value::as_mapping)
                .ok_or_else(|| fail("has no Resources", None))?
                .iter()
                .filter_map(|(id, declaration)| {
                    let resource_type = declaration.get("Type")?.as_str()?.to_owned();
                    let properties = declaration.get("Properties").cloned().unwrap_or(Value::Null);
                    Some((id.as_str()?.to_owned(), Resource { resource_type, properties }))
                })
                .collect();
            let outputs = doc.get("Outputs").and_then(Value::as_mapping).cloned().unwrap_or_default();
            stacks.insert(planned.name.clone(), Stack { plan: planned, resources, outputs });
        }
        Ok(Self { stacks })
    }

    pub fn resource(&self, target: &Target) -> Option<&Resource> {
        self.stacks.get(&target.stack)?.resources.get(&target.id)
    }

    /// Every resource of `resource_type`, in stack order.
    pub fn all(&self, resource_type: &str) -> Vec<(Target, &Resource)> {
        self.stacks
            .iter()
            .flat_map(|(stack, s)| {
                s.resources
                    .iter()
                    .filter(|(_, r)| r.resource_type == resource_type)
                    .map(|(id, r)| (Target { stack: stack.clone(), id: id.clone() }, r))
            })
            .collect()
    }

    /// `value` as it reads in `stack`.
    pub fn eval(&self, stack: &str, value: &Value) -> Option<Resolved> {
        self.eval_at(stack, value, 0)
    }

    /// `value` as a list of values (a single value is a list of one).
    pub fn eval_all(&self, stack: &str, value: &Value) -> Vec<Resolved> {
        match value {
            Value::Sequence(items) => items.iter().filter_map(|item| self.eval(stack, item)).collect(),
            Value::Null => Vec::new(),
            other => self.eval(stack, other).into_iter().collect(),
        }
    }

    fn eval_at(&self, stack: &str, value: &Value, depth: usize) -> Option<Resolved> {
        if depth > MAX_DEPTH {
            return None;
        }
        match value {
            Value::String(text) => Some(Resolved::text(text.clone())),
            Value::Bool(b) => Some(Resolved::text(b.to_string())),
            Value::Number(n) => Some(Resolved::text(n.to_string())),
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let text = tagged.value.as_str()?;
                match tag.trim_start_matches('!') {
                    "Ref" => self.reference(stack, text, depth + 1),
                    "GetAtt" => {
                        let (id, attribute) = text.split_once('.')?;
                        self.attribute(stack, id, attribute, depth + 1)
                    }
                    "Sub" => self.substitute(stack, text, depth + 1).map(Resolved::text),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `!Ref name`: a placeholder, a parameter (followed through the plan) or a resource.
    fn reference(&self, stack: &str, name: &str, depth: usize) -> Option<Resolved> {
        if PLACEHOLDERS.contains(&name) {
            return Some(Resolved::text(format!("${{{name}}}")));
        }
        let here = self.stacks.get(stack)?;
        if here.resources.contains_key(name) {
            return self.resource_ref(stack, name, depth);
        }
        match here.plan.parameters.iter().find(|(p, _)| p == name).map(|(_, source)| source)? {
            Source::Setting(setting) => Some(Resolved::text(format!("${{{setting}}}"))),
            // A team's own issuer is outside the mesh: the check follows the mesh's.
            Source::Output { stack: from, key } | Source::SettingOr { stack: from, key, .. } => {
                let output = self.stacks.get(from)?.outputs.get(key.as_str())?.get("Value")?;
                self.eval_at(from, output, depth)
            }
        }
    }

    /// `!Sub text`, each `${name}` or `${resource.attribute}` evaluated.
    fn substitute(&self, stack: &str, text: &str, depth: usize) -> Option<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            let name = &rest[start + 2..end];
            let value = match name.split_once('.') {
                Some((id, attribute)) => self.attribute(stack, id, attribute, depth)?.text,
                None => self.reference(stack, name, depth)?.text,
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    fn name_of(&self, stack: &str, id: &str, property: &str, depth: usize) -> Option<String> {
        let resource = self.stacks.get(stack)?.resources.get(id)?;
        self.eval_at(stack, resource.properties.get(property)?, depth).map(|r| r.text)
    }

    /// What `!Ref` of a resource returns, by its type.
    fn resource_ref(&self, stack: &str, id: &str, depth: usize) -> Option<Resolved> {
        let resource = self.stacks.get(stack)?.resources.get(id)?;
        let text = match resource.resource_type.as_str() {
            "AWS::SNS::Topic" => arn("sns", &self.name_of(stack, id, "TopicName", depth)?),
            "AWS::SQS::Queue" => format!("queue-url:{}", self.attribute(stack, id, "Arn", depth)?.text),
            "AWS::Kinesis::Stream" => self.name_of(stack, id, "Name", depth)?,
            "AWS::Lambda::Function" => self.name_of(stack, id, "FunctionName", depth)?,
            "AWS::Logs::LogGroup" => self.name_of(stack, id, "LogGroupName", depth)?,
            "AWS::Scheduler::ScheduleGroup" => self.name_of(stack, id, "Name", depth)?,
            "AWS::S3::Bucket" => {
                self.name_of(stack, id, "BucketName", depth).unwrap_or_else(|| format!("{stack}/{id}"))
            }
            "AWS::IAM::Role" => {
                self.name_of(stack, id, "RoleName", depth).unwrap_or_else(|| format!("role:{stack}/{id}"))
            }
            _ => format!("{stack}/{id}"),
        };
        Some(Resolved { text, target: Some(Target { stack: stack.to_owned(), id: id.to_owned() }) })
    }

    /// `!GetAtt id.attribute`, by the resource's type.
    fn attribute(&self, stack: &str, id: &str, attribute: &str, depth: usize) -> Option<Resolved> {
        let resource = self.stacks.get(stack)?.resources.get(id)?;
        let name = |property| self.name_of(stack, id, property, depth);
        let text = match (resource.resource_type.as_str(), attribute) {
            ("AWS::SQS::Queue", "Arn") => arn("sqs", &name("QueueName")?),
            ("AWS::SQS::Queue", "QueueName") => name("QueueName")?,
            ("AWS::SNS::Topic", "TopicName") => name("TopicName")?,
            ("AWS::Kinesis::Stream", "Arn") => arn("kinesis", &format!("stream/{}", name("Name")?)),
            ("AWS::Logs::LogGroup", "Arn") => arn("logs", &format!("log-group:{}:*", name("LogGroupName")?)),
            ("AWS::Lambda::Function", "Arn") => arn("lambda", &format!("function:{}", name("FunctionName")?)),
            ("AWS::IAM::Role", "Arn") => match name("RoleName") {
                Some(role) => format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{role}"),
                None => format!("role:{stack}/{id}"),
            },
            // Tables and keys get generated names: they are known by their resource.
            ("AWS::DynamoDB::Table", "StreamArn") => format!("{stack}/{id}/stream"),
            _ => format!("{stack}/{id}"),
        };
        Some(Resolved { text, target: Some(Target { stack: stack.to_owned(), id: id.to_owned() }) })
    }
}

/// `arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:<rest>`.
fn arn(service: &str, rest: &str) -> String {
    format!("arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}")
}

/// A queue's ARN from what `!Ref` of it gives (its URL).
pub fn queue_arn_of_ref(text: &str) -> &str {
    text.strip_prefix("queue-url:").unwrap_or(text)
}

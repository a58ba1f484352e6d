//! A CloudFormation template as data, rendered to YAML with short-form
//! intrinsics (`!Ref`, `!Sub`, `!GetAtt`) and a comment on each resource that
//! says why it is there.

use serde_norway::value::{Tag, TaggedValue};
use serde_norway::{Mapping, Value};

/// A mapping from `(key, value)` pairs, in order.
pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::Mapping(pairs.into_iter().map(|(k, v)| (Value::String(k.into()), v)).collect::<Mapping>())
}

/// A sequence.
pub fn list(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Sequence(items.into_iter().collect())
}

/// A plain string.
pub fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

/// A list of plain strings.
pub fn strings<T: Into<String>>(items: impl IntoIterator<Item = T>) -> Value {
    list(items.into_iter().map(s))
}

fn tagged(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue { tag: Tag::new(tag), value }))
}

/// `!Ref name`.
pub fn r(name: &str) -> Value {
    tagged("Ref", s(name))
}

/// `!GetAtt resource.attribute`.
pub fn att(resource: &str, attribute: &str) -> Value {
    tagged("GetAtt", s(format!("{resource}.{attribute}")))
}

/// `!Sub text`.
pub fn sub(text: impl Into<String>) -> Value {
    tagged("Sub", s(text))
}

/// `!If [condition, then, else]`.
pub fn if_(condition: &str, then: Value, otherwise: Value) -> Value {
    tagged("If", list([s(condition), then, otherwise]))
}

/// `!Select [index, !Split [delimiter, text]]`: one part of a string.
pub fn split_part(text: Value, delimiter: &str, index: u32) -> Value {
    tagged("Select", list([index.into(), tagged("Split", list([s(delimiter), text]))]))
}

/// `!Equals [a, b]`.
pub fn equals(a: Value, b: Value) -> Value {
    tagged("Equals", list([a, b]))
}

/// `!Not [!Equals [a, b]]`.
pub fn not_equals(a: Value, b: Value) -> Value {
    tagged("Not", list([tagged("Equals", list([a, b]))]))
}

/// An ARN in this stack's partition, region and account:
/// `arn(service, rest)` = `arn:${AWS::Partition}:<service>:${AWS::Region}:${AWS::AccountId}:<rest>`.
pub fn arn(service: &str, rest: &str) -> Value {
    sub(format!("arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}"))
}

/// The statement every queue and bucket policy carries: nobody may use
/// `resources` (of `service`: `sqs`, `s3`) but over TLS. For a bucket, name
/// the bucket and its objects (`arn:...:s3:::b`, `arn:...:s3:::b/*`).
pub fn deny_insecure_transport(service: &str, resources: Vec<Value>) -> Value {
    map([
        ("Sid", s("DenyInsecureTransport")),
        ("Effect", s("Deny")),
        ("Principal", s("*")),
        ("Action", s(format!("{service}:*"))),
        ("Resource", list(resources)),
        ("Condition", map([("Bool", map([("aws:SecureTransport", s("false"))]))])),
    ])
}

/// What happens to a resource's data when its stack lets go of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// Kept: the record of the business (state, outbox) and the key that decrypts it.
    Retain,
    /// Deleted with the stack: derived or transient data.
    Delete,
}

/// One resource: its logical id, why it exists, and its declaration.
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub comment: Option<String>,
    pub body: Value,
}

/// A template under construction. Sections keep insertion order.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// Comment lines at the top of the file (without `#`).
    pub header: Vec<String>,
    pub description: String,
    /// `Metadata` (the parameter groups shown by the console).
    pub metadata: Vec<(String, Value)>,
    pub parameters: Vec<(String, Value)>,
    pub conditions: Vec<(String, Value)>,
    pub resources: Vec<Resource>,
    pub outputs: Vec<(String, Value)>,
}

impl Template {
    pub fn new(description: impl Into<String>) -> Self {
        Self { description: description.into(), ..Self::default() }
    }

    pub fn parameter(&mut self, name: &str, declaration: Value) {
        self.parameters.push((name.to_owned(), declaration));
    }

    pub fn condition(&mut self, name: &str, expression: Value) {
        self.conditions.push((name.to_owned(), expression));
    }

    /// Adds a resource of `resource_type` with `properties`.
    pub fn resource(&mut self, id: &str, comment: Option<&str>, resource_type: &str, properties: Value) {
        self.resource_with(id, comment, map([("Type", s(resource_type)), ("Properties", properties)]));
    }

    /// Adds a resource that holds data, saying what happens to the data when
    /// the stack is deleted or the resource replaced.
    pub fn stateful(
        &mut self,
        id: &str,
        comment: Option<&str>,
        resource_type: &str,
        on_delete: OnDelete,
        properties: Value,
    ) {
        let policy = s(match on_delete {
            OnDelete::Retain => "Retain",
            OnDelete::Delete => "Delete",
        });
        self.resource_with(
            id,
            comment,
            map([
                ("Type", s(resource_type)),
                ("DeletionPolicy", policy.clone()),
                ("UpdateReplacePolicy", policy),
                ("Properties", properties),
            ]),
        );
    }

    /// Adds a resource whose declaration is given whole (for `DependsOn`,
    /// `Metadata` or deletion policies).
    pub fn resource_with(&mut self, id: &str, comment: Option<&str>, body: Value) {
        self.resources.push(Resource { id: id.to_owned(), comment: comment.map(str::to_owned), body });
    }

    pub fn output(&mut self, name: &str, description: &str, value: Value) {
        self.outputs.push((name.to_owned(), map([("Description", s(description)), ("Value", value)])));
    }

    pub fn has_resource(&self, id: &str) -> bool {
        self.resources.iter().any(|r| r.id == id)
    }

    /// The template as YAML text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.header {
            text.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
        }
        text.push_str("AWSTemplateFormatVersion: '2010-09-09'\n");
        text.push_str(&section(&map([("Description", s(self.description.clone()))])));
        let mut sections: Vec<(&str, &Vec<(String, Value)>)> = Vec::new();
        if !self.metadata.is_empty() {
            sections.push(("Metadata", &self.metadata));
        }
        sections.push(("Parameters", &self.parameters));
        if !self.conditions.is_empty() {
            sections.push(("Conditions", &self.conditions));
        }
        for (name, entries) in sections {
            if entries.is_empty() {
                continue;
            }
            text.push('\n');
            text.push_str(&section(&map([(name, map(entries.iter().cloned()))])));
        }
        text.push_str("\nResources:\n");
        for (i, resource) in self.resources.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            if let Some(comment) = &resource.comment {
                for line in comment.lines() {
                    text.push_str(&format!("  # {line}\n"));
                }
            }
            text.push_str(&indent(&section(&map([(resource.id.clone(), resource.body.clone())])), "  "));
        }
        if !self.outputs.is_empty() {
            text.push('\n');
            text.push_str(&section(&map([("Outputs", map(self.outputs.iter().cloned()))])));
        }
        text
    }
}

fn section(value: &Value) -> String {
    // Serializing a tree of strings, numbers and tags cannot fail. A YAML 1.1
    // reader (PyYAML: cfn-lint, CloudFormation tools) takes an unquoted
    // 2012-10-17 for a date: quote the policy language version.
    serde_norway::to_string(value).unwrap_or_default().replace(": 2012-10-17\n", ": '2012-10-17'\n")
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|line| format!("{prefix}{line}\n")).collect()
}

/// `order-events` → `OrderEvents`; `orders-api` → `OrdersApi`.
pub fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_short_form_intrinsics_and_resource_comments() {
        let mut t = Template::new("A test stack.");
        t.header.push("Generated.".into());
        t.parameter("Prefix", map([("Type", s("String"))]));
        t.resource(
            "Queue",
            Some("Why the queue exists."),
            "AWS::SQS::Queue",
            map([("QueueName", sub("${Prefix}-q")), ("Arn", att("Dlq", "Arn")), ("Ref", r("Prefix"))]),
        );
        t.output("QueueUrl", "The URL.", r("Queue"));
        let text = t.render();
        assert!(text.starts_with("# Generated.\nAWSTemplateFormatVersion: '2010-09-09'\nDescription: A test stack.\n"));
        assert!(text.contains("  # Why the queue exists.\n  Queue:\n    Type: AWS::SQS::Queue\n"), "{text}");
        assert!(text.contains("QueueName: !Sub ${Prefix}-q"), "{text}");
        assert!(text.contains("Arn: !GetAtt Dlq.Arn"), "{text}");
        let parsed: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(parsed["AWSTemplateFormatVersion"], s("2010-09-09"));
        assert_eq!(parsed["Outputs"]["QueueUrl"]["Value"], r("Queue"));
    }

    #[test]
    fn camel_cases_names() {
        assert_eq!(camel("order-events"), "OrderEvents");
        assert_eq!(camel("orders-api"), "OrdersApi");
    }
}

//! YAML to JSON, remembering where each node was written, so that every
//! problem found later (schema or semantics) can name its line.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML document as JSON, and the 1-based line and column of every node
/// by JSON pointer (`/products/0/compatibility`).
#[derive(Debug, Clone, Default)]
pub struct Located {
    pub value: Value,
    pub positions: HashMap<String, (usize, usize)>,
}

impl Located {
    /// The position of the node at `pointer`, or of its closest ancestor.
    pub fn position(&self, pointer: &str) -> (usize, usize) {
        let mut pointer = pointer.to_string();
        loop {
            if let Some(position) = self.positions.get(&pointer) {
                return *position;
            }
            match pointer.rfind('/') {
                Some(cut) => pointer.truncate(cut),
                None => return self.positions.get("").copied().unwrap_or((1, 1)),
            }
        }
    }
}

/// Where parsing failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Located, YamlError> {
    let mut builder = Builder::default();
    Parser::new_from_str(text).load(&mut builder, false).map_err(|e| YamlError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    if let Some(message) = builder.error {
        return Err(YamlError { line: 1, column: 1, message });
    }
    Ok(Located { value: builder.root.unwrap_or(Value::Null), positions: builder.positions })
}

/// Containers under construction: a sequence, or a mapping waiting for a key or its value.
#[derive(Debug)]
enum Open {
    Sequence(Vec<Value>, String),
    Mapping(Map<String, Value>, String, Option<String>),
}

#[derive(Debug, Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Value>,
    positions: HashMap<String, (usize, usize)>,
    error: Option<String>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Builder {
    /// The pointer of the node about to be added, or `None` when it is a mapping key.
    fn next_pointer(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Open::Sequence(items, pointer)) => Some(format!("{pointer}/{}", items.len())),
            Some(Open::Mapping(_, pointer, Some(key))) => Some(format!("{pointer}/{}", escape(key))),
            Some(Open::Mapping(_, _, None)) => None,
        }
    }

    fn add(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Open::Sequence(items, _)) => items.push(value),
            Some(Open::Mapping(map, _, key)) => match key.take() {
                Some(key) => {
                    map.insert(key, value);
                }
                None => match value {
                    Value::String(text) => *key = Some(text),
                    other => *key = Some(other.to_string()),
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let position = (mark.line(), mark.col() + 1);
        match event {
            Event::Scalar(text, style, ..) => {
                let value = if style == TScalarStyle::Plain { plain(&text) } else { Value::String(text) };
                match self.next_pointer() {
                    Some(pointer) => {
                        self.positions.insert(pointer, position);
                    }
                    None => {
                        let Some(Open::Mapping(_, parent, _)) = self.stack.last() else { return };
                        self.positions.insert(format!("{parent}/{}", escape(&value_text(&value))), position);
                    }
                }
                self.add(value);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let pointer = self.next_pointer().unwrap_or_default();
                self.positions.entry(pointer.clone()).or_insert(position);
                self.stack.push(match event {
                    Event::SequenceStart(..) => Open::Sequence(Vec::new(), pointer),
                    _ => Open::Mapping(Map::new(), pointer, None),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let value = match self.stack.pop() {
                    Some(Open::Sequence(items, _)) => Value::Array(items),
                    Some(Open::Mapping(map, ..)) => Value::Object(map),
                    None => return,
                };
                self.add(value);
            }
            Event::Alias(_) => self.error = Some("anchors and aliases are not supported in descriptors".into()),
            _ => {}
        }
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// YAML 1.2 core schema for plain scalars.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(n) = text.parse::<i64>() {
                Value::Number(n.into())
            } else if let Some(n) = text.parse::<f64>().ok().filter(|_| text.contains('.')).and_then(Number::from_f64) {
                Value::Number(n)
            } else {
                Value::String(text.to_string())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn converts_to_json_and_remembers_lines() {
        let text = "domain: orders\nowner:\n  team: a\nproducts:\n  - name: p\n    version: 1\n    flags: [true, null, \"2\"]\n";

        let located = parse(text).unwrap();

        assert_eq!(
            located.value,
            json!({"domain": "orders", "owner": {"team": "a"}, "products": [{"name": "p", "version": 1, "flags": [true, null, "2"]}]})
        );
        assert_eq!(located.position("/products/0/version"), (6, 14));
        assert_eq!(located.position("/owner/team").0, 3);
        assert_eq!(located.position("/products/0/missing").0, 5);
    }

    #[test]
    fn reports_a_syntax_error_with_its_line() {
        let error = parse("domain: orders\nowner: [a\n").unwrap_err();

        assert!(error.line >= 2, "{error:?}");
    }
}

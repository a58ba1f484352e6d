//! Lambda event filtering (`FilterCriteria`): a record is handed to the
//! function if it matches any of the mapping's patterns; the others are
//! dropped (a stream checkpoints past them, a queue deletes them).
//!
//! A pattern is a JSON object whose keys follow the record's shape; a leaf
//! is a list of alternatives: a literal, or `{"prefix": ..}`,
//! `{"suffix": ..}`, `{"equals-ignore-case": ..}`, `{"anything-but": ..}`,
//! `{"exists": bool}` or `{"numeric": [op, n, ...]}`.

use serde_json::{Map, Value};

/// A `FilterCriteria` pattern Lambda would refuse.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("filter pattern {0} is not a JSON object")]
    NotAnObject(String),
    #[error("filter pattern {pattern} is not JSON")]
    NotJson {
        pattern: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("filter key `{key}`: expected a list or an object, found {found}")]
    NotARule { key: String, found: Value },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pattern: Map<String, Value>,
}

impl Filter {
    /// One `Filters[].Pattern` string.
    pub fn parse(pattern: &str) -> Result<Self, FilterError> {
        match serde_json::from_str(pattern) {
            Ok(Value::Object(pattern)) => {
                check(&pattern)?;
                Ok(Self { pattern })
            }
            Ok(_) => Err(FilterError::NotAnObject(pattern.to_owned())),
            Err(source) => Err(FilterError::NotJson { pattern: pattern.to_owned(), source }),
        }
    }

    pub fn matches(&self, record: &Value) -> bool {
        object_matches(&self.pattern, record)
    }
}

/// No filters: everything passes; otherwise any one must match.
pub fn passes(filters: &[Filter], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.matches(record))
}

/// An SQS record as filtering sees it: a JSON body is matched as JSON.
pub fn queue_record(body: &str) -> Value {
    let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    serde_json::json!({ "body": body })
}

fn check(pattern: &Map<String, Value>) -> Result<(), FilterError> {
    for (key, value) in pattern {
        match value {
            Value::Object(inner) => check(inner)?,
            Value::Array(_) => {}
            other => return Err(FilterError::NotARule { key: key.clone(), found: other.clone() }),
        }
    }
    Ok(())
}

fn object_matches(pattern: &Map<String, Value>, record: &Value) -> bool {
    pattern.iter().all(|(key, wanted)| {
        let field = record.get(key);
        match wanted {
            Value::Object(inner) => field.is_some_and(|f| object_matches(inner, f)),
            Value::Array(alternatives) => alternatives.iter().any(|alternative| leaf_matches(alternative, field)),
            _ => false,
        }
    })
}

fn leaf_matches(alternative: &Value, field: Option<&Value>) -> bool {
    if let Value::Object(rule) = alternative
        && let Some(Value::Bool(exists)) = rule.get("exists")
    {
        return field.is_some() == *exists;
    }
    let Some(field) = field else { return false };
    match field {
        // A list field matches if one of its elements does.
        Value::Array(items) => items.iter().any(|item| value_matches(alternative, item)),
        value => value_matches(alternative, value),
    }
}

fn value_matches(alternative: &Value, value: &Value) -> bool {
    let Value::Object(rule) = alternative else { return alternative == value };
    let text = value.as_str();
    match rule.iter().next() {
        Some((op, Value::String(prefix))) if op == "prefix" => text.is_some_and(|t| t.starts_with(prefix.as_str())),
        Some((op, Value::String(suffix))) if op == "suffix" => text.is_some_and(|t| t.ends_with(suffix.as_str())),
        Some((op, Value::String(other))) if op == "equals-ignore-case" => {
            text.is_some_and(|t| t.eq_ignore_ascii_case(other))
        }
        Some((op, Value::Array(excluded))) if op == "anything-but" => !excluded.contains(value),
        Some((op, excluded)) if op == "anything-but" => excluded != value,
        Some((op, Value::Array(bounds))) if op == "numeric" => value.as_f64().is_some_and(|n| numeric(bounds, n)),
        _ => false,
    }
}

fn numeric(bounds: &[Value], n: f64) -> bool {
    bounds.chunks(2).all(|pair| match (pair.first().and_then(Value::as_str), pair.get(1).and_then(Value::as_f64)) {
        (Some("="), Some(b)) => (n - b).abs() < f64::EPSILON,
        (Some("<"), Some(b)) => n < b,
        (Some("<="), Some(b)) => n <= b,
        (Some(">"), Some(b)) => n > b,
        (Some(">="), Some(b)) => n >= b,
        _ => false,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use mesh::error::Chain;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_relays_filter_takes_inserts_only() {
        let inserts = Filter::parse(r#"{"eventName": ["INSERT"]}"#).unwrap();
        assert!(inserts.matches(&json!({"eventName": "INSERT", "dynamodb": {}})));
        assert!(!inserts.matches(&json!({"eventName": "REMOVE"})));
        assert!(!inserts.matches(&json!({})));
    }

    #[test]
    fn matches_nested_fields_and_every_rule_kind() {
        let order = queue_record(r#"{"type": "OrderPlaced", "data": {"amount": 700, "channel": "web"}}"#);
        let rule = |pattern: &str| Filter::parse(pattern).unwrap().matches(&order);
        assert!(rule(r#"{"body": {"type": [{"prefix": "Order"}]}}"#));
        assert!(rule(r#"{"body": {"type": [{"suffix": "Placed"}]}}"#));
        assert!(rule(r#"{"body": {"type": [{"equals-ignore-case": "orderplaced"}]}}"#));
        assert!(rule(r#"{"body": {"type": [{"anything-but": ["OrderCancelled"]}]}}"#));
        assert!(!rule(r#"{"body": {"type": [{"anything-but": "OrderPlaced"}]}}"#));
        assert!(rule(r#"{"body": {"data": {"amount": [{"numeric": [">", 500, "<=", 700]}]}}}"#));
        assert!(!rule(r#"{"body": {"data": {"amount": [{"numeric": ["<", 500]}]}}}"#));
        assert!(rule(r#"{"body": {"data": {"channel": [{"exists": true}], "coupon": [{"exists": false}]}}}"#));
        assert!(!rule(r#"{"body": {"data": {"channel": ["mobile", "partner"]}}}"#));
        // Any one filter of a mapping lets a record through.
        let filters = [
            Filter::parse(r#"{"body": {"type": ["X"]}}"#).unwrap(),
            Filter::parse(r#"{"body": {"type": ["OrderPlaced"]}}"#).unwrap(),
        ];
        assert!(passes(&filters, &order));
        assert!(passes(&[], &order));
        // A body that is not JSON is matched as a string.
        assert!(Filter::parse(r#"{"body": [{"prefix": "plain"}]}"#).unwrap().matches(&queue_record("plain text")));
    }

    #[test]
    fn refuses_a_pattern_it_cannot_read_saying_why() {
        assert_eq!(Filter::parse("[1]").unwrap_err().to_string(), "filter pattern [1] is not a JSON object");
        assert_eq!(
            Filter::parse(r#"{"eventName": "INSERT"}"#).unwrap_err().to_string(),
            "filter key `eventName`: expected a list or an object, found \"INSERT\""
        );
        assert!(Chain(&Filter::parse("{").unwrap_err()).to_string().starts_with("filter pattern { is not JSON: "));
    }
}

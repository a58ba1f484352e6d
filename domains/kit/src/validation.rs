//! Field validation for raw request bodies. Fields arrive as `serde_json::Value`
//! so a wrong JSON type becomes a field error for the client, not a serde failure.
//! A domain builds its own field parsers (a name, a channel) on these.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::ids::InvalidId;

/// Largest amount accepted from a client (an order's amount, a credit limit):
/// ten million in currency units.
pub const MAX_AMOUNT_CENTS: u64 = 1_000_000_000;

/// One field of a request that cannot be accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// The JSON field name, as the client sent it.
    pub field: &'static str,
    /// What is wrong, phrased to follow the field name.
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self { field, problem: problem.into() }
    }
}

/// Every problem with a request, so a client can fix them all in one go. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    /// Keeps the failures among per-field results, in field order.
    pub fn collect(errors: impl IntoIterator<Item = Option<ValidationError>>) -> Self {
        Self(errors.into_iter().flatten().collect())
    }

    /// The individual field errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            error.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A present, non-null value. JSON `null` counts as missing.
pub fn required<'a>(field: &'static str, value: Option<&'a Value>) -> Result<&'a Value, ValidationError> {
    match value {
        None | Some(Value::Null) => Err(ValidationError::new(field, "is required")),
        Some(value) => Ok(value),
    }
}

/// A required string field that `parse` accepts; its error is the problem.
pub fn text<T, E: fmt::Display>(
    field: &'static str,
    value: Option<&Value>,
    parse: fn(&str) -> Result<T, E>,
) -> Result<T, ValidationError> {
    let text = required(field, value)?.as_str().ok_or_else(|| ValidationError::new(field, "must be a string"))?;
    parse(text).map_err(|invalid| ValidationError::new(field, invalid.to_string()))
}

/// A required UUID string, parsed into an id type.
pub fn id<T>(
    field: &'static str,
    value: Option<&Value>,
    parse: fn(&str) -> Result<T, InvalidId>,
) -> Result<T, ValidationError> {
    text(field, value, parse)
}

/// An optional string field: absent or `null` is `None`, anything else must
/// be a string that `parse` accepts.
pub fn optional_text<T, E: fmt::Display>(
    field: &'static str,
    value: Option<&Value>,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse(text).map(Some).map_err(|e| ValidationError::new(field, e.to_string())),
        Some(_) => Err(ValidationError::new(field, "must be a string")),
    }
}

/// A required whole number of cents between `min` and [`MAX_AMOUNT_CENTS`].
pub fn cents(field: &'static str, value: Option<&Value>, min: u64) -> Result<u64, ValidationError> {
    let Value::Number(number) = required(field, value)? else {
        return Err(ValidationError::new(field, "must be a number"));
    };
    let too_large = || ValidationError::new(field, format!("must not exceed {MAX_AMOUNT_CENTS} cents"));
    let wrong_range = || {
        let kind = if min == 0 { "non-negative" } else { "positive" };
        ValidationError::new(field, format!("must be a {kind} integer number of cents"))
    };
    match number.as_u64() {
        Some(cents) if cents > MAX_AMOUNT_CENTS => Err(too_large()),
        Some(cents) if cents >= min => Ok(cents),
        Some(_) => Err(wrong_range()),
        // Fractions, negatives, and integers beyond u64.
        None if number.as_f64().is_some_and(|f| f > MAX_AMOUNT_CENTS as f64) => Err(too_large()),
        None => Err(wrong_range()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn displays_field_then_problem() {
        let order = ValidationErrors(vec![
            ValidationError::new("customer_id", "must be a UUID"),
            ValidationError::new("amount_cents", "is required"),
        ]);
        let customer = ValidationErrors(vec![
            ValidationError::new("name", "must not be blank"),
            ValidationError::new("credit_limit_cents", "is required"),
        ]);

        assert_eq!(order.to_string(), "customer_id: must be a UUID; amount_cents: is required");
        assert_eq!(customer.to_string(), "name: must not be blank; credit_limit_cents: is required");
    }

    #[test]
    fn treats_null_as_missing() {
        assert_eq!(required("x", Some(&Value::Null)), Err(ValidationError::new("x", "is required")));
    }

    #[test]
    fn text_is_required_must_be_a_string_and_is_checked_by_its_parser() {
        let parse = |text: &str| if text == "ok" { Ok(text.len()) } else { Err("is not ok") };
        let text_of = |value: Option<Value>| text("name", value.as_ref(), parse);

        assert_eq!(text_of(Some(json!("ok"))), Ok(2));
        assert_eq!(text_of(None), Err(ValidationError::new("name", "is required")));
        assert_eq!(text_of(Some(json!("no"))), Err(ValidationError::new("name", "is not ok")));
        assert_eq!(text_of(Some(json!(["ok"]))), Err(ValidationError::new("name", "must be a string")));
    }

    #[test]
    fn id_names_the_field_of_a_malformed_uuid() {
        let parse = |text: &str| if text.len() == 36 { Ok(()) } else { Err(InvalidId) };

        assert_eq!(
            id("customer_id", Some(&json!("bob")), parse),
            Err(ValidationError::new("customer_id", "must be a UUID"))
        );
    }

    #[test]
    fn optional_text_is_none_when_absent_or_null_and_checked_otherwise() {
        let parse = |text: &str| if text == "ok" { Ok(text.len()) } else { Err("is not ok") };
        let text = |value: Option<Value>| optional_text("channel", value.as_ref(), parse);

        assert_eq!(text(None), Ok(None));
        assert_eq!(text(Some(Value::Null)), Ok(None));
        assert_eq!(text(Some(json!("ok"))), Ok(Some(2)));
        assert_eq!(text(Some(json!("no"))), Err(ValidationError::new("channel", "is not ok")));
        assert_eq!(text(Some(json!(7))), Err(ValidationError::new("channel", "must be a string")));
    }

    #[test]
    fn accepts_cents_only_within_bounds() {
        let cents_of = |value: Value, min| cents("amount_cents", Some(&value), min);

        assert_eq!(cents_of(json!(1), 1), Ok(1));
        assert_eq!(cents_of(json!(MAX_AMOUNT_CENTS), 1), Ok(MAX_AMOUNT_CENTS));
        assert_eq!(cents_of(json!(0), 0), Ok(0));
        assert!(cents_of(json!(0), 1).is_err());
        assert!(cents_of(json!(-5), 0).is_err());
        assert!(cents_of(json!(12.5), 1).is_err());
        assert!(cents_of(json!(MAX_AMOUNT_CENTS + 1), 1).is_err());
        assert!(cents_of(json!(1e30), 1).is_err());
        assert!(cents_of(json!("1500"), 1).is_err());
    }
}

//! Commands and the raw request bodies they are parsed from. Parsing happens once,
//! at the edge; everything behind it can trust a command's fields.

use domain_kit::validation::{self, ValidationErrors};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::CustomerId;
use crate::name::CustomerName;

/// `POST /customers` body as received. Every field is an optional `Value` so that any
/// JSON object deserializes and each problem is reported per field; unknown fields
/// are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawRegisterCustomer {
    #[serde(default)]
    pub name: Option<Value>,
    #[serde(default)]
    pub credit_limit_cents: Option<Value>,
}

/// A valid request to register a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterCustomer {
    pub customer_id: CustomerId,
    pub name: CustomerName,
    /// At most [`MAX_AMOUNT_CENTS`](crate::MAX_AMOUNT_CENTS); 0 is allowed (a
    /// customer who must not buy on credit yet).
    pub credit_limit_cents: u64,
}

impl RegisterCustomer {
    /// Validates `raw`, reporting every invalid field at once. The caller supplies the
    /// customer id (the client never chooses it) so that a retried request can reuse it.
    pub fn parse(raw: RawRegisterCustomer, customer_id: CustomerId) -> Result<Self, ValidationErrors> {
        let name = validation::text("name", raw.name.as_ref(), CustomerName::parse);
        let credit_limit_cents = validation::cents("credit_limit_cents", raw.credit_limit_cents.as_ref(), 0);
        match (name, credit_limit_cents) {
            (Ok(name), Ok(credit_limit_cents)) => Ok(Self { customer_id, name, credit_limit_cents }),
            (name, credit_limit_cents) => Err(ValidationErrors::collect([name.err(), credit_limit_cents.err()])),
        }
    }
}

/// Validates with a freshly generated (UUIDv7) customer id.
impl TryFrom<RawRegisterCustomer> for RegisterCustomer {
    type Error = ValidationErrors;

    fn try_from(raw: RawRegisterCustomer) -> Result<Self, Self::Error> {
        Self::parse(raw, CustomerId::generate())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ValidationError;

    fn raw(body: Value) -> RawRegisterCustomer {
        serde_json::from_value(body).unwrap()
    }

    fn problems(body: Value) -> Vec<String> {
        let errors = RegisterCustomer::try_from(raw(body)).unwrap_err();
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_a_valid_request_with_the_given_customer_id() {
        let customer_id = CustomerId::generate();
        let body = raw(json!({ "name": " Ada ", "credit_limit_cents": 5000 }));

        let command = RegisterCustomer::parse(body, customer_id).unwrap();

        assert_eq!(
            command,
            RegisterCustomer { customer_id, name: CustomerName::parse("Ada").unwrap(), credit_limit_cents: 5000 }
        );
    }

    #[test]
    fn generates_a_v7_customer_id_when_converting() {
        let body = raw(json!({ "name": "Ada", "credit_limit_cents": 1 }));

        let command = RegisterCustomer::try_from(body).unwrap();

        assert_eq!(command.customer_id.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn allows_a_zero_credit_limit() {
        let body = raw(json!({ "name": "Ada", "credit_limit_cents": 0 }));

        assert_eq!(RegisterCustomer::try_from(body).unwrap().credit_limit_cents, 0);
    }

    #[test]
    fn reports_every_invalid_field_at_once() {
        let errors = RegisterCustomer::try_from(raw(json!({ "name": "   ", "credit_limit_cents": -1 }))).unwrap_err();

        assert_eq!(
            errors.0,
            vec![
                ValidationError { field: "name", problem: "must not be blank".into() },
                ValidationError {
                    field: "credit_limit_cents",
                    problem: "must be a non-negative integer number of cents".into()
                },
            ]
        );
    }

    #[test]
    fn reports_missing_and_null_fields_as_required() {
        assert_eq!(problems(json!({ "name": null })), ["name: is required", "credit_limit_cents: is required"]);
    }

    #[test]
    fn reports_wrong_json_types_as_field_errors() {
        assert_eq!(
            problems(json!({ "name": ["Ada"], "credit_limit_cents": true })),
            ["name: must be a string", "credit_limit_cents: must be a number"]
        );
    }

    #[test]
    fn rejects_overlong_name_and_limit_above_maximum() {
        assert_eq!(
            problems(json!({ "name": "x".repeat(201), "credit_limit_cents": 1_000_000_001 })),
            ["name: must be at most 200 characters", "credit_limit_cents: must not exceed 1000000000 cents"]
        );
    }
}

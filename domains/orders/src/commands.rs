//! Commands and the raw request bodies they are parsed from. Parsing happens once,
//! at the edge; everything behind it can trust a command's fields.

use domain_kit::validation::{self, ValidationErrors};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel::Channel;
use crate::ids::{CustomerId, OrderId};

/// `POST /orders` body as received. Every field is an optional `Value` so that any
/// JSON object deserializes and each problem is reported per field; unknown fields
/// are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawPlaceOrder {
    #[serde(default)]
    pub customer_id: Option<Value>,
    #[serde(default)]
    pub amount_cents: Option<Value>,
    /// Optional: where the order was placed.
    #[serde(default)]
    pub channel: Option<Value>,
}

/// A valid request to place an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    /// Positive and at most [`MAX_AMOUNT_CENTS`](crate::MAX_AMOUNT_CENTS).
    pub amount_cents: u64,
    /// Where the order was placed, if the client said.
    pub channel: Option<Channel>,
}

impl PlaceOrder {
    /// Validates `raw`, reporting every invalid field at once. The caller supplies the
    /// order id (the client never chooses it) so that a retried request can reuse it.
    pub fn parse(raw: RawPlaceOrder, order_id: OrderId) -> Result<Self, ValidationErrors> {
        let customer_id = validation::id("customer_id", raw.customer_id.as_ref(), CustomerId::parse);
        let amount_cents = validation::cents("amount_cents", raw.amount_cents.as_ref(), 1);
        let channel = validation::optional_text("channel", raw.channel.as_ref(), Channel::parse);
        match (customer_id, amount_cents, channel) {
            (Ok(customer_id), Ok(amount_cents), Ok(channel)) => {
                Ok(Self { order_id, customer_id, amount_cents, channel })
            }
            (customer_id, amount_cents, channel) => {
                Err(ValidationErrors::collect([customer_id.err(), amount_cents.err(), channel.err()]))
            }
        }
    }
}

/// Validates with a freshly generated (UUIDv7) order id.
impl TryFrom<RawPlaceOrder> for PlaceOrder {
    type Error = ValidationErrors;

    fn try_from(raw: RawPlaceOrder) -> Result<Self, Self::Error> {
        Self::parse(raw, OrderId::generate())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ValidationError;

    const CUSTOMER: &str = "0190a6c2-0000-7000-8000-000000000001";

    fn raw(body: Value) -> RawPlaceOrder {
        serde_json::from_value(body).unwrap()
    }

    fn problems(body: Value) -> Vec<String> {
        let errors = PlaceOrder::try_from(raw(body)).unwrap_err();
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_a_valid_request_with_the_given_order_id() {
        let order_id = OrderId::generate();
        let body = raw(json!({ "customer_id": CUSTOMER, "amount_cents": 1500 }));

        let command = PlaceOrder::parse(body, order_id).unwrap();

        assert_eq!(
            command,
            PlaceOrder {
                order_id,
                customer_id: CustomerId::parse(CUSTOMER).unwrap(),
                amount_cents: 1500,
                channel: None
            }
        );
    }

    #[test]
    fn keeps_the_channel_the_client_named() {
        let body = raw(json!({ "customer_id": CUSTOMER, "amount_cents": 1, "channel": "mobile" }));

        let command = PlaceOrder::try_from(body).unwrap();

        assert_eq!(command.channel, Some(Channel::parse("mobile").unwrap()));
    }

    #[test]
    fn treats_a_null_channel_as_none() {
        let body = raw(json!({ "customer_id": CUSTOMER, "amount_cents": 1, "channel": null }));

        assert_eq!(PlaceOrder::try_from(body).unwrap().channel, None);
    }

    #[test]
    fn rejects_a_channel_that_is_not_a_short_lowercase_word() {
        for (channel, problem) in [
            (json!("Web Shop"), "must be a lowercase letter followed by lowercase letters, digits or dashes"),
            (json!(""), "must not be empty"),
            (json!("a".repeat(33)), "must be at most 32 characters"),
            (json!(["web"]), "must be a string"),
        ] {
            assert_eq!(
                problems(json!({ "customer_id": CUSTOMER, "amount_cents": 1, "channel": channel })),
                [format!("channel: {problem}")]
            );
        }
    }

    #[test]
    fn reports_a_bad_channel_with_the_other_bad_fields() {
        assert_eq!(
            problems(json!({ "customer_id": "bob", "amount_cents": 5, "channel": 1 })),
            ["customer_id: must be a UUID", "channel: must be a string"]
        );
    }

    #[test]
    fn generates_a_v7_order_id_when_converting() {
        let body = raw(json!({ "customer_id": CUSTOMER, "amount_cents": 1 }));

        let command = PlaceOrder::try_from(body).unwrap();

        assert_eq!(command.order_id.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn reports_every_invalid_field_at_once() {
        let errors = PlaceOrder::try_from(raw(json!({ "customer_id": "bob", "amount_cents": 0 }))).unwrap_err();

        assert_eq!(
            errors.0,
            vec![
                ValidationError { field: "customer_id", problem: "must be a UUID".into() },
                ValidationError { field: "amount_cents", problem: "must be a positive integer number of cents".into() },
            ]
        );
    }

    #[test]
    fn reports_missing_and_null_fields_as_required() {
        assert_eq!(
            problems(json!({ "amount_cents": null })),
            ["customer_id: is required", "amount_cents: is required"]
        );
    }

    #[test]
    fn reports_wrong_json_types_as_field_errors() {
        assert_eq!(
            problems(json!({ "customer_id": 42, "amount_cents": "1500" })),
            ["customer_id: must be a string", "amount_cents: must be a number"]
        );
    }

    #[test]
    fn rejects_amounts_that_are_not_whole_positive_cents() {
        for amount in [json!(-1), json!(12.5), json!(0)] {
            assert_eq!(
                problems(json!({ "customer_id": CUSTOMER, "amount_cents": amount })),
                ["amount_cents: must be a positive integer number of cents"]
            );
        }
    }

    #[test]
    fn rejects_amount_above_the_maximum() {
        assert_eq!(
            problems(json!({ "customer_id": CUSTOMER, "amount_cents": 1_000_000_001 })),
            ["amount_cents: must not exceed 1000000000 cents"]
        );
    }

    #[test]
    fn ignores_unknown_fields() {
        let body = raw(json!({ "customer_id": CUSTOMER, "amount_cents": 5, "note": [1, 2] }));

        assert!(PlaceOrder::try_from(body).is_ok());
    }
}

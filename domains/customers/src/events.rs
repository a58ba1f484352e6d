//! Facts the customers product publishes. The JSON shape
//! `{"type":"CreditReserved","data":{...}}` is a public contract: the variant name is
//! the CloudEvents `type`, so renaming a variant or a field breaks consumers.

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId};
use crate::name::CustomerName;

/// Something that happened to a customer's account or credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    /// A customer may now buy on credit up to `credit_limit_cents`.
    CustomerRegistered { customer_id: CustomerId, name: CustomerName, credit_limit_cents: u64 },
    /// `amount_cents` of the customer's credit is held for the order.
    CreditReserved { customer_id: CustomerId, order_id: OrderId, amount_cents: u64 },
    /// The order asked for more than the customer had available at that moment.
    CreditLimitExceeded { customer_id: CustomerId, order_id: OrderId, amount_cents: u64, available_cents: u64 },
    /// The credit held for an order is available again: the order was cancelled,
    /// or declined the credit because it came after its credit check timed out.
    CreditReleased { customer_id: CustomerId, order_id: OrderId, amount_cents: u64 },
    /// Credit could not be checked at all; `reason` is meant for humans.
    CreditRefused { customer_id: CustomerId, order_id: OrderId, reason: String },
}

impl CustomerEvent {
    /// Every `type` this product publishes (e.g. for subscription filter policies).
    pub const TYPES: &[&str] = <Self as strum::VariantNames>::VARIANTS;

    /// The CloudEvents `type`: the variant name, identical to the serde tag.
    #[must_use]
    pub fn event_type(&self) -> &'static str {
        self.into()
    }

    /// The CloudEvents `subject`: the customer whose stream the event belongs to.
    ///
    /// `CreditRefused` is the exception: it is emitted precisely when the customer
    /// does not exist, so there is no customer stream to append it to; it belongs to
    /// the order it answers, and is stored and keyed under that order id.
    #[must_use]
    pub fn subject(&self) -> String {
        match self {
            Self::CreditRefused { order_id, .. } => order_id.to_string(),
            _ => self.customer_id().to_string(),
        }
    }

    /// The customer the event names (for `CreditRefused`, the one that was not found).
    #[must_use]
    pub fn customer_id(&self) -> CustomerId {
        match self {
            Self::CustomerRegistered { customer_id, .. }
            | Self::CreditReserved { customer_id, .. }
            | Self::CreditLimitExceeded { customer_id, .. }
            | Self::CreditReleased { customer_id, .. }
            | Self::CreditRefused { customer_id, .. } => *customer_id,
        }
    }

    /// The order a credit event answers; `None` for `CustomerRegistered`.
    #[must_use]
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::CustomerRegistered { .. } => None,
            Self::CreditReserved { order_id, .. }
            | Self::CreditLimitExceeded { order_id, .. }
            | Self::CreditReleased { order_id, .. }
            | Self::CreditRefused { order_id, .. } => Some(*order_id),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const ORDER: &str = "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80";
    const CUSTOMER: &str = "0190a6c2-0000-7000-8000-000000000001";

    fn every_event() -> Vec<CustomerEvent> {
        let order_id = OrderId::parse(ORDER).unwrap();
        let customer_id = CustomerId::parse(CUSTOMER).unwrap();
        vec![
            CustomerEvent::CustomerRegistered {
                customer_id,
                name: CustomerName::parse("Ada").unwrap(),
                credit_limit_cents: 5000,
            },
            CustomerEvent::CreditReserved { customer_id, order_id, amount_cents: 1500 },
            CustomerEvent::CreditLimitExceeded { customer_id, order_id, amount_cents: 9000, available_cents: 3500 },
            CustomerEvent::CreditReleased { customer_id, order_id, amount_cents: 1500 },
            CustomerEvent::CreditRefused { customer_id, order_id, reason: "unknown customer".to_owned() },
        ]
    }

    #[test]
    fn serializes_credit_reserved_as_tagged_type_and_data() {
        let event = &every_event()[1];

        let json = serde_json::to_value(event).unwrap();

        assert_eq!(
            json,
            json!({
                "type": "CreditReserved",
                "data": { "customer_id": CUSTOMER, "order_id": ORDER, "amount_cents": 1500 }
            })
        );
    }

    #[test]
    fn round_trips_every_event_through_json() {
        for event in every_event() {
            let text = serde_json::to_string(&event).unwrap();

            let back: CustomerEvent = serde_json::from_str(&text).unwrap();

            assert_eq!(back, event);
        }
    }

    #[test]
    fn event_type_matches_the_serde_tag() {
        for event in every_event() {
            let json = serde_json::to_value(&event).unwrap();

            assert_eq!(json["type"], json!(event.event_type()));
            assert!(CustomerEvent::TYPES.contains(&event.event_type()));
        }
    }

    #[test]
    fn subject_is_the_customer_except_for_a_refusal() {
        for event in every_event() {
            let expected = match event {
                CustomerEvent::CreditRefused { .. } => ORDER,
                _ => CUSTOMER,
            };

            assert_eq!(event.subject(), expected);
        }
    }
}

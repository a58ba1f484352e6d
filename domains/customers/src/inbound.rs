//! This crate's own reader view of the orders product's events, so the two crates
//! never depend on each other. Only the types the credit check reacts to are listed:
//! any other `type` fails to decode, and the caller reports it rather than guessing.

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId};

/// An order event the credit check consumes. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    /// Credit must be decided for this order.
    OrderPlaced { order_id: OrderId, customer_id: CustomerId, amount_cents: u64 },
    /// The order was cancelled after approval; its credit can be released.
    OrderCancelled { order_id: OrderId, customer_id: CustomerId, amount_cents: u64 },
    /// The order was rejected because its credit check timed out, and declines
    /// the credit reserved for it too late; that credit can be released.
    OrderCreditDeclined { order_id: OrderId, customer_id: CustomerId, amount_cents: u64 },
}

impl OrderEvent {
    /// The `type`s this view decodes (e.g. for a subscription filter policy).
    pub const TYPES: &[&str] = <Self as strum::VariantNames>::VARIANTS;

    /// Whether an incoming event `type` is one this view decodes.
    #[must_use]
    pub fn consumes(event_type: &str) -> bool {
        Self::TYPES.contains(&event_type)
    }

    /// The CloudEvents `type`: the variant name, identical to the serde tag.
    #[must_use]
    pub fn event_type(&self) -> &'static str {
        self.into()
    }

    /// The subject the orders product gave it: the order id.
    #[must_use]
    pub fn subject(&self) -> String {
        self.order_id().to_string()
    }

    /// The order the event is about.
    #[must_use]
    pub fn order_id(&self) -> OrderId {
        match self {
            Self::OrderPlaced { order_id, .. }
            | Self::OrderCancelled { order_id, .. }
            | Self::OrderCreditDeclined { order_id, .. } => *order_id,
        }
    }

    /// The customer whose credit is affected: the customer stream to load before reacting.
    #[must_use]
    pub fn customer_id(&self) -> CustomerId {
        match self {
            Self::OrderPlaced { customer_id, .. }
            | Self::OrderCancelled { customer_id, .. }
            | Self::OrderCreditDeclined { customer_id, .. } => *customer_id,
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

    #[test]
    fn decodes_orders_events_ignoring_unknown_fields() {
        let json = json!({
            "type": "OrderPlaced",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500, "note": "x" },
            "id": "ignored"
        });

        let event: OrderEvent = serde_json::from_value(json).unwrap();

        assert_eq!(
            event,
            OrderEvent::OrderPlaced {
                order_id: OrderId::parse(ORDER).unwrap(),
                customer_id: CustomerId::parse(CUSTOMER).unwrap(),
                amount_cents: 1500,
            }
        );
        assert_eq!(event.subject(), ORDER);
        assert_eq!(event.event_type(), "OrderPlaced");
    }

    #[test]
    fn fails_to_decode_order_event_types_it_does_not_consume() {
        let json = json!({
            "type": "OrderApproved",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500 }
        });

        let error = serde_json::from_value::<OrderEvent>(json).unwrap_err();

        assert!(error.to_string().contains("OrderApproved"), "{error}");
        assert!(!OrderEvent::consumes("OrderApproved"));
        assert!(OrderEvent::consumes("OrderCancelled"));
        assert!(OrderEvent::consumes("OrderCreditDeclined"));
    }
}

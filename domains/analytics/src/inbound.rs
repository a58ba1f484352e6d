//! This crate's own reader view of the orders product's events, so the two
//! crates never depend on each other. It reads `OrderPlaced` at schema
//! version 2, which added `channel`: a version 1 event reads as no channel.
//! Any other `type` fails to decode, and the caller reports it.

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId};

/// An order event the sales view is built from. Unknown fields (e.g. the
/// rejection `reason`) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    OrderPlaced {
        order_id: OrderId,
        customer_id: CustomerId,
        amount_cents: u64,
        /// Where the order was placed; `None` when the client did not say or
        /// the event was written with version 1 of the schema.
        #[serde(default)]
        channel: Option<String>,
    },
    OrderApproved {
        order_id: OrderId,
        customer_id: CustomerId,
        amount_cents: u64,
    },
    OrderRejected {
        order_id: OrderId,
        customer_id: CustomerId,
        amount_cents: u64,
    },
    OrderCancelled {
        order_id: OrderId,
        customer_id: CustomerId,
        amount_cents: u64,
    },
    /// A rejected order (its credit check timed out) declined credit reserved
    /// too late: customers' bookkeeping, the sale stays rejected. Read because
    /// the view takes the product in sequence, so no number may be missing.
    OrderCreditDeclined {
        order_id: OrderId,
        customer_id: CustomerId,
        amount_cents: u64,
    },
}

impl OrderEvent {
    /// The `type`s this view decodes (the subscription's filter policy).
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

    /// The order the event is about: the sale row it updates.
    #[must_use]
    pub fn order_id(&self) -> OrderId {
        match self {
            Self::OrderPlaced { order_id, .. }
            | Self::OrderApproved { order_id, .. }
            | Self::OrderRejected { order_id, .. }
            | Self::OrderCancelled { order_id, .. }
            | Self::OrderCreditDeclined { order_id, .. } => *order_id,
        }
    }

    #[must_use]
    pub fn customer_id(&self) -> CustomerId {
        match self {
            Self::OrderPlaced { customer_id, .. }
            | Self::OrderApproved { customer_id, .. }
            | Self::OrderRejected { customer_id, .. }
            | Self::OrderCancelled { customer_id, .. }
            | Self::OrderCreditDeclined { customer_id, .. } => *customer_id,
        }
    }

    #[must_use]
    pub fn amount_cents(&self) -> u64 {
        match self {
            Self::OrderPlaced { amount_cents, .. }
            | Self::OrderApproved { amount_cents, .. }
            | Self::OrderRejected { amount_cents, .. }
            | Self::OrderCancelled { amount_cents, .. }
            | Self::OrderCreditDeclined { amount_cents, .. } => *amount_cents,
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

    fn placed(channel: Option<&str>) -> OrderEvent {
        OrderEvent::OrderPlaced {
            order_id: OrderId::parse(ORDER).unwrap(),
            customer_id: CustomerId::parse(CUSTOMER).unwrap(),
            amount_cents: 1500,
            channel: channel.map(Into::into),
        }
    }

    #[test]
    fn reads_order_placed_v2_with_its_channel() {
        let json = json!({
            "type": "OrderPlaced",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500, "channel": "web" }
        });

        assert_eq!(serde_json::from_value::<OrderEvent>(json).unwrap(), placed(Some("web")));
    }

    #[test]
    fn reads_a_null_or_missing_channel_as_none() {
        let null = json!({
            "type": "OrderPlaced",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500, "channel": null }
        });
        let v1 = json!({
            "type": "OrderPlaced",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500 }
        });

        assert_eq!(serde_json::from_value::<OrderEvent>(null).unwrap(), placed(None));
        assert_eq!(serde_json::from_value::<OrderEvent>(v1).unwrap(), placed(None));
    }

    #[test]
    fn reads_a_rejection_ignoring_its_reason() {
        let json = json!({
            "type": "OrderRejected",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500, "reason": "no credit" }
        });

        let event: OrderEvent = serde_json::from_value(json).unwrap();

        assert_eq!(event.event_type(), "OrderRejected");
        assert_eq!((event.order_id().to_string(), event.amount_cents()), (ORDER.to_string(), 1500));
    }

    #[test]
    fn fails_to_decode_a_type_it_does_not_consume() {
        let json = json!({ "type": "OrderShipped", "data": { "order_id": ORDER } });

        let error = serde_json::from_value::<OrderEvent>(json).unwrap_err();

        assert!(error.to_string().contains("OrderShipped"), "{error}");
        assert!(!OrderEvent::consumes("OrderShipped"));
        assert!(OrderEvent::TYPES.iter().all(|t| OrderEvent::consumes(t)));
    }
}

//! Facts the orders product publishes. The JSON shape
//! `{"type":"OrderPlaced","data":{...}}` is a public contract: the variant name is
//! the CloudEvents `type`, so renaming a variant or a field breaks consumers.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::ids::{CustomerId, OrderId};

/// Something that happened to an order. Events are immutable; a change of mind
/// (a cancellation) is a new event, never an edit of an old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    /// A customer asked for goods worth `amount_cents`; credit is not yet checked.
    /// `channel` arrived with schema version 2: it is written as `null` when the
    /// client did not say, and read as `None` from version 1 events.
    OrderPlaced {
        order_id: OrderId,
        customer_id: CustomerId,
        amount_cents: u64,
        #[serde(default)]
        channel: Option<Channel>,
    },
    /// The customers product reserved credit for the order.
    OrderApproved { order_id: OrderId, customer_id: CustomerId, amount_cents: u64 },
    /// Credit was not granted; `reason` is meant for humans.
    OrderRejected { order_id: OrderId, customer_id: CustomerId, amount_cents: u64, reason: String },
    /// An approved order was cancelled; its reserved credit should be released.
    OrderCancelled { order_id: OrderId, customer_id: CustomerId, amount_cents: u64 },
    /// The order, rejected because its credit check timed out, declines the
    /// credit reserved for it too late; customers release that reservation.
    OrderCreditDeclined { order_id: OrderId, customer_id: CustomerId, amount_cents: u64 },
}

impl OrderEvent {
    /// Every `type` this product publishes (e.g. for subscription filter policies).
    pub const TYPES: &[&str] = <Self as strum::VariantNames>::VARIANTS;

    /// The CloudEvents `type`: the variant name, identical to the serde tag.
    #[must_use]
    pub fn event_type(&self) -> &'static str {
        self.into()
    }

    /// The CloudEvents `subject`: the order whose stream this event belongs to.
    #[must_use]
    pub fn subject(&self) -> String {
        self.order_id().to_string()
    }

    /// The order the event is about.
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

    /// The customer who placed the order.
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

    /// The order amount, in cents.
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
    use serde_json::{Value, json};

    use super::*;

    const ORDER: &str = "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80";
    const CUSTOMER: &str = "0190a6c2-0000-7000-8000-000000000001";

    fn ids() -> (OrderId, CustomerId) {
        (OrderId::parse(ORDER).unwrap(), CustomerId::parse(CUSTOMER).unwrap())
    }

    fn every_event() -> Vec<OrderEvent> {
        let (order_id, customer_id) = ids();
        vec![
            OrderEvent::OrderPlaced { order_id, customer_id, amount_cents: 1500, channel: None },
            OrderEvent::OrderPlaced { order_id, customer_id, amount_cents: 1500, channel: Some(web()) },
            OrderEvent::OrderApproved { order_id, customer_id, amount_cents: 1500 },
            OrderEvent::OrderRejected {
                order_id,
                customer_id,
                amount_cents: 1500,
                reason: "credit limit exceeded: requested 1500, available 1000".into(),
            },
            OrderEvent::OrderCancelled { order_id, customer_id, amount_cents: 1500 },
            OrderEvent::OrderCreditDeclined { order_id, customer_id, amount_cents: 1500 },
        ]
    }

    fn web() -> Channel {
        Channel::parse("web").unwrap()
    }

    #[test]
    fn serializes_order_placed_as_tagged_type_and_data() {
        let (order_id, customer_id) = ids();
        let event = OrderEvent::OrderPlaced { order_id, customer_id, amount_cents: 1500, channel: Some(web()) };

        let json = serde_json::to_value(&event).unwrap();

        assert_eq!(
            json,
            json!({
                "type": "OrderPlaced",
                "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500, "channel": "web" }
            })
        );
    }

    /// Version 2 of the schema has the field: no channel is written as `null`.
    #[test]
    fn writes_a_missing_channel_as_null() {
        let (order_id, customer_id) = ids();
        let event = OrderEvent::OrderPlaced { order_id, customer_id, amount_cents: 1500, channel: None };

        let json = serde_json::to_value(&event).unwrap();

        assert_eq!(json["data"]["channel"], Value::Null);
        assert!(json["data"].as_object().unwrap().contains_key("channel"));
    }

    /// A version 1 `OrderPlaced` (e.g. replayed from the log) has no channel.
    #[test]
    fn reads_an_order_placed_of_version_1_without_a_channel() {
        let v1 = json!({
            "type": "OrderPlaced",
            "data": { "order_id": ORDER, "customer_id": CUSTOMER, "amount_cents": 1500 }
        });

        let event: OrderEvent = serde_json::from_value(v1).unwrap();

        let (order_id, customer_id) = ids();
        assert_eq!(event, OrderEvent::OrderPlaced { order_id, customer_id, amount_cents: 1500, channel: None });
    }

    #[test]
    fn round_trips_every_event_through_json() {
        for event in every_event() {
            let text = serde_json::to_string(&event).unwrap();

            let back: OrderEvent = serde_json::from_str(&text).unwrap();

            assert_eq!(back, event);
        }
    }

    #[test]
    fn event_type_matches_the_serde_tag() {
        for event in every_event() {
            let json = serde_json::to_value(&event).unwrap();

            assert_eq!(json["type"], json!(event.event_type()));
            assert!(OrderEvent::TYPES.contains(&event.event_type()));
        }
    }

    #[test]
    fn subject_is_the_order_id() {
        for event in every_event() {
            assert_eq!(event.subject(), ORDER);
        }
    }
}

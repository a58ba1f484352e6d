//! The orders side of the credit saga: how an order reacts to the customers
//! product's credit decisions. `CreditEvent` is this crate's own reader view of
//! that product's events, so the two crates never depend on each other.

use serde::{Deserialize, Serialize};

use crate::error::OrderError;
use crate::events::OrderEvent;
use crate::ids::OrderId;
use crate::order::{Order, OrderStatus};

/// The customers product's credit events, as far as orders care: the order and the
/// amounts. The customer is PII the customers domain grants nobody, and the saga
/// needs only the order: its token is not even read. Unknown fields are ignored;
/// an unknown `type` (e.g. `CustomerRegistered`) fails to decode, so filter on
/// [`CreditEvent::consumes`] before decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum CreditEvent {
    CreditReserved {
        order_id: OrderId,
        amount_cents: u64,
    },
    CreditLimitExceeded {
        order_id: OrderId,
        amount_cents: u64,
        available_cents: u64,
    },
    /// Credit could not even be checked (e.g. unknown customer).
    CreditRefused {
        order_id: OrderId,
        reason: String,
    },
    CreditReleased {
        order_id: OrderId,
        amount_cents: u64,
    },
}

impl CreditEvent {
    /// The `type`s this view decodes.
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

    /// The order the decision is about: the order stream to load before reacting.
    #[must_use]
    pub fn order_id(&self) -> OrderId {
        match self {
            Self::CreditReserved { order_id, .. }
            | Self::CreditLimitExceeded { order_id, .. }
            | Self::CreditRefused { order_id, .. }
            | Self::CreditReleased { order_id, .. } => *order_id,
        }
    }
}

impl Order {
    /// Reacts to a credit decision. Only a pending order is decided; a decision for an
    /// already-decided order is a duplicate or late fact and yields no events, so
    /// at-least-once delivery never approves or rejects twice. A release is the
    /// customers product's own bookkeeping and needs no reaction.
    pub fn on_credit(&self, event: &CreditEvent) -> Result<Vec<OrderEvent>, OrderError> {
        if event.order_id() != self.id {
            return Err(OrderError::CreditForAnotherOrder { order: self.id, event_order: event.order_id() });
        }
        if self.status != OrderStatus::Pending {
            return Ok(vec![]);
        }
        let decision = match event {
            CreditEvent::CreditReserved { .. } => OrderEvent::OrderApproved {
                order_id: self.id,
                customer_id: self.customer_id,
                amount_cents: self.amount_cents,
            },
            CreditEvent::CreditLimitExceeded { amount_cents, available_cents, .. } => {
                self.rejected(format!("credit limit exceeded: requested {amount_cents}, available {available_cents}"))
            }
            CreditEvent::CreditRefused { reason, .. } => self.rejected(reason.clone()),
            CreditEvent::CreditReleased { .. } => return Ok(vec![]),
        };
        Ok(vec![decision])
    }

    fn rejected(&self, reason: String) -> OrderEvent {
        OrderEvent::OrderRejected {
            order_id: self.id,
            customer_id: self.customer_id,
            amount_cents: self.amount_cents,
            reason,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::order::tests::given;

    fn pending() -> Order {
        given(|_| vec![])
    }

    fn reserved(order: &Order) -> CreditEvent {
        CreditEvent::CreditReserved { order_id: order.id, amount_cents: order.amount_cents }
    }

    fn exceeded(order: &Order) -> CreditEvent {
        CreditEvent::CreditLimitExceeded { order_id: order.id, amount_cents: order.amount_cents, available_cents: 1000 }
    }

    fn refused(order: &Order) -> CreditEvent {
        CreditEvent::CreditRefused { order_id: order.id, reason: "unknown customer".to_owned() }
    }

    fn decided(order: Order, credit: &CreditEvent) -> Order {
        let events = order.on_credit(credit).unwrap();
        events.iter().fold(order, Order::apply)
    }

    #[test]
    fn approves_pending_order_when_credit_reserved() {
        let order = pending();

        let events = order.on_credit(&reserved(&order)).unwrap();

        assert_eq!(
            events,
            vec![OrderEvent::OrderApproved { order_id: order.id, customer_id: order.customer_id, amount_cents: 1500 }]
        );
    }

    #[test]
    fn rejects_order_when_credit_limit_exceeded() {
        let order = pending();

        let events = order.on_credit(&exceeded(&order)).unwrap();

        assert_eq!(
            events,
            vec![OrderEvent::OrderRejected {
                order_id: order.id,
                customer_id: order.customer_id,
                amount_cents: 1500,
                reason: "credit limit exceeded: requested 1500, available 1000".into(),
            }]
        );
    }

    #[test]
    fn rejects_order_with_the_refusal_reason_when_credit_refused() {
        let order = pending();
        let credit = refused(&order);

        let order = decided(order, &credit);

        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(order.rejection_reason, Some("unknown customer".to_owned()));
    }

    #[test]
    fn ignores_second_credit_decision() {
        let order = pending();
        let credit = reserved(&order);
        let approved = decided(order, &credit);

        assert_eq!(approved.on_credit(&credit), Ok(vec![]));
        assert_eq!(approved.on_credit(&exceeded(&approved)), Ok(vec![]));
    }

    #[test]
    fn ignores_late_reservation_for_rejected_order() {
        let order = pending();
        let credit = refused(&order);
        let rejected = decided(order, &credit);

        assert_eq!(rejected.on_credit(&reserved(&rejected)), Ok(vec![]));
    }

    #[test]
    fn ignores_credit_released() {
        let order = pending();
        let released = CreditEvent::CreditReleased { order_id: order.id, amount_cents: 1500 };

        assert_eq!(order.on_credit(&released), Ok(vec![]));
    }

    #[test]
    fn refuses_credit_event_for_another_order() {
        let order = pending();
        let other = OrderId::generate();
        let credit = CreditEvent::CreditReserved { order_id: other, amount_cents: 1500 };

        assert_eq!(
            order.on_credit(&credit),
            Err(OrderError::CreditForAnotherOrder { order: order.id, event_order: other })
        );
    }

    #[test]
    fn decodes_customers_events_ignoring_unknown_fields() {
        let order = pending();
        // The customer arrives as its token: the saga does not read it.
        let json = json!({
            "type": "CreditLimitExceeded",
            "data": {
                "customer_id": "t1_mZ5Xr4c1cKqv3vRmWb2y1gZ0pN6pQWm9uJ2lW8dHq3E",
                "order_id": order.id.to_string(),
                "amount_cents": 1500,
                "available_cents": 1000,
                "limit_cents": 5000
            },
            "id": "ignored"
        });

        let credit: CreditEvent = serde_json::from_value(json).unwrap();

        assert_eq!(credit, exceeded(&order));
    }

    #[test]
    fn fails_to_decode_event_types_it_does_not_consume() {
        let json = json!({ "type": "CustomerRegistered", "data": { "name": "Ada" } });

        assert!(serde_json::from_value::<CreditEvent>(json).is_err());
        assert!(!CreditEvent::consumes("CustomerRegistered"));
        assert!(CreditEvent::consumes("CreditReserved"));
    }

    #[test]
    fn event_type_matches_the_serde_tag() {
        let order = pending();
        for credit in [reserved(&order), exceeded(&order), refused(&order)] {
            let json = serde_json::to_value(&credit).unwrap();

            assert_eq!(json["type"], json!(credit.event_type()));
        }
    }
}

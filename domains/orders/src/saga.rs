//! The orders side of the credit saga: how an order reacts to the customers
//! product's credit decisions, and to its credit check's deadline passing
//! before they came. `CreditEvent` is this crate's own reader view of that
//! product's events, so the two crates never depend on each other.
//!
//! The saga always ends: a pending order is decided by the first credit
//! decision or by its deadline, whichever comes first. When the deadline wins
//! and customers reserve credit afterwards, the order declines that credit
//! (`OrderCreditDeclined`) so that customers release it: customers' reserved
//! credit stays the sum of the approved, uncancelled orders.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::OrderError;
use crate::events::OrderEvent;
use crate::ids::OrderId;
use crate::order::{Order, OrderStatus};

/// Why an order whose credit check passed its deadline is rejected. State is
/// derived from events and a rejection carries only its reason, so this text
/// is also how the order knows, later, that it was rejected for want of an
/// answer (and so declines a reservation that comes too late).
pub const CREDIT_CHECK_TIMED_OUT: &str = "credit check timed out";

/// A step of the saga that must end within a deadline (the descriptor's
/// `saga.deadlines`), by the name the platform's deadline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStep {
    /// `credit-check`: waiting for the customers product's credit decision.
    CreditCheck,
}

impl SagaStep {
    /// The step's name in the descriptor and in its deadlines.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreditCheck => "credit-check",
        }
    }
}

impl FromStr for SagaStep {
    type Err = OrderError;

    /// A step the orders saga does not have is a wiring bug (a descriptor
    /// naming a step this code does not know), never a business outcome.
    fn from_str(name: &str) -> Result<Self, OrderError> {
        match name {
            "credit-check" => Ok(Self::CreditCheck),
            other => Err(OrderError::UnknownStep(other.to_owned())),
        }
    }
}

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
    /// at-least-once delivery never approves or rejects twice.
    ///
    /// The one late fact that needs an answer is a reservation for an order
    /// rejected because its credit check timed out: customers now hold credit
    /// for an order that will never be approved, so the order declines it,
    /// once (a redelivered reservation, under another id, finds
    /// [`Order::credit_declined`] set). A late limit exceeded or refusal
    /// reserved nothing. A reservation for an order rejected for another reason
    /// cannot come (customers decide an order once, and that decision rejected
    /// it) and is ignored like any duplicate. A release is the customers
    /// product's own bookkeeping and needs no reaction.
    pub fn on_credit(&self, event: &CreditEvent) -> Result<Vec<OrderEvent>, OrderError> {
        if event.order_id() != self.id {
            return Err(OrderError::CreditForAnotherOrder { order: self.id, event_order: event.order_id() });
        }
        let reaction = match (self.status, event) {
            (OrderStatus::Pending, CreditEvent::CreditReserved { .. }) => OrderEvent::OrderApproved {
                order_id: self.id,
                customer_id: self.customer_id,
                amount_cents: self.amount_cents,
            },
            (OrderStatus::Pending, CreditEvent::CreditLimitExceeded { amount_cents, available_cents, .. }) => {
                self.rejected(format!("credit limit exceeded: requested {amount_cents}, available {available_cents}"))
            }
            (OrderStatus::Pending, CreditEvent::CreditRefused { reason, .. }) => self.rejected(reason.clone()),
            (OrderStatus::Rejected, CreditEvent::CreditReserved { .. })
                if self.timed_out() && !self.credit_declined =>
            {
                OrderEvent::OrderCreditDeclined {
                    order_id: self.id,
                    customer_id: self.customer_id,
                    amount_cents: self.amount_cents,
                }
            }
            _ => return Ok(vec![]),
        };
        Ok(vec![reaction])
    }

    /// Reacts to a step's deadline passing. A pending order has waited for its
    /// credit check long enough: it is rejected. Any other order's step has
    /// ended (decided, then perhaps cancelled): a deadline is never removed
    /// when its step ends, so it is ignored, and so is a repeat of it.
    #[must_use]
    pub fn on_deadline(&self, step: SagaStep) -> Vec<OrderEvent> {
        match (step, self.status) {
            (SagaStep::CreditCheck, OrderStatus::Pending) => vec![self.rejected(CREDIT_CHECK_TIMED_OUT.to_owned())],
            (SagaStep::CreditCheck, _) => vec![],
        }
    }

    /// Whether the order was rejected because its credit check timed out.
    fn timed_out(&self) -> bool {
        self.status == OrderStatus::Rejected && self.rejection_reason.as_deref() == Some(CREDIT_CHECK_TIMED_OUT)
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

    /// The deadline passed while the order waited: rejected for want of an answer.
    fn timed_out() -> Order {
        let order = pending();
        let events = order.on_deadline(SagaStep::CreditCheck);
        events.iter().fold(order, Order::apply)
    }

    #[test]
    fn rejects_pending_order_when_its_credit_check_times_out() {
        let order = pending();

        let events = order.on_deadline(SagaStep::CreditCheck);

        assert_eq!(
            events,
            vec![OrderEvent::OrderRejected {
                order_id: order.id,
                customer_id: order.customer_id,
                amount_cents: 1500,
                reason: "credit check timed out".into(),
            }]
        );
        assert_eq!(timed_out().status, OrderStatus::Rejected);
    }

    #[test]
    fn ignores_the_deadline_of_an_order_already_decided() {
        let order = pending();
        let approved = decided(order.clone(), &reserved(&order));
        let rejected = decided(order.clone(), &exceeded(&order));
        let cancelled = approved.cancel().unwrap().iter().fold(approved.clone(), Order::apply);

        for order in [approved, rejected, cancelled, timed_out()] {
            assert_eq!(order.on_deadline(SagaStep::CreditCheck), vec![], "{:?}", order.status);
        }
    }

    #[test]
    fn knows_only_the_steps_it_has() {
        assert_eq!("credit-check".parse::<SagaStep>(), Ok(SagaStep::CreditCheck));
        assert_eq!(SagaStep::CreditCheck.as_str(), "credit-check");
        assert_eq!("shipment".parse::<SagaStep>(), Err(OrderError::UnknownStep("shipment".into())));
    }

    #[test]
    fn declines_credit_reserved_after_its_credit_check_timed_out() {
        let order = timed_out();

        let events = order.on_credit(&reserved(&order)).unwrap();

        assert_eq!(
            events,
            vec![OrderEvent::OrderCreditDeclined {
                order_id: order.id,
                customer_id: order.customer_id,
                amount_cents: 1500
            }]
        );
        let after = events.iter().fold(order, Order::apply);
        assert_eq!((after.status, after.credit_declined), (OrderStatus::Rejected, true), "still rejected");
    }

    #[test]
    fn declines_late_credit_only_once() {
        let order = timed_out();
        let declined = decided(order, &reserved(&timed_out()));

        assert_eq!(declined.on_credit(&reserved(&declined)), Ok(vec![]));
    }

    #[test]
    fn ignores_late_refusals_after_its_credit_check_timed_out() {
        let order = timed_out();

        assert_eq!(order.on_credit(&exceeded(&order)), Ok(vec![]));
        assert_eq!(order.on_credit(&refused(&order)), Ok(vec![]));
        assert!(!order.credit_declined, "nothing was reserved, so nothing is declined");
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

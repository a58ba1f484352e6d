//! The order aggregate. State is only ever derived from events (`apply`); decision
//! methods borrow the state and return the events they decide, which the caller
//! stores and then applies.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::commands::PlaceOrder;
use crate::error::OrderError;
use crate::events::OrderEvent;
use crate::ids::{CustomerId, OrderId};

/// Where an order is in its life: placed, then decided by the credit check, and an
/// approved order may later be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
}

/// An order as of its latest event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub amount_cents: u64,
    pub status: OrderStatus,
    /// Why credit was not granted; set only when `status` is `Rejected`.
    pub rejection_reason: Option<String>,
    /// Where the order was placed, if the client said. Orders stored before
    /// channels existed read as `None`.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Whether the order, rejected because its credit check timed out, has
    /// declined the credit reserved for it too late: it declines once, so a
    /// redelivered reservation declines nothing. Orders stored before
    /// deadlines existed read as `false`.
    #[serde(default)]
    pub credit_declined: bool,
}

impl Order {
    /// Places a new order. It cannot fail: the command was validated at the edge and
    /// the credit decision belongs to the customers product.
    #[must_use]
    pub fn place(command: PlaceOrder) -> Vec<OrderEvent> {
        vec![OrderEvent::OrderPlaced {
            order_id: command.order_id,
            customer_id: command.customer_id,
            amount_cents: command.amount_cents,
            channel: command.channel,
        }]
    }

    /// Whether this order is the one `command` places: a retried request
    /// finds the order its first attempt stored (whatever happened since).
    pub fn was_placed_by(&self, command: &PlaceOrder) -> bool {
        (self.id, self.customer_id, self.amount_cents, &self.channel)
            == (command.order_id, command.customer_id, command.amount_cents, &command.channel)
    }

    /// Cancels an approved order, which releases its credit downstream. Any other
    /// status is a conflict: there is no credit to release, or it is already released.
    pub fn cancel(&self) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::Approved => Ok(vec![OrderEvent::OrderCancelled {
                order_id: self.id,
                customer_id: self.customer_id,
                amount_cents: self.amount_cents,
            }]),
            OrderStatus::Pending => Err(OrderError::NotYetDecided),
            OrderStatus::Rejected => Err(OrderError::Rejected),
            OrderStatus::Cancelled => Err(OrderError::AlreadyCancelled),
        }
    }

    /// Rebuilds an order from its stream; `None` until an `OrderPlaced` is seen.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a OrderEvent>) -> Option<Self> {
        events.into_iter().fold(None, Self::evolve)
    }

    /// One step of a replay: `OrderPlaced` creates the order, later events update it.
    /// Events that arrive before the order exists cannot be applied and are skipped.
    #[must_use]
    pub fn evolve(state: Option<Self>, event: &OrderEvent) -> Option<Self> {
        match (state, event) {
            (Some(order), event) => Some(order.apply(event)),
            (None, OrderEvent::OrderPlaced { order_id, customer_id, amount_cents, channel }) => Some(Self {
                id: *order_id,
                customer_id: *customer_id,
                amount_cents: *amount_cents,
                status: OrderStatus::Pending,
                rejection_reason: None,
                channel: channel.clone(),
                credit_declined: false,
            }),
            (None, _) => None,
        }
    }

    /// Applies an event that already happened. Events are facts, so they are not
    /// re-checked here; events of another order and a repeated `OrderPlaced` are
    /// ignored so that replaying a stream is safe.
    #[must_use]
    pub fn apply(mut self, event: &OrderEvent) -> Self {
        if event.order_id() != self.id {
            return self;
        }
        match event {
            OrderEvent::OrderPlaced { .. } => {}
            OrderEvent::OrderApproved { .. } => self.status = OrderStatus::Approved,
            OrderEvent::OrderRejected { reason, .. } => {
                self.status = OrderStatus::Rejected;
                self.rejection_reason = Some(reason.clone());
            }
            OrderEvent::OrderCancelled { .. } => self.status = OrderStatus::Cancelled,
            OrderEvent::OrderCreditDeclined { .. } => self.credit_declined = true,
        }
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn placed(amount_cents: u64) -> OrderEvent {
        OrderEvent::OrderPlaced {
            order_id: OrderId::parse("0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80").unwrap(),
            customer_id: CustomerId::parse("0190a6c2-0000-7000-8000-000000000001").unwrap(),
            amount_cents,
            channel: None,
        }
    }

    /// An order built from `placed(1500)` plus whatever decision events the test needs.
    pub(crate) fn given(history: impl FnOnce(&Order) -> Vec<OrderEvent>) -> Order {
        let placed = placed(1500);
        let order = Order::from_events([&placed]).unwrap();
        let later = history(&order);
        later.iter().fold(order, Order::apply)
    }

    fn approved(order: &Order) -> Vec<OrderEvent> {
        vec![OrderEvent::OrderApproved {
            order_id: order.id,
            customer_id: order.customer_id,
            amount_cents: order.amount_cents,
        }]
    }

    fn rejected(order: &Order) -> Vec<OrderEvent> {
        vec![OrderEvent::OrderRejected {
            order_id: order.id,
            customer_id: order.customer_id,
            amount_cents: order.amount_cents,
            reason: "no".into(),
        }]
    }

    fn cancelled(order: &Order) -> Vec<OrderEvent> {
        let mut events = approved(order);
        events.extend(order.clone().apply(&events[0]).cancel().unwrap());
        events
    }

    #[test]
    fn places_a_pending_order_in_its_channel() {
        let command = PlaceOrder {
            order_id: OrderId::generate(),
            customer_id: CustomerId::generate(),
            amount_cents: 1500,
            channel: Some(Channel::parse("partner").unwrap()),
        };

        let events = Order::place(command.clone());
        let order = Order::from_events(&events).unwrap();

        assert_eq!(
            events,
            [OrderEvent::OrderPlaced {
                order_id: command.order_id,
                customer_id: command.customer_id,
                amount_cents: 1500,
                channel: command.channel.clone(),
            }]
        );
        assert_eq!(
            order,
            Order {
                id: command.order_id,
                customer_id: command.customer_id,
                amount_cents: 1500,
                status: OrderStatus::Pending,
                rejection_reason: None,
                channel: command.channel,
                credit_declined: false,
            }
        );
    }

    #[test]
    fn places_an_order_without_a_channel() {
        let command = PlaceOrder {
            order_id: OrderId::generate(),
            customer_id: CustomerId::generate(),
            amount_cents: 1500,
            channel: None,
        };

        let order = Order::from_events(&Order::place(command)).unwrap();

        assert_eq!(order.channel, None);
    }

    #[test]
    fn keeps_its_channel_through_its_decisions() {
        let placed = OrderEvent::OrderPlaced {
            order_id: OrderId::generate(),
            customer_id: CustomerId::generate(),
            amount_cents: 1500,
            channel: Some(Channel::parse("mobile").unwrap()),
        };
        let order = Order::from_events([&placed]).unwrap();

        let decided = order.clone().apply(&approved(&order)[0]);

        assert_eq!(decided.status, OrderStatus::Approved);
        assert_eq!(decided.channel.as_ref().map(Channel::as_str), Some("mobile"));
    }

    /// State items written before channels existed have no `channel` attribute.
    #[test]
    fn reads_an_order_stored_before_channels_existed() {
        let stored = serde_json::json!({
            "id": "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80",
            "customer_id": "0190a6c2-0000-7000-8000-000000000001",
            "amount_cents": 1500,
            "status": "approved",
            "rejection_reason": null
        });

        let order: Order = serde_json::from_value(stored).unwrap();

        assert_eq!((order.status, order.channel), (OrderStatus::Approved, None));
        assert!(!order.credit_declined, "stored before deadlines existed: nothing declined");
    }

    #[test]
    fn cancels_an_approved_order() {
        let order = given(approved);

        let events = order.cancel().unwrap();

        assert_eq!(
            events,
            vec![OrderEvent::OrderCancelled { order_id: order.id, customer_id: order.customer_id, amount_cents: 1500 }]
        );
        assert_eq!(order.apply(&events[0]).status, OrderStatus::Cancelled);
    }

    #[test]
    fn refuses_to_cancel_pending_order() {
        let order = given(|_| vec![]);

        assert_eq!(order.cancel(), Err(OrderError::NotYetDecided));
    }

    #[test]
    fn refuses_to_cancel_rejected_order() {
        let order = given(rejected);

        assert_eq!(order.cancel(), Err(OrderError::Rejected));
    }

    #[test]
    fn refuses_to_cancel_an_order_twice() {
        let order = given(cancelled);

        assert_eq!(order.cancel(), Err(OrderError::AlreadyCancelled));
    }

    #[test]
    fn keeps_the_rejection_reason() {
        let order = given(rejected);

        assert_eq!(order.status, OrderStatus::Rejected);
        assert_eq!(order.rejection_reason.as_deref(), Some("no"));
    }

    #[test]
    fn has_no_state_before_it_is_placed() {
        let order = given(|_| vec![]);

        assert_eq!(Order::from_events(&approved(&order)), None);
    }

    #[test]
    fn ignores_events_of_another_order_and_repeated_placement() {
        let order = given(|_| vec![]);
        let other = OrderEvent::OrderApproved {
            order_id: OrderId::generate(),
            customer_id: order.customer_id,
            amount_cents: 1500,
        };

        let after = order.clone().apply(&other).apply(&placed(99));

        assert_eq!(after, order);
    }

    #[test]
    fn stores_status_in_snake_case() {
        let order = given(approved);

        let json = serde_json::to_value(&order).unwrap();

        assert_eq!(json["status"], "approved");
        assert_eq!(serde_json::from_value::<Order>(json).unwrap(), order);
    }
}

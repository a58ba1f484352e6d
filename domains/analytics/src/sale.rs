//! The sales view: one row per order, built from the orders product's events.
//!
//! Standard SNS/SQS deliver at least once and in any order, so [`apply`] must
//! give the same row whatever order the events of one order arrive in, and
//! however often each arrives. Two facts make that possible:
//!
//! - The orders product numbers each order's events (`sequence`), and an
//!   order's status is the one its newest event says. So the row keeps the
//!   highest sequence applied, and an event at or below it cannot change the
//!   status: a redelivery (equal) or an overtaken event (lower) is dropped.
//! - Every event repeats `customer_id` and `amount_cents`, so any event can
//!   create the row. Only `OrderPlaced` (always sequence 1) carries the
//!   `channel`. If a later event created the row, the channel is not known
//!   yet: the row remembers whether `OrderPlaced` has been applied, and an
//!   `OrderPlaced` that arrives late still fills the channel in, although its
//!   sequence is lower, and touches nothing else.
//!
//! So the row is a join of two independent parts, each settled by its own
//! rule: the status by the highest sequence, the channel by the one
//! `OrderPlaced`. Both rules commute and ignore repeats, which is what makes
//! the view order-insensitive and idempotent without an inbox (the handler
//! keeps an inbox too, so a redelivery costs no write).

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId};
use crate::inbound::OrderEvent;

/// Where an order stands, as far as sales are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    /// Placed, the credit check has not answered yet.
    Placed,
    Approved,
    Rejected,
    /// Approved, then cancelled.
    Cancelled,
}

impl SaleStatus {
    /// The status an order's event leaves it in.
    #[must_use]
    pub fn after(event: &OrderEvent) -> Self {
        match event {
            OrderEvent::OrderPlaced { .. } => Self::Placed,
            OrderEvent::OrderApproved { .. } => Self::Approved,
            // Declining late credit is what a rejected order does: still rejected.
            OrderEvent::OrderRejected { .. } | OrderEvent::OrderCreditDeclined { .. } => Self::Rejected,
            OrderEvent::OrderCancelled { .. } => Self::Cancelled,
        }
    }
}

/// One order, as the sales view sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSale {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub amount_cents: u64,
    /// Where the order was placed; `None` if the client did not say, or if
    /// `OrderPlaced` has not arrived yet (see `placed`).
    pub channel: Option<String>,
    /// The status of the newest event applied.
    pub status: SaleStatus,
    /// The highest `sequence` applied: the event that set `status`.
    pub last_sequence: u64,
    /// Whether `OrderPlaced` has been applied, so `channel` is known (even
    /// when it is `None`). False while a later event has overtaken it.
    pub placed: bool,
}

/// What applying one event to the view decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store this row.
    Changed(OrderSale),
    /// Leave the row as it is.
    Unchanged(Unchanged),
}

/// Why an event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// The newest event applied has this sequence: a redelivery.
    Duplicate,
    /// A newer event was applied first, and this one adds nothing.
    Stale,
}

/// An event that cannot be applied to the row it was handed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaleError {
    /// A wiring bug (the row is looked up by the event's order), not a fact.
    #[error("event for order {event_order} was handed to the sale of order {order}")]
    AnotherOrder { order: OrderId, event_order: OrderId },
}

/// Applies the event numbered `sequence` of an order to that order's row
/// (`None`: no event of the order was applied yet). Idempotent and
/// order-insensitive: see the module documentation.
pub fn apply(view: Option<OrderSale>, event: &OrderEvent, sequence: u64) -> Result<Decision, SaleError> {
    let Some(mut sale) = view else {
        return Ok(Decision::Changed(OrderSale::first(event, sequence)));
    };
    if sale.order_id != event.order_id() {
        return Err(SaleError::AnotherOrder { order: sale.order_id, event_order: event.order_id() });
    }
    let newer = sequence > sale.last_sequence;
    let late_channel = match event {
        OrderEvent::OrderPlaced { channel, .. } if !sale.placed => Some(channel.clone()),
        _ => None,
    };
    if !newer && late_channel.is_none() {
        let why = if sequence == sale.last_sequence { Unchanged::Duplicate } else { Unchanged::Stale };
        return Ok(Decision::Unchanged(why));
    }
    if let Some(channel) = late_channel {
        sale.channel = channel;
        sale.placed = true;
    }
    if newer {
        sale.status = SaleStatus::after(event);
        sale.last_sequence = sequence;
    }
    Ok(Decision::Changed(sale))
}

impl OrderSale {
    /// The row made by the first event of an order to arrive, whichever it is.
    fn first(event: &OrderEvent, sequence: u64) -> Self {
        let (channel, placed) = match event {
            OrderEvent::OrderPlaced { channel, .. } => (channel.clone(), true),
            _ => (None, false),
        };
        Self {
            order_id: event.order_id(),
            customer_id: event.customer_id(),
            amount_cents: event.amount_cents(),
            channel,
            status: SaleStatus::after(event),
            last_sequence: sequence,
            placed,
        }
    }

    /// Rebuilds a row from events in any order (e.g. a replay of the log),
    /// skipping what changes nothing.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a (OrderEvent, u64)>) -> Result<Option<Self>, SaleError> {
        events.into_iter().try_fold(None, |view, (event, sequence)| {
            Ok(match apply(view.clone(), event, *sequence)? {
                Decision::Changed(sale) => Some(sale),
                Decision::Unchanged(_) => view,
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    const ORDER: &str = "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80";
    const CUSTOMER: &str = "0190a6c2-0000-7000-8000-000000000001";

    fn ids() -> (OrderId, CustomerId) {
        (OrderId::parse(ORDER).unwrap(), CustomerId::parse(CUSTOMER).unwrap())
    }

    pub(crate) fn placed(channel: Option<&str>) -> (OrderEvent, u64) {
        let (order_id, customer_id) = ids();
        (OrderEvent::OrderPlaced { order_id, customer_id, amount_cents: 1500, channel: channel.map(Into::into) }, 1)
    }

    pub(crate) fn approved() -> (OrderEvent, u64) {
        let (order_id, customer_id) = ids();
        (OrderEvent::OrderApproved { order_id, customer_id, amount_cents: 1500 }, 2)
    }

    pub(crate) fn rejected() -> (OrderEvent, u64) {
        let (order_id, customer_id) = ids();
        (OrderEvent::OrderRejected { order_id, customer_id, amount_cents: 1500 }, 2)
    }

    pub(crate) fn cancelled() -> (OrderEvent, u64) {
        let (order_id, customer_id) = ids();
        (OrderEvent::OrderCancelled { order_id, customer_id, amount_cents: 1500 }, 3)
    }

    /// After a rejection for a timed-out credit check.
    pub(crate) fn declined() -> (OrderEvent, u64) {
        let (order_id, customer_id) = ids();
        (OrderEvent::OrderCreditDeclined { order_id, customer_id, amount_cents: 1500 }, 3)
    }

    /// The row after `history`, applied in the order given.
    fn given(history: &[(OrderEvent, u64)]) -> Option<OrderSale> {
        OrderSale::from_events(history).unwrap()
    }

    fn when(view: Option<OrderSale>, (event, sequence): &(OrderEvent, u64)) -> Decision {
        apply(view, event, *sequence).unwrap()
    }

    fn changed(decision: Decision) -> OrderSale {
        match decision {
            Decision::Changed(sale) => sale,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn sale(channel: Option<&str>, status: SaleStatus, last_sequence: u64) -> OrderSale {
        let (order_id, customer_id) = ids();
        OrderSale {
            order_id,
            customer_id,
            amount_cents: 1500,
            channel: channel.map(Into::into),
            status,
            last_sequence,
            placed: true,
        }
    }

    #[test]
    fn a_placed_order_gets_a_row_with_its_channel() {
        let row = changed(when(None, &placed(Some("web"))));

        assert_eq!(row, sale(Some("web"), SaleStatus::Placed, 1));
    }

    #[test]
    fn an_order_placed_without_a_channel_has_none() {
        let row = changed(when(None, &placed(None)));

        assert_eq!(row, sale(None, SaleStatus::Placed, 1));
    }

    #[test]
    fn follows_the_order_through_approval_and_cancellation() {
        let view = given(&[placed(Some("mobile")), approved()]);
        assert_eq!(view, Some(sale(Some("mobile"), SaleStatus::Approved, 2)));

        let row = changed(when(view, &cancelled()));

        assert_eq!(row, sale(Some("mobile"), SaleStatus::Cancelled, 3));
    }

    #[test]
    fn records_a_rejection() {
        let row = given(&[placed(Some("partner")), rejected()]).unwrap();

        assert_eq!(row, sale(Some("partner"), SaleStatus::Rejected, 2));
    }

    #[test]
    fn an_order_that_declines_late_credit_stays_rejected() {
        let row = given(&[placed(Some("web")), rejected(), declined()]).unwrap();

        assert_eq!(row, sale(Some("web"), SaleStatus::Rejected, 3));
    }

    #[test]
    fn ignores_a_redelivered_event() {
        let view = given(&[placed(Some("web")), approved()]);

        assert_eq!(when(view.clone(), &approved()), Decision::Unchanged(Unchanged::Duplicate));
        assert_eq!(when(view, &placed(Some("web"))), Decision::Unchanged(Unchanged::Stale));
    }

    #[test]
    fn drops_an_event_overtaken_by_a_newer_one() {
        let view = given(&[placed(None), approved(), cancelled()]);

        assert_eq!(when(view, &approved()), Decision::Unchanged(Unchanged::Stale));
    }

    /// The approval overtook the placement: the row exists at once, from the
    /// approval's own fields, and says the channel is not known yet.
    #[test]
    fn an_approval_arriving_before_the_placement_still_makes_a_row() {
        let row = changed(when(None, &approved()));

        assert_eq!(row, OrderSale { channel: None, placed: false, ..sale(None, SaleStatus::Approved, 2) });
    }

    /// ...and the late placement fills the channel in, although its sequence
    /// is lower, without taking the status back to placed.
    #[test]
    fn a_late_placement_fills_in_the_channel_and_keeps_the_newer_status() {
        let view = given(&[approved()]);

        let row = changed(when(view, &placed(Some("partner"))));

        assert_eq!(row, sale(Some("partner"), SaleStatus::Approved, 2));
    }

    #[test]
    fn a_late_placement_without_a_channel_settles_the_channel_as_none() {
        let view = given(&[cancelled()]);

        let row = changed(when(view, &placed(None)));

        assert_eq!(row, sale(None, SaleStatus::Cancelled, 3));
        assert_eq!(when(Some(row), &placed(None)), Decision::Unchanged(Unchanged::Stale));
    }

    #[test]
    fn a_cancellation_arriving_first_wins_over_the_approval_after_it() {
        let view = given(&[cancelled(), approved()]);

        assert_eq!(view.map(|s| (s.status, s.last_sequence)), Some((SaleStatus::Cancelled, 3)));
    }

    #[test]
    fn refuses_an_event_of_another_order() {
        let view = given(&[placed(None)]);
        let other = OrderId::generate();
        let (_, customer_id) = ids();
        let event = OrderEvent::OrderApproved { order_id: other, customer_id, amount_cents: 1 };

        let error = apply(view, &event, 2).unwrap_err();

        assert_eq!(error, SaleError::AnotherOrder { order: ids().0, event_order: other });
    }

    #[test]
    fn stores_status_in_snake_case() {
        let json = serde_json::to_value(sale(Some("web"), SaleStatus::Cancelled, 3)).unwrap();

        assert_eq!(json["status"], "cancelled");
        assert_eq!(json["order_id"], ORDER);
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut all = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(index);
            for mut tail in permutations(&rest) {
                tail.insert(0, item.clone());
                all.push(tail);
            }
        }
        all
    }

    /// Every arrival order of an order's events, each also with every event
    /// delivered twice in a row and the whole stream delivered twice, ends
    /// in the same row as the in-order stream.
    #[test]
    fn converges_to_the_same_row_whatever_the_arrival_order_and_repeats() {
        let lives = [
            vec![placed(Some("web")), approved(), cancelled()],
            vec![placed(None), approved(), cancelled()],
            vec![placed(Some("mobile")), rejected()],
            vec![placed(Some("web")), rejected(), declined()],
            vec![placed(Some("partner")), approved()],
            vec![placed(Some("web"))],
        ];
        for life in lives {
            let expected = given(&life).unwrap();
            assert!(expected.placed);
            for order in permutations(&life) {
                let twice_each: Vec<_> = order.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
                let stream_twice: Vec<_> = order.iter().chain(&order).cloned().collect();
                for arrival in [order.clone(), twice_each, stream_twice] {
                    assert_eq!(given(&arrival).as_ref(), Some(&expected), "arrival {arrival:?}");
                }
            }
        }
    }
}

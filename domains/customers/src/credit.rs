//! The customers side of the credit saga: deciding credit for placed orders and
//! releasing it for cancelled ones, and for those that declined it.
//!
//! The invariant the mesh checks: `reserved_cents()` equals the sum of the amounts of
//! the customer's approved, uncancelled orders, eventually. It holds because an order
//! is approved exactly when the first answer it gets is `CreditReserved`, it can only
//! be cancelled once approved, and every reaction here is idempotent. The one other
//! first answer is the order's deadline: the order is rejected ("credit check timed
//! out"), and a reservation made for it after that is declined by the order
//! (`OrderCreditDeclined`), which releases it here like a cancellation. Until that
//! decline arrives the customer holds credit for a rejected order: the invariant is
//! broken for that while, never for good.

use crate::customer::Customer;
use crate::error::CreditError;
use crate::events::CustomerEvent;
use crate::ids::{CustomerId, OrderId};
use crate::inbound::OrderEvent;

/// Reacts to an order event, given the customer it names (`None` if that customer
/// does not exist). Delivery is at least once, so reacting twice to the same fact
/// yields no events the second time.
pub fn on_order_event(customer: Option<&Customer>, event: &OrderEvent) -> Result<Vec<CustomerEvent>, CreditError> {
    if let Some(customer) = customer
        && customer.id != event.customer_id()
    {
        return Err(CreditError::EventForAnotherCustomer {
            customer: customer.id,
            event_customer: event.customer_id(),
        });
    }
    let events = match (customer, event) {
        (None, OrderEvent::OrderPlaced { order_id, customer_id, .. }) => vec![refused(*customer_id, *order_id)],
        (Some(customer), OrderEvent::OrderPlaced { order_id, amount_cents, .. }) => {
            customer.decide_credit(*order_id, *amount_cents)
        }
        (
            Some(customer),
            OrderEvent::OrderCancelled { order_id, .. } | OrderEvent::OrderCreditDeclined { order_id, .. },
        ) => customer.release_credit(*order_id),
        // Nothing can have been reserved for a customer who does not exist.
        (None, OrderEvent::OrderCancelled { .. } | OrderEvent::OrderCreditDeclined { .. }) => vec![],
    };
    Ok(events)
}

/// The customer does not exist, so there is no customer stream for this fact: its
/// subject is the order (see [`CustomerEvent::subject`]).
fn refused(customer_id: CustomerId, order_id: OrderId) -> CustomerEvent {
    CustomerEvent::CreditRefused { customer_id, order_id, reason: "unknown customer".to_owned() }
}

impl Customer {
    /// Reserves the amount if it fits in the available credit, else reports how much
    /// was available. An order decided before (a duplicate) yields nothing.
    fn decide_credit(&self, order_id: OrderId, amount_cents: u64) -> Vec<CustomerEvent> {
        if self.has_decided(&order_id) || self.reservation(&order_id).is_some() {
            return vec![];
        }
        let available_cents = self.available_cents();
        let decision = if amount_cents <= available_cents {
            CustomerEvent::CreditReserved { customer_id: self.id, order_id, amount_cents }
        } else {
            CustomerEvent::CreditLimitExceeded { customer_id: self.id, order_id, amount_cents, available_cents }
        };
        vec![decision]
    }

    /// Releases exactly what was reserved for the order (not what the event claims),
    /// so the books always balance. No reservation (never made, or already released)
    /// means nothing to do.
    fn release_credit(&self, order_id: OrderId) -> Vec<CustomerEvent> {
        self.reservation(&order_id)
            .map(|amount_cents| CustomerEvent::CreditReleased { customer_id: self.id, order_id, amount_cents })
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::commands::RegisterCustomer;
    use crate::name::CustomerName;

    fn customer_with_limit(limit: u64) -> Customer {
        let events = Customer::register(RegisterCustomer {
            customer_id: CustomerId::generate(),
            name: CustomerName::parse("Ada").unwrap(),
            credit_limit_cents: limit,
        });
        Customer::from_events(&events).unwrap()
    }

    fn placed(customer_id: CustomerId, order_id: OrderId, amount_cents: u64) -> OrderEvent {
        OrderEvent::OrderPlaced { order_id, customer_id, amount_cents }
    }

    fn cancelled(customer_id: CustomerId, order_id: OrderId, amount_cents: u64) -> OrderEvent {
        OrderEvent::OrderCancelled { order_id, customer_id, amount_cents }
    }

    fn declined(customer_id: CustomerId, order_id: OrderId, amount_cents: u64) -> OrderEvent {
        OrderEvent::OrderCreditDeclined { order_id, customer_id, amount_cents }
    }

    /// Decides and applies, as the credit function does.
    fn react(customer: Customer, event: &OrderEvent) -> (Customer, Vec<CustomerEvent>) {
        let events = on_order_event(Some(&customer), event).unwrap();
        let customer = events.iter().fold(customer, Customer::apply);
        (customer, events)
    }

    #[test]
    fn reserves_credit_within_limit() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();

        let (customer, events) = react(customer.clone(), &placed(customer.id, order_id, 1500));

        assert_eq!(
            events,
            vec![CustomerEvent::CreditReserved { customer_id: customer.id, order_id, amount_cents: 1500 }]
        );
        assert_eq!(customer.available_cents(), 3500);
    }

    #[test]
    fn reserves_exactly_the_available_credit() {
        let customer = customer_with_limit(5000);

        let (customer, _) = react(customer.clone(), &placed(customer.id, OrderId::generate(), 5000));

        assert_eq!(customer.available_cents(), 0);
    }

    #[test]
    fn refuses_credit_over_limit_and_reports_available() {
        let customer = customer_with_limit(5000);
        let (customer, _) = react(customer.clone(), &placed(customer.id, OrderId::generate(), 4000));
        let order_id = OrderId::generate();

        let (after, events) = react(customer.clone(), &placed(customer.id, order_id, 1500));

        assert_eq!(
            events,
            vec![CustomerEvent::CreditLimitExceeded {
                customer_id: customer.id,
                order_id,
                amount_cents: 1500,
                available_cents: 1000,
            }]
        );
        assert_eq!(after.reserved_cents(), customer.reserved_cents());
    }

    #[test]
    fn refuses_credit_for_unknown_customer() {
        let customer_id = CustomerId::generate();
        let order_id = OrderId::generate();

        let events = on_order_event(None, &placed(customer_id, order_id, 1500)).unwrap();

        assert_eq!(
            events,
            vec![CustomerEvent::CreditRefused { customer_id, order_id, reason: "unknown customer".to_owned() }]
        );
        assert_eq!(events[0].subject(), order_id.to_string());
    }

    #[test]
    fn releases_credit_when_approved_order_cancelled() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();
        let (customer, _) = react(customer.clone(), &placed(customer.id, order_id, 1500));

        let (customer, events) = react(customer.clone(), &cancelled(customer.id, order_id, 1500));

        assert_eq!(
            events,
            vec![CustomerEvent::CreditReleased { customer_id: customer.id, order_id, amount_cents: 1500 }]
        );
        assert_eq!(customer.available_cents(), 5000);
    }

    #[test]
    fn releases_the_reserved_amount_whatever_the_event_claims() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();
        let (customer, _) = react(customer.clone(), &placed(customer.id, order_id, 1500));

        let (_, events) = react(customer.clone(), &cancelled(customer.id, order_id, 9));

        assert_eq!(events[0], CustomerEvent::CreditReleased { customer_id: customer.id, order_id, amount_cents: 1500 });
    }

    #[test]
    fn ignores_duplicate_order_placed() {
        let customer = customer_with_limit(5000);
        let order = placed(customer.id, OrderId::generate(), 1500);
        let (customer, _) = react(customer, &order);

        assert_eq!(on_order_event(Some(&customer), &order), Ok(vec![]));
    }

    #[test]
    fn ignores_order_placed_redelivered_after_limit_exceeded() {
        let customer = customer_with_limit(1000);
        let too_big = placed(customer.id, OrderId::generate(), 1500);
        let (customer, _) = react(customer, &too_big);
        let raised = Customer { credit_limit_cents: 5000, ..customer };

        assert_eq!(on_order_event(Some(&raised), &too_big), Ok(vec![]));
    }

    #[test]
    fn ignores_order_placed_redelivered_after_cancellation() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();
        let order = placed(customer.id, order_id, 1500);
        let (customer, _) = react(customer, &order);
        let (customer, _) = react(customer.clone(), &cancelled(customer.id, order_id, 1500));

        assert_eq!(on_order_event(Some(&customer), &order), Ok(vec![]));
        assert_eq!(customer.reserved_cents(), 0);
    }

    #[test]
    fn cancel_without_reservation_changes_nothing() {
        let customer = customer_with_limit(5000);
        let cancel = cancelled(customer.id, OrderId::generate(), 1500);

        assert_eq!(on_order_event(Some(&customer), &cancel), Ok(vec![]));
        assert_eq!(on_order_event(None, &cancel), Ok(vec![]));
    }

    #[test]
    fn ignores_duplicate_order_cancelled() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();
        let (customer, _) = react(customer.clone(), &placed(customer.id, order_id, 1500));
        let cancel = cancelled(customer.id, order_id, 1500);
        let (customer, _) = react(customer, &cancel);

        assert_eq!(on_order_event(Some(&customer), &cancel), Ok(vec![]));
    }

    #[test]
    fn releases_credit_declined_by_an_order_whose_credit_check_timed_out() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();
        let (customer, _) = react(customer.clone(), &placed(customer.id, order_id, 1500));

        let (customer, events) = react(customer.clone(), &declined(customer.id, order_id, 1500));

        assert_eq!(
            events,
            vec![CustomerEvent::CreditReleased { customer_id: customer.id, order_id, amount_cents: 1500 }]
        );
        assert_eq!(customer.available_cents(), 5000);
    }

    #[test]
    fn releases_declined_credit_once() {
        let customer = customer_with_limit(5000);
        let order_id = OrderId::generate();
        let (customer, _) = react(customer.clone(), &placed(customer.id, order_id, 1500));
        let decline = declined(customer.id, order_id, 1500);
        let (customer, _) = react(customer, &decline);

        assert_eq!(on_order_event(Some(&customer), &decline), Ok(vec![]));
        assert_eq!(on_order_event(Some(&customer), &cancelled(customer.id, order_id, 1500)), Ok(vec![]));
        assert_eq!(on_order_event(Some(&customer), &placed(customer.id, order_id, 1500)), Ok(vec![]), "decided once");
    }

    #[test]
    fn decline_without_reservation_changes_nothing() {
        let customer = customer_with_limit(1000);
        let order_id = OrderId::generate();
        let (customer, _) = react(customer.clone(), &placed(customer.id, order_id, 1500));
        let decline = declined(customer.id, order_id, 1500);

        assert_eq!(on_order_event(Some(&customer), &decline), Ok(vec![]));
        assert_eq!(on_order_event(None, &decline), Ok(vec![]));
    }

    #[test]
    fn refuses_an_event_for_another_customer() {
        let customer = customer_with_limit(5000);
        let stranger = CustomerId::generate();

        assert_eq!(
            on_order_event(Some(&customer), &placed(stranger, OrderId::generate(), 1)),
            Err(CreditError::EventForAnotherCustomer { customer: customer.id, event_customer: stranger })
        );
    }

    /// Drives both sides of the saga through a long, deterministic mix of orders,
    /// duplicate deliveries and cancellations, modelling the orders side as "approved
    /// iff the first decision was a reservation; only approved orders cancel".
    #[test]
    fn keeps_reserved_equal_to_approved_uncancelled_orders() {
        let mut customer = customer_with_limit(10_000);
        let mut seed: u64 = 42;
        let mut next = move |bound: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % bound
        };
        let mut placed_orders: Vec<(OrderId, u64)> = vec![];
        let mut decided: BTreeSet<OrderId> = BTreeSet::new();
        // order id -> (amount, cancelled)
        let mut approved: BTreeMap<OrderId, (u64, bool)> = BTreeMap::new();
        let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();

        for _ in 0..2_000 {
            let event = match next(5) {
                0 | 1 => {
                    let order = (OrderId::generate(), 1 + next(3_000));
                    placed_orders.push(order);
                    placed(customer.id, order.0, order.1)
                }
                2 if !placed_orders.is_empty() => {
                    let (order_id, amount) = placed_orders[next(placed_orders.len() as u64) as usize];
                    placed(customer.id, order_id, amount)
                }
                _ if !approved.is_empty() => {
                    let index = next(approved.len() as u64) as usize;
                    let Some((&order_id, &(amount, was_cancelled))) = approved.iter().nth(index) else {
                        continue;
                    };
                    // The orders side emits OrderCancelled once; redeliveries repeat it.
                    approved.insert(order_id, (amount, true));
                    *seen.entry(if was_cancelled { "duplicate cancel" } else { "cancel" }).or_default() += 1;
                    cancelled(customer.id, order_id, amount)
                }
                _ => continue,
            };
            let (after, events) = react(customer, &event);
            customer = after;
            for fact in &events {
                *seen.entry(fact.event_type()).or_default() += 1;
                let Some(order_id) = fact.order_id() else {
                    continue;
                };
                let first = decided.insert(order_id);
                if let CustomerEvent::CreditReserved { amount_cents, .. } = fact {
                    assert!(first, "credit decided twice for {order_id}");
                    approved.insert(order_id, (*amount_cents, false));
                }
            }

            let expected: u64 = approved.values().filter(|(_, cancelled)| !cancelled).map(|(amount, _)| amount).sum();
            assert_eq!(customer.reserved_cents(), expected);
            assert!(customer.reserved_cents() <= customer.credit_limit_cents);
        }
        for kind in ["CreditReserved", "CreditLimitExceeded", "CreditReleased", "duplicate cancel"] {
            assert!(seen.get(kind).is_some_and(|n| *n > 10), "too few {kind}: {seen:?}");
        }
    }
}

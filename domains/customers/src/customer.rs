//! The customer aggregate: a credit limit and the credit currently held for orders.
//! State is only ever derived from events (`apply`); decisions live in `credit`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::commands::RegisterCustomer;
use crate::events::CustomerEvent;
use crate::ids::{CustomerId, OrderId};
use crate::name::CustomerName;

/// A customer as of its latest event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: CustomerName,
    pub credit_limit_cents: u64,
    /// Credit held per order id, for orders that are approved and not cancelled (and,
    /// for a while, for an order whose credit check timed out, until it declines it).
    pub reservations: BTreeMap<String, u64>,
    /// Every order whose credit has been decided (reserved or limit exceeded), kept
    /// after a release. It makes a redelivered `OrderPlaced` a no-op even once its
    /// reservation is gone; without it a late duplicate would reserve credit for an
    /// order that is rejected or cancelled, and that credit would never be released.
    /// Grows by one id per order (~40 bytes), so a single customer item reaches
    /// DynamoDB's 400 KB limit after roughly 10 000 orders.
    #[serde(default)]
    pub decided_orders: BTreeSet<String>,
}

impl Customer {
    /// Registers a new customer; validation already happened when parsing the command.
    #[must_use]
    pub fn register(command: RegisterCustomer) -> Vec<CustomerEvent> {
        vec![CustomerEvent::CustomerRegistered {
            customer_id: command.customer_id,
            name: command.name,
            credit_limit_cents: command.credit_limit_cents,
        }]
    }

    /// Whether this customer is the one `command` registers: a retried
    /// request finds the customer its first attempt stored.
    #[must_use]
    pub fn was_registered_by(&self, command: &RegisterCustomer) -> bool {
        (self.id, &self.name, self.credit_limit_cents)
            == (command.customer_id, &command.name, command.credit_limit_cents)
    }

    /// Credit currently held for orders.
    #[must_use]
    pub fn reserved_cents(&self) -> u64 {
        self.reservations.values().fold(0, |total, amount| total.saturating_add(*amount))
    }

    /// Credit still free for new orders; never negative, even if the limit shrank.
    #[must_use]
    pub fn available_cents(&self) -> u64 {
        self.credit_limit_cents.saturating_sub(self.reserved_cents())
    }

    /// The credit held for `order_id`, if any.
    #[must_use]
    pub fn reservation(&self, order_id: &OrderId) -> Option<u64> {
        self.reservations.get(&order_id.to_string()).copied()
    }

    /// Whether credit for `order_id` has already been decided.
    #[must_use]
    pub fn has_decided(&self, order_id: &OrderId) -> bool {
        self.decided_orders.contains(&order_id.to_string())
    }

    /// Rebuilds a customer from its stream; `None` until `CustomerRegistered` is seen.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a CustomerEvent>) -> Option<Self> {
        events.into_iter().fold(None, Self::evolve)
    }

    /// One step of a replay: `CustomerRegistered` creates the customer, later events
    /// update it. Events that arrive before the customer exists are skipped.
    #[must_use]
    pub fn evolve(state: Option<Self>, event: &CustomerEvent) -> Option<Self> {
        match (state, event) {
            (Some(customer), event) => Some(customer.apply(event)),
            (None, CustomerEvent::CustomerRegistered { customer_id, name, credit_limit_cents }) => Some(Self {
                id: *customer_id,
                name: name.clone(),
                credit_limit_cents: *credit_limit_cents,
                reservations: BTreeMap::new(),
                decided_orders: BTreeSet::new(),
            }),
            (None, _) => None,
        }
    }

    /// Applies an event that already happened. Events are facts, so they are not
    /// re-checked; events of another customer, a repeated registration and
    /// `CreditRefused` (which never touches a customer) leave the state unchanged.
    #[must_use]
    pub fn apply(mut self, event: &CustomerEvent) -> Self {
        if event.customer_id() != self.id {
            return self;
        }
        match event {
            CustomerEvent::CustomerRegistered { .. } | CustomerEvent::CreditRefused { .. } => {}
            CustomerEvent::CreditReserved { order_id, amount_cents, .. } => {
                self.reservations.insert(order_id.to_string(), *amount_cents);
                self.decided_orders.insert(order_id.to_string());
            }
            CustomerEvent::CreditLimitExceeded { order_id, .. } => {
                self.decided_orders.insert(order_id.to_string());
            }
            CustomerEvent::CreditReleased { order_id, .. } => {
                self.reservations.remove(&order_id.to_string());
            }
        }
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn registered(limit: u64) -> Customer {
        let events = Customer::register(RegisterCustomer {
            customer_id: CustomerId::generate(),
            name: CustomerName::parse("Ada").unwrap(),
            credit_limit_cents: limit,
        });
        Customer::from_events(&events).unwrap()
    }

    fn reserved(customer: &Customer, amount_cents: u64) -> CustomerEvent {
        CustomerEvent::CreditReserved { customer_id: customer.id, order_id: OrderId::generate(), amount_cents }
    }

    #[test]
    fn registers_a_customer_with_all_credit_available() {
        let customer = registered(5000);

        assert_eq!(customer.name.as_str(), "Ada");
        assert_eq!(customer.reserved_cents(), 0);
        assert_eq!(customer.available_cents(), 5000);
    }

    #[test]
    fn holds_credit_for_each_reservation() {
        let customer = registered(5000);
        let first = reserved(&customer, 1500);
        let second = reserved(&customer, 2000);

        let customer = customer.apply(&first).apply(&second);

        assert_eq!(customer.reserved_cents(), 3500);
        assert_eq!(customer.available_cents(), 1500);
        assert_eq!(customer.reservation(&first.order_id().unwrap()), Some(1500));
    }

    #[test]
    fn frees_credit_on_release_but_remembers_the_decision() {
        let customer = registered(5000);
        let reservation = reserved(&customer, 1500);
        let order_id = reservation.order_id().unwrap();
        let release = CustomerEvent::CreditReleased { customer_id: customer.id, order_id, amount_cents: 1500 };

        let customer = customer.apply(&reservation).apply(&release);

        assert_eq!(customer.available_cents(), 5000);
        assert_eq!(customer.reservation(&order_id), None);
        assert!(customer.has_decided(&order_id));
    }

    #[test]
    fn ignores_events_of_another_customer() {
        let customer = registered(5000);
        let stranger = registered(100);

        let after = customer.clone().apply(&reserved(&stranger, 50));

        assert_eq!(after, customer);
    }

    #[test]
    fn has_no_state_before_it_is_registered() {
        let customer = registered(5000);

        assert_eq!(Customer::from_events([&reserved(&customer, 1)]), None);
    }

    #[test]
    fn reads_stored_state_without_decided_orders() {
        let customer = registered(5000);
        let mut json = serde_json::to_value(&customer).unwrap();
        json.as_object_mut().unwrap().remove("decided_orders");

        assert_eq!(serde_json::from_value::<Customer>(json).unwrap(), customer);
    }
}

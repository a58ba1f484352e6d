//! The credit saga across both domains, without AWS or an emulator: one order
//! placed, its credit-check deadline firing, customers deciding (reserve,
//! limit exceeded, or refused for a customer who does not exist), and the
//! answers and their redeliveries reaching each domain's pure decision
//! functions in every order the generated schedule picks.
//!
//! What the mesh guarantees, and so what the schedule may do: customers reads
//! order-events in the order orders wrote them (its subscription is FIFO per
//! order), a redelivery of an event it already took may come at any later
//! time; orders takes the credit answers and the deadline in any order
//! relative to each other, each one as often as the schedule likes. Every
//! delivery reaches the domain, even a repeat with the same id that the
//! inbox would drop: the decisions must not need it (the one thing that
//! repeats is the refusal for an unknown customer, which orders ignore).
//!
//! Whatever the schedule, once everything is delivered (the deadline has
//! fired): the order is decided once, approved exactly when the customer
//! holds its credit, and credit reserved after a timeout is declined once and
//! released once.
#![allow(clippy::unwrap_used)]

use customers::{Customer, CustomerEvent, CustomerName, RegisterCustomer, on_order_event};
use orders::{CREDIT_CHECK_TIMED_OUT, CreditEvent, Order, OrderEvent, OrderStatus, PlaceOrder, SagaStep};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The customers domain's view of order-events.
type OrderFact = customers::inbound::OrderEvent;

/// What a consumer reads of an event: its producer's JSON, decoded by the
/// consumer's own view (each crate ignores what it does not know).
fn read<T: DeserializeOwned>(event: &impl Serialize) -> T {
    serde_json::from_value(serde_json::to_value(event).unwrap()).unwrap()
}

/// One step of a schedule, picked among the deliveries possible at that moment.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The deadline reaches orders (again, if it already did).
    Deadline,
    /// Customers take the next order event of their FIFO queue.
    CustomersNext,
    /// Customers take again an order event they already took (the n-th).
    CustomersAgain(usize),
    /// Orders take the n-th credit event customers emitted (first time or again).
    Orders(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Deadline),
        3 => Just(Step::CustomersNext),
        1 => any::<usize>().prop_map(Step::CustomersAgain),
        3 => any::<usize>().prop_map(Step::Orders),
    ]
}

/// Both domains' state and what travels between them.
#[derive(Debug)]
struct Saga {
    order: Order,
    /// `None`: the order names a customer who never registered.
    customer: Option<Customer>,
    /// Order events for customers, as orders wrote them; the first
    /// `to_customers_taken` are delivered.
    to_customers: Vec<OrderFact>,
    to_customers_taken: usize,
    /// Credit events for orders, with whether each was delivered yet.
    to_orders: Vec<(CreditEvent, bool)>,
    deadline_fired: bool,
    orders_emitted: Vec<OrderEvent>,
    customers_emitted: Vec<CustomerEvent>,
}

impl Saga {
    fn placed(limit_cents: u64, amount_cents: u64, registered: bool) -> Self {
        let place = PlaceOrder {
            order_id: orders::OrderId::generate(),
            customer_id: orders::CustomerId::generate(),
            amount_cents,
            channel: None,
        };
        let customer = registered.then(|| {
            let registered = Customer::register(RegisterCustomer {
                customer_id: read(&place.customer_id),
                name: CustomerName::parse("Ada").unwrap(),
                credit_limit_cents: limit_cents,
            });
            Customer::from_events(&registered).unwrap()
        });
        let placed = Order::place(place);
        let mut saga = Self {
            order: Order::from_events(&placed).unwrap(),
            customer,
            to_customers: vec![],
            to_customers_taken: 0,
            to_orders: vec![],
            deadline_fired: false,
            orders_emitted: vec![],
            customers_emitted: vec![],
        };
        saga.orders_wrote(placed);
        saga
    }

    /// Orders' events change the order and go out on order-events: customers'
    /// subscription takes only the types it consumes.
    fn orders_wrote(&mut self, events: Vec<OrderEvent>) {
        for event in &events {
            self.order = self.order.clone().apply(event);
            if OrderFact::consumes(event.event_type()) {
                self.to_customers.push(read(event));
            }
        }
        self.orders_emitted.extend(events);
    }

    /// Customers' events change the customer (if it exists) and go out on
    /// customer-credit, to the saga.
    fn customers_wrote(&mut self, events: Vec<CustomerEvent>) {
        for event in &events {
            self.customer = self.customer.take().map(|customer| customer.apply(event));
            if CreditEvent::consumes(event.event_type()) {
                self.to_orders.push((read(event), false));
            }
        }
        self.customers_emitted.extend(events);
    }

    fn deadline(&mut self) {
        self.deadline_fired = true;
        let events = self.order.on_deadline("credit-check".parse::<SagaStep>().unwrap());
        self.orders_wrote(events);
    }

    fn customers_take(&mut self, index: usize) {
        let fact = self.to_customers[index].clone();
        let events = on_order_event(self.customer.as_ref(), &fact).unwrap();
        self.customers_wrote(events);
    }

    fn orders_take(&mut self, index: usize) {
        self.to_orders[index].1 = true;
        let events = self.order.on_credit(&self.to_orders[index].0).unwrap();
        self.orders_wrote(events);
    }

    /// Runs `step` if it is possible now; a step that is not is skipped.
    fn run(&mut self, step: Step) {
        match step {
            Step::Deadline => self.deadline(),
            Step::CustomersNext if self.to_customers_taken < self.to_customers.len() => {
                self.to_customers_taken += 1;
                self.customers_take(self.to_customers_taken - 1);
            }
            Step::CustomersAgain(n) if self.to_customers_taken > 0 => self.customers_take(n % self.to_customers_taken),
            Step::Orders(n) if !self.to_orders.is_empty() => self.orders_take(n % self.to_orders.len()),
            Step::CustomersNext | Step::CustomersAgain(_) | Step::Orders(_) => {}
        }
    }

    /// Delivers everything not yet delivered once, the deadline included,
    /// until nothing is left in flight.
    fn settle(&mut self) {
        loop {
            if !self.deadline_fired {
                self.deadline();
            } else if self.to_customers_taken < self.to_customers.len() {
                self.run(Step::CustomersNext);
            } else if let Some(index) = self.to_orders.iter().position(|(_, taken)| !taken) {
                self.orders_take(index);
            } else {
                return;
            }
        }
    }

    fn count(emitted: &[impl Serialize], types: &[&str]) -> usize {
        emitted.iter().filter(|e| types.contains(&serde_json::to_value(e).unwrap()["type"].as_str().unwrap())).count()
    }

    /// What must hold once the saga settled.
    fn check(&self) {
        let order = &self.order;
        let decisions = Self::count(&self.orders_emitted, &["OrderApproved", "OrderRejected"]);
        let declines = Self::count(&self.orders_emitted, &["OrderCreditDeclined"]);
        let reserved = Self::count(&self.customers_emitted, &["CreditReserved"]);
        let releases = Self::count(&self.customers_emitted, &["CreditReleased"]);
        let decided = Self::count(&self.customers_emitted, &["CreditReserved", "CreditLimitExceeded"]);
        let refused = Self::count(&self.customers_emitted, &["CreditRefused"]);

        assert!(matches!(order.status, OrderStatus::Approved | OrderStatus::Rejected), "{self:#?}");
        assert_eq!(decisions, 1, "one decision: {self:#?}");
        // A customer's credit is decided once. An unknown customer has no
        // state to remember a refusal by: each delivery of its OrderPlaced
        // that gets past the inbox is refused again, which orders ignore.
        let registered = self.customer.is_some();
        assert_eq!((decided, refused > 0), (usize::from(registered), !registered), "{self:#?}");
        let held = self.customer.as_ref().and_then(|customer| customer.reservation(&read(&order.id)));
        let approved = order.status == OrderStatus::Approved;
        assert_eq!(approved, held.is_some(), "approved iff the customer holds its credit: {self:#?}");
        assert_eq!(held.unwrap_or(0), if approved { order.amount_cents } else { 0 }, "{self:#?}");
        assert_eq!(
            self.customer.as_ref().map_or(0, Customer::reserved_cents),
            held.unwrap_or(0),
            "nothing else held: {self:#?}"
        );
        let timed_out = order.rejection_reason.as_deref() == Some(CREDIT_CHECK_TIMED_OUT);
        let late_credit = usize::from(timed_out && reserved == 1);
        assert_eq!(declines, late_credit, "late credit declined exactly once, nothing else: {self:#?}");
        assert_eq!(releases, late_credit, "a declined reservation released exactly once: {self:#?}");
        assert_eq!(order.credit_declined, late_credit == 1, "{self:#?}");
    }
}

proptest! {
    #[test]
    fn every_interleaving_ends_the_order_and_balances_the_credit(
        limit_cents in 0u64..3_000,
        amount_cents in 1u64..2_000,
        registered in prop::bool::weighted(0.85),
        schedule in prop::collection::vec(step(), 0..40),
    ) {
        let mut saga = Saga::placed(limit_cents, amount_cents, registered);
        for step in schedule {
            saga.run(step);
        }
        saga.settle();
        saga.check();
    }
}

/// The path the compensation exists for, spelled out: the deadline wins,
/// customers reserve anyway, and the reservation reaches orders twice.
#[test]
fn credit_reserved_after_the_deadline_is_declined_once_and_released_once() {
    let mut saga = Saga::placed(5_000, 1_500, true);

    for step in [Step::Deadline, Step::CustomersNext, Step::Orders(0), Step::Orders(0), Step::CustomersNext] {
        saga.run(step);
    }
    saga.run(Step::CustomersAgain(1));
    saga.settle();

    assert_eq!(saga.order.rejection_reason.as_deref(), Some("credit check timed out"));
    let kinds: Vec<_> = saga.customers_emitted.iter().map(CustomerEvent::event_type).collect();
    assert_eq!(kinds, ["CreditReserved", "CreditReleased"]);
    saga.check();
}

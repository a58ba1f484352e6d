//! One credit decision or deadline in, the order's approval, rejection or
//! decline of late credit out, exactly once: the order's new state, its
//! event and the inbox entry are one transaction.

use mesh::deadline::Deadline;
use mesh::env;
use mesh::envelope::{Envelope, EventMeta};
use mesh::event::{Emitter, Reader};
use mesh::schemas::{ProductContract, WriterSchemas};
use mesh::store::{Applied, Commit, StateStore, Versioned, react_once};
use mesh::subscriber::{HandleError, Handler};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::schema_registry::GlueSchemas;
use mesh_aws::{ConfigError, Settings, config};
use orders::contract::{CUSTOMER_CREDIT_READS, ORDER_EVENTS_WRITES};
use orders::{CreditEvent, Order, OrderError, OrderEvent, SagaStep};

/// Concurrent changes to one order (a cancel racing the saga) are retried.
const ATTEMPTS: u32 = 5;

pub struct SagaHandler<St, W> {
    pub store: St,
    pub emitter: Emitter,
    /// `customer-credit` as the saga reads it, whatever version was written.
    pub reader: Reader,
    pub writers: W,
}

impl SagaHandler<DynamoStore<Order>, GlueSchemas> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let writes = ProductContract::bundled(ORDER_EVENTS_WRITES)?;
        let inbox = config::required(env::INBOX_TABLE)?;
        let (store, emitter) = Settings::from_env()?.store_and_emitter(Some(inbox), writes).await?;
        let reader = Reader::new(ProductContract::bundled(CUSTOMER_CREDIT_READS)?);
        Ok(Self { store, emitter, reader, writers: GlueSchemas::from_env().await? })
    }
}

impl<St: StateStore<Order>, W: WriterSchemas> Handler for SagaHandler<St, W> {
    /// A deadline (the platform's, about the order it names) or a credit
    /// decision (the customers product's, about the order in its data).
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        if let Some(step) = deadline_step(envelope) {
            let step = step?;
            return self.react(&envelope.subject, "deadline", envelope, |order| Ok(order.on_deadline(step))).await;
        }
        let event: CreditEvent = self.reader.decode(envelope, &self.writers).await?;
        let order_id = event.order_id().to_string();
        self.react(&order_id, "credit decision", envelope, |order| order.on_credit(&event)).await
    }
}

/// The step whose deadline `envelope` is, if it is a deadline. One that
/// cannot be read or names a step the saga does not have never will: poison,
/// named by its id (the error of `Deadline::read` already says it, with
/// serde's reason in its text).
fn deadline_step(envelope: &Envelope) -> Option<Result<SagaStep, HandleError>> {
    Deadline::read(envelope).map(|deadline| {
        let deadline = deadline.map_err(|e| HandleError::Poison(e.to_string()))?;
        deadline.step.parse().map_err(|e: OrderError| HandleError::Poison(format!("deadline {}: {e}", envelope.id)))
    })
}

impl<St: StateStore<Order>, W> SagaHandler<St, W> {
    /// Reacts once to `cause` (a `what`, for messages) on the order
    /// `order_id`, with the events `decide` takes on the order as stored.
    async fn react(
        &self,
        order_id: &str,
        what: &str,
        cause: &Envelope,
        decide: impl Fn(&Order) -> Result<Vec<OrderEvent>, OrderError> + Sync,
    ) -> Result<Applied, HandleError> {
        let meta = EventMeta::caused_by(cause);
        let applied = react_once(&self.store, order_id, ATTEMPTS, |current| {
            self.decide(current, order_id, what, &decide, cause, &meta)
        })
        .await?;
        Ok(applied)
    }

    fn decide(
        &self,
        current: Option<Versioned<Order>>,
        order_id: &str,
        what: &str,
        decide: impl Fn(&Order) -> Result<Vec<OrderEvent>, OrderError>,
        cause: &Envelope,
        meta: &EventMeta,
    ) -> Result<Commit<Order>, HandleError> {
        let order = current.ok_or_else(|| HandleError::Poison(format!("{what} for unknown order {order_id}")))?;
        let decisions = decide(&order.state).map_err(|e| HandleError::Poison(e.to_string()))?;
        Ok(self.emitter.decided(order_id, order, &decisions, Order::apply, meta, Some(cause.id))?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_lambda_events::event::sqs::SqsEvent;
    use mesh::deadline::DeadlineRule;
    use mesh::pii::LocalKeys;
    use mesh::schemas::KnownSchemas;
    use mesh::store::memory::MemoryStore;
    use mesh::subscriber::{BatchReport, Message, handle_batch};
    use mesh_aws::sqs_batch;
    use orders::{OrderEvent, OrderStatus};
    use serde_json::json;

    use super::*;

    const CUSTOMER: &str = "0194a6c2-5a00-7000-8000-00000000000c";
    /// Credit reserved for it: the first message.
    const RESERVED: &str = "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f";
    /// Over the customer's limit: the second message.
    const EXCEEDED: &str = "0194a6c2-6a00-7cc0-9d1e-0a8b2c3d4e60";
    /// The third message's order, which the orders domain never placed.
    const UNKNOWN_ORDER_MESSAGE: &str = "7c2a4e3f-5d6b-4a8c-ae9f-1a2b3c4d5e6f";
    /// The request that placed `RESERVED`'s order: the conversation of its saga.
    const PLACING_REQUEST: &str = "0194a6c2-5f1d-7000-8000-000000000001";
    /// The first message's `CreditReserved`.
    const CREDIT_RESERVED: &str = "0194a6c2-5f30-7aa0-8b1e-1a2b3c4d5e70";

    /// Credit decisions of the customers product, as the saga's queue delivers them.
    fn recorded_event() -> SqsEvent {
        serde_json::from_str(include_str!("../fixtures/sqs-credit-decisions.json")).unwrap()
    }

    /// The saga with the two known orders placed and waiting for credit.
    fn handler() -> SagaHandler<MemoryStore<Order>, KnownSchemas> {
        let store = MemoryStore::default();
        for (order_id, amount_cents) in [(RESERVED, 1250), (EXCEEDED, 9000)] {
            store.put_state(order_id, pending(order_id, amount_cents), 1);
        }
        SagaHandler {
            store,
            emitter: Emitter::new(ProductContract::bundled(ORDER_EVENTS_WRITES).unwrap()).protecting(
                std::sync::Arc::new(LocalKeys::from_seed("test").protector("orders/order-events").unwrap()),
            ),
            reader: Reader::new(ProductContract::bundled(CUSTOMER_CREDIT_READS).unwrap()),
            writers: KnownSchemas::default(),
        }
    }

    /// An order as its `OrderPlaced` (the orders product's contract) made it.
    fn pending(order_id: &str, amount_cents: u64) -> Order {
        let data =
            json!({"order_id": order_id, "customer_id": CUSTOMER, "amount_cents": amount_cents, "channel": "web"});
        let placed: OrderEvent = serde_json::from_value(json!({"type": "OrderPlaced", "data": data})).unwrap();
        Order::from_events([&placed]).unwrap()
    }

    async fn deliver(
        handler: &SagaHandler<MemoryStore<Order>, KnownSchemas>,
        range: std::ops::Range<usize>,
    ) -> BatchReport {
        let event = recorded_event();
        handle_batch(&sqs_batch::messages(&event)[range], handler).await
    }

    fn decision(handler: &SagaHandler<MemoryStore<Order>, KnownSchemas>, order_id: &str) -> Envelope {
        handler.store.outbox().into_iter().find(|e| e.subject == order_id).unwrap()
    }

    /// The credit-check deadline the relay schedules for the `OrderPlaced` of
    /// `order_id`, as the scheduler delivers it to the saga's queue.
    fn deadline(order_id: &str) -> Envelope {
        let request = PLACING_REQUEST.parse().unwrap();
        let meta = EventMeta { correlation_id: request, causation_id: request, traceparent: None };
        let placed = Envelope::new("orders/order-events", "OrderPlaced", order_id, 1, json!({}), &meta);
        let rule = DeadlineRule {
            step: "credit-check".into(),
            starts_with: "OrderPlaced".into(),
            timeout_seconds: 300,
            queue: "arn:aws:sqs:us-east-1:123456789012:mesh-orders-customer-credit".into(),
            dead_letters: "arn:aws:sqs:us-east-1:123456789012:mesh-orders-deadlines-dlq".into(),
        };
        rule.deadline_for(&placed).unwrap()
    }

    fn message(id: &str, envelope: &Envelope) -> Message {
        Message::new(id, envelope.to_json().unwrap())
    }

    /// The first message's `CreditReserved` again, under another id: the
    /// inbox does not know it, so the order itself must.
    fn reserved_again() -> Message {
        let event = recorded_event();
        let mut body: serde_json::Value = serde_json::from_str(&sqs_batch::messages(&event)[0].body).unwrap();
        body["id"] = json!("0194a6c2-5f31-7aa0-8b1e-1a2b3c4d5e71");
        Message::new("reserved-again", body.to_string())
    }

    #[tokio::test]
    async fn approves_a_pending_order_when_credit_is_reserved() {
        let handler = handler();

        let report = deliver(&handler, 0..1).await;

        assert_eq!((report.applied, report.failed.len()), (1, 0), "{:?}", report.failed);
        let order = handler.store.state(RESERVED).unwrap();
        assert_eq!((order.version, order.state.status), (2, OrderStatus::Approved));
        let approved = decision(&handler, RESERVED);
        assert_eq!((approved.event_type.as_str(), approved.sequence), ("OrderApproved", 2));
        assert_eq!(approved.causation_id.to_string(), "0194a6c2-5f30-7aa0-8b1e-1a2b3c4d5e70", "the CreditReserved");
        assert_eq!(approved.correlation_id.to_string(), "0194a6c2-5f1d-7000-8000-000000000001", "the placing request");
        assert_eq!(approved.traceparent.as_deref(), Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    }

    #[tokio::test]
    async fn rejects_a_pending_order_when_the_credit_limit_is_exceeded() {
        let handler = handler();

        let report = deliver(&handler, 1..2).await;

        assert_eq!((report.applied, report.failed.len()), (1, 0), "{:?}", report.failed);
        let order = handler.store.state(EXCEEDED).unwrap();
        assert_eq!((order.version, order.state.status), (2, OrderStatus::Rejected));
        let rejected = decision(&handler, EXCEEDED);
        assert_eq!((rejected.event_type.as_str(), rejected.sequence), ("OrderRejected", 2));
        assert_eq!(rejected.data["reason"], "credit limit exceeded: requested 9000, available 3750");
        assert_eq!(handler.store.state(RESERVED).unwrap().state.status, OrderStatus::Pending, "the other order waits");
    }

    #[tokio::test]
    async fn a_redelivered_batch_changes_nothing() {
        let handler = handler();
        deliver(&handler, 0..2).await;

        let report = deliver(&handler, 0..2).await;

        assert_eq!((report.applied, report.duplicates, report.failed.len()), (0, 2, 0));
        assert_eq!(handler.store.state(RESERVED).unwrap().version, 2);
        assert_eq!(handler.store.state(EXCEEDED).unwrap().version, 2);
        assert_eq!(handler.store.outbox().len(), 2, "one decision per order");
    }

    #[tokio::test]
    async fn a_decision_for_an_unknown_order_is_poison_and_the_only_failure_reported() {
        let handler = handler();

        let report = deliver(&handler, 0..3).await;

        let response = sqs_batch::batch_response(&report);
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, [UNKNOWN_ORDER_MESSAGE]);
        assert!(report.failed[0].poison, "{:?}", report.failed);
        assert!(
            report.failed[0].reason.contains("unknown order 0194a6c2-7b00-7cc0-9d1e-0a8b2c3d4e61"),
            "{:?}",
            report.failed
        );
        assert_eq!(report.applied, 2);
        assert_eq!(handler.store.entities(), 2, "no order is made up for it");
    }

    #[tokio::test]
    async fn a_deadline_rejects_a_pending_order_because_its_credit_check_timed_out() {
        let handler = handler();
        let deadline = deadline(RESERVED);

        let report = handle_batch(&[message("deadline", &deadline)], &handler).await;

        assert_eq!((report.applied, report.failed.len()), (1, 0), "{:?}", report.failed);
        let order = handler.store.state(RESERVED).unwrap();
        assert_eq!((order.version, order.state.status), (2, OrderStatus::Rejected));
        let rejected = decision(&handler, RESERVED);
        assert_eq!((rejected.event_type.as_str(), rejected.sequence), ("OrderRejected", 2));
        assert_eq!(rejected.data["reason"], "credit check timed out");
        assert_eq!(rejected.causation_id, deadline.id, "the deadline");
        assert_eq!(rejected.correlation_id.to_string(), PLACING_REQUEST, "the placing request");
        assert_eq!(handler.store.state(EXCEEDED).unwrap().state.status, OrderStatus::Pending, "the other order waits");
    }

    #[tokio::test]
    async fn a_deadline_for_an_approved_order_changes_nothing() {
        let handler = handler();
        deliver(&handler, 0..1).await;

        let report = handle_batch(&[message("deadline", &deadline(RESERVED))], &handler).await;

        assert_eq!((report.applied, report.failed.len()), (1, 0), "{:?}", report.failed);
        let order = handler.store.state(RESERVED).unwrap();
        assert_eq!((order.version, order.state.status), (2, OrderStatus::Approved));
        assert_eq!(handler.store.outbox().len(), 1, "only the approval");
    }

    #[tokio::test]
    async fn the_same_deadline_twice_rejects_once() {
        let handler = handler();
        let deadline = deadline(RESERVED);

        let report = handle_batch(&[message("deadline", &deadline), message("again", &deadline)], &handler).await;

        assert_eq!((report.applied, report.duplicates, report.failed.len()), (1, 1, 0), "{:?}", report.failed);
        assert_eq!(handler.store.state(RESERVED).unwrap().version, 2);
        assert_eq!(handler.store.outbox().len(), 1, "one rejection");
    }

    #[tokio::test]
    async fn credit_reserved_after_the_timeout_is_declined_once() {
        let handler = handler();
        handle_batch(&[message("deadline", &deadline(RESERVED))], &handler).await;

        let late = deliver(&handler, 0..1).await;
        let again = handle_batch(&[reserved_again()], &handler).await;

        assert_eq!((late.applied, again.applied, late.failed.len() + again.failed.len()), (1, 1, 0));
        let order = handler.store.state(RESERVED).unwrap();
        assert_eq!((order.version, order.state.status, order.state.credit_declined), (3, OrderStatus::Rejected, true));
        let events: Vec<_> =
            handler.store.outbox().into_iter().map(|e| (e.event_type.clone(), e.sequence, e)).collect();
        let kinds: Vec<_> = events.iter().map(|(kind, sequence, _)| (kind.as_str(), *sequence)).collect();
        assert_eq!(kinds, [("OrderRejected", 2), ("OrderCreditDeclined", 3)], "one decline, none for the repeat");
        let declined = &events[1].2;
        assert_eq!(declined.causation_id.to_string(), CREDIT_RESERVED, "the late CreditReserved");
        assert_eq!(declined.data["amount_cents"], 1250);
        assert!(declined.data["customer_id"]["token"].is_string(), "protected: {}", declined.data);
    }

    #[tokio::test]
    async fn a_deadline_with_a_broken_body_is_poison_and_names_itself() {
        let handler = handler();
        let mut deadline = deadline(RESERVED);
        deadline.data = json!({"step": 1});

        let report = handle_batch(&[message("deadline", &deadline)], &handler).await;

        assert!(report.failed[0].poison, "{:?}", report.failed);
        assert!(report.failed[0].reason.contains(&format!("deadline {}: ", deadline.id)), "{:?}", report.failed);
        assert_eq!(handler.store.state(RESERVED).unwrap().version, 1, "the order still waits");
    }

    #[tokio::test]
    async fn a_deadline_of_an_unknown_step_or_order_is_poison() {
        let handler = handler();
        let mut shipment = deadline(RESERVED);
        shipment.data["step"] = json!("shipment");
        let stranger = deadline("0194a6c2-7b00-7cc0-9d1e-0a8b2c3d4e61");

        let report = handle_batch(&[message("shipment", &shipment), message("stranger", &stranger)], &handler).await;

        let reasons: Vec<_> = report.failed.iter().filter(|f| f.poison).map(|f| f.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{:?}", report.failed);
        assert!(reasons[0].contains("unknown saga step `shipment`"), "{reasons:?}");
        assert!(reasons[1].contains("deadline for unknown order 0194a6c2-7b00-7cc0-9d1e-0a8b2c3d4e61"), "{reasons:?}");
        assert_eq!(handler.store.entities(), 2, "no order is made up for it");
    }
}

//! One credit decision in, the order's approval or rejection out, exactly
//! once: the order's new state, its event and the inbox entry are one
//! transaction.

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
use orders::{CreditEvent, Order};

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
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event: CreditEvent = self.reader.decode(envelope, &self.writers).await?;
        let order_id = event.order_id().to_string();
        let meta = EventMeta::caused_by(envelope);
        let applied = react_once(&self.store, &order_id, ATTEMPTS, |current| {
            self.decide(current, &order_id, &event, envelope, &meta)
        })
        .await?;
        Ok(applied)
    }
}

impl<St, W> SagaHandler<St, W> {
    fn decide(
        &self,
        current: Option<Versioned<Order>>,
        order_id: &str,
        event: &CreditEvent,
        cause: &Envelope,
        meta: &EventMeta,
    ) -> Result<Commit<Order>, HandleError> {
        let order =
            current.ok_or_else(|| HandleError::Poison(format!("credit decision for unknown order {order_id}")))?;
        let decisions = order.state.on_credit(event).map_err(|e| HandleError::Poison(e.to_string()))?;
        Ok(self.emitter.decided(order_id, order, &decisions, Order::apply, meta, Some(cause.id))?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_lambda_events::event::sqs::SqsEvent;
    use mesh::pii::LocalKeys;
    use mesh::schemas::KnownSchemas;
    use mesh::store::memory::MemoryStore;
    use mesh::subscriber::{BatchReport, handle_batch};
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
}

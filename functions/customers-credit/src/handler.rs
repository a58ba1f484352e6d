//! One order event in, at most one credit decision out, exactly once:
//! the customer's new state, the decision event and the inbox entry are one
//! transaction.

use customers::contract::{CUSTOMER_CREDIT_WRITES, ORDER_EVENTS_READS};
use customers::inbound::OrderEvent;
use customers::{Customer, CustomerEvent, on_order_event};
use mesh::env;
use mesh::envelope::{Envelope, EventMeta};
use mesh::event::{Emitter, EventCodecError, Reader};
use mesh::schemas::{ProductContract, WriterSchemas};
use mesh::store::{Applied, Commit, StateStore, Versioned, react_once};
use mesh::subscriber::{HandleError, Handler};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::schema_registry::GlueSchemas;
use mesh_aws::{ConfigError, Settings, config};

/// Concurrent decisions on one customer are retried this many times.
const ATTEMPTS: u32 = 5;

pub struct CreditHandler<St, W> {
    pub store: St,
    pub emitter: Emitter,
    /// `order-events` as this domain reads it, whatever version was written.
    pub reader: Reader,
    pub writers: W,
}

impl CreditHandler<DynamoStore<Customer>, GlueSchemas> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let writes = ProductContract::bundled(CUSTOMER_CREDIT_WRITES)?;
        let inbox = config::required(env::INBOX_TABLE)?;
        let (store, emitter) = Settings::from_env()?.store_and_emitter(Some(inbox), writes).await?;
        let reader = Reader::new(ProductContract::bundled(ORDER_EVENTS_READS)?);
        Ok(Self { store, emitter, reader, writers: GlueSchemas::from_env().await? })
    }
}

impl<St: StateStore<Customer>, W: WriterSchemas> Handler for CreditHandler<St, W> {
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event: OrderEvent = self.reader.decode(envelope, &self.writers).await?;
        let customer_id = event.customer_id().to_string();
        let meta = EventMeta::caused_by(envelope);
        let applied =
            react_once(&self.store, &customer_id, ATTEMPTS, |current| self.decide(current, &event, envelope, &meta))
                .await?;
        Ok(applied)
    }
}

impl<St, W> CreditHandler<St, W> {
    fn decide(
        &self,
        current: Option<Versioned<Customer>>,
        event: &OrderEvent,
        cause: &Envelope,
        meta: &EventMeta,
    ) -> Result<Commit<Customer>, HandleError> {
        let decisions = on_order_event(current.as_ref().map(|c| &c.state), event)
            .map_err(|e| HandleError::Poison(e.to_string()))?;
        let Some(customer) = current else {
            return Ok(self.refusals(&decisions, cause, meta)?);
        };
        let customer_id = customer.state.id.to_string();
        Ok(self.emitter.decided(&customer_id, customer, &decisions, Customer::apply, meta, Some(cause.id))?)
    }

    /// No customer: the only decision is a refusal, filed as the first event
    /// of the order it answers (there is no customer history to append it
    /// to), and no state changes.
    fn refusals(
        &self,
        decisions: &[CustomerEvent],
        cause: &Envelope,
        meta: &EventMeta,
    ) -> Result<Commit<Customer>, EventCodecError> {
        let mut events = Vec::new();
        for decision in decisions {
            events.extend(self.emitter.envelopes(&decision.subject(), 1, std::slice::from_ref(decision), meta)?);
        }
        Ok(Commit { change: None, events, inbox: Some(cause.id) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_lambda_events::event::sqs::SqsEvent;
    use customers::{CustomerId, CustomerName, RegisterCustomer};
    use mesh::contract::SchemaVersion;
    use mesh::pii::LocalKeys;
    use mesh::pii::Opener;
    use mesh::schemas::{KnownSchemas, SchemaRef};
    use mesh::store::memory::MemoryStore;
    use mesh::subscriber::{BatchReport, Message, handle_opened};
    use mesh_aws::sqs_batch;

    use super::*;

    /// The fixture's protected fields were sealed with these keys, and this
    /// subscriber is granted orders/order-events: its handler sees them in clear.
    async fn handle_batch(messages: &[Message], handler: &impl mesh::subscriber::Handler) -> BatchReport {
        let opener = Opener::new(LocalKeys::from_seed("fixture"), ["orders/order-events".to_owned()]);
        handle_opened(messages, handler, &opener).await
    }

    /// What the registry holds: the orders producer has moved to `OrderPlaced` v2.
    fn registry() -> KnownSchemas {
        let urn = "urn:mesh:schema:orders:order-events:v2:OrderPlaced:2";
        let text = include_str!("../../../schemas/orders/order-events/v2/OrderPlaced/2.avsc");
        KnownSchemas::default().with(SchemaRef::parse(urn).unwrap(), SchemaVersion::parse(2, urn, text).unwrap().schema)
    }

    fn handler(store: MemoryStore<Customer>) -> CreditHandler<MemoryStore<Customer>, KnownSchemas> {
        CreditHandler {
            store,
            emitter: Emitter::new(ProductContract::bundled(CUSTOMER_CREDIT_WRITES).unwrap()).protecting(
                std::sync::Arc::new(LocalKeys::from_seed("test").protector("customers/customer-credit").unwrap()),
            ),
            reader: Reader::new(ProductContract::bundled(ORDER_EVENTS_READS).unwrap()),
            writers: registry(),
        }
    }

    const CUSTOMER: &str = "0194a6c2-5a00-7000-8000-00000000000c";

    fn recorded_event() -> SqsEvent {
        serde_json::from_str(include_str!("../fixtures/sqs-order-placed.json")).unwrap()
    }

    fn handler_with_customer(limit: u64) -> CreditHandler<MemoryStore<Customer>, KnownSchemas> {
        let store = MemoryStore::default();
        let registered = Customer::register(RegisterCustomer {
            customer_id: CustomerId::parse(CUSTOMER).unwrap(),
            name: CustomerName::parse("Ada").unwrap(),
            credit_limit_cents: limit,
        });
        store.put_state(CUSTOMER, Customer::from_events(&registered).unwrap(), 1);
        handler(store)
    }

    #[tokio::test]
    async fn reserves_credit_and_reports_only_the_poison_message() {
        let handler = handler_with_customer(5_000);
        let event = recorded_event();
        let report = handle_batch(&sqs_batch::messages(&event), &handler).await;

        let response = sqs_batch::batch_response(&report);
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
        assert!(report.failed[0].poison);

        let customer = handler.store.state(CUSTOMER).unwrap();
        assert_eq!((customer.version, customer.state.reserved_cents()), (2, 1250));
        let decision = handler.store.outbox().pop().unwrap();
        assert_eq!((decision.event_type.as_str(), decision.sequence), ("CreditReserved", 2));
        assert_eq!(decision.causation_id.to_string(), "0194a6c2-5f20-7aa0-8b1e-1a2b3c4d5e6f");
    }

    #[tokio::test]
    async fn a_redelivered_order_placed_changes_nothing() {
        let handler = handler_with_customer(5_000);
        let event = recorded_event();
        let messages = &sqs_batch::messages(&event)[..1];
        handle_batch(messages, &handler).await;
        let report = handle_batch(messages, &handler).await;
        assert_eq!((report.applied, report.duplicates, report.failed.len()), (0, 1, 0));
        assert_eq!(handler.store.state(CUSTOMER).unwrap().version, 2);
        assert_eq!(handler.store.outbox().len(), 1);
    }

    #[tokio::test]
    async fn refuses_credit_over_the_limit() {
        let handler = handler_with_customer(1_000);
        let event = recorded_event();
        handle_batch(&sqs_batch::messages(&event)[..1], &handler).await;
        let decision = handler.store.outbox().pop().unwrap();
        assert_eq!(decision.event_type, "CreditLimitExceeded");
        assert_eq!(decision.data["available_cents"], 1_000);
    }

    #[tokio::test]
    async fn refuses_credit_for_an_unknown_customer_under_the_order() {
        let handler = handler(MemoryStore::default());
        let event = recorded_event();
        let report = handle_batch(&sqs_batch::messages(&event)[..1], &handler).await;
        assert_eq!(report.applied, 1);
        let refusal = handler.store.outbox().pop().unwrap();
        assert_eq!(
            (refusal.event_type.as_str(), refusal.subject.as_str()),
            ("CreditRefused", "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f")
        );
        assert!(handler.store.state(CUSTOMER).is_none());
    }

    /// An order rejected because its credit check timed out declines the
    /// credit customers reserved for it after that, as the orders emitter
    /// writes it (its customer protected with the fixture's keys).
    fn declined() -> Message {
        let contract = ProductContract::bundled(ORDER_EVENTS_READS).unwrap();
        let protector = LocalKeys::from_seed("fixture").protector("orders/order-events").unwrap();
        let emitter = Emitter::new(contract).protecting(std::sync::Arc::new(protector));
        let order_id = "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f";
        let decline = OrderEvent::OrderCreditDeclined {
            order_id: order_id.parse().unwrap(),
            customer_id: CUSTOMER.parse().unwrap(),
            amount_cents: 1250,
        };
        let meta = EventMeta::root("0194a6c2-5f1d-7000-8000-000000000001".parse().unwrap());
        let envelope = emitter.envelopes(order_id, 3, &[decline], &meta).unwrap().remove(0);
        Message::new("declined", envelope.to_json().unwrap())
    }

    #[tokio::test]
    async fn releases_the_credit_an_order_declined_once() {
        let handler = handler_with_customer(5_000);
        let event = recorded_event();
        handle_batch(&sqs_batch::messages(&event)[..1], &handler).await;

        let report = handle_batch(&[declined(), declined()], &handler).await;

        assert_eq!((report.applied, report.failed.len()), (2, 0), "{:?}", report.failed);
        let customer = handler.store.state(CUSTOMER).unwrap();
        assert_eq!((customer.version, customer.state.reserved_cents()), (3, 0));
        let kinds: Vec<_> = handler.store.outbox().into_iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, ["CreditReserved", "CreditReleased"], "released once");
    }
}

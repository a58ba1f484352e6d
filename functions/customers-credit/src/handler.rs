//! One order event in, at most one credit decision out, exactly once:
//! the customer's new state, the decision event and the inbox entry are one
//! transaction.

use customers::inbound::OrderEvent;
use customers::{Customer, on_order_event};
use mesh::envelope::{Envelope, EventMeta};
use mesh::event::{Emitter, decode};
use mesh::store::{Applied, Commit, StateStore, Versioned, react_once};
use mesh::subscriber::{HandleError, Handler};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::{ConfigError, Settings, config};

/// Concurrent decisions on one customer are retried this many times.
const ATTEMPTS: u32 = 5;

pub struct CreditHandler<St> {
    pub store: St,
    pub emitter: Emitter,
}

impl CreditHandler<DynamoStore<Customer>> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (store, emitter) = Settings::from_env()?.store_and_emitter(Some(config::required("INBOX_TABLE")?)).await;
        Ok(Self { store, emitter })
    }
}

impl<St: StateStore<Customer>> Handler for CreditHandler<St> {
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event: OrderEvent = decode(envelope).map_err(|e| HandleError::Poison(e.to_string()))?;
        let customer_id = event.customer_id().to_string();
        let meta = EventMeta::caused_by(envelope);
        let applied =
            react_once(&self.store, &customer_id, ATTEMPTS, |current| self.decide(current, &event, envelope, &meta))
                .await?;
        Ok(applied)
    }
}

impl<St> CreditHandler<St> {
    fn decide(
        &self,
        current: Option<Versioned<Customer>>,
        event: &OrderEvent,
        cause: &Envelope,
        meta: &EventMeta,
    ) -> Result<Commit<Customer>, HandleError> {
        let decisions = on_order_event(current.as_ref().map(|c| &c.state), event)
            .map_err(|e| HandleError::Poison(e.to_string()))?;
        let encode = |e: mesh::event::EventCodecError| HandleError::Poison(e.to_string());
        match current {
            Some(Versioned { state, version }) => {
                let envelopes =
                    self.emitter.envelopes(&state.id.to_string(), version + 1, &decisions, meta).map_err(encode)?;
                let customer_id = state.id.to_string();
                let customer = decisions.iter().fold(state, Customer::apply);
                Ok(Commit::decided(&customer_id, version, customer, envelopes, Some(cause.id)))
            }
            // No customer: the only decision is a refusal, filed under the
            // order (there is no customer history to append it to).
            None => {
                let mut envelopes = Vec::new();
                for decision in &decisions {
                    let subject = decision.subject();
                    envelopes.extend(
                        self.emitter.envelopes(&subject, 1, std::slice::from_ref(decision), meta).map_err(encode)?,
                    );
                }
                Ok(Commit { change: None, events: envelopes, inbox: Some(cause.id) })
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_lambda_events::event::sqs::SqsEvent;
    use customers::{CustomerId, CustomerName, RegisterCustomer};
    use mesh::store::memory::MemoryStore;
    use mesh::subscriber::handle_batch;
    use mesh_aws::sqs_batch;

    use super::*;

    const CUSTOMER: &str = "0194a6c2-5a00-7000-8000-00000000000c";

    fn recorded_event() -> SqsEvent {
        serde_json::from_str(include_str!("../fixtures/sqs-order-placed.json")).unwrap()
    }

    fn handler_with_customer(limit: u64) -> CreditHandler<MemoryStore<Customer>> {
        let store = MemoryStore::default();
        let registered = Customer::register(RegisterCustomer {
            customer_id: CustomerId::parse(CUSTOMER).unwrap(),
            name: CustomerName::parse("Ada").unwrap(),
            credit_limit_cents: limit,
        });
        store.put_state(CUSTOMER, Customer::from_events(&registered).unwrap(), 1);
        CreditHandler { store, emitter: Emitter::new("customers", "customer-credit") }
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
        let handler =
            CreditHandler { store: MemoryStore::default(), emitter: Emitter::new("customers", "customer-credit") };
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
}

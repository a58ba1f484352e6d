//! One order event in, at most one credit decision out, exactly once:
//! the customer's new state, the decision event and the inbox entry are one
//! transaction.

use customers::inbound::OrderEvent;
use customers::{Customer, on_order_event};
use mesh::envelope::{Envelope, EventMeta};
use mesh::event::{Emitter, decode};
use mesh::store::{Applied, Commit, StateStore, Versioned, react_once};
use mesh::subscriber::{HandleError, Handler};
use mesh_aws::dynamo_store::{DynamoStore, Tables};
use mesh_aws::{ConfigError, Settings, config};

/// Concurrent decisions on one customer are retried this many times.
const ATTEMPTS: u32 = 5;

pub struct CreditHandler<St> {
    pub store: St,
    pub emitter: Emitter,
}

impl CreditHandler<DynamoStore<Customer>> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let inbox = config::required("INBOX_TABLE")?;
        let client = aws_sdk_dynamodb::Client::new(&config::sdk_config().await);
        let tables = Tables {
            state: settings.state_table,
            outbox: settings.outbox_table,
            inbox: Some(inbox),
        };
        Ok(Self {
            store: DynamoStore::new(
                client,
                tables,
                settings.outbox_retention,
                settings.inbox_retention,
            ),
            emitter: Emitter::new(&settings.domain, &settings.product),
        })
    }
}

impl<St: StateStore<Customer>> Handler for CreditHandler<St> {
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event: OrderEvent = decode(envelope).map_err(|e| HandleError::Poison(e.to_string()))?;
        let customer_id = event.customer_id().to_string();
        let meta = EventMeta::caused_by(envelope);
        let applied = react_once(&self.store, &customer_id, ATTEMPTS, |current| {
            self.decide(current, &event, envelope, &meta)
        })
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
                let envelopes = self
                    .emitter
                    .envelopes(&state.id.to_string(), version + 1, &decisions, meta)
                    .map_err(encode)?;
                let customer_id = state.id.to_string();
                let customer = decisions.iter().fold(state, Customer::apply);
                Ok(Commit::decided(
                    &customer_id,
                    version,
                    customer,
                    envelopes,
                    Some(cause.id),
                ))
            }
            // No customer: the only decision is a refusal, filed under the
            // order (there is no customer history to append it to).
            None => {
                let mut envelopes = Vec::new();
                for decision in &decisions {
                    let subject = decision.subject();
                    envelopes.extend(
                        self.emitter
                            .envelopes(&subject, 1, std::slice::from_ref(decision), meta)
                            .map_err(encode)?,
                    );
                }
                Ok(Commit {
                    change: None,
                    events: envelopes,
                    inbox: Some(cause.id),
                })
            }
        }
    }
}

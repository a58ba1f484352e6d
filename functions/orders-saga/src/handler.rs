//! One credit decision in, the order's approval or rejection out, exactly
//! once: the order's new state, its event and the inbox entry are one
//! transaction.

use mesh::envelope::{Envelope, EventMeta};
use mesh::event::{Emitter, decode};
use mesh::store::{Applied, Commit, StateStore, Versioned, react_once};
use mesh::subscriber::{HandleError, Handler};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::{ConfigError, Settings, config};
use orders::{CreditEvent, Order};

/// Concurrent changes to one order (a cancel racing the saga) are retried.
const ATTEMPTS: u32 = 5;

pub struct SagaHandler<St> {
    pub store: St,
    pub emitter: Emitter,
}

impl SagaHandler<DynamoStore<Order>> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let (store, emitter) = Settings::from_env()?.store_and_emitter(Some(config::required("INBOX_TABLE")?)).await;
        Ok(Self { store, emitter })
    }
}

impl<St: StateStore<Order>> Handler for SagaHandler<St> {
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event: CreditEvent = decode(envelope).map_err(|e| HandleError::Poison(e.to_string()))?;
        let order_id = event.order_id().to_string();
        let meta = EventMeta::caused_by(envelope);
        let applied = react_once(&self.store, &order_id, ATTEMPTS, |current| {
            self.decide(current, &order_id, &event, envelope, &meta)
        })
        .await?;
        Ok(applied)
    }
}

impl<St> SagaHandler<St> {
    fn decide(
        &self,
        current: Option<Versioned<Order>>,
        order_id: &str,
        event: &CreditEvent,
        cause: &Envelope,
        meta: &EventMeta,
    ) -> Result<Commit<Order>, HandleError> {
        let Versioned { state, version } =
            current.ok_or_else(|| HandleError::Poison(format!("credit decision for unknown order {order_id}")))?;
        let decisions = state.on_credit(event).map_err(|e| HandleError::Poison(e.to_string()))?;
        let envelopes = self
            .emitter
            .envelopes(order_id, version + 1, &decisions, meta)
            .map_err(|e| HandleError::Poison(e.to_string()))?;
        let order = decisions.iter().fold(state, Order::apply);
        Ok(Commit::decided(order_id, version, order, envelopes, Some(cause.id)))
    }
}

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

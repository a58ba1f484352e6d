//! One order event in, the order's sales row updated, exactly once: the row
//! and the inbox entry are one transaction. A read-side domain publishes
//! nothing, so no commit carries events.

use analytics::contract::ORDER_EVENTS_READS;
use analytics::inbound::OrderEvent;
use analytics::{Decision, OrderSale, SaleError, apply};
use mesh::envelope::Envelope;
use mesh::event::Reader;
use mesh::schemas::{ProductContract, WriterSchemas};
use mesh::store::{Applied, Commit, StateStore, Versioned, react_once};
use mesh::subscriber::{HandleError, Handler};
use mesh_aws::ConfigError;
use mesh_aws::config::ViewSettings;
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::schema_registry::GlueSchemas;

/// Concurrent updates of one order's row (its events arriving in parallel
/// batches) are retried this many times.
const ATTEMPTS: u32 = 5;

pub struct SalesHandler<St, W> {
    pub store: St,
    /// `order-events` as the view reads it (`OrderPlaced` at v2), whatever version was written.
    pub reader: Reader,
    pub writers: W,
}

impl SalesHandler<DynamoStore<OrderSale>, GlueSchemas> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let reader = Reader::new(ProductContract::bundled(ORDER_EVENTS_READS)?);
        Ok(Self { store: ViewSettings::from_env()?.store().await, reader, writers: GlueSchemas::from_env().await? })
    }
}

impl<St: StateStore<OrderSale>, W: WriterSchemas> Handler for SalesHandler<St, W> {
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event = self.read(envelope).await?;
        let order_id = event.order_id().to_string();
        if envelope.subject != order_id {
            let problem = format!("{} {} is about order {order_id}", envelope.event_type, envelope.subject);
            return Err(HandleError::Poison(problem));
        }
        let applied = react_once(&self.store, &order_id, ATTEMPTS, |current| record(current, &event, envelope)).await?;
        Ok(applied)
    }
}

impl<St, W: WriterSchemas> SalesHandler<St, W> {
    /// The one place an event is decoded, as this domain's reader view
    /// (`OrderPlaced` at schema version 2).
    async fn read(&self, envelope: &Envelope) -> Result<OrderEvent, HandleError> {
        Ok(self.reader.decode(envelope, &self.writers).await?)
    }
}

/// The commit for one event: the changed row, or only the inbox entry when
/// the view already knows everything the event says.
fn record(
    current: Option<Versioned<OrderSale>>,
    event: &OrderEvent,
    cause: &Envelope,
) -> Result<Commit<OrderSale>, SaleError> {
    let (view, version) = current.map_or((None, 0), |v| (Some(v.state), v.version));
    match apply(view, event, cause.sequence)? {
        Decision::Changed(sale) => Ok(Commit::view_changed(&sale.order_id.to_string(), version, sale, cause.id)),
        Decision::Unchanged(why) => {
            tracing::debug!(event_id = %cause.id, sequence = cause.sequence, ?why, "nothing to change");
            Ok(Commit::inbox_only(cause.id))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use analytics::SaleStatus;
    use aws_lambda_events::event::sqs::SqsEvent;
    use mesh::pii::{LocalKeys, Opener};
    use mesh::schemas::KnownSchemas;
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

    /// Approved before it was placed (the approval overtook the placement).
    const WEB_ORDER: &str = "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f";
    /// Placed without a channel.
    const PLAIN_ORDER: &str = "0194a6c2-6a00-7cc0-9d1e-0a8b2c3d4e60";

    fn recorded_event() -> SqsEvent {
        serde_json::from_str(include_str!("../fixtures/sqs-order-events.json")).unwrap()
    }

    fn handler() -> SalesHandler<MemoryStore<OrderSale>, KnownSchemas> {
        let reader = Reader::new(ProductContract::bundled(ORDER_EVENTS_READS).unwrap());
        SalesHandler { store: MemoryStore::default(), reader, writers: KnownSchemas::default() }
    }

    fn row(handler: &SalesHandler<MemoryStore<OrderSale>, KnownSchemas>, order: &str) -> Versioned<OrderSale> {
        handler.store.state(order).unwrap()
    }

    #[tokio::test]
    async fn builds_each_orders_row_and_reports_only_the_poison_message() {
        let handler = handler();
        let event = recorded_event();

        let report = handle_batch(&sqs_batch::messages(&event), &handler).await;

        let response = sqs_batch::batch_response(&report);
        let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
        assert!(report.failed[0].poison);
        assert_eq!(report.applied, 3);

        let web = row(&handler, WEB_ORDER);
        assert_eq!(web.version, 2, "the approval made the row, the late placement filled in the channel");
        assert_eq!(
            (web.state.status, web.state.channel.as_deref(), web.state.last_sequence, web.state.amount_cents),
            (SaleStatus::Approved, Some("web"), 2, 1250)
        );
        let plain = row(&handler, PLAIN_ORDER);
        assert_eq!((plain.state.status, plain.state.channel, plain.state.placed), (SaleStatus::Placed, None, true));
        assert!(handler.store.outbox().is_empty(), "a read-side domain publishes nothing");
    }

    #[tokio::test]
    async fn a_redelivered_batch_changes_nothing() {
        let handler = handler();
        let event = recorded_event();
        let messages = &sqs_batch::messages(&event)[..3];
        handle_batch(messages, &handler).await;

        let report = handle_batch(messages, &handler).await;

        assert_eq!((report.applied, report.duplicates, report.failed.len()), (0, 3, 0));
        assert_eq!(row(&handler, WEB_ORDER).version, 2);
    }

    /// The same fact under a new event id (the inbox has forgotten the old
    /// one, or the log was replayed): the sequence still tells it is known.
    #[tokio::test]
    async fn a_known_fact_under_a_new_event_id_changes_no_row() {
        let handler = handler();
        let event = recorded_event();
        let messages = sqs_batch::messages(&event);
        handle_batch(&messages[..3], &handler).await;
        let mut replayed = Envelope::from_json(&messages[0].body).unwrap();
        replayed.id = uuid::Uuid::now_v7();

        let report = handle_batch(&[message(&replayed)], &handler).await;

        assert_eq!((report.applied, report.failed.len()), (1, 0));
        assert_eq!(row(&handler, WEB_ORDER).version, 2);
    }

    #[tokio::test]
    async fn retries_after_a_concurrent_update_of_the_row() {
        let handler = handler();
        handler.store.inject_conflicts(2);
        let event = recorded_event();

        let report = handle_batch(&sqs_batch::messages(&event)[..1], &handler).await;

        assert_eq!((report.applied, report.failed.len()), (1, 0));
        assert_eq!(row(&handler, WEB_ORDER).state.status, SaleStatus::Approved);
    }

    #[tokio::test]
    async fn refuses_an_event_type_the_view_does_not_read() {
        let handler = handler();
        let event = recorded_event();
        let mut other = Envelope::from_json(&sqs_batch::messages(&event)[0].body).unwrap();
        other.event_type = "OrderShipped".into();

        let report = handle_batch(&[message(&other)], &handler).await;

        assert!(report.failed[0].poison, "{:?}", report.failed);
        assert!(report.failed[0].reason.contains("OrderShipped"), "{:?}", report.failed);
        assert!(handler.store.state(WEB_ORDER).is_none() && handler.store.state(PLAIN_ORDER).is_none());
    }

    #[tokio::test]
    async fn refuses_an_event_filed_under_another_order() {
        let handler = handler();
        let event = recorded_event();
        let mut misfiled = Envelope::from_json(&sqs_batch::messages(&event)[0].body).unwrap();
        misfiled.subject = PLAIN_ORDER.into();

        let report = handle_batch(&[message(&misfiled)], &handler).await;

        assert!(report.failed[0].poison, "{:?}", report.failed);
        assert!(handler.store.state(WEB_ORDER).is_none() && handler.store.state(PLAIN_ORDER).is_none());
    }

    fn message(envelope: &Envelope) -> Message {
        Message::new("m-1", envelope.to_json().unwrap())
    }
}

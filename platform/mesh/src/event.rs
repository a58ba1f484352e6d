//! Between a domain's event enums and envelopes.
//!
//! Domain events are serde enums tagged `{"type": .., "data": ..}`: the tag is
//! the CloudEvents `type` and the content its `data`, so the same enum is the
//! producer's contract and, on the consumer's side, the reader's view.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::contract::{AvroSchema, encode_json, resolve_json};
use crate::envelope::{Envelope, EventMeta};
use crate::pii::{Protector, opened_schema};
use crate::schemas::{LookupError, ProductContract, SchemaRef, WriterSchemas};
use crate::store::{Commit, Versioned};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventCodecError {
    #[error("unknown event type `{event_type}`")]
    UnknownType { event_type: String },
    #[error("event `{event_type}` does not match its contract: {reason}")]
    InvalidData { event_type: String, reason: String },
    #[error("event type `{event_type}` is not in the {contract} contract")]
    NotInContract { event_type: String, contract: String },
    #[error("a domain event must serialize as {{\"type\": .., \"data\": ..}}, found {0}")]
    NotTagged(String),
    /// A field the contract protects could not be protected: nothing is emitted.
    #[error("event `{event_type}`: protected field `{field}`: {reason}")]
    Unprotected { event_type: String, field: String, reason: String },
}

/// Decodes an envelope's `type` and `data` into the reader's event enum.
pub fn decode<E: DeserializeOwned>(envelope: &Envelope) -> Result<E, EventCodecError> {
    let tagged = json!({ "type": envelope.event_type, "data": envelope.data });
    serde_json::from_value(tagged).map_err(|e| {
        let reason = e.to_string();
        if reason.starts_with("unknown variant") {
            EventCodecError::UnknownType { event_type: envelope.event_type.clone() }
        } else {
            EventCodecError::InvalidData { event_type: envelope.event_type.clone(), reason }
        }
    })
}

/// Stamps a domain's events into envelopes for one entity: the product's
/// `source`, the entity as `subject`, consecutive sequences from `first_sequence`,
/// and the writer schema in `dataschema`. Every field the contract protects
/// is replaced by its protected form (`{token, sealed}`), and a subject that
/// is one of those values by its token; then every event is checked against
/// its schema: an event the contract does not allow never reaches the outbox,
/// and neither does a clear PII value.
#[derive(Debug, Clone)]
pub struct Emitter {
    contract: ProductContract,
    protector: Option<Arc<Protector>>,
}

impl Emitter {
    /// `contract` holds the schema version the producer writes for each event type.
    pub fn new(contract: ProductContract) -> Self {
        Self { contract, protector: None }
    }

    /// Protects the contract's protected fields with `protector` (which must
    /// be for this product: its data keys are bound to it).
    pub fn protecting(mut self, protector: Arc<Protector>) -> Self {
        self.protector = Some(protector);
        self
    }

    /// Whether the product has protected fields (so the emitter needs keys).
    pub fn needs_protection(&self) -> bool {
        self.contract.has_protected_fields()
    }

    /// `<domain>/<product>`, e.g. `orders/order-events`.
    pub fn source(&self) -> String {
        self.contract.source()
    }

    pub fn envelopes<E: Serialize>(
        &self,
        subject: &str,
        first_sequence: u64,
        events: &[E],
        meta: &EventMeta,
    ) -> Result<Vec<Envelope>, EventCodecError> {
        events
            .iter()
            .zip(first_sequence..)
            .map(|(event, sequence)| {
                let (event_type, mut data) = split(event)?;
                let Some((reference, schema)) = self.contract.schema(&event_type) else {
                    return Err(EventCodecError::NotInContract { event_type, contract: self.contract.label() });
                };
                let subject = self.protect(&event_type, &mut data, subject)?;
                encode_json(schema, &data).map_err(|e| EventCodecError::InvalidData {
                    event_type: event_type.clone(),
                    reason: format!("{reference}: {e}"),
                })?;
                let mut envelope = Envelope::new(self.source(), event_type, subject, sequence, data, meta);
                envelope.dataschema = reference.to_string();
                Ok(envelope)
            })
            .collect()
    }

    /// Replaces each protected field of `data` by its protected form; the
    /// subject to write (the token, when the subject is one of those values).
    fn protect(&self, event_type: &str, data: &mut Value, subject: &str) -> Result<String, EventCodecError> {
        let fields = self.contract.protected(event_type);
        let Some(first) = fields.first() else { return Ok(subject.to_owned()) };
        let unprotected = |field: &str, reason: String| EventCodecError::Unprotected {
            event_type: event_type.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let protector = match &self.protector {
            Some(protector) if protector.source() == self.contract.source() => protector,
            Some(protector) => {
                let reason = format!("the emitter's keys are for {}, not {}", protector.source(), self.source());
                return Err(unprotected(&first.name, reason));
            }
            None => return Err(unprotected(&first.name, "the emitter has no keys to protect it with".into())),
        };
        // Not an object: the schema check below says what is wrong.
        let Value::Object(object) = data else { return Ok(subject.to_owned()) };
        let mut written_subject = subject.to_owned();
        for field in fields {
            match object.get(&field.name) {
                Some(Value::String(clear)) => {
                    if clear == subject {
                        written_subject = protector.token(clear);
                    }
                    let protected =
                        protector.protect(&field.name, clear).map_err(|e| unprotected(&field.name, e.to_string()))?;
                    object.insert(field.name.clone(), protected);
                }
                // Absent or null: the schema check decides whether it may be.
                None | Some(Value::Null) => {}
                Some(other) => {
                    let kind = if other.is_object() { "an object" } else { "not text" };
                    return Err(unprotected(&field.name, format!("a protected value must be text, found {kind}")));
                }
            }
        }
        Ok(written_subject)
    }

    /// What a decision about an entity read at `read.version` writes: the
    /// decided `events`, numbered on from that version and caused by `meta`,
    /// the state `apply` leaves the entity in, and the `inbox` entry of the
    /// event consumed (if any). No events: only the inbox is written.
    pub fn decided<S, E: Serialize>(
        &self,
        entity_id: &str,
        read: Versioned<S>,
        events: &[E],
        apply: impl FnMut(S, &E) -> S,
        meta: &EventMeta,
        inbox: Option<Uuid>,
    ) -> Result<Commit<S>, EventCodecError> {
        let envelopes = self.envelopes(entity_id, read.version + 1, events, meta)?;
        let state = events.iter().fold(read.state, apply);
        Ok(Commit::decided(entity_id, read.version, state, envelopes, inbox))
    }

    /// What creating an entity writes: its first `events` and the `state`
    /// they made. The domain builds that state from the events (there is no
    /// earlier state to apply them to), so it is taken as it is.
    pub fn created<S, E: Serialize>(
        &self,
        entity_id: &str,
        state: S,
        events: &[E],
        meta: &EventMeta,
        inbox: Option<Uuid>,
    ) -> Result<Commit<S>, EventCodecError> {
        let envelopes = self.envelopes(entity_id, 1, events, meta)?;
        Ok(Commit::decided(entity_id, 0, state, envelopes, inbox))
    }
}

/// Why a consumer could not read an event.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The event can never be read by this consumer: poison.
    #[error(transparent)]
    Codec(#[from] EventCodecError),
    /// The writer's schema could not be found: poison if it does not exist,
    /// worth retrying if the registry could not be asked.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// A consumer's view of a product: its reader schema per event type. Data is
/// read with Avro schema resolution from the writer's schema (named by the
/// envelope's `dataschema`) to the reader's, so a producer can add optional
/// fields without its consumers changing, and an old reader never sees them.
///
/// Both schemas are read in their opened form (every protected field a
/// string): the subscriber has opened the envelope before the handler runs,
/// to the clear values or to the tokens.
#[derive(Debug, Clone)]
pub struct Reader {
    contract: ProductContract,
    /// The reader's schema per event type, opened.
    opened: BTreeMap<String, Arc<AvroSchema>>,
    /// Writer schemas of other versions, opened once.
    writers_opened: Arc<Mutex<HashMap<SchemaRef, Arc<AvroSchema>>>>,
}

impl Reader {
    pub fn new(contract: ProductContract) -> Self {
        let opened = contract
            .event_types()
            .filter_map(|event_type| {
                let (_, schema) = contract.schema(event_type)?;
                // A schema that parsed opens: replacing a record by a string keeps it valid.
                let opened = opened_schema(schema).map_or_else(|_| Arc::clone(schema), Arc::new);
                Some((event_type.to_owned(), opened))
            })
            .collect();
        Self { contract, opened, writers_opened: Arc::default() }
    }

    /// Whether this consumer reads events of `event_type` at all.
    pub fn reads(&self, event_type: &str) -> bool {
        self.contract.schema(event_type).is_some()
    }

    pub async fn decode<E: DeserializeOwned>(
        &self,
        envelope: &Envelope,
        writers: &impl WriterSchemas,
    ) -> Result<E, ReadError> {
        let event_type = &envelope.event_type;
        let (Some((reader_ref, _)), Some(reader)) = (self.contract.schema(event_type), self.opened.get(event_type))
        else {
            return Err(EventCodecError::UnknownType { event_type: event_type.clone() }.into());
        };
        let invalid = |reason: String| EventCodecError::InvalidData { event_type: event_type.clone(), reason };
        let writer_ref = SchemaRef::parse(&envelope.dataschema).map_err(|e| invalid(e.to_string()))?;
        if writer_ref.event_type != *event_type || writer_ref.product != reader_ref.product {
            return Err(invalid(format!("dataschema {writer_ref} does not describe a {}", reader_ref.product)).into());
        }
        let writer = if writer_ref == reader_ref {
            Arc::clone(reader)
        } else {
            self.opened_writer(&writer_ref, writers).await?
        };
        let data = resolve_json(&writer, reader, &envelope.data)
            .map_err(|e| invalid(format!("read as {reader_ref} from {writer_ref}: {e}")))?;
        let tagged = json!({ "type": event_type, "data": data });
        Ok(serde_json::from_value(tagged).map_err(|e| invalid(e.to_string()))?)
    }
}

impl Reader {
    async fn opened_writer(
        &self,
        reference: &SchemaRef,
        writers: &impl WriterSchemas,
    ) -> Result<Arc<AvroSchema>, ReadError> {
        if let Some(opened) = self.writers_opened.lock().unwrap_or_else(PoisonError::into_inner).get(reference) {
            return Ok(Arc::clone(opened));
        }
        let writer = writers.writer_schema(reference).await?;
        let opened = Arc::new(opened_schema(&writer).map_err(|e| EventCodecError::InvalidData {
            event_type: reference.event_type.clone(),
            reason: format!("writer schema {reference}: {e}"),
        })?);
        self.writers_opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(reference.clone(), Arc::clone(&opened));
        Ok(opened)
    }
}

fn split<E: Serialize>(event: &E) -> Result<(String, Value), EventCodecError> {
    let value = serde_json::to_value(event).map_err(|e| EventCodecError::NotTagged(e.to_string()))?;
    match value {
        Value::Object(mut fields) => match (fields.remove("type"), fields.remove("data")) {
            (Some(Value::String(event_type)), Some(data)) => Ok((event_type, data)),
            _ => Err(EventCodecError::NotTagged(Value::Object(fields).to_string())),
        },
        other => Err(EventCodecError::NotTagged(other.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schemas::{BundledSchema, KnownSchemas};
    use serde::Deserialize;

    const ORDER: &str = "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80";

    const PLACED_V1: &str = r#"{"type": "record", "name": "Placed", "fields": [
        {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "amount_cents", "type": "long"}]}"#;
    const PLACED_V2: &str = r#"{"type": "record", "name": "Placed", "fields": [
        {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "amount_cents", "type": "long"},
        {"name": "channel", "type": ["null", "string"], "default": null}]}"#;
    const APPROVED_V1: &str = r#"{"type": "record", "name": "Approved", "fields": [
        {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}}]}"#;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(tag = "type", content = "data")]
    enum Produced {
        Placed { order_id: String, amount_cents: u64, channel: Option<String> },
        Approved { order_id: String },
        Shipped { order_id: String },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", content = "data")]
    enum ReadV1 {
        Placed { order_id: String, amount_cents: u64 },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", content = "data")]
    enum ReadV2 {
        Placed { order_id: String, amount_cents: u64, channel: Option<String> },
    }

    fn contract(bundle: &[BundledSchema]) -> ProductContract {
        ProductContract::new("orders", "order-events", 1, bundle).unwrap()
    }

    fn producer_v2() -> Emitter {
        Emitter::new(contract(&[("Placed", 2, PLACED_V2), ("Approved", 1, APPROVED_V1)]))
    }

    fn emit(emitter: &Emitter, events: &[Produced]) -> Result<Vec<Envelope>, EventCodecError> {
        emitter.envelopes(ORDER, 4, events, &EventMeta::root(Uuid::now_v7()))
    }

    fn placed(channel: Option<&str>) -> Produced {
        Produced::Placed { order_id: ORDER.into(), amount_cents: 5, channel: channel.map(Into::into) }
    }

    #[test]
    fn numbers_an_entitys_events_consecutively_and_names_their_schemas() {
        let envelopes = emit(&producer_v2(), &[placed(None), Produced::Approved { order_id: ORDER.into() }]).unwrap();

        let seen: Vec<_> = envelopes.iter().map(|e| (e.event_type.as_str(), e.sequence)).collect();
        assert_eq!(seen, [("Placed", 4), ("Approved", 5)]);
        assert_eq!(envelopes[0].source, "orders/order-events");
        assert_eq!(envelopes[0].dataschema, "urn:mesh:schema:orders:order-events:v1:Placed:2");
        assert_eq!(envelopes[1].dataschema, "urn:mesh:schema:orders:order-events:v1:Approved:1");
        assert_eq!(envelopes[0].data, json!({"order_id": ORDER, "amount_cents": 5, "channel": null}));
    }

    #[test]
    fn refuses_an_event_that_breaks_its_schema_naming_the_field() {
        let too_big = Produced::Placed { order_id: ORDER.into(), amount_cents: u64::MAX, channel: None };

        let error = emit(&producer_v2(), &[placed(None), too_big]).unwrap_err();

        let EventCodecError::InvalidData { event_type, reason } = &error else { panic!("{error:?}") };
        assert_eq!(event_type, "Placed");
        assert!(reason.contains("amount_cents"), "{reason}");
        assert!(reason.contains("urn:mesh:schema:orders:order-events:v1:Placed:2"), "{reason}");
    }

    #[test]
    fn refuses_an_event_type_the_contract_does_not_have() {
        let error = emit(&producer_v2(), &[Produced::Shipped { order_id: ORDER.into() }]).unwrap_err();

        assert_eq!(error.to_string(), "event type `Shipped` is not in the orders/order-events v1 contract");
    }

    /// A state that counts the events applied to it.
    fn count(seen: u32, _: &Produced) -> u32 {
        seen + 1
    }

    #[test]
    fn a_decision_numbers_its_events_on_from_the_version_read_and_applies_them() {
        let read = Versioned { state: 3, version: 3 };
        let (meta, consumed) = (EventMeta::root(Uuid::now_v7()), Uuid::now_v7());
        let decided = [placed(None), Produced::Approved { order_id: ORDER.into() }];

        let commit = producer_v2().decided(ORDER, read, &decided, count, &meta, Some(consumed)).unwrap();

        let change = commit.change.unwrap();
        assert_eq!((change.entity_id.as_str(), change.expected_version, change.new_version), (ORDER, 3, 5));
        assert_eq!(change.state, 5, "each decided event applied once");
        let events: Vec<_> =
            commit.events.iter().map(|e| (e.event_type.as_str(), e.subject.as_str(), e.sequence)).collect();
        assert_eq!(events, [("Placed", ORDER, 4), ("Approved", ORDER, 5)]);
        assert!(commit.events.iter().all(|e| e.causation_id == meta.causation_id));
        assert_eq!(commit.inbox, Some(consumed));
    }

    #[test]
    fn a_decision_without_events_writes_only_the_inbox() {
        let consumed = Uuid::now_v7();

        let commit = producer_v2()
            .decided(ORDER, Versioned { state: 3, version: 3 }, &[], count, &EventMeta::root(consumed), Some(consumed))
            .unwrap();

        assert_eq!(commit, Commit::inbox_only(consumed));
    }

    #[test]
    fn a_decision_with_an_event_outside_the_contract_writes_nothing() {
        let decided = [placed(None), Produced::Shipped { order_id: ORDER.into() }];

        let refused = producer_v2().decided(ORDER, Versioned { state: 0, version: 1 }, &decided, count, &meta(), None);

        let Err(EventCodecError::NotInContract { event_type, .. }) = refused else { panic!("{refused:?}") };
        assert_eq!(event_type, "Shipped");
    }

    #[test]
    fn a_new_entity_is_written_as_its_events_made_it_from_version_one() {
        let made = 7;

        let commit = producer_v2().created(ORDER, made, &[placed(Some("web"))], &meta(), None).unwrap();

        let change = commit.change.unwrap();
        assert_eq!((change.expected_version, change.new_version, change.state), (0, 1, 7));
        assert_eq!(commit.events.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1]);
        assert_eq!(commit.inbox, None);
    }

    fn meta() -> EventMeta {
        EventMeta::root(Uuid::now_v7())
    }

    fn reader(bundle: &[BundledSchema]) -> Reader {
        Reader::new(contract(bundle))
    }

    fn registry() -> KnownSchemas {
        KnownSchemas::default().with_contract(&contract(&[("Placed", 2, PLACED_V2)]))
    }

    #[tokio::test]
    async fn a_v1_reader_reads_v2_data_without_the_new_field() {
        let envelope = &emit(&producer_v2(), &[placed(Some("web"))]).unwrap()[0];

        let event: ReadV1 = reader(&[("Placed", 1, PLACED_V1)]).decode(envelope, &registry()).await.unwrap();

        assert_eq!(event, ReadV1::Placed { order_id: ORDER.into(), amount_cents: 5 });
    }

    #[tokio::test]
    async fn a_v2_reader_reads_v1_data_with_the_default() {
        let producer_v1 = Emitter::new(contract(&[("Placed", 1, PLACED_V1)]));
        #[derive(Serialize)]
        #[serde(tag = "type", content = "data")]
        enum OldProduced {
            Placed { order_id: String, amount_cents: u64 },
        }
        let envelope = &emit_old(&producer_v1, &OldProduced::Placed { order_id: ORDER.into(), amount_cents: 5 });
        let writers = KnownSchemas::default().with_contract(&contract(&[("Placed", 1, PLACED_V1)]));

        let event: ReadV2 = reader(&[("Placed", 2, PLACED_V2)]).decode(envelope, &writers).await.unwrap();

        assert_eq!(event, ReadV2::Placed { order_id: ORDER.into(), amount_cents: 5, channel: None });
    }

    fn emit_old<E: Serialize>(emitter: &Emitter, event: &E) -> Envelope {
        emitter.envelopes(ORDER, 1, std::slice::from_ref(event), &EventMeta::root(Uuid::now_v7())).unwrap().remove(0)
    }

    #[tokio::test]
    async fn reads_its_own_version_without_asking_the_registry() {
        let envelope = &emit(&producer_v2(), &[placed(Some("web"))]).unwrap()[0];

        let event: ReadV2 =
            reader(&[("Placed", 2, PLACED_V2)]).decode(envelope, &KnownSchemas::default()).await.unwrap();

        assert_eq!(event, ReadV2::Placed { order_id: ORDER.into(), amount_cents: 5, channel: Some("web".into()) });
    }

    #[tokio::test]
    async fn an_unregistered_writer_schema_is_a_lookup_error() {
        let envelope = &emit(&producer_v2(), &[placed(None)]).unwrap()[0];

        let error = reader(&[("Placed", 1, PLACED_V1)]).decode::<ReadV1>(envelope, &KnownSchemas::default()).await;

        let Err(ReadError::Lookup(LookupError::NotFound(missing))) = error else { panic!("{error:?}") };
        assert_eq!(missing.to_string(), "urn:mesh:schema:orders:order-events:v1:Placed:2");
    }

    #[tokio::test]
    async fn reports_an_unknown_type_by_name() {
        let envelope = &emit(&producer_v2(), &[Produced::Approved { order_id: ORDER.into() }]).unwrap()[0];

        let error = reader(&[("Placed", 1, PLACED_V1)]).decode::<ReadV1>(envelope, &registry()).await.unwrap_err();

        assert_eq!(error.to_string(), "unknown event type `Approved`");
    }

    #[tokio::test]
    async fn reports_data_that_does_not_match_its_writer_schema() {
        let mut envelope = emit(&producer_v2(), &[placed(None)]).unwrap().remove(0);
        envelope.data = json!({"order_id": 1, "amount_cents": 5});

        let error = reader(&[("Placed", 1, PLACED_V1)]).decode::<ReadV1>(&envelope, &registry()).await.unwrap_err();

        assert!(matches!(error, ReadError::Codec(EventCodecError::InvalidData { .. })), "{error:?}");
        assert!(error.to_string().contains("data.order_id: expected a UUID string, found 1"), "{error}");
    }

    #[tokio::test]
    async fn refuses_a_dataschema_that_is_not_a_mesh_urn() {
        let mut envelope = emit(&producer_v2(), &[placed(None)]).unwrap().remove(0);
        envelope.dataschema = "https://example.com/placed.json".into();

        let error = reader(&[("Placed", 1, PLACED_V1)]).decode::<ReadV1>(&envelope, &registry()).await.unwrap_err();

        assert!(error.to_string().contains("https://example.com/placed.json"), "{error}");
    }

    #[test]
    fn plain_decode_ignores_fields_it_does_not_know() {
        let envelope = &emit(&producer_v2(), &[placed(Some("web"))]).unwrap()[0];

        assert_eq!(decode::<ReadV1>(envelope).unwrap(), ReadV1::Placed { order_id: ORDER.into(), amount_cents: 5 });
    }
}

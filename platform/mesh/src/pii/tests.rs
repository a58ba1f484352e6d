//! Protection end to end in the core: the emitter protects, the subscriber
//! opens, the reader reads, with keys from the fake key port.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::envelope::{Envelope, EventMeta};
use crate::event::{Emitter, EventCodecError, Reader};
use crate::schemas::{KnownSchemas, ProductContract};
use crate::store::Applied;
use crate::subscriber::{HandleError, Handler, Message, handle_batch, handle_opened};

const CUSTOMER: &str = "0194a6c2-5a00-7000-8000-00000000000c";
const SOURCE: &str = "customers/customer-credit";

const REGISTERED: &str = r#"{"type": "record", "name": "CustomerRegistered", "namespace": "mesh.customers.v2",
    "fields": [
        {"name": "customer_id", "type": {"type": "record", "name": "Protected", "namespace": "mesh.pii",
            "fields": [{"name": "token", "type": "string"}, {"name": "sealed", "type": "string"}]}},
        {"name": "name", "type": "mesh.pii.Protected"},
        {"name": "credit_limit_cents", "type": "long"}]}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum Event {
    CustomerRegistered { customer_id: String, name: String, credit_limit_cents: u64 },
}

fn registered(name: &str) -> Event {
    Event::CustomerRegistered { customer_id: CUSTOMER.into(), name: name.into(), credit_limit_cents: 5_000 }
}

fn contract() -> ProductContract {
    ProductContract::new("customers", "customer-credit", 2, &[("CustomerRegistered", 1, REGISTERED)]).unwrap()
}

async fn protector(keys: &LocalKeys, source: &str, limits: KeyLimits) -> Arc<Protector> {
    Arc::new(Protector::new(keys, source, limits).await.unwrap())
}

async fn emitter(keys: &LocalKeys) -> Emitter {
    Emitter::new(contract()).protecting(protector(keys, SOURCE, KeyLimits::default()).await)
}

fn emit(emitter: &Emitter, events: &[Event]) -> Result<Vec<Envelope>, EventCodecError> {
    emitter.envelopes(CUSTOMER, 1, events, &EventMeta::root(Uuid::now_v7()))
}

fn message(envelope: &Envelope) -> Message {
    Message::new(envelope.id.to_string(), envelope.to_json().unwrap())
}

/// A handler that reads its events through the platform's reader and keeps them.
struct Keeper {
    reader: Reader,
    seen: Mutex<Vec<Event>>,
    /// Fails every event with a reason naming the customer, as a careless handler might.
    fail: bool,
}

impl Keeper {
    fn new(fail: bool) -> Self {
        Self { reader: Reader::new(contract()), seen: Mutex::default(), fail }
    }
}

impl Handler for Keeper {
    async fn handle(&self, envelope: &Envelope) -> Result<Applied, HandleError> {
        let event: Event = self.reader.decode(envelope, &KnownSchemas::default()).await?;
        if self.fail {
            let Event::CustomerRegistered { name, .. } = &event;
            return Err(HandleError::Poison(format!("cannot register {name}")));
        }
        self.seen.lock().unwrap().push(event);
        Ok(Applied::Changed)
    }
}

#[tokio::test]
async fn the_emitter_protects_every_pii_field_and_a_pii_subject_before_the_outbox() {
    let keys = LocalKeys::from_seed("mesh");

    let envelope = emit(&emitter(&keys).await, &[registered("Ada Lovelace")]).unwrap().remove(0);

    let wire = envelope.to_json().unwrap();
    assert!(!wire.contains("Ada") && !wire.contains(CUSTOMER), "{wire}");
    let token = TokenKey::new(b"unused").token(CUSTOMER);
    assert_ne!(envelope.subject, token, "tokens depend on the mesh's key");
    let customer = &envelope.data["customer_id"];
    assert_eq!(envelope.subject, customer["token"].as_str().unwrap(), "the subject travels as its token");
    assert!(customer["sealed"].as_str().unwrap().starts_with("s1."));
    assert_eq!(envelope.data["credit_limit_cents"], 5_000, "other fields are untouched");
}

#[tokio::test]
async fn an_emitter_without_keys_refuses_a_product_with_protected_fields() {
    let error = emit(&Emitter::new(contract()), &[registered("Ada")]).unwrap_err();

    assert_eq!(
        error.to_string(),
        "event `CustomerRegistered`: protected field `customer_id`: the emitter has no keys to protect it with"
    );
    let other = Emitter::new(contract())
        .protecting(protector(&LocalKeys::from_seed("mesh"), "orders/order-events", KeyLimits::default()).await);
    assert!(emit(&other, &[registered("Ada")]).unwrap_err().to_string().contains("keys are for orders/order-events"));
}

#[tokio::test]
async fn a_granted_subscriber_hands_the_clear_value_to_its_handler() {
    let keys = LocalKeys::from_seed("mesh");
    let envelope = emit(&emitter(&keys).await, &[registered("Ada Lovelace")]).unwrap().remove(0);
    let (keeper, opener) = (Keeper::new(false), Opener::new(LocalKeys::from_seed("mesh"), [SOURCE.to_owned()]));

    let report = handle_opened(&[message(&envelope)], &keeper, &opener).await;

    assert_eq!((report.applied, report.failed.len()), (1, 0), "{:?}", report.failed);
    assert_eq!(keeper.seen.lock().unwrap()[..], [registered("Ada Lovelace")]);
}

#[tokio::test]
async fn a_subscriber_granted_nothing_sees_only_the_tokens() {
    let keys = LocalKeys::from_seed("mesh");
    let envelope = emit(&emitter(&keys).await, &[registered("Ada Lovelace")]).unwrap().remove(0);
    let keeper = Keeper::new(false);

    let report = handle_batch(&[message(&envelope)], &keeper).await;

    assert_eq!(report.applied, 1, "{:?}", report.failed);
    let seen = keeper.seen.lock().unwrap();
    let Event::CustomerRegistered { customer_id, name, .. } = &seen[0];
    assert_eq!(customer_id, &envelope.data["customer_id"]["token"]);
    assert_eq!(name, &envelope.data["name"]["token"]);
    assert!(name.starts_with(TOKEN_PREFIX), "{name}");
}

#[tokio::test]
async fn the_same_value_has_the_same_token_in_every_product_but_opens_only_as_its_own() {
    let keys = LocalKeys::from_seed("mesh");
    let (credit, orders) = (
        protector(&keys, SOURCE, KeyLimits::default()).await,
        protector(&keys, "orders/order-events", KeyLimits::default()).await,
    );

    let (a, b) = (credit.protect("customer_id", CUSTOMER).unwrap(), orders.protect("customer_id", CUSTOMER).unwrap());

    assert_eq!(a["token"], b["token"], "joinable across products");
    assert_ne!(a["sealed"], b["sealed"]);
    let mut moved = emit(&Emitter::new(contract()).protecting(credit), &[registered("Ada")]).unwrap().remove(0);
    moved.data["name"] = b.clone();
    let opener = Opener::new(LocalKeys::from_seed("mesh"), [SOURCE.to_owned()]);
    let report = handle_opened(&[message(&moved)], &Keeper::new(false), &opener).await;
    assert!(report.failed[0].poison, "{:?}", report.failed);
    assert!(
        report.failed[0].reason.contains("protected field `name` of customers/customer-credit"),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn a_sealed_field_that_does_not_open_is_poison_with_a_reason() {
    let keys = LocalKeys::from_seed("mesh");
    let mut envelope = emit(&emitter(&keys).await, &[registered("Ada Lovelace")]).unwrap().remove(0);
    // One character of the ciphertext (after the wrapped key's `.`) changed
    // to another: the last one could be the one it already is, or padding.
    let mut sealed = envelope.data["name"]["sealed"].as_str().unwrap().to_owned();
    let ciphertext = sealed.rfind('.').unwrap() + 1;
    let at = ciphertext + (sealed.len() - ciphertext) / 2;
    let other = if &sealed[at..=at] == "A" { "B" } else { "A" };
    sealed.replace_range(at..=at, other);
    envelope.data["name"]["sealed"] = json!(sealed);
    let other_mesh = Opener::new(LocalKeys::from_seed("another mesh"), [SOURCE.to_owned()]);
    let granted = Opener::new(LocalKeys::from_seed("mesh"), [SOURCE.to_owned()]);

    let altered = handle_opened(&[message(&envelope)], &Keeper::new(false), &granted).await;
    let foreign = handle_opened(
        &[message(&emit(&emitter(&keys).await, &[registered("Ada")]).unwrap()[0])],
        &Keeper::new(false),
        &other_mesh,
    )
    .await;

    let reason = &altered.failed[0].reason;
    assert!(altered.failed[0].poison);
    assert!(reason.starts_with("poison message: protected field `name` of customers/customer-credit"), "{reason}");
    assert!(reason.contains("does not open"), "{reason}");
    assert!(foreign.failed[0].poison);
    assert!(foreign.failed[0].reason.contains("wrapped data key is not valid"), "{:?}", foreign.failed);
}

#[tokio::test]
async fn a_failure_reason_leaves_with_the_token_not_the_clear_value() {
    let keys = LocalKeys::from_seed("mesh");
    let envelope = emit(&emitter(&keys).await, &[registered("Ada Lovelace")]).unwrap().remove(0);
    let opener = Opener::new(LocalKeys::from_seed("mesh"), [SOURCE.to_owned()]);

    let report = handle_opened(&[message(&envelope)], &Keeper::new(true), &opener).await;

    let reason = &report.failed[0].reason;
    assert_eq!(
        reason,
        &format!("poison message: cannot register {}", envelope.data["name"]["token"].as_str().unwrap())
    );
}

#[tokio::test]
async fn a_thousand_events_cost_two_key_calls_to_write_and_one_to_read() {
    let (producer, consumer) = (LocalKeys::from_seed("mesh"), LocalKeys::from_seed("mesh"));
    let emitter = emitter(&producer).await;
    let events: Vec<Event> = (0..1000).map(|i| registered(&format!("customer {i}"))).collect();
    let envelopes: Vec<Envelope> = events.chunks(1).flat_map(|one| emit(&emitter, one).unwrap()).collect();
    let opener = Opener::new(consumer, [SOURCE.to_owned()]);
    let keeper = Keeper::new(false);

    let report = handle_opened(&envelopes.iter().map(message).collect::<Vec<_>>(), &keeper, &opener).await;

    assert_eq!(report.applied, 1000);
    assert_eq!(producer.calls(), 2, "the token key and one data key, at init");
    assert_eq!(format!("{opener:?}"), "Opener { granted: {\"customers/customer-credit\"}, .. }");
    let Value::String(last) = &envelopes[999].data["name"]["token"] else { panic!() };
    assert!(last.starts_with(TOKEN_PREFIX));
}

#[tokio::test]
async fn a_used_up_data_key_is_renewed_and_what_it_sealed_still_opens() {
    let keys = LocalKeys::from_seed("mesh");
    let protector = protector(&keys, SOURCE, KeyLimits { max_uses: 2, ..KeyLimits::default() }).await;
    let emitter = Emitter::new(contract()).protecting(Arc::clone(&protector));
    let before = emit(&emitter, &[registered("Ada")]).unwrap().remove(0);
    assert!(protector.wants_new_data_key(), "two fields sealed");

    protector.renew(&keys).await.unwrap();

    assert!(!protector.wants_new_data_key());
    assert_eq!(keys.calls(), 3);
    let after = emit(&emitter, &[registered("Grace")]).unwrap().remove(0);
    let wrapped = |e: &Envelope| e.data["name"]["sealed"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    assert_ne!(wrapped(&before), wrapped(&after));
    let consumer = LocalKeys::from_seed("mesh");
    let opener = Opener::new(consumer, [SOURCE.to_owned()]);
    let keeper = Keeper::new(false);
    let report = handle_opened(&[message(&before), message(&after), message(&after)], &keeper, &opener).await;
    assert_eq!(report.applied, 3, "{:?}", report.failed);
}

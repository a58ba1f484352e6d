//! The cost of field encryption, per event, on the reference products'
//! schemas: what a producer pays to protect an event before its outbox and a
//! granted subscriber to open it, against the same event unprotected (the
//! v1 schemas, fields in clear), each through the whole path an event takes
//! in a function (stamp and check against the schema, JSON on the wire,
//! parse, open, read with schema resolution). Also the key service calls per
//! thousand events, counted on the in-memory key port. `make bench` runs it;
//! `PII_BENCH_EVENTS` sets how many events each case times.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use mesh::envelope::{Envelope, EventMeta};
use mesh::event::{Emitter, Reader};
use mesh::pii::{KeyLimits, LocalKeys, Opener, Protector};
use mesh::schemas::{KnownSchemas, ProductContract};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const CUSTOMER: &str = "0194a6c2-5a00-7000-8000-00000000000c";
const ORDER: &str = "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum Event {
    OrderPlaced { order_id: String, customer_id: String, amount_cents: u64, channel: Option<String> },
    CustomerRegistered { customer_id: String, name: String, credit_limit_cents: u64 },
}

struct Case {
    name: &'static str,
    domain: &'static str,
    product: &'static str,
    event_type: &'static str,
    version: u32,
    clear: &'static str,
    protected: &'static str,
    event: Event,
}

fn cases() -> [Case; 2] {
    [
        Case {
            name: "OrderPlaced (1 protected field: customer_id)",
            domain: "orders",
            product: "order-events",
            event_type: "OrderPlaced",
            version: 2,
            clear: include_str!("../../../schemas/orders/order-events/v1/OrderPlaced/2.avsc"),
            protected: include_str!("../../../schemas/orders/order-events/v2/OrderPlaced/2.avsc"),
            event: Event::OrderPlaced {
                order_id: ORDER.into(),
                customer_id: CUSTOMER.into(),
                amount_cents: 1250,
                channel: Some("web".into()),
            },
        },
        Case {
            name: "CustomerRegistered (2 protected fields: customer_id, name)",
            domain: "customers",
            product: "customer-credit",
            event_type: "CustomerRegistered",
            version: 1,
            clear: include_str!("../../../schemas/customers/customer-credit/v1/CustomerRegistered/1.avsc"),
            protected: include_str!("../../../schemas/customers/customer-credit/v2/CustomerRegistered/1.avsc"),
            event: Event::CustomerRegistered {
                customer_id: CUSTOMER.into(),
                name: "Ada Lovelace".into(),
                credit_limit_cents: 5_000,
            },
        },
    ]
}

/// One event through the producer and a subscriber: emitted (protected when
/// the emitter has keys), on the wire, parsed, opened, read.
async fn round_trip<K: mesh::pii::KeyService>(emitter: &Emitter, opener: &Opener<K>, reader: &Reader, event: &Event) {
    let meta = EventMeta::root(Uuid::now_v7());
    let envelope = emitter.envelopes(ORDER, 1, std::slice::from_ref(event), &meta).unwrap().remove(0);
    let wire = envelope.to_json().unwrap();
    let mut received = Envelope::from_json(&wire).unwrap();
    opener.open(&mut received).await.unwrap();
    let read: Event = reader.decode(&received, &KnownSchemas::default()).await.unwrap();
    assert_eq!(&read, event);
}

/// Microseconds per event over `n` round trips (after a warm-up).
async fn time<K: mesh::pii::KeyService>(
    n: u32,
    emitter: &Emitter,
    opener: &Opener<K>,
    reader: &Reader,
    event: &Event,
) -> f64 {
    for _ in 0..n / 10 {
        round_trip(emitter, opener, reader, event).await;
    }
    let start = Instant::now();
    for _ in 0..n {
        round_trip(emitter, opener, reader, event).await;
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

async fn bench(n: u32, case: &Case) {
    let source = format!("{}/{}", case.domain, case.product);
    let contract = |major, text| {
        ProductContract::new(case.domain, case.product, major, &[(case.event_type, case.version, text)]).unwrap()
    };
    // Baseline: the same event, its fields in clear (v1), no keys anywhere.
    let clear = (Emitter::new(contract(1, case.clear)), Opener::tokens_only(), Reader::new(contract(1, case.clear)));
    let baseline = time(n, &clear.0, &clear.1, &clear.2, &case.event).await;

    // Protected (v2): a producer instance and a granted subscriber instance,
    // sharing one key service that counts its calls.
    let keys = Arc::new(LocalKeys::from_seed("bench"));
    let protector = Arc::new(Protector::new(keys.as_ref(), &source, KeyLimits::default()).await.unwrap());
    let emitter = Emitter::new(contract(2, case.protected)).protecting(Arc::clone(&protector));
    let opener = Opener::new(Arc::clone(&keys), [source.clone()]);
    let reader = Reader::new(contract(2, case.protected));
    let protected = time(n, &emitter, &opener, &reader, &case.event).await;
    let events = u64::from(n + n / 10);

    // Protect alone and open alone, on prepared values.
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(protector.protect("customer_id", CUSTOMER).unwrap());
    }
    let protect_one = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);

    println!("{}", case.name);
    println!("  unprotected (v1):  {baseline:8.2} µs per event (emit, wire, parse, read)");
    println!("  protected (v2):    {protected:8.2} µs per event (emit with protect, wire, parse, open in clear, read)");
    println!(
        "  field encryption:  {:8.2} µs per event ({:+.0} %); protecting one value alone: {protect_one:.2} µs",
        protected - baseline,
        (protected / baseline - 1.0) * 100.0
    );
    println!(
        "  key service calls: {} for {events} events ({:.3} per 1000): the token key and one data key at the \
         producer's init, one unwrap per data key at the subscriber",
        keys.calls(),
        keys.calls() as f64 * 1000.0 / events as f64
    );
}

/// Calls over a producer instance's long run: a new data key every
/// `KeyLimits::max_uses` values (or five minutes), never one per event.
async fn long_run(values: u64) {
    let keys = Arc::new(LocalKeys::from_seed("bench"));
    let limits = KeyLimits { max_uses: 100_000, ..KeyLimits::default() };
    let protector = Protector::new(keys.as_ref(), "orders/order-events", limits).await.unwrap();
    let opener = Opener::new(Arc::clone(&keys), ["orders/order-events".to_owned()]);
    for i in 0..values {
        let protected = protector.protect("customer_id", CUSTOMER).unwrap();
        if i % 1000 == 0 {
            // A subscriber opens some of them: one unwrap per data key it meets.
            let mut envelope = Envelope::new(
                "orders/order-events",
                "OrderPlaced",
                ORDER,
                1,
                serde_json::json!({ "customer_id": protected }),
                &EventMeta::root(Uuid::now_v7()),
            );
            opener.open(&mut envelope).await.unwrap();
        }
        if protector.wants_new_data_key() {
            protector.renew(keys.as_ref()).await.unwrap();
        }
    }
    println!(
        "long run: {} key service calls for {values} protected values ({:.4} per 1000), data keys renewed every {} values",
        keys.calls(),
        keys.calls() as f64 * 1000.0 / values as f64,
        limits.max_uses
    );
}

fn main() {
    let n: u32 = std::env::var("PII_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for case in cases() {
            bench(n, &case).await;
        }
        long_run(1_000_000).await;
    });
}

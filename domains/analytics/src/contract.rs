//! The Avro schemas this domain reads, bundled at build time as
//! `(event type, version, .avsc)`. A read-side domain writes no product.

/// `(domain, product, major version, [(event type, schema version, .avsc)])`:
/// plain data, so the domain needs no platform crate to declare it.
pub type Bundle = (&'static str, &'static str, u32, &'static [(&'static str, u32, &'static str)]);

macro_rules! schema {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/", $path))
    };
}

/// `orders/order-events` major version 1, as the sales view reads it:
/// `OrderPlaced` at version 2, for its `channel`.
pub const ORDER_EVENTS_READS: Bundle = (
    "orders",
    "order-events",
    1,
    &[
        ("OrderPlaced", 2, schema!("orders/order-events/v1/OrderPlaced/2.avsc")),
        ("OrderApproved", 1, schema!("orders/order-events/v1/OrderApproved/1.avsc")),
        ("OrderRejected", 1, schema!("orders/order-events/v1/OrderRejected/1.avsc")),
        ("OrderCancelled", 1, schema!("orders/order-events/v1/OrderCancelled/1.avsc")),
    ],
);

//! The Avro schemas this domain speaks, bundled at build time as
//! `(event type, version, .avsc)`: the version it writes of each event type
//! of its product, and the version it reads of each product it consumes.
//! Moving to a new schema version is a one-line change here, checked by
//! `mesh compat` against every earlier version.

/// `(domain, product, major version, [(event type, schema version, .avsc)])`:
/// plain data, so the domain needs no platform crate to declare it.
pub type Bundle = (&'static str, &'static str, u32, &'static [(&'static str, u32, &'static str)]);

macro_rules! schema {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/", $path))
    };
}

/// `orders/order-events` major version 1, as this domain writes it.
pub const ORDER_EVENTS_WRITES: Bundle = (
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

/// `customers/customer-credit` major version 1, as the saga reads it.
pub const CUSTOMER_CREDIT_READS: Bundle = (
    "customers",
    "customer-credit",
    1,
    &[
        ("CreditReserved", 1, schema!("customers/customer-credit/v1/CreditReserved/1.avsc")),
        ("CreditLimitExceeded", 1, schema!("customers/customer-credit/v1/CreditLimitExceeded/1.avsc")),
        ("CreditRefused", 1, schema!("customers/customer-credit/v1/CreditRefused/1.avsc")),
        ("CreditReleased", 1, schema!("customers/customer-credit/v1/CreditReleased/1.avsc")),
    ],
);

//! The Avro schemas this domain speaks, bundled at build time as
//! `(event type, version, .avsc)`: the version it writes of each event type
//! of its product, and the version it reads of each product it consumes.
//! Moving to a new schema version is a one-line change here, checked by
//! `mesh compat` against every earlier version.

pub use domain_kit::Bundle;
use domain_kit::schema;

/// `orders/order-events` major version 2, as this domain writes it.
pub const ORDER_EVENTS_WRITES: Bundle = (
    "orders",
    "order-events",
    2,
    &[
        ("OrderPlaced", 2, schema!("orders/order-events/v2/OrderPlaced/2.avsc")),
        ("OrderApproved", 1, schema!("orders/order-events/v2/OrderApproved/1.avsc")),
        ("OrderRejected", 1, schema!("orders/order-events/v2/OrderRejected/1.avsc")),
        ("OrderCancelled", 1, schema!("orders/order-events/v2/OrderCancelled/1.avsc")),
        ("OrderCreditDeclined", 1, schema!("orders/order-events/v2/OrderCreditDeclined/1.avsc")),
    ],
);

/// `customers/customer-credit` major version 2, as the saga reads it.
pub const CUSTOMER_CREDIT_READS: Bundle = (
    "customers",
    "customer-credit",
    2,
    &[
        ("CreditReserved", 1, schema!("customers/customer-credit/v2/CreditReserved/1.avsc")),
        ("CreditLimitExceeded", 1, schema!("customers/customer-credit/v2/CreditLimitExceeded/1.avsc")),
        ("CreditRefused", 1, schema!("customers/customer-credit/v2/CreditRefused/1.avsc")),
        ("CreditReleased", 1, schema!("customers/customer-credit/v2/CreditReleased/1.avsc")),
    ],
);

//! The Avro schemas this domain speaks, bundled at build time as
//! `(event type, version, .avsc)`: the version it writes of each event type
//! of its product, and the version it reads of each product it consumes.

pub use domain_kit::Bundle;
use domain_kit::schema;

/// `customers/customer-credit` major version 2, as this domain writes it.
pub const CUSTOMER_CREDIT_WRITES: Bundle = (
    "customers",
    "customer-credit",
    2,
    &[
        ("CustomerRegistered", 1, schema!("customers/customer-credit/v2/CustomerRegistered/1.avsc")),
        ("CreditReserved", 1, schema!("customers/customer-credit/v2/CreditReserved/1.avsc")),
        ("CreditLimitExceeded", 1, schema!("customers/customer-credit/v2/CreditLimitExceeded/1.avsc")),
        ("CreditReleased", 1, schema!("customers/customer-credit/v2/CreditReleased/1.avsc")),
        ("CreditRefused", 1, schema!("customers/customer-credit/v2/CreditRefused/1.avsc")),
    ],
);

/// `orders/order-events` major version 2, as credit reads it: still at v1 of
/// `OrderPlaced`, which knows nothing of the `channel` that v2 added.
pub const ORDER_EVENTS_READS: Bundle = (
    "orders",
    "order-events",
    2,
    &[
        ("OrderPlaced", 1, schema!("orders/order-events/v2/OrderPlaced/1.avsc")),
        ("OrderCancelled", 1, schema!("orders/order-events/v2/OrderCancelled/1.avsc")),
        ("OrderCreditDeclined", 1, schema!("orders/order-events/v2/OrderCreditDeclined/1.avsc")),
    ],
);

//! The Avro schemas this domain reads, bundled at build time as
//! `(event type, version, .avsc)`. A read-side domain writes no product.

pub use domain_kit::Bundle;
use domain_kit::schema;

/// `orders/order-events` major version 2, as the sales view reads it:
/// `OrderPlaced` at version 2, for its `channel`.
pub const ORDER_EVENTS_READS: Bundle = (
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

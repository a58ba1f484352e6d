//! Identifiers. Each id wraps a `Uuid` in its own type so an order id can never
//! be passed where a customer id is expected; on the wire they are plain strings.

pub use domain_kit::InvalidId;

domain_kit::uuid_id!(
    /// Identifies an order (owned by the orders product); the key of a reservation.
    OrderId
);

domain_kit::uuid_id!(
    /// Identifies a customer; the subject of (almost) every customer event.
    CustomerId
);

//! The orders product's identifiers, as this domain reads them: each wraps a
//! `Uuid` in its own type so an order id can never be passed where a customer
//! id is expected; on the wire they are plain strings.

pub use domain_kit::InvalidId;

domain_kit::uuid_id!(
    /// Identifies an order (owned by the orders product); the key of a sale.
    OrderId
);

domain_kit::uuid_id!(
    /// Identifies the customer who placed an order.
    CustomerId
);

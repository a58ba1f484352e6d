//! Why an order decision was refused.

use crate::ids::OrderId;

/// A decision the order cannot take in its current state. The cancel refusals are
/// conflicts with the order's state (HTTP 409); the message is safe to show a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The credit check has not answered yet; only an approved order can be cancelled.
    #[error("order is still awaiting its credit decision; only an approved order can be cancelled")]
    NotYetDecided,
    /// A rejected order never reserved credit, so there is nothing to cancel.
    #[error("order was rejected; only an approved order can be cancelled")]
    Rejected,
    /// Cancelling twice would release the credit twice.
    #[error("order is already cancelled")]
    AlreadyCancelled,
    /// A credit event was routed to the wrong order: a wiring bug, not a business outcome.
    #[error("credit event for order {event_order} was handed to order {order}")]
    CreditForAnotherOrder { order: OrderId, event_order: OrderId },
    /// A deadline named a step the orders saga does not have: a wiring bug (the
    /// descriptor's `saga.deadlines` and this code disagree), never retried.
    #[error("unknown saga step `{0}`: the orders saga has only `credit-check`")]
    UnknownStep(String),
}

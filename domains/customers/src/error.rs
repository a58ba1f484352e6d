//! Why a credit decision could not be taken.

use crate::ids::CustomerId;

/// A credit decision that cannot be taken. Business outcomes (limit exceeded, unknown
/// customer) are events, not errors; this only reports wiring bugs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// The caller loaded a different customer than the order event names.
    #[error("order event for customer {event_customer} was handed to customer {customer}")]
    EventForAnotherCustomer { customer: CustomerId, event_customer: CustomerId },
}

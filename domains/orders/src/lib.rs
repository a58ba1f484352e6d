//! The orders product's domain: placing orders, reacting to credit decisions from the
//! customers product (or to their deadline passing), and cancelling. Pure state and
//! decisions — no AWS, no I/O — so every rule is testable in isolation and the
//! adapters stay thin.
#![forbid(unsafe_code)]

mod channel;
mod commands;
pub mod contract;
mod error;
mod events;
mod ids;
mod order;
pub mod saga;

pub use channel::{Channel, InvalidChannel, MAX_CHANNEL_CHARS};
pub use commands::{PlaceOrder, RawPlaceOrder};
pub use domain_kit::{MAX_AMOUNT_CENTS, ValidationError, ValidationErrors};
pub use error::OrderError;
pub use events::OrderEvent;
pub use ids::{CustomerId, InvalidId, OrderId};
pub use order::{Order, OrderStatus};
pub use saga::{CREDIT_CHECK_TIMED_OUT, CreditEvent, SagaStep};

//! The customers product's domain: registering customers and deciding credit for
//! orders placed by the orders product. Pure state and decisions — no AWS, no I/O —
//! so every rule is testable in isolation and the adapters stay thin.
#![forbid(unsafe_code)]

mod commands;
pub mod contract;
pub mod credit;
mod customer;
mod error;
mod events;
mod ids;
pub mod inbound;
mod name;

pub use commands::{RawRegisterCustomer, RegisterCustomer};
pub use credit::on_order_event;
pub use customer::Customer;
pub use domain_kit::{MAX_AMOUNT_CENTS, ValidationError, ValidationErrors};
pub use error::CreditError;
pub use events::CustomerEvent;
pub use ids::{CustomerId, InvalidId, OrderId};
pub use name::{CustomerName, InvalidName, MAX_NAME_CHARS};

//! The analytics domain: a read-side view of sales (one row per order, with
//! its channel and outcome) built from the orders product. It publishes
//! nothing. Pure state and decisions: no AWS, no I/O.
#![forbid(unsafe_code)]

pub mod contract;
mod ids;
pub mod inbound;
mod sale;
mod totals;

pub use ids::{CustomerId, InvalidId, OrderId};
pub use sale::{Decision, OrderSale, SaleError, SaleStatus, Unchanged, apply};
pub use totals::{ChannelTotals, totals_by_channel};

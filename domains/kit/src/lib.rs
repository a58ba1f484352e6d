//! What every domain crate writes the same way: id newtypes, field validation
//! of raw request bodies, and the bundle of Avro schemas a domain speaks.
//! Like the domains, it knows no AWS and no platform crate, so a domain can
//! depend on it and stay pure.
#![forbid(unsafe_code)]

mod contract;
mod ids;
pub mod validation;

pub use ids::InvalidId;
pub use validation::{MAX_AMOUNT_CENTS, ValidationError, ValidationErrors};

pub use contract::Bundle;

// What `uuid_id!` expands to in the calling crate, so that crate needs no
// dependency lines of its own for them.
#[doc(hidden)]
pub use serde;
#[doc(hidden)]
pub use uuid;

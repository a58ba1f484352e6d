//! The runtime core every Lambda links: the event envelope, the outbox and
//! inbox model, the stream relay, the queue subscriber and per-entity order,
//! the contract code needed at run time (Avro validation and resolution,
//! the compatibility gate the registrar applies), and the names the
//! generated templates and the functions share.
//!
//! Nothing here knows about AWS: adapters in `mesh-aws` implement the ports
//! ([`relay::Port`], [`store::StateStore`]) so the logic is tested with fakes.
//! Nothing here parses a descriptor or writes a template (`mesh-infra`).
#![forbid(unsafe_code)]

pub mod catalog;
pub mod contract;
pub mod deadline;
pub mod env;
pub mod envelope;
pub mod error;
pub mod event;
pub mod metrics;
pub mod ordering;
pub mod outbox;
pub mod pii;
pub mod relay;
pub mod schemas;
pub mod store;
pub mod subscriber;

pub use envelope::{Envelope, EnvelopeError, EventMeta};
pub use outbox::OutboxItem;

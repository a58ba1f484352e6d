//! The platform core every domain uses: the event envelope, the transactional
//! outbox and inbox model, the stream relay and the queue subscriber.
//!
//! Nothing here knows about AWS: adapters in `mesh-aws` implement the ports
//! ([`relay::Port`], [`store::StateStore`]) so the logic is tested with fakes.
#![forbid(unsafe_code)]

pub mod contract;
pub mod descriptor;
pub mod envelope;
pub mod event;
pub mod ordering;
pub mod outbox;
pub mod relay;
pub mod schemas;
pub mod store;
pub mod subscriber;

pub use envelope::{Envelope, EnvelopeError, EventMeta};
pub use outbox::OutboxItem;

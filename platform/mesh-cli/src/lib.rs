//! The `mesh` tooling for domain teams: the `mesh` command (descriptors,
//! contracts, catalog, graph, exports), and the reference mesh's client,
//! observers and workload, which the demo and the end-to-end tests share.
#![forbid(unsafe_code)]

pub mod cli;
pub mod dlq;
pub mod guard;
pub mod observe;
pub mod outbox;
pub mod reference;
pub mod soak;
pub mod workload;

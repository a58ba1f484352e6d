//! The `mesh` command for domain teams: descriptors, contracts, templates,
//! the catalog, lineage and exports, dead letters and the outbox, and
//! running a deployed function's handler here (`mesh dev`). Every
//! subcommand lives under [`commands`].
#![forbid(unsafe_code)]

pub mod commands;

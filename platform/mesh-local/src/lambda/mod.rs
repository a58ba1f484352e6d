//! Running functions on this machine, where the endpoint cannot: a function's
//! real binary behind a local Lambda Runtime API ([`runtime_api`]), the
//! driver that plays each event-source mapping ([`driver`]) by Lambda's own
//! rules, kept as pure code ([`event_source_mapping`]), and the host that
//! runs a whole deployment that way ([`host`]).

pub mod driver;
pub mod event_source_mapping;
pub mod host;
pub mod runtime_api;

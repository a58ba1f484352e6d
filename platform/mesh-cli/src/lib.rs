//! The `mesh` tooling for domain teams: the `mesh` command (descriptors,
//! contracts, catalog, graph, exports), and the reference mesh's client,
//! observers and workload, which the demo and the end-to-end tests share.
#![forbid(unsafe_code)]

pub mod cli;
pub mod dev;
pub mod dlq;
pub mod guard;
pub mod observe;
pub mod outbox;
pub mod reference;
pub mod soak;
pub mod workload;

/// How a run that checks invariants exits: 0 when they hold, 1 when one
/// failed, 2 when the run itself could not finish (said on stderr).
pub fn exit_code(outcome: anyhow::Result<bool>, what: &str) -> std::process::ExitCode {
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("{what} failed: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

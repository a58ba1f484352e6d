//! `mesh`: the command domain teams run on their descriptors and contracts.
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    mesh_cli::cli::run(mesh_cli::cli::Cli::parse()).await
}

//! `mesh`: the command domain teams run on their descriptors and contracts.
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    mesh_cli::commands::run(mesh_cli::commands::Cli::parse()).await
}

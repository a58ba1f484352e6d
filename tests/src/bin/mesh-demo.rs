//! `make demo`: the reference mesh, end to end, on the embedded emulator.
//! Exits non-zero if an invariant fails. `MESH_SUMMARY=path.json` also
//! writes the summary as JSON.

use std::process::ExitCode;

use mesh_local::{DeployOptions, Emulator, Tokens, deploy_mesh};
use mesh_tests::observe::Observer;
use mesh_tests::reference::{CLIENT, Client, Endpoints};
use mesh_tests::workload::{self, Workload};

#[tokio::main]
async fn main() -> ExitCode {
    mesh_tests::exit_code(run().await, "mesh demo")
}

async fn run() -> anyhow::Result<bool> {
    println!("Starting the emulator...");
    let emulator = Emulator::start().await?;
    println!("Deploying the orders, customers and analytics domains to {}...", emulator.endpoint());
    let options = DeployOptions { progress: true, ..DeployOptions::default() };
    let mesh = deploy_mesh(&emulator, &options).await?;
    let tokens = Tokens::for_client(&emulator, &mesh, CLIENT).await?;
    let client = Client::new(&emulator, Endpoints::of(&mesh)?, &tokens);
    let observer = Observer::new(&emulator.sdk_config());

    let summary = workload::run(&client, &observer, &Workload::default()).await?;
    summary.print();
    if let Ok(path) = std::env::var("MESH_SUMMARY") {
        std::fs::write(&path, serde_json::to_string_pretty(&summary)?)?;
        println!("Summary written to {path}");
    }
    if !emulator.is_embedded() {
        mesh.teardown().await?;
    }
    Ok(summary.violations.is_empty())
}

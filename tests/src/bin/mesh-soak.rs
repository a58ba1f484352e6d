//! `make soak`: the reference mesh under injected faults and crash points,
//! then every event checked by id. Exits non-zero on any violation.
//! `SOAK_ORDERS` and `SOAK_FAULT_RATE` change the size and the fault rate;
//! `MESH_SUMMARY=path.json` also writes the figures as JSON.

use std::process::ExitCode;

use mesh_local::{DeployOptions, Emulator, EmulatorOptions, Tokens, deploy_mesh};
use mesh_tests::observe::Observer;
use mesh_tests::reference::{CLIENT, Client, Endpoints};
use mesh_tests::soak::{self, Soak};

#[tokio::main]
async fn main() -> ExitCode {
    mesh_tests::exit_code(run().await, "mesh soak")
}

async fn run() -> anyhow::Result<bool> {
    let soak = Soak::from_settings(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;

    println!("Starting the emulator with a fault proxy in front of the functions...");
    let emulator = Emulator::start_with(EmulatorOptions { fault_proxy: true, ..EmulatorOptions::default() }).await?;
    let Some(proxy) = emulator.faults() else {
        anyhow::bail!("the soak needs the embedded emulator (unset AWS_ENDPOINT_URL): faults go through its proxy");
    };
    let options = DeployOptions { progress: true, ..soak::deploy_options() };
    let mesh = deploy_mesh(&emulator, &options).await?;
    let tokens = Tokens::for_client(&emulator, &mesh, CLIENT).await?;
    let client = Client::new(&emulator, Endpoints::of(&mesh)?, &tokens);
    let observer = Observer::new(&emulator.sdk_config());
    println!(
        "Soaking: {} orders, {:.0} % of the functions' AWS calls faulted, {} crash points...",
        soak.workload.orders,
        soak.fault_rate * 100.0,
        soak.crash_points.len()
    );

    let report = soak::run(&client, &observer, proxy, &soak).await?;
    report.print();
    if let Ok(path) = std::env::var("MESH_SUMMARY") {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        println!("Figures written to {path}");
    }
    Ok(report.violations.is_empty())
}

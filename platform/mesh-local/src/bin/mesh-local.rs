//! `mesh-local`: the harness from the command line.
//!
//! - `mesh-local emulator`: start the embedded emulator, print its endpoint,
//!   run until Ctrl-C.
//! - `mesh-local up [--no-wait]`: start the emulator (or use
//!   `AWS_ENDPOINT_URL`), build and deploy the reference mesh, verify every
//!   stack, print the endpoints and timings, then run until Ctrl-C (or stop
//!   at once with `--no-wait`).

use std::time::Instant;

use anyhow::{Context, bail};
use mesh_local::{DeployOptions, Domain, Emulator, deploy_mesh, verify_stack_resources};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wait = !args.iter().any(|a| a == "--no-wait");
    match args.first().map(String::as_str) {
        Some("emulator") => emulator(wait).await,
        Some("up") => up(wait).await,
        _ => bail!("usage: mesh-local emulator | mesh-local up [--no-wait]"),
    }
}

async fn start() -> anyhow::Result<Emulator> {
    let started = Instant::now();
    let emulator = Emulator::start().await.context("starting the emulator")?;
    let timings = emulator.startup_timings();
    eprintln!(
        "emulator: {} ({}; virtualenv {:.1} s, ready {:.1} s, total {:.1} s)",
        emulator.endpoint(),
        if emulator.is_embedded() { "embedded MiniStack" } else { "external" },
        timings.venv.as_secs_f64(),
        timings.ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if let Some(log) = emulator.log_path() {
        eprintln!("emulator log: {}", log.display());
    }
    Ok(emulator)
}

async fn emulator(wait: bool) -> anyhow::Result<()> {
    let mut emulator = start().await?;
    println!("AWS_ENDPOINT_URL={}", emulator.endpoint());
    if wait {
        eprintln!("Ctrl-C stops it");
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    emulator.stop().context("stopping the emulator")?;
    Ok(())
}

async fn up(wait: bool) -> anyhow::Result<()> {
    let mut emulator = start().await?;
    let options = DeployOptions { progress: true, ..DeployOptions::default() };
    let started = Instant::now();
    let mesh = deploy_mesh(&emulator, &options).await.context("deploying the mesh")?;
    let t = mesh.timings();
    eprintln!(
        "deployed {} in {:.1} s (build {:.1} s, upload {:.1} s, ports {:.1} s, domains {:.1} s)",
        mesh.prefix(),
        started.elapsed().as_secs_f64(),
        t.build.as_secs_f64(),
        t.upload.as_secs_f64(),
        t.ports.as_secs_f64(),
        t.domains.as_secs_f64()
    );
    for stack in mesh.stacks() {
        let missing = verify_stack_resources(&emulator, stack.name(), stack.template()).await?;
        if missing.is_empty() {
            eprintln!("verified {}", stack.name());
        } else {
            for m in &missing {
                eprintln!("{}: MISSING {m}", stack.name());
            }
            bail!("stack {} lacks {} resources", stack.name(), missing.len());
        }
    }
    for domain in Domain::PRODUCERS {
        println!("{} API: {}", domain.name(), mesh.api_url(domain, "")?);
    }
    println!("AWS_ENDPOINT_URL={}", emulator.endpoint());
    if wait {
        eprintln!("Ctrl-C stops it");
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    if !emulator.is_embedded() {
        mesh.teardown().await.context("deleting the mesh")?;
    }
    emulator.stop().context("stopping the emulator")?;
    Ok(())
}

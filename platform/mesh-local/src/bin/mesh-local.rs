//! `mesh-local`: the harness from the command line.
//!
//! - `mesh-local emulator`: start the embedded emulator, print its endpoint,
//!   run until Ctrl-C.
//! - `mesh-local up [--no-wait]`: start the emulator (or use
//!   `AWS_ENDPOINT_URL`), build and deploy the mesh, verify every stack,
//!   print every domain's API, tables, queues and streams, then run until
//!   Ctrl-C (or stop at once with `--no-wait`). With `--detach` it deploys
//!   under the prefix `mesh` and leaves the emulator running;
//!   `mesh-local down` stops it.

use anyhow::{Context, bail};
use mesh_local::up;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wait = !args.iter().any(|a| a == "--no-wait");
    let detach = args.iter().any(|a| a == "--detach");
    match args.first().map(String::as_str) {
        Some("emulator") => emulator(wait).await,
        Some("up") => run_up(wait, detach).await,
        Some("down") => Ok(up::down()?),
        _ => bail!("usage: mesh-local emulator | mesh-local up [--no-wait | --detach] | mesh-local down"),
    }
}

async fn emulator(wait: bool) -> anyhow::Result<()> {
    let mut emulator = up::start_emulator(false).await.context("starting the emulator")?;
    println!("AWS_ENDPOINT_URL={}", emulator.endpoint());
    if wait {
        eprintln!("Ctrl-C stops it");
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    emulator.stop().context("stopping the emulator")?;
    Ok(())
}

async fn run_up(wait: bool, detach: bool) -> anyhow::Result<()> {
    let (mut emulator, mesh) = up::up(detach, detach.then(|| "mesh".to_owned())).await.context("deploying the mesh")?;
    up::print_mesh(&emulator, &mesh)?;
    if detach {
        return Ok(up::detach(emulator, &mesh)?);
    }
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

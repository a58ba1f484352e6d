//! `mesh-local`: the harness from the command line.
//!
//! - `mesh-local emulator`: start the embedded emulator, print its endpoint,
//!   run until Ctrl-C.
//! - `mesh-local up [--no-wait]`: start the emulator (or use
//!   `AWS_ENDPOINT_URL`), build and deploy the reference mesh, verify every
//!   stack, print the endpoints and timings, then run until Ctrl-C (or stop
//!   at once with `--no-wait`). With `--detach` (`make up`) it deploys under
//!   the prefix `mesh`, prints ready-to-paste AWS CLI commands and leaves the
//!   emulator running; `mesh-local down` (`make down`) stops it.

use std::time::Instant;

use anyhow::{Context, bail};
use mesh_local::{
    DeployOptions, Domain, Emulator, EmulatorOptions, deploy_mesh, stop_detached, verify_stack_resources,
    workspace_root,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wait = !args.iter().any(|a| a == "--no-wait");
    let detach = args.iter().any(|a| a == "--detach");
    match args.first().map(String::as_str) {
        Some("emulator") => emulator(wait).await,
        Some("up") => up(wait, detach).await,
        Some("down") => down(),
        _ => bail!("usage: mesh-local emulator | mesh-local up [--no-wait | --detach] | mesh-local down"),
    }
}

async fn start(outlive_this_process: bool) -> anyhow::Result<Emulator> {
    let started = Instant::now();
    let options = EmulatorOptions { outlive_this_process, ..EmulatorOptions::default() };
    let emulator = Emulator::start_with(options).await.context("starting the emulator")?;
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
    let mut emulator = start(false).await?;
    println!("AWS_ENDPOINT_URL={}", emulator.endpoint());
    if wait {
        eprintln!("Ctrl-C stops it");
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    emulator.stop().context("stopping the emulator")?;
    Ok(())
}

/// Where `up --detach` leaves what `down` needs.
fn state_file() -> anyhow::Result<std::path::PathBuf> {
    Ok(workspace_root()?.join("target/mesh-local/up.json"))
}

async fn up(wait: bool, detach: bool) -> anyhow::Result<()> {
    if detach && state_file()?.exists() {
        bail!("an emulator started by `make up` is still running ({}): `make down` first", state_file()?.display());
    }
    let mut emulator = start(detach).await?;
    let prefix = detach.then(|| "mesh".to_owned());
    let options = DeployOptions { progress: true, prefix, ..DeployOptions::default() };
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
    if detach {
        print_commands(&emulator, &mesh)?;
        let leaders = emulator.detach();
        let state = serde_json::json!({ "prefix": mesh.prefix(), "leaders": leaders });
        std::fs::write(state_file()?, state.to_string()).context("writing the state file")?;
        println!("\nThe emulator keeps running (processes {leaders:?}); `make down` stops it.");
        return Ok(());
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

/// Commands to explore the running mesh with the AWS CLI and curl.
fn print_commands(emulator: &Emulator, mesh: &mesh_local::DeployedMesh) -> anyhow::Result<()> {
    let orders = mesh.domain(Domain::Orders);
    let customers = mesh.api_url(Domain::Customers, "customers")?;
    let place = mesh.api_url(Domain::Orders, "orders")?;
    println!(
        "\nReady to paste:\n\
         export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={region}\n\
         aws cloudformation list-stacks --query 'StackSummaries[].[StackName,StackStatus]' --output table\n\
         curl -s -X POST '{customers}' -H 'content-type: application/json' -d '{{\"name\": \"Ada\", \"credit_limit_cents\": 50000}}'\n\
         curl -s -X POST '{place}' -H 'content-type: application/json' -d '{{\"customer_id\": \"<id from above>\", \"amount_cents\": 1200}}'\n\
         aws dynamodb scan --table-name {state} --max-items 5\n\
         aws sqs get-queue-attributes --queue-url {dlq} --attribute-names ApproximateNumberOfMessages\n\
         aws kinesis describe-stream-summary --stream-name {stream}\n\
         aws cloudwatch describe-alarms --query 'MetricAlarms[].[AlarmName,MetricName,StateValue]' --output table",
        endpoint = emulator.endpoint(),
        region = emulator.region(),
        state = orders.state_table()?,
        dlq = orders.consumer_dlq_url()?,
        stream = mesh.ports(Domain::Orders).stream_name()?,
    );
    Ok(())
}

fn down() -> anyhow::Result<()> {
    let path = state_file()?;
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("nothing to stop: no {}", path.display());
        return Ok(());
    };
    let state: serde_json::Value = serde_json::from_str(&text).context("reading the state file")?;
    let leaders: Vec<u32> =
        state["leaders"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()?.try_into().ok()).collect();
    stop_detached(&leaders).context("stopping the emulator")?;
    std::fs::remove_file(&path).context("removing the state file")?;
    eprintln!("stopped the emulator of mesh {} (processes {leaders:?})", state["prefix"].as_str().unwrap_or("?"));
    Ok(())
}

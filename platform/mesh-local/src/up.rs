//! A mesh left running for people to explore (`make up`): the emulator is
//! started, the mesh deployed and verified, and what a person needs to look
//! around is printed, every domain's stacks found by name. `down` stops what
//! a detached `up` left behind.

use std::path::PathBuf;
use std::time::Instant;

use crate::{DeployOptions, DeployedMesh, Emulator, EmulatorOptions, HarnessError, deploy_mesh, stop_detached};
use crate::{verify_stack_resources, workspace_root};

/// Where a detached `up` leaves what `down` needs.
fn state_file() -> Result<PathBuf, HarnessError> {
    Ok(workspace_root()?.join("target/mesh-local/up.json"))
}

/// Starts the emulator (or uses `AWS_ENDPOINT_URL`), saying where and how
/// long it took. With `outlive_this_process` the emulator keeps running
/// after this process (for a detached `up`).
pub async fn start_emulator(outlive_this_process: bool) -> Result<Emulator, HarnessError> {
    let started = Instant::now();
    let options = EmulatorOptions { outlive_this_process, ..EmulatorOptions::default() };
    let emulator = Emulator::start_with(options).await?;
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

/// Deploys the mesh (under `prefix`, or a unique one), verifies every stack
/// against its template, and says how long each part took. With `detach`,
/// refuses to start while an earlier detached `up` still runs.
pub async fn up(detach: bool, prefix: Option<String>) -> Result<(Emulator, DeployedMesh), HarnessError> {
    if detach && state_file()?.exists() {
        return Err(HarnessError::Environment(format!(
            "an emulator started by `make up` is still running ({}): `make down` first",
            state_file()?.display()
        )));
    }
    let emulator = start_emulator(detach).await?;
    let options = DeployOptions { progress: true, prefix, ..DeployOptions::default() };
    let started = Instant::now();
    let mesh = deploy_mesh(&emulator, &options).await?;
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
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|m| format!("  MISSING {m}")).collect();
            return Err(HarnessError::Environment(format!(
                "stack {} lacks {} resources:\n{}",
                stack.name(),
                missing.len(),
                list.join("\n")
            )));
        }
        eprintln!("verified {}", stack.name());
    }
    Ok((emulator, mesh))
}

/// Every domain's HTTP API with its routes, state table, subscription queues
/// and streams, as commands to paste.
pub fn print_mesh(emulator: &Emulator, mesh: &DeployedMesh) -> Result<(), HarnessError> {
    println!(
        "export AWS_ENDPOINT_URL={} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={}",
        emulator.endpoint(),
        emulator.region()
    );
    println!("aws cloudformation list-stacks --query 'StackSummaries[].[StackName,StackStatus]' --output table");
    for (domain, stack) in mesh.domains() {
        println!("\n# {domain}");
        let routes = stack.api_routes()?;
        if !routes.is_empty() {
            println!("# API {}: {}", mesh.api_url(domain, "")?, routes.join(", "));
        }
        println!("aws dynamodb scan --table-name {} --max-items 5", stack.state_table()?);
        let mut dlqs: Vec<(&String, &String)> =
            stack.outputs().iter().filter(|(key, _)| key.ends_with("DlqUrl")).collect();
        dlqs.sort();
        for (_, url) in dlqs {
            println!("aws sqs get-queue-attributes --queue-url {url} --attribute-names ApproximateNumberOfMessages");
        }
        if let Ok(ports) = mesh.ports(domain) {
            println!("aws kinesis describe-stream-summary --stream-name {}", ports.stream_name()?);
        }
    }
    println!(
        "\naws cloudwatch describe-alarms --query 'MetricAlarms[].[AlarmName,MetricName,StateValue]' --output table"
    );
    Ok(())
}

/// How a person gets a token for `client` (its name in the descriptors) of
/// `mesh`, as shell lines that set `TOKEN`: the client's secret from Cognito,
/// then the client credentials grant at the token endpoint. `None` where
/// nothing issues tokens (the APIs take requests without one there).
pub fn print_token_commands(
    emulator: &Emulator,
    mesh: &DeployedMesh,
    client: &str,
) -> Result<Option<String>, HarnessError> {
    let Some(identity) = mesh.identity().filter(|_| emulator.capabilities().identity) else {
        println!("\n# {} serves no Cognito: the APIs take requests without a token", emulator.endpoint());
        return Ok(None);
    };
    let client_id = identity.output(&mesh_infra::templates::client_id_parameter(client))?;
    let pool = identity.output("UserPoolId")?;
    let endpoint = crate::tokens::token_endpoint(emulator, identity.output("TokenEndpoint")?);
    println!(
        "\n# a token for {client} (client credentials; on AWS the token endpoint is the identity stack's TokenEndpoint output)\n\
         SECRET=$(aws cognito-idp describe-user-pool-client --user-pool-id {pool} --client-id {client_id} \
         --query UserPoolClient.ClientSecret --output text)\n\
         TOKEN=$(curl -s -u \"{client_id}:$SECRET\" -d grant_type=client_credentials {endpoint} \
         | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"access_token\"])')"
    );
    Ok(Some(r#"-H "Authorization: Bearer $TOKEN""#.to_owned()))
}

/// Leaves the emulator running after this process and writes where it is, for [`down`].
pub fn detach(emulator: Emulator, mesh: &DeployedMesh) -> Result<(), HarnessError> {
    let leaders = emulator.detach();
    let state = serde_json::json!({ "prefix": mesh.prefix(), "leaders": leaders });
    let path = state_file()?;
    std::fs::write(&path, state.to_string()).map_err(HarnessError::io(format!("writing {}", path.display())))?;
    println!("\nThe emulator keeps running (processes {leaders:?}); `make down` stops it.");
    Ok(())
}

/// Stops what a detached [`up`] left running.
pub fn down() -> Result<(), HarnessError> {
    let path = state_file()?;
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("nothing to stop: no {}", path.display());
        return Ok(());
    };
    let state: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| HarnessError::Environment(format!("{} is not what `up` wrote: {e}", path.display())))?;
    let leaders: Vec<u32> =
        state["leaders"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()?.try_into().ok()).collect();
    stop_detached(&leaders)?;
    std::fs::remove_file(&path).map_err(HarnessError::io(format!("removing {}", path.display())))?;
    eprintln!("stopped the emulator of mesh {} (processes {leaders:?})", state["prefix"].as_str().unwrap_or("?"));
    Ok(())
}

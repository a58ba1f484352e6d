//! The reference mesh's bench: what runs the reference mesh (orders,
//! customers, analytics) end to end, for its tests, the demo (`mesh-demo`),
//! the soak (`mesh-soak`) and `make up` (`mesh-up`). It names the reference
//! domains; the platform does not.
//!
//! - [`reference`]: the reference mesh's HTTP client and endpoints.
//! - [`observe`]: reads what the mesh stored, for the checks.
//! - [`workload`]: the demo's orders and the invariants checked after them.
//! - [`soak`]: faults and crash points, then every event checked by id.
//! - [`TestMesh`]: one emulator and one deployed mesh per test (unique
//!   names, so tests run in parallel), with the reference client's tokens.
#![forbid(unsafe_code)]

pub mod observe;
pub mod reference;
pub mod soak;
pub mod workload;

use std::future::Future;
use std::time::{Duration, Instant};

use mesh_local::{DeployOptions, DeployedMesh, Emulator, EmulatorOptions, Tokens, deploy_mesh};

use crate::observe::Observer;
use crate::reference::{CLIENT, Client, Endpoints};

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

#[derive(Debug)]
pub struct TestMesh {
    pub emulator: Emulator,
    pub mesh: DeployedMesh,
    pub endpoints: Endpoints,
    pub observer: Observer,
    /// The reference client's tokens (none where nothing issues them).
    pub tokens: Tokens,
}

impl TestMesh {
    /// Starts the emulator (or uses `AWS_ENDPOINT_URL`) and deploys both domains.
    pub async fn start(options: DeployOptions) -> anyhow::Result<Self> {
        Self::start_with(EmulatorOptions::default(), options).await
    }

    /// [`TestMesh::start`] with options for the embedded emulator (a fault proxy, ...).
    pub async fn start_with(emulator: EmulatorOptions, options: DeployOptions) -> anyhow::Result<Self> {
        let emulator = Emulator::start_with(emulator).await?;
        let mesh = deploy_mesh(&emulator, &options).await?;
        let endpoints = Endpoints::of(&mesh)?;
        let observer = Observer::new(&emulator.sdk_config());
        let tokens = Tokens::for_client(&emulator, &mesh, CLIENT).await?;
        Ok(Self { emulator, mesh, endpoints, observer, tokens })
    }

    pub fn client(&self) -> Client<'_> {
        Client::new(&self.emulator, self.endpoints.clone(), &self.tokens)
    }

    /// The order `id` once its status is `wanted` (within a minute).
    pub async fn order_status(&self, id: &str, wanted: &str) -> anyhow::Result<serde_json::Value> {
        let client = self.client();
        eventually(&format!("order {id} to be {wanted}"), Duration::from_secs(60), || async {
            let order = client.get_order(id).await?;
            Ok((order["status"] == wanted).then_some(order))
        })
        .await
    }

    /// Deletes what was deployed to an external endpoint; an embedded
    /// emulator goes away with its process group.
    pub async fn stop(self) -> anyhow::Result<()> {
        if !self.emulator.is_embedded() {
            self.mesh.teardown().await?;
        }
        Ok(())
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

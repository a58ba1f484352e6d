//! Shared set-up for the end-to-end tests: one emulator and one deployed
//! reference mesh per test (unique names, so tests run in parallel).
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use mesh_cli::observe::Observer;
use mesh_cli::reference::{Client, Endpoints};
use mesh_local::{DeployOptions, DeployedMesh, Emulator, EmulatorOptions, deploy_mesh};

#[derive(Debug)]
pub struct TestMesh {
    pub emulator: Emulator,
    pub mesh: DeployedMesh,
    pub endpoints: Endpoints,
    pub observer: Observer,
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
        Ok(Self { emulator, mesh, endpoints, observer })
    }

    pub fn client(&self) -> Client<'_> {
        Client::new(&self.emulator, self.endpoints.clone())
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

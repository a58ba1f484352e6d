//! The AWS endpoint the tests talk to: an embedded MiniStack started on a free
//! loopback port (the default), or whatever `AWS_ENDPOINT_URL` names.

mod process;
mod venv;

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

use process::{process_tree, terminate_tree};
use venv::{Venv, ensure_venv};

use crate::HarnessError;
use crate::faults::FaultProxy;
use crate::http::HttpClient;
use crate::paths::{emulator_dir, ensure_dir, harness_dir, tail, workspace_root};

/// How an embedded emulator is started. `Default` is what the tests use.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// How long to wait for MiniStack's readiness probe.
    pub ready_timeout: Duration,
    /// MiniStack's `LOG_LEVEL` (its log goes to a file under `target/mesh-local/logs`).
    pub log_level: String,
    /// More environment for MiniStack and the functions it runs (they inherit
    /// it), e.g. `AWS_ENDPOINT_URL_GLUE` for a second emulator.
    pub extra_env: Vec<(String, String)>,
    /// Keep running when this process exits (`make up`). Otherwise the
    /// launchers end themselves once their parent is gone, so a crashed test
    /// leaves no server behind.
    pub outlive_this_process: bool,
    /// Put a [`FaultProxy`] between the functions and MiniStack: the
    /// functions get its URL as `AWS_ENDPOINT_URL`; the harness's own calls
    /// go straight to MiniStack. It injects nothing until given a plan.
    pub fault_proxy: bool,
    /// MiniStack's IAM enforcement (`AUTH=true`): every function calls AWS
    /// with its execution role's session, and each call is evaluated against
    /// the role's policies and the resource's (queue, topic, bucket, stream,
    /// key), so a missing grant fails as it would on AWS. The harness's own
    /// `test` keys are the account's root. On by default.
    pub iam_enforcement: bool,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            ready_timeout: Duration::from_secs(30),
            log_level: "INFO".to_owned(),
            extra_env: Vec::new(),
            outlive_this_process: false,
            fault_proxy: false,
            iam_enforcement: true,
        }
    }
}

/// How long the embedded emulator took to come up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupTimings {
    /// Checking (or creating) the virtualenv.
    pub venv: Duration,
    /// From spawning MiniStack to its readiness probe answering.
    pub ready: Duration,
}

/// The running emulator (or the external endpoint). Dropping an embedded one
/// ends MiniStack and every process it started.
#[derive(Debug)]
pub struct Emulator {
    endpoint: String,
    /// Where Glue (catalog and schema registry) calls go: the embedded moto
    /// server, `AWS_ENDPOINT_URL_GLUE`, or the one endpoint.
    glue_endpoint: String,
    region: String,
    sdk_config: SdkConfig,
    http: HttpClient,
    embedded: Option<Embedded>,
    faults: Option<FaultProxy>,
    timings: StartupTimings,
    capabilities: Capabilities,
    /// moto, serving Glue for an external endpoint that does not.
    glue_server: Option<Child>,
}

/// What the endpoint serves beyond the core services (DynamoDB, streams,
/// SNS, SQS, Kinesis, S3, CloudFormation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// It runs the deployed functions (MiniStack, AWS, LocalStack with
    /// Docker). Without: `MESH_FUNCTIONS=harness`, and
    /// [`crate::deploy_mesh`] runs them here ([`crate::lambda::host::FunctionHost`]).
    pub runs_functions: bool,
    /// It serves Glue (the Data Catalog and the Schema Registry). An
    /// endpoint without it gets the harness's moto, as MiniStack does.
    pub glue: bool,
    /// It serves Cognito (the identity stack's user pool and its tokens).
    /// Without (LocalStack community), the APIs take requests without a
    /// token: the function host checks none, and nothing issues one.
    pub identity: bool,
}

#[derive(Debug)]
struct Embedded {
    /// moto server, serving Glue; started before MiniStack, which hands its
    /// URL to the functions it runs as `AWS_ENDPOINT_URL_GLUE`.
    glue: Option<Child>,
    child: Child,
    port: u16,
    log: PathBuf,
    scratch: PathBuf,
    stopped: bool,
}

/// Whether the endpoint answers Cognito's user pools: LocalStack community
/// answers 501, as for Glue.
async fn serves_identity(config: &SdkConfig) -> bool {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(config);
    match cognito.list_user_pools().max_results(1).send().await {
        Ok(_) => true,
        Err(error) => error.raw_response().is_none_or(|r| r.status().as_u16() != 501),
    }
}

/// Whether the endpoint answers Glue at all: an endpoint without it (LocalStack
/// community) answers 501 Not Implemented.
async fn serves_glue(glue: &aws_sdk_glue::Client) -> bool {
    match glue.get_databases().max_results(1).send().await {
        Ok(_) => true,
        Err(error) => error.raw_response().is_none_or(|r| r.status().as_u16() != 501),
    }
}

/// The signal MiniStack's log shows when the port was taken between our probe and its bind.
const PORT_TAKEN: &str = "already in use";
/// MiniStack's `STATE_DIR`, under the run's scratch directory.
const STATE_DIR: &str = "state";
/// How long processes get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl Emulator {
    /// Starts the embedded emulator, or uses `AWS_ENDPOINT_URL` when it is set.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::start_with(EmulatorOptions::default()).await
    }

    /// [`Emulator::start`] with options for the embedded emulator.
    pub async fn start_with(options: EmulatorOptions) -> Result<Self, HarnessError> {
        let http = HttpClient::new()?;
        match non_empty_env("AWS_ENDPOINT_URL") {
            Some(endpoint) => Self::external(endpoint, http, &options).await,
            None => Self::embedded(http, options).await,
        }
    }

    /// The endpoint in `AWS_ENDPOINT_URL`, with the standard AWS settings,
    /// and the harness's moto for Glue when it answers none.
    async fn external(endpoint: String, http: HttpClient, options: &EmulatorOptions) -> Result<Self, HarnessError> {
        let region = non_empty_env("AWS_REGION")
            .or_else(|| non_empty_env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let credentials = Credentials::new(
            non_empty_env("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "test".to_owned()),
            non_empty_env("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "test".to_owned()),
            non_empty_env("AWS_SESSION_TOKEN"),
            None,
            "mesh-local-env",
        );
        let sdk_config = load_sdk_config(&endpoint, &region, credentials).await;
        let glue_endpoint = non_empty_env("AWS_ENDPOINT_URL_GLUE").unwrap_or_else(|| endpoint.clone());
        let runs_functions = match non_empty_env("MESH_FUNCTIONS").as_deref() {
            None | Some("endpoint") => true,
            Some("harness") => false,
            Some(other) => {
                return Err(HarnessError::Environment(format!(
                    "MESH_FUNCTIONS={other}: say `endpoint` (it runs the functions, the default) or \
                     `harness` (it cannot: the harness runs them on this machine)"
                )));
            }
        };
        let mut emulator = Self {
            endpoint,
            glue_endpoint,
            region,
            sdk_config,
            http,
            embedded: None,
            faults: None,
            timings: StartupTimings::default(),
            capabilities: Capabilities { runs_functions, glue: true, identity: true },
            glue_server: None,
        };
        emulator.capabilities.glue = serves_glue(&emulator.glue_client()).await;
        emulator.capabilities.identity = serves_identity(&emulator.sdk_config).await;
        if !emulator.capabilities.glue {
            let root = workspace_root()?;
            let venv_root = root.clone();
            let python = tokio::task::spawn_blocking(move || ensure_venv(&venv_root, Venv::Glue))
                .await
                .map_err(|e| HarnessError::Environment(format!("virtualenv setup panicked: {e}")))??;
            let (server, glue_endpoint) =
                start_glue(&root, &python, &emulator.http, options.ready_timeout, false).await?;
            emulator.glue_server = server;
            emulator.glue_endpoint = glue_endpoint;
        }
        Ok(emulator)
    }

    /// MiniStack and moto from their virtualenvs, on free loopback ports.
    async fn embedded(http: HttpClient, mut options: EmulatorOptions) -> Result<Self, HarnessError> {
        let root = workspace_root()?;
        let started = Instant::now();
        let (ministack_root, glue_root) = (root.clone(), root.clone());
        let ministack_venv = tokio::task::spawn_blocking(move || ensure_venv(&ministack_root, Venv::MiniStack));
        let glue_venv = tokio::task::spawn_blocking(move || ensure_venv(&glue_root, Venv::Glue));
        let panicked = |e: tokio::task::JoinError| HarnessError::Environment(format!("virtualenv setup panicked: {e}"));
        let python = ministack_venv.await.map_err(panicked)??;
        let glue_python = glue_venv.await.map_err(panicked)??;
        let venv = started.elapsed();

        let (glue, glue_endpoint) =
            start_glue(&root, &glue_python, &http, options.ready_timeout, options.outlive_this_process).await?;
        options.extra_env.push(("AWS_ENDPOINT_URL_GLUE".to_owned(), glue_endpoint.clone()));
        let spawned = Instant::now();
        let (endpoint, embedded, faults) = spawn_until_ready(&root, &python, &http, &options, glue).await?;
        let region = "us-east-1".to_owned();
        let credentials = Credentials::new("test", "test", None, None, "mesh-local");
        let sdk_config = load_sdk_config(&endpoint, &region, credentials).await;
        Ok(Self {
            endpoint,
            glue_endpoint,
            region,
            sdk_config,
            http,
            embedded: Some(embedded),
            faults,
            timings: StartupTimings { venv, ready: spawned.elapsed() },
            capabilities: Capabilities { runs_functions: true, glue: true, identity: true },
            glue_server: None,
        })
    }

    /// The fault proxy in front of the functions' calls, if
    /// [`EmulatorOptions::fault_proxy`] asked for one.
    pub fn faults(&self) -> Option<&FaultProxy> {
        self.faults.as_ref()
    }

    /// What the endpoint serves beyond the core services.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// Where Glue calls go (catalog and schema registry).
    pub fn glue_endpoint(&self) -> &str {
        &self.glue_endpoint
    }

    /// A Glue client for [`Emulator::glue_endpoint`].
    pub fn glue_client(&self) -> aws_sdk_glue::Client {
        let config = aws_sdk_glue::config::Builder::from(&self.sdk_config).endpoint_url(&self.glue_endpoint).build();
        aws_sdk_glue::Client::from_conf(config)
    }

    /// The endpoint every AWS call goes to, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The region the SDK config uses.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// SDK config with the endpoint, the region and static credentials: build
    /// any service client from it (`aws_sdk_dynamodb::Client::new(&emu.sdk_config())`).
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config.clone()
    }

    /// An S3 client with path-style addressing: emulators do not resolve
    /// `<bucket>.127.0.0.1`.
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Whether this harness started the emulator (and will stop it).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The embedded MiniStack's log file.
    pub fn log_path(&self) -> Option<&Path> {
        self.embedded.as_ref().map(|e| e.log.as_path())
    }

    /// The embedded MiniStack's `STATE_DIR` (its Cognito signing keys are
    /// `cognito-pool-keys/<pool>-access.pem` there), gone when it stops.
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.embedded.as_ref().map(|e| e.scratch.join(STATE_DIR))
    }

    /// The embedded MiniStack's port.
    pub fn port(&self) -> Option<u16> {
        self.embedded.as_ref().map(|e| e.port)
    }

    /// Ids of the embedded emulator's processes right now: MiniStack, its
    /// process group and their descendants (the functions it runs). Tests use
    /// it to check that nothing survives [`Emulator::stop`].
    pub fn process_ids(&self) -> Vec<u32> {
        match &self.embedded {
            Some(e) if !e.stopped => std::iter::once(&e.child)
                .chain(e.glue.as_ref())
                .flat_map(|child| process_tree(child.id()))
                .map(|p| p.pid)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Leaves the embedded emulator running after this handle is gone (`make
    /// up`) and returns the leaders of its process trees, which
    /// [`stop_detached`] ends (`make down`).
    pub fn detach(mut self) -> Vec<u32> {
        match &mut self.embedded {
            Some(e) if !e.stopped => {
                e.stopped = true;
                std::iter::once(&e.child).chain(e.glue.as_ref()).map(Child::id).collect()
            }
            _ => Vec::new(),
        }
    }

    /// How long the embedded emulator took to start.
    pub fn startup_timings(&self) -> StartupTimings {
        self.timings
    }

    /// The HTTP client used for the HTTP APIs.
    pub fn http_client(&self) -> &HttpClient {
        &self.http
    }

    /// JSON over HTTP, e.g. to a URL from [`crate::DeployedMesh::api_url`].
    pub async fn http(
        &self,
        method: &str,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), HarnessError> {
        self.http.http(method, url, body).await
    }

    /// Ends the embedded emulator and every process it started (SIGTERM, then
    /// SIGKILL after a short grace). Idempotent; for an external endpoint,
    /// only the Glue server the harness added.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        if let Some(mut server) = self.glue_server.take() {
            terminate_tree(&mut server, STOP_GRACE)?;
        }
        match &mut self.embedded {
            Some(embedded) => stop_embedded(embedded),
            None => Ok(()),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("mesh-local: stopping the emulator: {err}");
        }
    }
}

/// Ends the process trees of a detached emulator (SIGTERM, then SIGKILL after
/// a short grace); leaders already gone are skipped.
pub fn stop_detached(leaders: &[u32]) -> Result<(), HarnessError> {
    for leader in leaders {
        process::terminate_orphan_tree(*leader, STOP_GRACE)?;
    }
    Ok(())
}

fn stop_embedded(embedded: &mut Embedded) -> Result<(), HarnessError> {
    if embedded.stopped {
        return Ok(());
    }
    terminate_tree(&mut embedded.child, STOP_GRACE)?;
    if let Some(glue) = &mut embedded.glue {
        terminate_tree(glue, STOP_GRACE)?;
    }
    embedded.stopped = true;
    if embedded.scratch.exists() {
        std::fs::remove_dir_all(&embedded.scratch)
            .map_err(HarnessError::io(format!("removing {}", embedded.scratch.display())))?;
    }
    Ok(())
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn load_sdk_config(endpoint: &str, region: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .load()
        .await
}

/// A port nobody listens on now. Another process may take it before
/// MiniStack binds it: the caller retries on "already in use".
fn free_port() -> Result<u16, HarnessError> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(HarnessError::io("binding 127.0.0.1:0 to find a free port"))?;
    let port = listener.local_addr().map_err(HarnessError::io("reading the probe socket's port"))?.port();
    Ok(port)
}

/// Spawns MiniStack on a free port (and the fault proxy in front of it, if
/// asked) until one answers its readiness probe: another process may take
/// the port between choosing it and binding it, so that is tried three times.
/// Returns its endpoint, its processes (owning `glue`) and the proxy.
async fn spawn_until_ready(
    root: &Path,
    python: &Path,
    http: &HttpClient,
    options: &EmulatorOptions,
    mut glue: Option<Child>,
) -> Result<(String, Embedded, Option<FaultProxy>), HarnessError> {
    let mut last_error = None;
    for _ in 0..3 {
        let port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let faults = if options.fault_proxy { Some(FaultProxy::start(&endpoint).await?) } else { None };
        let functions_endpoint = faults.as_ref().map_or_else(|| endpoint.clone(), FaultProxy::url);
        let mut embedded = spawn_ministack(root, python, port, &functions_endpoint, options)?;
        embedded.glue = glue.take();
        match wait_ready(http, &endpoint, &mut embedded, options.ready_timeout).await {
            Ok(()) => return Ok((endpoint, embedded, faults)),
            Err(err) => {
                glue = embedded.glue.take();
                stop_embedded(&mut embedded)?;
                let retry = matches!(&err, HarnessError::EmulatorExited { tail, .. } if tail.contains(PORT_TAKEN));
                if !retry {
                    return Err(err);
                }
                last_error = Some(err);
            }
        }
    }
    if let Some(mut glue) = glue {
        terminate_tree(&mut glue, STOP_GRACE)?;
    }
    Err(last_error.unwrap_or_else(|| HarnessError::Environment("no free port for MiniStack".to_owned())))
}

/// `functions_endpoint` is where the functions it runs send their AWS calls:
/// MiniStack itself, or a fault proxy in front of it.
fn spawn_ministack(
    root: &Path,
    python: &Path,
    port: u16,
    functions_endpoint: &str,
    options: &EmulatorOptions,
) -> Result<Embedded, HarnessError> {
    let logs = harness_dir(root).join("logs");
    ensure_dir(&logs)?;
    let log = logs.join(format!("ministack-{port}.log"));
    // Its own TMPDIR: MiniStack keeps pid files, extracted function code and
    // caches there, and parallel emulators must not share them. Named after
    // this process, so the directories of processes that died without
    // dropping their Emulator can be swept.
    let run = harness_dir(root).join("run");
    sweep_stale_scratch(&run);
    let scratch = run.join(format!("{}-{port}", std::process::id()));
    ensure_dir(&scratch)?;
    let out = File::create(&log).map_err(HarnessError::io(format!("creating {}", log.display())))?;
    let err = out.try_clone().map_err(HarnessError::io(format!("opening {}", log.display())))?;
    let launcher = emulator_dir(root).join("launch_ministack.py");

    let mut command = Command::new(python);
    command.arg(&launcher).current_dir(&scratch);
    // Functions inherit MiniStack's environment: no AWS setting of the
    // developer's shell (profile, other endpoints, real keys) may leak in.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(&name);
        }
    }
    command
        .env("BIND_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        .env("MINISTACK_HOST", "localhost")
        .env("AWS_ENDPOINT_URL", functions_endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("MINISTACK_REGION", "us-east-1")
        .env("LOG_LEVEL", &options.log_level)
        // Nothing but the HTTP port: no IoT MQTT (8883) or SFTP listener.
        .env("IOT_MTLS_ENABLED", "0")
        .env("SFTP_ENABLED", "0")
        // Nothing kept between runs, nothing outside the scratch directory.
        .env("PERSIST_STATE", "0")
        .env("S3_PERSIST", "0")
        .env("LAMBDA_EXECUTOR", "local")
        .env("TMPDIR", &scratch)
        // Where Cognito keeps its signing keys (one pair per user pool): in
        // the run's scratch, not /tmp, so they go with it.
        .env("STATE_DIR", scratch.join(STATE_DIR))
        .env("AUTH", if options.iam_enforcement { "true" } else { "false" })
        .env("PYTHONUNBUFFERED", "1");
    // The launcher ends itself and its processes if this process dies
    // without dropping the Emulator (a crash, or a `static`).
    if !options.outlive_this_process {
        command.env("MESH_PARENT_PID", std::process::id().to_string());
    }
    for (name, value) in &options.extra_env {
        command.env(name, value);
    }
    command.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).process_group(0);
    let child =
        command.spawn().map_err(HarnessError::io(format!("starting {} {}", python.display(), launcher.display())))?;
    Ok(Embedded { glue: None, child, port, log, scratch, stopped: false })
}

/// Starts moto server for Glue on a free port and waits until it answers.
async fn start_glue(
    root: &Path,
    python: &Path,
    http: &HttpClient,
    timeout: Duration,
    outlive_this_process: bool,
) -> Result<(Option<Child>, String), HarnessError> {
    let port = free_port()?;
    let logs = harness_dir(root).join("logs");
    ensure_dir(&logs)?;
    let log = logs.join(format!("moto-{port}.log"));
    let out = File::create(&log).map_err(HarnessError::io(format!("creating {}", log.display())))?;
    let err = out.try_clone().map_err(HarnessError::io(format!("opening {}", log.display())))?;
    let launcher = emulator_dir(root).join("launch_moto.py");
    let mut command = Command::new(python);
    if !outlive_this_process {
        command.env("MESH_PARENT_PID", std::process::id().to_string());
    }
    command
        .arg(&launcher)
        .env("MOTO_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    let mut child =
        command.spawn().map_err(HarnessError::io(format!("starting {} {}", python.display(), launcher.display())))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let probe = http.clone().with_timeout(Duration::from_secs(2));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(HarnessError::io("checking on the moto process"))? {
            return Err(HarnessError::EmulatorExited {
                status: status.to_string(),
                log: log.clone(),
                tail: tail(&log, 30),
            });
        }
        if let Ok((200, _)) = probe.http("GET", &format!("{endpoint}/moto-api/"), None).await {
            return Ok((Some(child), endpoint));
        }
        if started.elapsed() >= timeout {
            terminate_tree(&mut child, STOP_GRACE)?;
            return Err(HarnessError::EmulatorNotReady { waited: timeout, log: log.clone(), tail: tail(&log, 30) });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes the scratch directories of harness processes that are gone. Best
/// effort: a directory that cannot be removed now is tried again next time.
fn sweep_stale_scratch(run: &Path) {
    let Ok(entries) = std::fs::read_dir(run) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = name.to_str().and_then(|n| n.split_once('-')).map(|(pid, _)| pid.to_owned());
        let Some(owner) = owner else { continue };
        if owner.parse::<u32>().is_ok()
            && !Path::new("/proc").join(&owner).exists()
            && let Err(err) = std::fs::remove_dir_all(entry.path())
        {
            eprintln!("mesh-local: could not remove stale {}: {err}", entry.path().display());
        }
    }
}

async fn wait_ready(
    http: &HttpClient,
    endpoint: &str,
    embedded: &mut Embedded,
    timeout: Duration,
) -> Result<(), HarnessError> {
    let probe = http.clone().with_timeout(Duration::from_secs(2));
    let url = format!("{endpoint}/_ministack/ready");
    let started = Instant::now();
    loop {
        let exited = embedded.child.try_wait().map_err(HarnessError::io("checking on the MiniStack process"))?;
        if let Some(status) = exited {
            return Err(HarnessError::EmulatorExited {
                status: status.to_string(),
                log: embedded.log.clone(),
                tail: tail(&embedded.log, 30),
            });
        }
        if let Ok((200, _)) = probe.http("GET", &url, None).await {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(HarnessError::EmulatorNotReady {
                waited: timeout,
                log: embedded.log.clone(),
                tail: tail(&embedded.log, 30),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

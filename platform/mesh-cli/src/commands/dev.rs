//! `mesh dev <function>`: a deployed function's handler runs on this
//! machine against its real queues and streams, played by the same driver
//! as the local host (Lambda's batching, retry, bisect and filter rules).
//! The deployed function must not compete for the records, so each of its
//! enabled mappings is disabled on the endpoint while attached, and exactly
//! those are enabled again on detach. Only the standard AWS settings are
//! used: whatever the profile, region and `AWS_ENDPOINT_URL` point at.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use mesh::error::Chain;
use mesh_local::HarnessError;
use mesh_local::lambda::host::{FunctionHost, binary_of};

/// How long a mapping may take to reach the state it was asked for (AWS
/// takes seconds to a minute or two).
const STATE_CHANGE: Duration = Duration::from_secs(180);
/// How often the mapping's state is read while waiting.
const STATE_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("the descriptors under {} are invalid:\n{problems}", root.display())]
    InvalidMesh { root: PathBuf, problems: String },
    #[error("no function {name} at {at}")]
    NoFunction { name: String, at: String },
    #[error("function {name} runs none of the mesh's binaries {known:?}")]
    NotMeshFunction { name: String, known: Vec<String> },
    #[error("`{command}` failed ({status}); its output is above")]
    Build { command: String, status: String },
    #[error("`{command}` built no binary of {name}")]
    NoBinaryBuilt { command: String, name: String },
    #[error("{call}")]
    Aws {
        call: String,
        #[source]
        source: mesh::error::Cause,
    },
    #[error(
        "mapping {uuid} is still {state} {waited} s after it was set {wanted}; \
         check it with `aws lambda get-event-source-mapping --uuid {uuid}`",
        waited = STATE_CHANGE.as_secs()
    )]
    StateNotReached { uuid: String, wanted: &'static str, state: String },
    #[error("could not run {function} here")]
    Host {
        function: String,
        #[source]
        source: Box<HarnessError>,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{cause}\nmapping(s) {uuids:?} are left DISABLED ({why}); enable each with \
         `aws lambda update-event-source-mapping --enabled --uuid <uuid>`"
    )]
    LeftDisabled { cause: String, uuids: Vec<String>, why: String },
}

fn aws<E: std::error::Error + Send + Sync + 'static>(call: String) -> impl FnOnce(E) -> DevError {
    move |e| DevError::Aws { call, source: Box::new(e) }
}

/// One event source mapping of the attached function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub uuid: String,
    pub source_arn: String,
    /// Whether `mesh dev` disabled it on the endpoint (it was enabled).
    pub disabled_here: bool,
}

/// A function attached to its sources: its binary running here, its
/// mappings played by the driver. [`Attached::detach`] ends it.
#[derive(Debug)]
pub struct Attached {
    lambda: aws_sdk_lambda::Client,
    function: String,
    mappings: Vec<Mapping>,
    host: Option<FunctionHost>,
}

impl Attached {
    pub fn function(&self) -> &str {
        &self.function
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The mapping UUIDs the local host plays.
    pub fn played(&self) -> Vec<String> {
        let host = self.host.as_ref().and_then(|h| h.mappings().get(&self.function));
        host.cloned().unwrap_or_default()
    }

    /// Stops the local function, then enables again the mappings that were
    /// disabled by [`attach`]. Returns their UUIDs.
    pub async fn detach(mut self) -> Result<Vec<String>, DevError> {
        // Stopped first, so it never competes with the deployed function.
        drop(self.host.take());
        let disabled = self.disabled();
        // Cleared first: the error says what is left, `Drop` need not.
        self.mappings.clear();
        restore(&self.lambda, &disabled).await.map_err(|why| DevError::LeftDisabled {
            cause: format!("detaching {}", self.function),
            uuids: disabled.clone(),
            why,
        })?;
        Ok(disabled)
    }

    fn disabled(&self) -> Vec<String> {
        self.mappings.iter().filter(|m| m.disabled_here).map(|m| m.uuid.clone()).collect()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // Only reached without `detach` (a panic, an early return): say what
        // is left, since enabling it again needs an async call.
        let left = self.disabled();
        if !left.is_empty() {
            eprintln!(
                "{} was not detached: mapping(s) {left:?} are left DISABLED; enable each with \
                 `aws lambda update-event-source-mapping --enabled --uuid <uuid>`",
                self.function
            );
        }
    }
}

/// The binaries directory the host reads `<dir>/<crate>` from; a scratch
/// directory (removed on drop) when the binary has another file name.
#[derive(Debug)]
pub struct Binaries {
    dir: PathBuf,
    scratch: bool,
}

impl Binaries {
    /// `<dir>/<crate>`, already built (the workspace's `target/debug`).
    pub fn in_dir(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), scratch: false }
    }

    /// The binary at `path`, whatever its name, for `function`.
    pub fn file(function: &str, crates: &[String], path: &Path) -> Result<Self, DevError> {
        let name = crate_of(function, crates)?;
        let path = path.canonicalize().map_err(io(format!("binary {}", path.display())))?;
        if let Some(dir) = path.parent().filter(|_| path.file_name().is_some_and(|f| f == name)) {
            return Ok(Self::in_dir(dir));
        }
        let dir = std::env::temp_dir().join(format!("mesh-dev-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let link = dir.join(name);
        // A stale link of an earlier run of this process id.
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link).map_err(io(format!("removing {}", link.display())))?;
        }
        std::os::unix::fs::symlink(&path, &link).map_err(io(format!("linking {}", link.display())))?;
        Ok(Self { dir, scratch: true })
    }

    /// `cargo build -p <crate>` of `function`'s crate, in the workspace at `root`.
    pub async fn build(function: &str, crates: &[String], root: &Path) -> Result<Self, DevError> {
        let name = crate_of(function, crates)?;
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let command = format!("{cargo} build -p {name}");
        // Progress and errors go to the terminal (stderr); the JSON
        // messages on stdout say where the binary is.
        let output = tokio::process::Command::new(&cargo)
            .args(["build", "-p", name, "--message-format=json-render-diagnostics"])
            .current_dir(root)
            .stderr(std::process::Stdio::inherit())
            .output()
            .await
            .map_err(io(format!("running `{command}`")))?;
        if !output.status.success() {
            return Err(DevError::Build { command, status: output.status.to_string() });
        }
        let binary = built_binary(&String::from_utf8_lossy(&output.stdout), name)
            .ok_or_else(|| DevError::NoBinaryBuilt { command, name: name.to_owned() })?;
        Self::file(function, crates, &binary)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Binaries {
    fn drop(&mut self) {
        if self.scratch {
            // Only a link lives there; a leftover is harmless in the temp dir.
            std::fs::remove_dir_all(&self.dir).ok();
        }
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> DevError {
    move |source| DevError::Io { context, source }
}

/// The function crates of the mesh whose descriptors are under `root`.
pub fn mesh_functions(root: &Path) -> Result<Vec<String>, DevError> {
    let mesh = mesh_infra::load_mesh(root).map_err(|problems| DevError::InvalidMesh {
        root: root.to_path_buf(),
        problems: problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
    })?;
    Ok(mesh_infra::plan::function_crates(&mesh).into_iter().collect())
}

/// Which of the mesh's function `crates` the deployed `function` runs.
pub fn crate_of<'a>(function: &str, crates: &'a [String]) -> Result<&'a str, DevError> {
    binary_of(function, crates)
        .map_err(|_| DevError::NotMeshFunction { name: function.to_owned(), known: crates.to_vec() })
}

/// The executable of bin target `name` in cargo's JSON messages.
fn built_binary(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// The standard AWS settings the local function gets on top of its deployed
/// environment: the region (and endpoint) this command talks to. The rest
/// (credentials, profile) it inherits from this process's environment.
pub fn settings(config: &SdkConfig) -> Vec<(String, String)> {
    let region = config.region().map(|r| ("AWS_REGION".to_owned(), r.to_string()));
    let endpoint = config.endpoint_url().map(|e| ("AWS_ENDPOINT_URL".to_owned(), e.to_owned()));
    region.into_iter().chain(endpoint).collect()
}

/// Where `config` points, for messages.
fn endpoint_of(config: &SdkConfig) -> String {
    let region = config.region().map_or_else(|| "no region".to_owned(), ToString::to_string);
    match config.endpoint_url() {
        Some(url) => format!("{url} ({region})"),
        None => format!("AWS {region}"),
    }
}

/// Checks that `function` is deployed and runs one of the mesh's binaries.
pub async fn check(config: &SdkConfig, function: &str, crates: &[String]) -> Result<(), DevError> {
    crate_of(function, crates)?;
    let lambda = aws_sdk_lambda::Client::new(config);
    match lambda.get_function_configuration().function_name(function).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
            Err(DevError::NoFunction { name: function.to_owned(), at: endpoint_of(config) })
        }
        Err(e) => Err(aws(format!("GetFunctionConfiguration {function}"))(e)),
    }
}

/// Disables `function`'s enabled mappings on the endpoint, then runs its
/// binary (`<binaries>/<crate>`) here with its deployed environment plus
/// `settings`, playing all its mappings. On an error, the mappings it
/// disabled are enabled again.
pub async fn attach(
    config: &SdkConfig,
    function: &str,
    crates: &[String],
    binaries: &Path,
    settings: &[(String, String)],
) -> Result<Attached, DevError> {
    check(config, function, crates).await?;
    let lambda = aws_sdk_lambda::Client::new(config);
    let mut attached =
        Attached { lambda: lambda.clone(), function: function.to_owned(), mappings: Vec::new(), host: None };
    let listed = list_mappings(&lambda, function).await?;
    let started = async {
        for (uuid, source_arn, state) in listed {
            let enabled = matches!(state.as_str(), "Enabled" | "Enabling");
            if enabled {
                lambda
                    .update_event_source_mapping()
                    .uuid(&uuid)
                    .enabled(false)
                    .send()
                    .await
                    .map_err(aws(format!("UpdateEventSourceMapping {uuid} (disable)")))?;
            }
            attached.mappings.push(Mapping { uuid: uuid.clone(), source_arn, disabled_here: enabled });
            if enabled {
                wait_for_state(&lambda, &uuid, "Disabled").await?;
            }
        }
        let host = FunctionHost::start(config, settings, &[function.to_owned()], binaries, crates, &[])
            .await
            .map_err(|source| DevError::Host { function: function.to_owned(), source: Box::new(source) })?;
        attached.host = Some(host);
        Ok::<(), DevError>(())
    }
    .await;
    match started {
        Ok(()) => Ok(attached),
        Err(cause) => {
            let disabled = attached.disabled();
            attached.mappings.clear();
            restore(&lambda, &disabled).await.map_err(|why| DevError::LeftDisabled {
                cause: Chain(&cause).to_string(),
                uuids: disabled,
                why,
            })?;
            Err(cause)
        }
    }
}

/// `(uuid, source ARN, state)` of every mapping of `function`.
async fn list_mappings(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> Result<Vec<(String, String, String)>, DevError> {
    let mut mappings = Vec::new();
    let mut marker = None;
    loop {
        let page = lambda
            .list_event_source_mappings()
            .function_name(function)
            .set_marker(marker)
            .send()
            .await
            .map_err(aws(format!("ListEventSourceMappings {function}")))?;
        for mapping in page.event_source_mappings() {
            mappings.push((
                mapping.uuid().unwrap_or_default().to_owned(),
                mapping.event_source_arn().unwrap_or_default().to_owned(),
                mapping.state().unwrap_or_default().to_owned(),
            ));
        }
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(mappings);
        }
    }
}

/// Polls the mapping until its state is `wanted`, for at most [`STATE_CHANGE`].
async fn wait_for_state(lambda: &aws_sdk_lambda::Client, uuid: &str, wanted: &'static str) -> Result<(), DevError> {
    let deadline = Instant::now() + STATE_CHANGE;
    loop {
        let mapping = lambda
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(aws(format!("GetEventSourceMapping {uuid}")))?;
        let state = mapping.state().unwrap_or_default();
        if state == wanted {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DevError::StateNotReached { uuid: uuid.to_owned(), wanted, state: state.to_owned() });
        }
        tokio::time::sleep(STATE_POLL).await;
    }
}

/// Enables each mapping again and waits until it is; tries them all, and
/// says which failed and why.
async fn restore(lambda: &aws_sdk_lambda::Client, uuids: &[String]) -> Result<(), String> {
    let mut failed = Vec::new();
    for uuid in uuids {
        let enabled = async {
            lambda
                .update_event_source_mapping()
                .uuid(uuid)
                .enabled(true)
                .send()
                .await
                .map_err(aws(format!("UpdateEventSourceMapping {uuid} (enable)")))?;
            wait_for_state(lambda, uuid, "Enabled").await
        };
        if let Err(error) = enabled.await {
            failed.push(Chain(&error).to_string());
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(failed.join("; ")) }
}

/// `mesh dev <function> [--binary <path>]`: builds (or takes) the binary,
/// attaches, runs until Ctrl-C, detaches.
pub async fn run(config: &SdkConfig, function: &str, binary: Option<&Path>, root: &Path) -> Result<(), DevError> {
    // Listening from the start: a Ctrl-C while attaching detaches right after.
    let interrupted = tokio::spawn(tokio::signal::ctrl_c());
    let crates = mesh_functions(root)?;
    check(config, function, &crates).await?;
    let binaries = match binary {
        Some(path) => Binaries::file(function, &crates, path)?,
        None => Binaries::build(function, &crates, root).await?,
    };
    let attached = attach(config, function, &crates, binaries.dir(), &settings(config)).await?;
    let binary = binaries.dir().join(crate_of(function, &crates)?);
    println!("attached {function} at {} (binary {})", endpoint_of(config), binary.display());
    for mapping in attached.mappings() {
        let note = if mapping.disabled_here {
            "disabled on the endpoint while attached"
        } else {
            "already disabled on the endpoint: played here too, left disabled on detach"
        };
        println!("  {} {} ({note})", mapping.uuid, mapping.source_arn);
    }
    if attached.mappings().is_empty() {
        println!("  (no event source mappings)");
    }
    println!("Ctrl-C to detach");
    let signal = interrupted.await;
    let enabled = attached.detach().await?;
    for uuid in &enabled {
        println!("re-enabled {uuid}");
    }
    println!("detached {function}");
    match signal {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(DevError::Io { context: "listening for Ctrl-C".to_owned(), source }),
        Err(e) => Err(DevError::Io { context: "listening for Ctrl-C".to_owned(), source: std::io::Error::other(e) }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_built_binary_in_cargos_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"name":"mesh"},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"analytics-sales"},"executable":"/t/debug/analytics-sales"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(built_binary(&messages, "analytics-sales"), Some(PathBuf::from("/t/debug/analytics-sales")));
        assert_eq!(built_binary(&messages, "outbox-relay"), None);
    }

    #[test]
    fn rejects_a_function_that_runs_none_of_the_mesh_binaries() {
        let crates = mesh_functions(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap();
        let error = crate_of("mesh-orders-unknown", &crates).map_err(|e| e.to_string());
        assert!(
            matches!(error, Err(e) if e.starts_with("function mesh-orders-unknown runs none of the mesh's binaries"))
        );
        assert_eq!(crate_of("mesh-orders-outbox-relay", &crates).ok(), Some("outbox-relay"));
    }
}

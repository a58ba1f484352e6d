//! The one error type of the harness: each variant says what went wrong and
//! what to do about it, because the reader is a developer whose test just
//! failed for a reason that is not in their code.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting the emulator, building,
/// deploying or checking the mesh.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A mapping driver could not play a mapping as the endpoint describes it.
    #[error("event source mapping driver: {0}")]
    Driver(String),

    /// The descriptors or contracts are invalid (an ungranted subscription,
    /// a breaking schema change...): nothing was deployed.
    #[error("the mesh's descriptors are invalid, nothing was deployed:\n{0}")]
    InvalidMesh(String),

    /// `python3` could not be run at all.
    #[error(
        "python3 not found ({source}): install Python 3.11 or newer (the embedded AWS \
         emulator MiniStack runs on it), or point MESH_PYTHON at an interpreter"
    )]
    PythonMissing {
        /// Why running it failed.
        source: std::io::Error,
    },

    /// `python3 -m venv` or `pip install` failed.
    #[error(
        "could not prepare the emulator's virtualenv {venv}: `{command}` failed ({status}); \
         delete {venv} and retry; its output ended with:\n{output}"
    )]
    Virtualenv {
        /// The virtualenv directory.
        venv: PathBuf,
        /// The command that failed.
        command: String,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        output: String,
    },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The emulator process ended before it became ready.
    #[error(
        "MiniStack exited ({status}) before it became ready; last lines of {log}:\n{tail}",
        log = log.display()
    )]
    EmulatorExited {
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },

    /// The emulator did not answer its readiness probe in time.
    #[error(
        "MiniStack did not become ready within {} s; last lines of {log}:\n{tail}",
        waited.as_secs(), log = log.display()
    )]
    EmulatorNotReady {
        /// How long the harness waited.
        waited: Duration,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },

    /// Some processes of the emulator survived SIGTERM and SIGKILL.
    #[error(
        "emulator processes {pids:?} survived SIGTERM and SIGKILL: end them by hand \
         (kill -9 {pids:?}) and report it"
    )]
    ProcessesSurvived {
        /// Their process ids.
        pids: Vec<u32>,
    },

    /// `cargo build` of the function crates failed.
    #[error("`{command}` failed ({status}): fix the build first; its output ended with:\n{output}")]
    CargoBuild {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        output: String,
    },

    /// A function binary is not where `cargo build` should have put it.
    #[error(
        "function binary {} missing after cargo build: is `{name}` a workspace package with a \
         binary target of the same name?", path.display()
    )]
    BinaryMissing {
        /// The package / binary name.
        name: String,
        /// Where it was expected.
        path: PathBuf,
    },

    /// Writing a function zip failed.
    #[error("could not write the function zip {}: {message}", path.display())]
    Zip {
        /// The zip being written.
        path: PathBuf,
        /// What failed.
        message: String,
    },

    /// An AWS API call to the emulator (or AWS) failed.
    #[error("{operation} failed")]
    Aws {
        /// Service and operation, with the resource it was about.
        operation: String,
        /// The SDK's error, with the service's code and message below it.
        #[source]
        source: mesh::error::Cause,
    },

    /// A stack ended in a state other than the one asked for.
    #[error(
        "stack {stack} ended in {status}{}; failed resources:\n{}",
        reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
        if failures.is_empty() { "  (none reported)".to_owned() } else { failures.join("\n") }
    )]
    StackFailed {
        /// The stack name.
        stack: String,
        /// Its final status.
        status: String,
        /// The stack's own status reason.
        reason: Option<String>,
        /// `LogicalId (Type): ResourceStatus: ResourceStatusReason` of every failed resource.
        failures: Vec<String>,
    },

    /// A stack did not settle in time.
    #[error("stack {stack} still {status} after {} s", waited.as_secs())]
    StackTimeout {
        /// The stack name.
        stack: String,
        /// Its last status.
        status: String,
        /// How long the harness waited.
        waited: Duration,
    },

    /// A stack output the caller needs is not there.
    #[error("stack {stack} has no output `{key}` (it has: {available}); check the template's Outputs")]
    MissingOutput {
        /// The stack name.
        stack: String,
        /// The missing key.
        key: String,
        /// The keys it has, comma separated.
        available: String,
    },

    /// A stack the caller asked for is not part of the deployment.
    #[error("the deployment has no {kind} stack for domain `{domain}` (it has one for: {deployed})")]
    NoStack {
        /// `domain`, `ports` or `catalog`.
        kind: &'static str,
        /// The domain asked for.
        domain: String,
        /// The domains that have a stack of that kind, comma separated.
        deployed: String,
    },

    /// A CloudFormation template could not be read or does not fit the harness.
    #[error("template {}: {message}", path.display())]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// An HTTP call failed below the HTTP level (connect, timeout, bad URL).
    #[error("HTTP {method} {url} failed: {message}")]
    Http {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },

    /// The environment the harness runs in is not usable.
    #[error("{0}")]
    Environment(String),
}

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// Wraps an AWS SDK error with the operation it came from, keeping it
    /// (and the service's error code and message below it) as the cause.
    pub(crate) fn aws<E>(operation: impl Into<String>) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let operation = operation.into();
        move |err| Self::Aws { operation, source: Box::new(err) }
    }
}

//! The emulator harness of the mesh: runs the whole serverless loop on a
//! laptop or in CI, with no AWS account and no Docker.
//!
//! - [`Emulator::start`] starts the embedded AWS emulator (MiniStack, pinned,
//!   in a project-local virtualenv) on a free loopback port, or uses the
//!   endpoint in `AWS_ENDPOINT_URL`. Dropping it ends every process it started.
//! - [`build_function_zips`] builds the function crates into Lambda zips.
//! - [`deploy_mesh`] deploys the reference mesh from `infra/` through the
//!   CloudFormation API, under a unique prefix, so tests run in parallel.
//! - [`verify_stack_resources`] checks that a stack holds what its template declares.
//!
//! Only this crate knows an emulator is there: product code reads the
//! standard AWS configuration. Where MiniStack differs from AWS in a way the
//! mesh depends on, the fix lives in `emulator/launch_ministack.py`, never in
//! product code.

#![forbid(unsafe_code)]

mod artifacts;
mod deploy;
pub mod driver;
mod emulator;
mod error;
pub mod faults;
pub mod host;
mod http;
mod loopback;
mod paths;
mod process;
pub mod runtime_api;
mod template;
mod venv;
mod verify;

pub use artifacts::{FUNCTIONS, build_function_zips};
pub use deploy::{
    DeployOptions, DeployTimings, DeployedMesh, Domain, DomainStack, PortsStack, StackOutputs, deploy_mesh,
    deploy_stack,
};
pub use emulator::{Capabilities, Emulator, EmulatorOptions, StartupTimings, stop_detached};
pub use error::HarnessError;
pub use http::HttpClient;
pub use paths::workspace_root;
pub use template::{Template, TemplateParameter, TemplateResource};
pub use verify::{MissingResource, verify_stack_resources};

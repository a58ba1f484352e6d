//! The emulator harness of the mesh: runs the whole serverless loop on a
//! laptop or in CI, with no AWS account and no Docker.
//!
//! - [`Emulator::start`] starts the embedded AWS emulator (MiniStack, pinned,
//!   in a project-local virtualenv) on a free loopback port, or uses the
//!   endpoint in `AWS_ENDPOINT_URL`. Dropping it ends every process it started.
//! - `deploy/`: [`build_function_zips`] builds the function crates the
//!   descriptors name into Lambda zips; [`deploy_mesh`] deploys the mesh
//!   from `infra/` through the CloudFormation API in `mesh infra plan`
//!   order, under a unique prefix, so tests run in parallel;
//!   [`verify_stack_resources`] checks that a stack holds what its template
//!   declares.
//! - `emulator/`: the emulators' lifecycle (virtualenvs, processes).
//! - [`lambda`]: functions run here, for an endpoint that cannot run them.
//! - [`faults`]: the fault-injection proxy and its crash points.
//! - [`tokens`]: access tokens for a client of a deployed mesh's APIs.
//!
//! Only this crate knows an emulator is there: product code reads the
//! standard AWS configuration. Where MiniStack differs from AWS in a way the
//! mesh depends on, the fix lives in `emulator/launch_ministack.py`, never in
//! product code.

#![forbid(unsafe_code)]

mod deploy;
mod emulator;
mod error;
pub mod faults;
mod http;
pub mod lambda;
mod loopback;
mod paths;
pub mod tokens;
pub mod up;

pub use deploy::artifacts::build_function_zips;
pub use deploy::template::{Template, TemplateParameter, TemplateResource};
pub use deploy::verify::{MissingResource, verify_stack_resources};
pub use deploy::{
    DeployOptions, DeployTimings, DeployedMesh, DomainStack, PortsStack, StackOutputs, deploy_mesh, deploy_stack,
};
pub use emulator::{Capabilities, Emulator, EmulatorOptions, StartupTimings, stop_detached};
pub use error::HarnessError;
pub use http::HttpClient;
pub use paths::workspace_root;
pub use tokens::Tokens;

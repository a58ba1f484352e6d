//! Build time: what turns a mesh's descriptors into what is deployed. The
//! descriptor model and its mesh-wide checks (governance included), every
//! CloudFormation template of the mesh, and the deployment plan. The `mesh`
//! command and the harness use it; no function links it.
#![forbid(unsafe_code)]

pub mod descriptor;
pub mod grants;
pub mod plan;
pub mod templates;

pub use descriptor::{Mesh, load_mesh};

//! What a `mesh` subcommand says when it cannot do what was asked: one type
//! for every subcommand, each variant keeping the error below it as its
//! cause, so the command prints the whole chain on one line.

use mesh::error::Cause;
use mesh_aws::catalog::CatalogError;
use mesh_infra::descriptor::Problem;

use super::dev::DevError;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Every problem of the descriptors, one per line, with its file and line.
    #[error("{}\n{} problem(s)", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"), .0.len())]
    InvalidMesh(Vec<Problem>),
    /// The arguments name something the mesh does not have, or are malformed.
    #[error("{0}")]
    Usage(String),
    /// A check ran and found problems (printed above it).
    #[error("{0}")]
    Failed(String),
    /// What a deployed mesh holds is not what the command expects.
    #[error("{0}")]
    Unexpected(String),
    /// An AWS call failed.
    #[error("{operation}")]
    Aws {
        operation: String,
        #[source]
        source: Cause,
    },
    /// Reading or writing a file.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: Cause,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Dev(#[from] DevError),
}

impl CommandError {
    /// Wraps an AWS SDK error with the call it came from.
    pub fn aws<E: Into<Cause>>(operation: impl Into<String>) -> impl FnOnce(E) -> Self {
        let operation = operation.into();
        move |source| Self::Aws { operation, source: source.into() }
    }

    /// Wraps an I/O (or format) error with what the command was doing.
    pub fn io<E: Into<Cause>>(context: impl Into<String>) -> impl FnOnce(E) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source: source.into() }
    }
}

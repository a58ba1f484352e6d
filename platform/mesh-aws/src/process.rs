//! How a function's process ends. A function that cannot start (a setting
//! missing, a schema built into it broken) says why in words on stderr,
//! which Lambda sends to the function's log, and exits with status 1; it
//! does not print the error's `Debug` form, as returning it from `main`
//! would.

use std::process::ExitCode;

use mesh::error::Chain;

/// The exit status of a function's `main`, saying on stderr why it stopped.
pub fn exit(outcome: Result<(), lambda_runtime::Error>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("the function cannot run: {}", Chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

//! Errors that keep their cause. An adapter's error carries the SDK's (or
//! the I/O's) error as its `source()`, never a flattened string, so whoever
//! logs it can show every link: [`Chain`] writes `what failed: why: why`.

use std::error::Error;
use std::fmt;

/// The error an adapter got from below (an SDK call, a lock, I/O).
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// Displays an error and every source below it, `: `-separated, for a log
/// line or a message that must say why.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the order")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn shows_every_cause_of_an_error() {
        let error = Outer(std::io::Error::other("connection reset"));

        assert_eq!(Chain(&error).to_string(), "reading the order: connection reset");
    }
}

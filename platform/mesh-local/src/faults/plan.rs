//! What the proxy does to the calls it forwards.

use std::time::Duration;

use serde::Serialize;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// `ProvisionedThroughputExceededException` (DynamoDB, Kinesis) or
    /// `ThrottlingException`/`Throttling` (the others); nothing applied.
    Throttle,
    /// HTTP 500 `InternalFailure`; nothing applied.
    ServerError,
    /// The call is applied and answered, late.
    Slow,
    /// The call is applied, then the connection is dropped unanswered.
    DroppedAfterApply,
}

impl Fault {
    pub const ALL: [Fault; 4] = [Fault::Throttle, Fault::ServerError, Fault::Slow, Fault::DroppedAfterApply];
}

/// Kill the calling function after a matching call was applied, before it
/// sees the answer: the function's invocation fails, and whatever drives it
/// (stream or queue mapping) must deliver its input again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashPoint {
    /// Part of the caller's function name (`AWS_LAMBDA_FUNCTION_NAME`), e.g. `orders-relay`.
    pub function: String,
    /// The API operation, e.g. `PutRecords` or `TransactWriteItems`.
    pub operation: String,
    /// Matching calls let through before the first crash.
    pub skip: usize,
    /// Crashes in all; afterwards the point is spent.
    pub times: usize,
}

impl CrashPoint {
    /// Crashes `function` once, on its first `operation` call.
    pub fn once(function: &str, operation: &str) -> Self {
        Self { function: function.to_owned(), operation: operation.to_owned(), skip: 0, times: 1 }
    }
}

/// Which calls get which fault. The default injects nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Fraction of forwarded calls (0.0 to 1.0) that get a fault.
    pub rate: f64,
    /// The faults drawn from, uniformly.
    pub kinds: Vec<Fault>,
    /// How late a [`Fault::Slow`] answer is, at most (uniform from a tenth of it).
    pub max_delay: Duration,
    /// Seed of the draws, so a run can be repeated.
    pub seed: u64,
    pub crash_points: Vec<CrashPoint>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            rate: 0.0,
            kinds: Fault::ALL.to_vec(),
            max_delay: Duration::from_millis(1_500),
            seed: 1,
            crash_points: vec![],
        }
    }
}

impl FaultPlan {
    /// Every kind of fault, on `rate` of the calls.
    pub fn mixed(rate: f64, seed: u64) -> Self {
        Self { rate, seed, ..Self::default() }
    }

    /// Only `kinds`, on `rate` of the calls.
    pub fn only(rate: f64, kinds: &[Fault]) -> Self {
        Self { rate, kinds: kinds.to_vec(), ..Self::default() }
    }

    #[must_use]
    pub fn with_crash_points(mut self, points: Vec<CrashPoint>) -> Self {
        self.crash_points = points;
        self
    }
}

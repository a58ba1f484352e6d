//! Fault injection between the functions and the emulator, the way the mesh
//! must survive them on AWS: a loopback proxy that the functions reach as
//! their `AWS_ENDPOINT_URL`. For a configured fraction of calls it answers a
//! throttle or a 500, answers late, or applies the call and then drops the
//! connection (the client sees a failure; the write happened). At crash
//! points it applies the call and kills the calling function's process before
//! it can see the answer.
//!
//! Nothing in product code knows: the SDK's retries and the mesh's own
//! redelivery paths must absorb every fault.

mod caller;
mod plan;
mod proxy;
mod reply;

pub use plan::{CrashPoint, Fault, FaultPlan};
pub use proxy::{Crash, FaultProxy, FaultStats};

//! The loopback proxy: forwards every call to the emulator, except the ones
//! the [`FaultPlan`] picks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::caller;
use super::plan::{Fault, FaultPlan};
use super::reply::{self, Call};
use crate::HarnessError;

/// What the proxy did so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultStats {
    /// Calls received (each attempt of an SDK retry counts).
    pub calls: u64,
    /// Calls that got each fault.
    pub faults: BTreeMap<Fault, u64>,
    /// Function processes killed at crash points, in order.
    pub crashes: Vec<Crash>,
}

impl FaultStats {
    pub fn injected(&self) -> u64 {
        self.faults.values().sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crash {
    pub function: String,
    pub operation: String,
    pub pid: u32,
}

/// A running proxy; dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    port: u16,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    random: u64,
    /// Per crash point: matching calls seen, crashes done.
    crash_counts: Vec<(usize, usize)>,
    stats: FaultStats,
}

impl State {
    fn new(plan: FaultPlan) -> Self {
        let crash_counts = vec![(0, 0); plan.crash_points.len()];
        Self { random: plan.seed.max(1), plan, crash_counts, stats: FaultStats::default() }
    }

    /// xorshift64: a repeatable draw in [0, 1).
    fn draw(&mut self) -> f64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        (self.random >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick_fault(&mut self) -> Option<(Fault, Duration)> {
        if self.plan.kinds.is_empty() || self.draw() >= self.plan.rate {
            return None;
        }
        let at = (self.draw() * self.plan.kinds.len() as f64) as usize;
        let fault = self.plan.kinds[at.min(self.plan.kinds.len() - 1)];
        let delay = self.plan.max_delay.mul_f64(0.1 + 0.9 * self.draw());
        Some((fault, delay))
    }

    /// The index of an armed crash point for this call, counting it.
    fn crash_point(&mut self, call: &Call, function: &str) -> Option<usize> {
        let points = &self.plan.crash_points;
        let at = points.iter().position(|p| p.operation == call.operation && function.contains(&p.function))?;
        let (seen, crashed) = &mut self.crash_counts[at];
        *seen += 1;
        let point = &points[at];
        (*seen > point.skip && *crashed < point.times).then(|| {
            *crashed += 1;
            at
        })
    }
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`
    /// (`http://127.0.0.1:<port>`), injecting nothing until [`FaultProxy::set_plan`].
    pub async fn start(upstream: &str) -> Result<Self, HarnessError> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).await.map_err(HarnessError::io("binding the fault proxy"))?;
        let address = listener.local_addr().map_err(HarnessError::io("reading the fault proxy's address"))?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            port: address.port(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            state: Mutex::new(State::new(FaultPlan::default())),
        });
        let served = Arc::clone(&shared);
        let task = tokio::spawn(crate::loopback::serve(listener, move |peer, request| {
            handle(Arc::clone(&served), peer, request)
        }));
        Ok(Self { address, shared, task })
    }

    /// The URL to give the functions as `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Replaces the plan (and restarts its draws and crash counts); the stats carry on.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.shared.lock();
        let stats = std::mem::take(&mut state.stats);
        *state = State::new(plan);
        state.stats = stats;
    }

    pub fn stats(&self) -> FaultStats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why the proxy answered nothing: hyper closes the connection.
#[derive(Debug, thiserror::Error)]
enum Dropped {
    #[error("connection dropped after the call was applied ({0})")]
    OnPurpose(&'static str),
    #[error("the emulator could not be reached: {0}")]
    Upstream(String),
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|e| Dropped::Upstream(e.to_string()))?.to_bytes();
    let call = Call::of(&parts.headers, &body);

    let crash = crash_target(&shared, &call, peer);
    let fault = if crash.is_some() { None } else { shared.lock().pick_fault() };
    {
        let mut state = shared.lock();
        state.stats.calls += 1;
        if let Some((fault, _)) = fault {
            *state.stats.faults.entry(fault).or_default() += 1;
        }
    }

    match fault {
        Some((Fault::Throttle, _)) => return Ok(reply::throttle(&call)),
        Some((Fault::ServerError, _)) => return Ok(reply::server_error(&call)),
        Some((Fault::Slow, delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let response = forward(&shared, parts, body).await?;
    if let Some(crash) = crash {
        // The call is applied; the caller dies before it hears so.
        let _ = kill(Pid::from_raw(crash.pid as i32), Signal::SIGKILL);
        shared.lock().stats.crashes.push(crash);
        return Err(Dropped::OnPurpose("the caller was killed"));
    }
    if let Some((Fault::DroppedAfterApply, _)) = fault {
        return Err(Dropped::OnPurpose("injected"));
    }
    Ok(response)
}

/// The caller to kill after this call, if a crash point is armed for it. Only
/// calls whose operation some point names pay for finding the caller.
fn crash_target(shared: &Shared, call: &Call, peer: SocketAddr) -> Option<Crash> {
    let named = shared.lock().plan.crash_points.iter().any(|p| p.operation == call.operation);
    if !named {
        return None;
    }
    let caller = caller::find(peer.port(), shared.port)?;
    let function = caller.function?;
    shared.lock().crash_point(call, &function)?;
    Some(Crash { function, operation: call.operation.clone(), pid: caller.pid })
}

async fn forward(
    shared: &Shared,
    mut parts: http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("{}{path}", shared.upstream).parse::<Uri>().map_err(|e| Dropped::Upstream(e.to_string()))?;
    let response = shared
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| Dropped::Upstream(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| Dropped::Upstream(e.to_string()))?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

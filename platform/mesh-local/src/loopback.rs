//! A loopback HTTP/1 server loop shared by the harness's own servers (the
//! fault proxy, the local Lambda Runtime API).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Accepts connections on `listener` for ever, answering each request with
/// `handle(peer, request)`. An `Err` closes the connection unanswered.
pub(crate) async fn serve<H, F, E>(listener: TcpListener, handle: H)
where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors, most likely: give the others time to close.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(peer, request));
            // An error here is a connection dropped on purpose, or one the
            // client closed: either way there is nothing to add.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

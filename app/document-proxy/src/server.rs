//! The connection loop: hyper's HTTP/1.1 driver around the poem endpoint, with graceful shutdown.
//!
//! Why not `poem::Server`: its connection wrapper (`poem::listener::BoxIo`) puts every socket
//! behind `tokio::io::split` (a lock on each read and write) and does not report vectored writes,
//! so hyper falls back to copying every response body into its own write buffer, which grows to
//! the largest document on each keep-alive connection. Here hyper writes head and body with one
//! `writev` straight from the shared `Bytes`. The README "Benchmark" section has the figures.
//! Routing, extractors, OpenAPI and middleware stay poem's.

use crate::shutdown::ShutdownSignal;
use http::uri::Scheme;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// A client that opens a connection and never finishes its request head is cut off after this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After an accept error (typically EMFILE), pause instead of spinning on the listener.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Serves `endpoint` on `listener` until `stop` triggers; then stops accepting, lets in-flight
/// requests finish for up to `grace`, and closes idle keep-alive connections at once.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    stop: ShutdownSignal,
    grace: Duration,
) {
    let endpoint = Arc::new(endpoint);
    let local = listener.local_addr().ok();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = GracefulShutdown::new();
    let stopping = stop.triggered();
    tokio::pin!(stopping);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut stopping => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // Responses are written whole; Nagle would only hold back their last segment.
        let _ = stream.set_nodelay(true);
        let endpoint = Arc::clone(&endpoint);
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let endpoint = Arc::clone(&endpoint);
            let request = poem::Request::from((
                request,
                LocalAddr(local.map_or_else(Addr::default, Addr::SocketAddr)),
                RemoteAddr(Addr::SocketAddr(remote)),
                Scheme::HTTP,
            ));
            async move {
                let response = endpoint.get_response(request).await;
                Ok::<_, Infallible>(http::Response::<ResponseBody>::from(response))
            }
        });
        let connection = connections.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "grace period over with requests still in flight; cutting them off");
        }
    }
}

//! Serving: one thread per core, each with its own single-threaded tokio runtime accepting from
//! the one listening socket (whichever thread is free takes the next connection), running hyper's
//! HTTP/1.1 driver around the poem endpoint. A request is served start to finish on one
//! thread, upstream connection included (see [`worker`]), so no request wakes another thread.
//!
//! Why not `poem::Server` on the multi-threaded runtime: its connection wrapper
//! (`poem::listener::BoxIo`) puts every socket behind `tokio::io::split` (a lock on each read and
//! write) and hides vectored writes, so hyper copied every body into a write buffer grown to the
//! largest document per connection; and work stealing between two workers cost a fifth of the
//! samples in kernel wake-ups. The README "Benchmark" section has the figures. Routing,
//! extractors, OpenAPI and middleware stay poem's.

use crate::shutdown::ShutdownSignal;
use http::uri::Scheme;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// After an accept error (typically EMFILE), pause instead of spinning on the listener.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// The serving thread this code runs on (0 outside them), so per-thread resources such as the
/// upstream connection pool can be picked without locks or cross-thread wake-ups.
pub fn worker() -> usize {
    WORKER.get()
}

/// How many serving threads: one per core this process may use (cgroup CPU limits included).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The listening socket, one handle per serving thread. Not `SO_REUSEPORT`: that would let a
/// second instance started by mistake on the same port silently take half the connections.
#[derive(Debug)]
pub struct Listeners {
    sockets: Vec<std::net::TcpListener>,
    addr: SocketAddr,
}

impl Listeners {
    pub fn bind(addr: SocketAddr, threads: usize) -> std::io::Result<Self> {
        let socket = std::net::TcpListener::bind(addr)?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let mut sockets = (1..threads.max(1))
            .map(|_| socket.try_clone())
            .collect::<std::io::Result<Vec<_>>>()?;
        sockets.push(socket);
        Ok(Self { sockets, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// How long a connection may go without a complete request head, and how long in-flight requests
/// may take once shutdown starts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub grace: Duration,
}

/// Serves `endpoint` on every listener until `stop` triggers; then each thread stops accepting,
/// lets its in-flight requests finish for up to the grace period, and closes idle connections.
pub async fn run(
    listeners: Listeners,
    endpoint: BoxEndpoint<'static>,
    stop: ShutdownSignal,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let endpoint = Arc::new(endpoint);
    let mut finished = Vec::new();
    for (index, socket) in listeners.sockets.into_iter().enumerate() {
        let (endpoint, stop) = (Arc::clone(&endpoint), stop.clone());
        let (done, finished_rx) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("serve-{index}"))
            .spawn(move || {
                WORKER.set(index);
                let served: std::io::Result<()> = runtime.block_on(async {
                    serve(TcpListener::from_std(socket)?, &endpoint, stop, timeouts).await;
                    Ok(())
                });
                // Connections cut off after the grace period are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done.send(served);
            })?;
        finished.push(finished_rx);
    }
    for thread in finished {
        thread
            .await
            .map_err(|_| std::io::Error::other("a serving thread panicked"))??;
    }
    Ok(())
}

async fn serve(
    listener: TcpListener,
    endpoint: &Arc<BoxEndpoint<'static>>,
    stop: ShutdownSignal,
    timeouts: Timeouts,
) {
    let local = listener.local_addr().ok();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.idle);
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
        let endpoint = Arc::clone(endpoint);
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
        () = tokio::time::sleep(timeouts.grace) => {
            tracing::warn!(grace = ?timeouts.grace, "grace period over with requests still in flight; cutting them off");
        }
    }
}

//! Serving: one thread per core, each with its own single-threaded tokio runtime, running
//! hyper's HTTP/1.1 driver around the poem endpoint. One acceptor hands each new connection to the
//! thread with the fewest open ones. A request is served start to finish on one thread, upstream
//! connection included: each request carries its [`ServingThread`] in its extensions, for the
//! handler to pass on, so no request wakes another thread.
//!
//! Why not `poem::Server` on the multi-threaded runtime: its connection wrapper
//! (`poem::listener::BoxIo`) puts every socket behind `tokio::io::split` (a lock on each read and
//! write) and hides vectored writes, so hyper copied every body into a write buffer grown to the
//! largest document per connection; and work stealing between two workers cost a fifth of the
//! samples in kernel wake-ups. Why one acceptor instead of every thread accepting: whichever
//! thread woke first took the connection, and 256 connections opened at once split about 2:1,
//! leaving one core saturated while the other idled (docs/benchmarks.md has the figures).
//! Routing, extractors, OpenAPI and middleware stay poem's.

use crate::shutdown::ShutdownSignal;
use crate::upstream::policy::verdicts::VALIDATIONS_PER_CORE;
use http::uri::Scheme;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// After an accept error (typically EMFILE), pause instead of spinning on the listener.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The serving thread a request runs on, in every request's extensions: per-thread resources
/// (upstream connections, concurrency limits) are picked by it, without locks or wake-ups across
/// threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServingThread(pub usize);

/// Where and how the service serves.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Deadline of a document request, retries included.
    pub request_timeout: Duration,
    /// Document requests served at once; more are shed.
    pub max_in_flight: usize,
    /// How long a connection may go without a complete request head.
    pub idle_timeout: Duration,
    /// How long in-flight requests may take once shutdown starts.
    pub grace: Duration,
}

/// How many serving threads: one per core this process may use (cgroup CPU limits included).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Connections the kernel completes ahead of the acceptor (capped by `net.core.somaxconn`). The
/// standard library's 128 is less than a pool of clients connecting at once: 256 connections
/// opened together overflowed it (the kernel's `ListenOverflows`), and each connection dropped
/// so waited a SYN retransmit, a second, before its first request. nginx's default is 511.
pub const LISTEN_BACKLOG: i32 = 4096;

/// The listening socket.
#[derive(Debug)]
pub struct Listener {
    socket: std::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        // As the standard library's bind does: a restarted service can bind at once.
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        let socket = std::net::TcpListener::from(socket);
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        Ok(Self { socket, addr })
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

/// A serving thread as the acceptor sees it: where to send a connection, and how many it has open.
#[derive(Debug)]
struct Worker {
    inbox: mpsc::UnboundedSender<Accepted>,
    open: Arc<AtomicUsize>,
}

/// A connection on its way to a serving thread. The socket leaves the acceptor's runtime as a std
/// socket and registers with the serving thread's runtime there.
#[derive(Debug)]
struct Accepted {
    stream: std::net::TcpStream,
    remote: SocketAddr,
    _open: OpenConnection,
}

/// Counts a connection as open on its thread until the connection ends.
#[derive(Debug)]
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `endpoint` on `threads` serving threads until `stop` triggers; then the acceptor stops,
/// and each thread lets its in-flight requests finish for up to the grace period and closes idle
/// connections. The acceptor runs on the caller's runtime.
pub async fn run(
    listener: Listener,
    threads: usize,
    endpoint: BoxEndpoint<'static>,
    stop: ShutdownSignal,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let endpoint = Arc::new(endpoint);
    let local = LocalAddr(Addr::SocketAddr(listener.addr));
    let mut workers = Vec::new();
    let mut finished = Vec::new();
    for index in 0..threads.max(1) {
        let (inbox, connections) = mpsc::unbounded_channel();
        let (endpoint, local) = (Arc::clone(&endpoint), local.clone());
        let (done, finished_rx) = tokio::sync::oneshot::channel();
        // Blocking work is validation (`VALIDATIONS_PER_CORE`, bounded by its semaphore) and DNS
        // lookups, which get a thread of their own. Blocking threads are few because each keeps
        // memory: with tokio's default, every document distinct, 17 threads and RSS 83 MiB.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(VALIDATIONS_PER_CORE + 1)
            .build()?;
        std::thread::Builder::new()
            .name(format!("serve-{index}"))
            .spawn(move || {
                let thread = ServingThread(index);
                runtime.block_on(serve(thread, connections, endpoint, local, timeouts));
                // Connections cut off after the grace period are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done.send(());
            })?;
        workers.push(Worker {
            inbox,
            open: Arc::new(AtomicUsize::new(0)),
        });
        finished.push(finished_rx);
    }
    let accepted = accept(listener, &workers, stop).await;
    drop(workers); // closes the inboxes: each thread drains its connections and ends
    for thread in finished {
        thread
            .await
            .map_err(|_| std::io::Error::other("a serving thread panicked"))?;
    }
    accepted
}

/// Hands each new connection to the thread with the fewest open ones, until `stop` triggers.
async fn accept(
    listener: Listener,
    workers: &[Worker],
    stop: ShutdownSignal,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener.socket)?;
    let stopping = stop.triggered();
    tokio::pin!(stopping);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut stopping => return Ok(()),
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
        let Some(worker) = workers
            .iter()
            .min_by_key(|worker| worker.open.load(Ordering::Relaxed))
        else {
            return Ok(());
        };
        let connection = Accepted {
            stream: stream.into_std()?,
            remote,
            _open: OpenConnection::new(&worker.open),
        };
        if worker.inbox.send(connection).is_err() {
            return Err(std::io::Error::other("a serving thread ended early"));
        }
    }
}

/// One serving thread: runs the connections it is handed until the acceptor stops, then drains.
async fn serve(
    thread: ServingThread,
    mut connections: mpsc::UnboundedReceiver<Accepted>,
    endpoint: Arc<BoxEndpoint<'static>>,
    local: LocalAddr,
    timeouts: Timeouts,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.idle);
    let graceful = GracefulShutdown::new();
    while let Some(Accepted {
        stream,
        remote,
        _open: open,
    }) = connections.recv().await
    {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(%err, "cannot register a connection");
                continue;
            }
        };
        let (endpoint, local) = (Arc::clone(&endpoint), local.clone());
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let endpoint = Arc::clone(&endpoint);
            let mut request = poem::Request::from((
                request,
                local.clone(),
                RemoteAddr(Addr::SocketAddr(remote)),
                Scheme::HTTP,
            ));
            request.extensions_mut().insert(thread);
            async move {
                let response = endpoint.get_response(request).await;
                Ok::<_, Infallible>(http::Response::<ResponseBody>::from(response))
            }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended with an error");
            }
            drop(open);
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(timeouts.grace) => {
            tracing::warn!(grace = ?timeouts.grace, "grace period over with requests still in flight; cutting them off");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::Shutdown;
    use poem::EndpointExt;

    #[tokio::test]
    async fn new_connections_go_to_the_thread_with_the_fewest_open_ones() {
        let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let url = format!("http://{}/", listener.local_addr());
        let which_thread = poem::endpoint::make_sync(|request| {
            let thread = request.extensions().get::<ServingThread>().copied();
            thread.unwrap_or_default().0.to_string()
        })
        .map_to_response()
        .boxed();
        let (shutdown, signal) = Shutdown::new();
        let timeouts = Timeouts {
            idle: Duration::from_secs(10),
            grace: Duration::from_secs(1),
        };
        let server = tokio::spawn(run(listener, 2, which_thread, signal, timeouts));
        // Each client keeps its one connection open, so every connection stays counted.
        let mut clients = Vec::new();
        let mut served_by = [0; 2];
        for _ in 0..6 {
            let client = reqwest::Client::new();
            let thread: usize = client
                .get(&url)
                .send()
                .await
                .expect("answer")
                .text()
                .await
                .expect("body")
                .parse()
                .expect("a thread index");
            served_by[thread] += 1;
            clients.push(client);
        }
        assert_eq!(served_by, [3, 3], "six connections over two threads");
        shutdown.trigger();
        drop(clients);
        server.await.expect("joined").expect("served");
    }

    #[test]
    fn connections_opened_at_once_are_completed_before_any_is_accepted() {
        let listener = Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(4096);
        // More than the standard library's backlog of 128; the kernel caps it at somaxconn.
        let opened = cap.min(512);
        assert!(
            opened > 128,
            "net.core.somaxconn is {cap}: raise it to run this test"
        );
        // Each stays open to the end: a closed one would give its place in the backlog back.
        let addr = listener.local_addr();
        let _held: Vec<_> = (0..opened)
            .map(|i| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| {
                        panic!(
                            "connection {i} of {opened}, none accepted yet: {e} \
                             (a SYN dropped by a full backlog waits a second)"
                        )
                    })
            })
            .collect();
    }
}

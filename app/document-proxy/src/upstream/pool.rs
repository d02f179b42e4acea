//! Keep-alive HTTP/1.1 connections to a plain-HTTP upstream, one pool per serving thread, on
//! hyper's connection API.
//!
//! A connection's I/O runs in the task of the request using it ([`Lease::drive`]), not in a task
//! of its own, so the response needs no hop between tasks. Measured against a task per connection
//! (12 alternating runs, 256 client connections): peak RSS 54 -> 46 MiB, throughput and latency
//! unchanged within this machine's noise. Idle, nobody polls a connection: a close by the upstream
//! is seen at checkout, and a request it catches unsent is replayed on another connection.
//!
//! Why not reqwest here: `make bench` measured reqwest's per-request machinery (URL parsing and
//! IDNA on every call, its tower stack, hyper-util's shared pool with its locks and channels) as
//! the largest share of the service's CPU per document, and the throughput target (at least
//! nginx `proxy_pass`) was out of reach with it. The README "Benchmark" section has the figures.
//! An `https` upstream still goes through reqwest (see `Transport`).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

type Sender = SendRequest<Empty<Bytes>>;
type Io = Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>;

pub const USER_AGENT: &str = concat!("document-proxy/", env!("CARGO_PKG_VERSION"));

/// An idle connection older than this is closed rather than reused: the upstream may have timed
/// it out, and a request on a connection closed under it fails without reaching anyone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// An error answer's body up to this size, complete within [`DISCARD_TIME`], is read and thrown
/// away so its connection can be reused; anything else closes the connection.
const DISCARD_BYTES: u64 = 16 * 1024;
const DISCARD_TIME: Duration = Duration::from_millis(20);

/// Why no response head arrived.
#[derive(Debug)]
pub enum SendError {
    ConnectTimeout,
    Connect(std::io::Error),
    Http(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConnectTimeout => f.write_str("connect timed out"),
            Self::Connect(err) => write!(f, "connect: {err}"),
            Self::Http(err) => write!(f, "{}", super::error_chain(err)),
        }
    }
}

/// hyper's handle for sending requests and the future that does the connection's I/O.
struct Conn {
    sender: Sender,
    /// `None` once the connection has ended; dropping it closes every channel to `sender`.
    io: Option<Io>,
}

impl Conn {
    fn is_open(&self) -> bool {
        self.io.is_some() && !self.sender.is_closed()
    }

    /// Waits until the connection has finished the previous exchange and can take a request.
    async fn ready(&mut self) -> hyper::Result<()> {
        let Self { sender, io } = self;
        drive(io, std::future::poll_fn(|cx| sender.poll_ready(cx))).await
    }
}

/// Runs `fut` while doing the connection's I/O in the same task.
async fn drive<F: Future>(io: &mut Option<Io>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        // The connection first, so what it reads is there for `fut` in this same poll.
        if let Some(running) = io.as_mut()
            && let Poll::Ready(result) = running.as_mut().poll(cx)
        {
            if let Err(err) = result {
                tracing::debug!(%err, "upstream connection ended with an error");
            }
            *io = None;
        }
        fut.as_mut().poll(cx)
    })
    .await
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("open", &self.is_open())
            .finish()
    }
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

#[derive(Debug)]
pub struct Pool {
    host: url::Host<String>,
    port: u16,
    /// The URL's path without its trailing slash; the id is appended to it.
    prefix: String,
    host_header: HeaderValue,
    connect_timeout: Duration,
    /// Indexed by `server::worker()`: a connection's task runs on the thread that opened it.
    idle: Vec<Mutex<Vec<Idle>>>,
}

impl Pool {
    /// `None` if the URL cannot be addressed this way (no host or port, or a path that does not
    /// make a request target).
    pub fn new(url: &Url, threads: usize, connect_timeout: Duration) -> Option<Self> {
        let prefix = url.path().trim_end_matches('/').to_owned();
        http::Uri::try_from(format!("{prefix}/1")).ok()?;
        let host = url.host()?.to_owned();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Some(Self {
            host,
            port,
            prefix,
            host_header: HeaderValue::from_str(&authority).ok()?,
            connect_timeout,
            idle: (0..threads.max(1)).map(|_| Mutex::default()).collect(),
        })
    }

    /// Sends `GET <prefix>/<id>` on an idle connection or a new one. A pooled connection that
    /// turns out closed before the request was written is replaced without counting as a failure.
    pub async fn get(&self, id: u64) -> Result<(http::Response<Incoming>, Lease<'_>), SendError> {
        let slot = &self.idle[crate::server::worker() % self.idle.len()];
        let mut request = self.request(id);
        loop {
            let (mut conn, pooled) = match self.checkout(slot) {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            // A pooled connection is ready once it has seen the previous response end; an error
            // means the upstream closed it meanwhile.
            if pooled && conn.ready().await.is_err() {
                continue;
            }
            let sent = conn.sender.try_send_request(request);
            match drive(&mut conn.io, sent).await {
                Ok(response) => return Ok((response, Lease { conn, slot })),
                Err(mut err) => match err.take_message() {
                    Some(unsent) if pooled => request = unsent,
                    _ => return Err(SendError::Http(err.into_error())),
                },
            }
        }
    }

    fn request(&self, id: u64) -> http::Request<Empty<Bytes>> {
        let mut request = http::Request::new(Empty::new());
        // Checked in `new`: the prefix followed by digits is always a valid request target.
        *request.uri_mut() = format!("{}/{id}", self.prefix)
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host_header.clone());
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        request
    }

    /// The most recently used connection that is still open, so the others age out.
    fn checkout(&self, slot: &Mutex<Vec<Idle>>) -> Option<Conn> {
        let mut idle = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(Idle { conn, since }) = idle.pop() {
            if conn.is_open() && since.elapsed() < IDLE_TIMEOUT {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let connecting = async {
            let stream = match &self.host {
                url::Host::Domain(name) => TcpStream::connect((name.as_str(), self.port)).await,
                url::Host::Ipv4(ip) => TcpStream::connect((*ip, self.port)).await,
                url::Host::Ipv6(ip) => TcpStream::connect((*ip, self.port)).await,
            }
            .map_err(SendError::Connect)?;
            // The request is one small write; Nagle would only delay it.
            stream.set_nodelay(true).map_err(SendError::Connect)?;
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(SendError::Http)
        };
        let (sender, io) = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)??;
        Ok(Conn {
            sender,
            io: Some(Box::pin(io)),
        })
    }
}

/// A connection whose response is being read. [`Lease::release`] returns it to the pool once the
/// body has been read to the end; dropped instead (error, timeout), the connection is closed.
#[derive(Debug)]
pub struct Lease<'a> {
    conn: Conn,
    slot: &'a Mutex<Vec<Idle>>,
}

impl Lease<'_> {
    /// Runs `fut` (reading the response's body) while doing the connection's I/O.
    pub async fn drive<F: Future>(&mut self, fut: F) -> F::Output {
        drive(&mut self.conn.io, fut).await
    }

    /// Reads an error answer's body to its end and returns the connection to the pool: under a
    /// run of 5xx answers each retry would otherwise open a new connection to an upstream that
    /// is already struggling. A large or slow body closes the connection instead.
    pub async fn discard(mut self, mut body: Incoming) {
        if body
            .size_hint()
            .upper()
            .is_none_or(|len| len > DISCARD_BYTES)
        {
            return;
        }
        let read_to_end = async {
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    return false;
                }
            }
            true
        };
        if let Ok(true) = tokio::time::timeout(DISCARD_TIME, self.drive(read_to_end)).await {
            self.release();
        }
    }

    pub fn release(self) {
        if !self.conn.is_open() {
            return;
        }
        let mut idle = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Connections at the front have waited longest; drop those past the idle timeout.
        let expired = idle
            .iter()
            .take_while(|conn| conn.since.elapsed() >= IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        idle.push(Idle {
            conn: self.conn,
            since: Instant::now(),
        });
    }
}

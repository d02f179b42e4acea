//! Keep-alive HTTP/1.1 connections to a plain-HTTP upstream, one pool per serving thread, each
//! driven by the request holding it: the request's own task writes `GET` and reads the response
//! into the connection's buffer (the wire format is in `wire`).
//!
//! Why not reqwest here: `make bench` measured reqwest's per-request machinery (URL parsing and
//! IDNA on every call, its tower stack, hyper-util's shared pool with its locks and channels) as
//! the largest share of the service's CPU per document, and the throughput target (at least
//! nginx `proxy_pass`) was out of reach with it. Why not hyper's client connection API either: it
//! runs each connection as a task of its own and hands
//! the response body over through a channel, so every attempt took three task wake-ups instead of
//! one, and `perf` at 256 connections put 10% of the service's samples in that task
//! (docs/benchmarks.md). An `https` upstream still goes through reqwest (see `Transport`).

use super::wire::{self, BodyError, Head, HeadError};
use reqwest::Url;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

pub const USER_AGENT: &str = concat!("document-proxy/", env!("CARGO_PKG_VERSION"));

/// An idle connection older than this is closed rather than reused: the upstream may have timed
/// it out, and a request on a connection closed under it fails without reaching anyone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// An error answer's body up to this size, complete within [`DISCARD_TIME`], is read and thrown
/// away so its connection can be reused; anything else closes the connection.
const DISCARD_BYTES: u64 = 16 * 1024;
const DISCARD_TIME: Duration = Duration::from_millis(20);

/// A pooled connection keeps its read buffer for the next response, unless the buffer grew past
/// this: then it starts small again. The upstream's documents fit (48 KB at most, 60 KB for the
/// stand-in's), and idle buffers stay bounded: at most `MAX_IN_FLIGHT` connections × 128 KiB.
const KEPT_BUFFER: usize = 128 * 1024;

/// Why no response head arrived.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Exchange(HeadError),
}

/// An open connection and the buffer its responses are read into.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    idle_since: Instant,
}

impl Connection {
    /// Whether the upstream has said nothing since the last response: neither closed the
    /// connection nor sent anything unasked (a `408 Request Timeout` before closing an idle
    /// connection, as some servers do), which would otherwise be read as the next response. No
    /// system call unless the socket has signalled since it was last read dry.
    fn is_quiet(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Sends the request and reads the response head.
    async fn exchange(&mut self, request: &[u8]) -> Result<Head, HeadError> {
        self.stream
            .write_all(request)
            .await
            .map_err(HeadError::Io)?;
        self.buf.clear();
        wire::read_head(&mut self.stream, &mut self.buf).await
    }
}

#[derive(Debug)]
pub struct Pool {
    host: url::Host<String>,
    port: u16,
    /// The request up to the id (`GET <path>/`), and after it (the version and headers).
    before_id: String,
    after_id: String,
    connect_timeout: Duration,
    /// Indexed by `server::worker()`: a socket belongs to the runtime of the thread that opened it.
    idle: Vec<Mutex<Vec<Connection>>>,
}

impl Pool {
    /// `None` if the URL cannot be addressed this way (no host or port, or a path that does not
    /// make a request target).
    pub fn new(url: &Url, threads: usize, connect_timeout: Duration) -> Option<Self> {
        let prefix = url.path().trim_end_matches('/');
        http::Uri::try_from(format!("{prefix}/1")).ok()?;
        let host = url.host()?.to_owned();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        http::HeaderValue::from_str(&authority).ok()?;
        Some(Self {
            host,
            port,
            before_id: format!("GET {prefix}/"),
            after_id: format!(" HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n\r\n"),
            connect_timeout,
            idle: (0..threads.max(1)).map(|_| Mutex::default()).collect(),
        })
    }

    /// Sends `GET <prefix>/<id>` on an idle connection or a new one and reads the response head.
    /// A pooled connection found closed before any of the response arrived (the upstream closed it
    /// while idle) is replaced without counting as a failure: nothing was answered, and a GET may
    /// be sent again.
    /// `thread` is the serving thread the caller runs on: each keeps its own idle connections.
    pub async fn get(&self, thread: usize, id: u64) -> Result<Exchange<'_>, SendError> {
        let slot = &self.idle[thread % self.idle.len()];
        let mut request = Vec::with_capacity(self.before_id.len() + 20 + self.after_id.len());
        let _ = write!(request, "{}{id}{}", self.before_id, self.after_id);
        loop {
            let (mut connection, pooled) = match checkout(slot) {
                Some(connection) => (connection, true),
                None => (self.connect().await?, false),
            };
            match connection.exchange(&request).await {
                Ok(head) => {
                    return Ok(Exchange {
                        connection,
                        head,
                        slot,
                        reusable: false,
                    });
                }
                Err(err) if pooled && err.nothing_received() => continue,
                Err(err) => return Err(SendError::Exchange(err)),
            }
        }
    }

    async fn connect(&self) -> Result<Connection, SendError> {
        let connecting = async {
            let stream = match &self.host {
                url::Host::Domain(name) => TcpStream::connect((name.as_str(), self.port)).await,
                url::Host::Ipv4(ip) => TcpStream::connect((*ip, self.port)).await,
                url::Host::Ipv6(ip) => TcpStream::connect((*ip, self.port)).await,
            }?;
            // The request is one small write; Nagle would only delay it.
            stream.set_nodelay(true)?;
            Ok(stream)
        };
        let stream = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(SendError::Connect)?;
        Ok(Connection {
            stream,
            buf: Vec::new(),
            idle_since: Instant::now(),
        })
    }
}

/// The most recently used idle connection that is still open, so the others age out.
fn checkout(slot: &Mutex<Vec<Connection>>) -> Option<Connection> {
    let mut idle = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while let Some(connection) = idle.pop() {
        if connection.idle_since.elapsed() < IDLE_TIMEOUT && connection.is_quiet() {
            return Some(connection);
        }
    }
    None
}

/// A response whose head has been read. [`Exchange::release`] returns its connection to the pool
/// once the body has been read to the end; dropped instead (error, timeout), the connection is
/// closed.
#[derive(Debug)]
pub struct Exchange<'a> {
    connection: Connection,
    head: Head,
    slot: &'a Mutex<Vec<Connection>>,
    /// Set once the body has been read to its end and the connection may carry another request.
    reusable: bool,
}

impl Exchange<'_> {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The body's length, when the head declares one.
    pub fn declared_len(&self) -> Option<u64> {
        self.head.declared_len()
    }

    /// The whole body, never more than `max` bytes of it (checked before and while it is read).
    pub async fn body(&mut self, max: u64) -> Result<&[u8], BodyError> {
        let Connection { stream, buf, .. } = &mut self.connection;
        let (body, reusable) = wire::read_body(stream, buf, &self.head, max).await?;
        self.reusable = reusable;
        Ok(&buf[body])
    }

    /// Reads an error answer's body to its end and returns the connection to the pool: under a
    /// run of 5xx answers each retry would otherwise open a new connection to an upstream that
    /// is already struggling. A large or slow body closes the connection instead.
    pub async fn discard(mut self) {
        if !self.head.keep_alive {
            return;
        }
        if let Ok(Ok(_)) = tokio::time::timeout(DISCARD_TIME, self.body(DISCARD_BYTES)).await {
            self.release();
        }
    }

    pub fn release(self) {
        if !self.reusable {
            return;
        }
        let mut connection = self.connection;
        connection.buf.clear();
        if connection.buf.capacity() > KEPT_BUFFER {
            connection.buf = Vec::new();
        }
        connection.idle_since = Instant::now();
        let mut idle = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Connections at the front have waited longest; drop those past the idle timeout.
        let expired = idle
            .iter()
            .take_while(|idle| idle.idle_since.elapsed() >= IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        idle.push(connection);
    }
}

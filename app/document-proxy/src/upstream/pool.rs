//! Keep-alive HTTP/1.1 connections to a plain-HTTP upstream, one pool per serving thread, on
//! hyper's connection API.
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
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

type Sender = SendRequest<Empty<Bytes>>;

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

#[derive(Debug)]
struct Idle {
    sender: Sender,
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
            let (mut sender, pooled) = match self.checkout(slot) {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            // A pooled connection is ready once its task has seen the previous response end; an
            // error means the upstream closed it meanwhile.
            if pooled && sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lease { sender, slot })),
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
    fn checkout(&self, slot: &Mutex<Vec<Idle>>) -> Option<Sender> {
        let mut idle = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(Idle { sender, since }) = idle.pop() {
            if !sender.is_closed() && since.elapsed() < IDLE_TIMEOUT {
                return Some(sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Sender, SendError> {
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
        let (sender, connection) = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)??;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// A connection whose response is being read. [`Lease::release`] returns it to the pool once the
/// body has been read to the end; dropped instead (error, timeout), the connection is closed.
#[derive(Debug)]
pub struct Lease<'a> {
    sender: Sender,
    slot: &'a Mutex<Vec<Idle>>,
}

impl Lease<'_> {
    /// Reads an error answer's body to its end and returns the connection to the pool: under a
    /// run of 5xx answers each retry would otherwise open a new connection to an upstream that
    /// is already struggling. A large or slow body closes the connection instead.
    pub async fn discard(self, mut body: Incoming) {
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
        if let Ok(true) = tokio::time::timeout(DISCARD_TIME, read_to_end).await {
            self.release();
        }
    }

    pub fn release(self) {
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
            sender: self.sender,
            since: Instant::now(),
        });
    }
}

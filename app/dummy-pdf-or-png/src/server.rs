//! The HTTP side of the stand-in: any GET/HEAD on any path gets a document, served like Go's
//! `http.ServeFile` (Content-Type from the file name, Last-Modified, Range, If-Modified-Since).
//! Built on hyper directly because fault injection needs connection-level control (closing a
//! connection without an answer) that a web framework hides.

use crate::documents::{self, Document, Kind, Library};
use crate::faults::Faults;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::Rng;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

type Body = BoxBody<Bytes, io::Error>;

/// Response header with the requests the stand-in has seen so far (this one included): how
/// `scripts/bench` measures the load a proxy puts on its upstream.
pub const REQUESTS_SEEN: &str = "x-stand-in-requests";

/// Size of the body sent by the oversize fault, streamed so the stand-in never holds it.
pub const OVERSIZE_BYTES: u64 = 64 * 1024 * 1024;
/// Connections completed ahead of the accept loop, as a production upstream allows (nginx: 511):
/// a proxy opening 256 connections at once overflowed the 128 tokio's bind gives.
const LISTEN_BACKLOG: u32 = 4096;
const TRICKLE_CHUNK: usize = 1024;
const TRICKLE_PAUSE: Duration = Duration::from_millis(100);
/// A hung request is given up on eventually so a forgotten test cannot leak forever.
const HANG_FOR: Duration = Duration::from_secs(600);

/// What the stand-in serves and how it misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub faults: Faults,
    /// Every response a distinct (still sound) document: the validation cache never hits.
    pub distinct: bool,
}

#[derive(Debug)]
struct State {
    faults: RwLock<Faults>,
    distinct: bool,
    served: AtomicU64,
    last_modified: HeaderValue,
    modified_at: SystemTime,
}

/// A running stand-in. Dropping it without [`StandIn::stop`] also stops it.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// Binds `addr` (port 0 picks a free port) and serves until stopped.
    pub async fn start(addr: SocketAddr, config: Config) -> io::Result<Self> {
        // Generate the documents now, not on the first request.
        Library::get();
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(LISTEN_BACKLOG)?;
        let addr = listener.local_addr()?;
        // Whole seconds, as HTTP dates carry no more.
        let modified_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let state = Arc::new(State {
            faults: RwLock::new(config.faults),
            distinct: config.distinct,
            served: AtomicU64::new(0),
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified_at))
                .map_err(io::Error::other)?,
            modified_at,
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stopped));
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the faults for all following requests (chaos during a test).
    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Requests that reached the stand-in: how tests see retries and load on the upstream.
    pub fn requests_seen(&self) -> u64 {
        self.state.served.load(Ordering::Relaxed)
    }

    /// Stops accepting and drops every open connection at once, like a crashed upstream.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: oneshot::Receiver<()>) {
    // Connections live in the set so that stopping drops (aborts) all of them.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&state), req));
                    // An error here is a fault we injected or a client gone; both end the connection.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Error returned to hyper to drop the connection without an answer.
#[derive(Debug)]
struct Reset;
impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}
impl std::error::Error for Reset {}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Reset> {
    state.served.fetch_add(1, Ordering::Relaxed);
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n"));
    }
    let configured = state
        .faults
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let faults = match configured.with_headers(req.headers()) {
        Ok(faults) => faults,
        Err(err) => return Ok(plain(StatusCode::BAD_REQUEST, &format!("{err}\n"))),
    };
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if roll(faults.hang_rate) {
        tokio::time::sleep(HANG_FOR).await;
    }
    if roll(faults.reset_rate) {
        return Err(Reset);
    }
    if roll(faults.error_rate) {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "injected failure\n"));
    }
    let document = if roll(faults.bomb_rate) {
        bomb()
    } else {
        pick_document(&state, roll(faults.corrupt_rate))
    };
    let content_type = if roll(faults.wrong_type_rate) {
        match document.content_type {
            "image/png" => "application/pdf",
            _ => "image/png",
        }
    } else {
        document.content_type
    };
    let body = if roll(faults.oversize_rate) {
        Delivery::Oversize
    } else if roll(faults.truncate_rate) {
        Delivery::Truncated
    } else if roll(faults.trickle_rate) {
        Delivery::Trickle
    } else {
        Delivery::Whole
    };
    Ok(serve(
        &state,
        req.method(),
        req.headers(),
        &document,
        content_type,
        body,
    ))
}

/// True for a share `rate` of calls.
fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::rng().random::<f64>() < rate
}

fn pick_document(state: &State, corrupt: bool) -> Document {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let library = Library::get();
    // Among sound documents the real upstream's 50:40 PNG:PDF split.
    let (document, kind) = if corrupt {
        return library.corrupt_pdf.clone();
    } else if rand::rng().random_ratio(5, 9) {
        (&library.png, Kind::Png)
    } else {
        (&library.pdf, Kind::Pdf)
    };
    if !state.distinct {
        return document.clone();
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Document {
        body: Bytes::from(documents::distinct(&document.body, kind, n)),
        ..document.clone()
    }
}

/// A decompression bomb, PNG or PDF at even odds, with bytes never sent before (no verdict cache
/// can help with it).
fn bomb() -> Document {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let library = Library::get();
    let (bomb, kind) = if rand::rng().random_bool(0.5) {
        (&library.bomb_png, Kind::Png)
    } else {
        (&library.bomb_pdf, Kind::Pdf)
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Document {
        body: Bytes::from(documents::distinct(&bomb.body, kind, n)),
        ..bomb.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Whole,
    Trickle,
    Truncated,
    Oversize,
}

fn serve(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    document: &Document,
    content_type: &'static str,
    delivery: Delivery,
) -> Response<Body> {
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::LAST_MODIFIED, state.last_modified.clone())
        .header(REQUESTS_SEEN, state.served.load(Ordering::Relaxed))
        .header(header::ACCEPT_RANGES, "bytes");
    if not_modified_since(headers, state.modified_at) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(empty())
            .expect("static response parts are valid");
    }
    let full_len = if delivery == Delivery::Oversize {
        OVERSIZE_BYTES
    } else {
        document.body.len() as u64
    };
    let mut status = StatusCode::OK;
    let mut slice = document.body.clone();
    if let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        match byte_range(range, full_len) {
            Some((start, end)) if delivery != Delivery::Oversize => {
                status = StatusCode::PARTIAL_CONTENT;
                builder = builder.header(
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{full_len}"),
                );
                slice = document.body.slice(start as usize..=end as usize);
            }
            Some(_) => {}
            None => {
                return builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{full_len}"))
                    .body(empty())
                    .expect("static response parts are valid");
            }
        }
    }
    let length = if delivery == Delivery::Oversize {
        full_len
    } else {
        slice.len() as u64
    };
    let builder = builder
        .status(status)
        .header(header::CONTENT_LENGTH, length);
    let body = if method == Method::HEAD {
        empty()
    } else {
        match delivery {
            Delivery::Whole => Full::new(slice).map_err(|never| match never {}).boxed(),
            Delivery::Trickle => trickle(slice),
            Delivery::Truncated => truncated(slice),
            Delivery::Oversize => oversize(),
        }
    };
    builder.body(body).expect("static response parts are valid")
}

fn not_modified_since(headers: &HeaderMap, modified_at: SystemTime) -> bool {
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| modified_at <= since)
}

/// One `bytes=` range, resolved against `len` as inclusive offsets; `None` if unsatisfiable.
fn byte_range(spec: &str, len: u64) -> Option<(u64, u64)> {
    let (first, last) = spec.strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => (
            len.saturating_sub(suffix.parse().ok()?),
            len.checked_sub(1)?,
        ),
        (start, "") => (start.parse().ok()?, len.checked_sub(1)?),
        (start, end) => (
            start.parse().ok()?,
            end.parse::<u64>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && start < len).then_some((start, end))
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(
            Full::new(Bytes::from(text.to_owned()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("static response parts are valid")
}

fn chunks(body: Bytes, size: usize) -> impl Iterator<Item = Bytes> {
    (0..body.len())
        .step_by(size)
        .map(move |at| body.slice(at..(at + size).min(body.len())))
}

fn trickle(body: Bytes) -> Body {
    let frames = stream::unfold(chunks(body, TRICKLE_CHUNK), |mut rest| async move {
        let chunk = rest.next()?;
        tokio::time::sleep(TRICKLE_PAUSE).await;
        Some((Ok(Frame::data(chunk)), rest))
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// Half the document, then the connection breaks: shorter than the Content-Length promised.
fn truncated(body: Bytes) -> Body {
    let half = body.slice(..body.len() / 2);
    let frames = stream::iter([
        Ok(Frame::data(half)),
        Err(io::Error::other("injected truncation")),
    ]);
    BodyExt::boxed(StreamBody::new(frames))
}

fn oversize() -> Body {
    const CHUNK: usize = 64 * 1024;
    let zeros = Bytes::from(vec![0u8; CHUNK]);
    let count = OVERSIZE_BYTES as usize / CHUNK;
    let frames = stream::iter((0..count).map(move |_| Ok(Frame::data(zeros.clone()))));
    BodyExt::boxed(StreamBody::new(frames))
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_resolve_like_a_static_file_server() {
        assert_eq!(byte_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(byte_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(byte_range("bytes=100-", 100), None);
        assert_eq!(byte_range("items=0-1", 100), None);
    }
}

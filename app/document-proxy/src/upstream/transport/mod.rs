//! The transport: `GET <base>/<id>` in, the bytes of a full answer out. It knows statuses,
//! framing and connections, and nothing about documents or verdicts: the caller's `read` is handed
//! the body while the connection still holds it, so whatever it decides about those bytes (a
//! cached verdict compared in place, or a copy to validate) costs no allocation here. The bytes
//! of bodies held at once, being read or judged, are bounded (`memory`).

mod body;
mod memory;
mod pool;
mod wire;

use body::Received;
use bytes::Bytes;
use http_body_util::BodyExt;
pub use memory::BodyMemory;
use pool::Pool;
use reqwest::Url;
use std::time::Duration;

/// Why no full answer came back. Each says only what happened on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("upstream answered HTTP {0}")]
    Status(u16),
    #[error("upstream attempt timed out")]
    Timeout,
    #[error("cannot reach the upstream: {0}")]
    Connect(String),
    #[error("upstream body exceeds the {0}-byte limit")]
    TooLarge(u64),
    #[error("upstream body broke off: {0}")]
    Body(String),
}

/// How requests reach the upstream, and the memory their bodies may take.
#[derive(Debug)]
pub struct Transport {
    route: Route,
    bodies: BodyMemory,
}

/// Both routes keep one connection pool per serving thread: a socket belongs to the runtime of
/// the thread that opened it (and reqwest's connection tasks run there), so sharing one pool
/// would wake other threads.
#[derive(Debug)]
enum Route {
    /// Plain HTTP, the in-cluster case: a small HTTP/1.1 client of our own (see `pool` for why).
    Pooled(Pool),
    /// HTTPS (rustls), or a URL the pool cannot address; `base` is the URL without its trailing
    /// slash.
    Reqwest {
        clients: Vec<reqwest::Client>,
        base: String,
    },
}

impl Transport {
    /// A transport to `url` with a pool per thread, holding bodies within `bodies`.
    pub fn new(
        url: &Url,
        threads: usize,
        connect_timeout: Duration,
        bodies: BodyMemory,
    ) -> Result<Self, reqwest::Error> {
        let plain = (url.scheme() == "http")
            .then(|| Pool::new(url, threads, connect_timeout))
            .flatten();
        let route = match plain {
            Some(pool) => Route::Pooled(pool),
            None => Route::Reqwest {
                clients: (0..threads.max(1))
                    .map(|_| {
                        reqwest::Client::builder()
                            .connect_timeout(connect_timeout)
                            .redirect(reqwest::redirect::Policy::none())
                            .tcp_nodelay(true)
                            .pool_idle_timeout(pool::IDLE_TIMEOUT)
                            .user_agent(pool::USER_AGENT)
                            .build()
                    })
                    .collect::<Result<_, _>>()?,
                base: url.as_str().trim_end_matches('/').to_owned(),
            },
        };
        Ok(Self { route, bodies })
    }

    /// Fetches `id` on serving thread `thread` and hands the body of a 200, in the pieces it
    /// arrived in and never more than `max_body` bytes, to `read`; its result is returned once
    /// the connection is back in the pool. The body is charged to the body memory (its declared
    /// length, else `max_body`) from before it is read until `read` is done.
    pub async fn get<R>(
        &self,
        thread: usize,
        id: u64,
        max_body: u64,
        read: impl AsyncFnOnce(&[&[u8]]) -> R,
    ) -> Result<R, TransportError> {
        match &self.route {
            Route::Pooled(pool) => {
                let mut exchange = pool.get(thread, id).await.map_err(|err| match err {
                    pool::SendError::ConnectTimeout => TransportError::Timeout,
                    other => TransportError::Connect(other.to_string()),
                })?;
                if let Err(failure) = full_answer(exchange.status()) {
                    exchange.discard().await;
                    return Err(failure);
                }
                let charge = exchange.declared_len().unwrap_or(max_body).min(max_body);
                let _held = self.bodies.hold(charge).await;
                let body = exchange.body(max_body).await.map_err(|err| match err {
                    wire::BodyError::TooLarge(max) => TransportError::TooLarge(max),
                    other => TransportError::Body(other.to_string()),
                })?;
                // The connection is held until `read` is done: on a cache hit its buffer is read
                // again by the next response instead of every body getting an allocation.
                let result = read(&[body]).await;
                exchange.release();
                Ok(result)
            }
            Route::Reqwest { clients, base } => {
                let client = &clients[thread % clients.len()];
                let response = client
                    .get(format!("{base}/{id}"))
                    .send()
                    .await
                    .map_err(|err| {
                        if err.is_timeout() {
                            TransportError::Timeout
                        } else {
                            TransportError::Connect(error_chain(&err))
                        }
                    })?;
                full_answer(response.status().as_u16())?;
                let charge = response.content_length().unwrap_or(max_body).min(max_body);
                let _held = self.bodies.hold(charge).await;
                let body = read_limited(http::Response::from(response), max_body).await?;
                let pieces: Vec<&[u8]> = body.chunks().iter().map(Bytes::as_ref).collect();
                Ok(read(&pieces).await)
            }
        }
    }
}

/// A copy of `pieces` joined into one buffer that owns exactly its bytes.
pub fn joined(pieces: &[&[u8]]) -> Bytes {
    body::joined(pieces)
}

/// The whole body, never more than `max` (checked while it streams in).
async fn read_limited<B>(response: http::Response<B>, max: u64) -> Result<Received, TransportError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error,
{
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(TransportError::TooLarge(max));
    }
    let mut received = Received::default();
    let mut incoming = response.into_body();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|err| TransportError::Body(error_chain(&err)))?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers carry nothing we use
        };
        if (received.len() + chunk.len()) as u64 > max {
            return Err(TransportError::TooLarge(max));
        }
        received.push(chunk);
    }
    Ok(received)
}

/// Only a full answer is a document: 206/304 could only come from a confused upstream, since no
/// Range or conditional header is ever sent.
fn full_answer(status: u16) -> Result<(), TransportError> {
    if status == 200 {
        Ok(())
    } else {
        Err(TransportError::Status(status))
    }
}

/// The error and its causes on one line: reqwest's own message alone hides the interesting part.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

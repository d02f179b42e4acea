//! The upstream client: fetches a document, validates it, and retries what can be retried —
//! bounded attempts, exponential backoff with full jitter, one per-request deadline, a retry
//! budget, a circuit breaker and a bound on fetches at once, so a struggling upstream never gets
//! piled on.

mod body;
mod breaker;
mod budget;
mod cache;
mod error;
mod pool;
mod wire;

use crate::config::Config;
use crate::telemetry::{Metrics, Outcome};
use body::Received;
pub use breaker::{BreakerSettings, CircuitBreaker};
pub use budget::RetryBudget;
use bytes::Bytes;
pub use cache::{Known, Rejected, ValidationCache, Verdict, judge};
use document_validate::DocumentType;
pub use error::{AttemptFailure, UpstreamError};
use http_body_util::BodyExt;
use pool::Pool;
use rand::Rng;
use reqwest::Url;
use std::time::Duration;
use tokio::time::Instant;

/// A sound document, ready to send.
#[derive(Debug, Clone)]
pub struct Document {
    pub body: Bytes,
    pub kind: DocumentType,
    /// CRC-32 of `body`, computed once for the verdict cache and reused for the ETag.
    pub crc32: u32,
    pub attempts: u32,
}

/// How requests reach the upstream. Both keep one connection pool per serving thread (see
/// `server::worker`): a socket belongs to the runtime of the thread that opened it (and reqwest's
/// connection tasks run there), so sharing one pool would wake other threads.
#[derive(Debug)]
enum Transport {
    /// Plain HTTP, the in-cluster case: a small HTTP/1.1 client of our own (see `pool` for why).
    Pooled(Pool),
    /// HTTPS (rustls), or a URL the pool cannot address; `base` is the URL without its trailing
    /// slash.
    Reqwest {
        clients: Vec<reqwest::Client>,
        base: String,
    },
}

#[derive(Debug)]
pub struct Upstream {
    transport: Transport,
    attempt_timeout: Duration,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    max_body: u64,
    breaker: CircuitBreaker,
    budget: RetryBudget,
    cache: ValidationCache,
    /// Validation is CPU-bound: more at once than cores only adds threads and memory. Measured
    /// with `make bench` (every document distinct): unbounded, 256 concurrent validations took the
    /// process to 305 MiB of RSS.
    validations: tokio::sync::Semaphore,
    /// Fetches in progress at once, per serving thread; the rest wait their turn in arrival order
    /// (at most `MAX_IN_FLIGHT` in all, within their deadline). Why: every request in progress on
    /// a thread competes for it at each step (its upstream answer, a backoff timer), so with 128
    /// connections per thread each step waited behind all of them, and a request retried after a
    /// corrupt document paid that wait two or three times. Bounded, the wait is paid once, before
    /// the fetch. Measured with `make bench` (README "Benchmark"): at 16 per core, p99 fell from
    /// 1.6x nginx's to 0.9x and throughput rose by a tenth. It is also a bulkhead: a slow upstream
    /// sees at most this many requests per core from a pod, which caps a pod at
    /// `per core x cores / upstream latency` requests per second.
    slots: Vec<tokio::sync::Semaphore>,
    metrics: Metrics,
}

impl Upstream {
    pub fn new(
        url: &Url,
        config: &Config,
        threads: usize,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let connect_timeout = Duration::from_millis(config.upstream_connect_timeout_ms);
        let plain = (url.scheme() == "http")
            .then(|| Pool::new(url, threads, connect_timeout))
            .flatten();
        let transport = match plain {
            Some(pool) => Transport::Pooled(pool),
            None => Transport::Reqwest {
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
        let breaker = CircuitBreaker::new(
            BreakerSettings {
                failure_rate: config.circuit_failure_rate,
                min_requests: config.circuit_min_requests,
                window: Duration::from_millis(config.circuit_window_ms),
                open_for: Duration::from_millis(config.circuit_open_ms),
            },
            metrics.clone(),
        );
        Ok(Self {
            transport,
            attempt_timeout: Duration::from_millis(config.upstream_attempt_timeout_ms),
            max_attempts: config.upstream_max_attempts,
            backoff_base: Duration::from_millis(config.retry_backoff_base_ms),
            backoff_max: Duration::from_millis(config.retry_backoff_max_ms),
            max_body: config.upstream_max_body_bytes,
            breaker,
            budget: RetryBudget::new(config.retry_budget_ratio),
            cache: ValidationCache::new(
                usize::try_from(config.validation_cache_bytes).unwrap_or(usize::MAX),
            ),
            slots: (0..threads.max(1))
                .map(|_| tokio::sync::Semaphore::new(config.upstream_concurrency_per_core as usize))
                .collect(),
            validations: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            metrics,
        })
    }

    /// A sound document for `id`, or why there is none by `deadline`.
    pub async fn fetch(&self, id: u64, deadline: Instant) -> Result<Document, UpstreamError> {
        let _slot = self.slot().await;
        self.budget.deposit();
        let mut attempts = 0;
        let mut last = None;
        while attempts < self.max_attempts {
            if attempts > 0 {
                if !self.budget.try_withdraw() {
                    self.metrics.retry_budget_exhausted();
                    break;
                }
                let pause = self.backoff(attempts);
                if Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
                self.metrics.retry();
            }
            let permit = match self.breaker.acquire() {
                Ok(permit) => permit,
                Err(retry_after) if attempts == 0 => {
                    self.metrics.circuit_rejection();
                    return Err(UpstreamError::CircuitOpen { retry_after });
                }
                Err(_) => break,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            attempts += 1;
            let started = Instant::now();
            // Boxed: inline, the attempt made the request's future 1064 bytes, past glibc's
            // per-thread cache (1032), and poem moves and boxes that future at every layer.
            let result = tokio::time::timeout(
                self.attempt_timeout.min(remaining),
                Box::pin(self.attempt(id)),
            )
            .await
            .unwrap_or(Err(AttemptFailure::Timeout));
            permit.record(result.is_ok());
            match result {
                Ok((body, kind, crc32)) => {
                    self.metrics
                        .upstream_attempt(Outcome::Ok, started.elapsed());
                    return Ok(Document {
                        body,
                        kind,
                        crc32,
                        attempts,
                    });
                }
                Err(failure) => {
                    self.metrics
                        .upstream_attempt(failure.outcome(), started.elapsed());
                    match &failure {
                        AttemptFailure::Corrupt(rejected) => tracing::warn!(
                            attempt = attempts,
                            reason = rejected.reason,
                            detail = %rejected.detail,
                            "rejected upstream document"
                        ),
                        other => {
                            tracing::warn!(attempt = attempts, error = %other, "upstream attempt failed")
                        }
                    }
                    if !failure.retryable() {
                        return Err(UpstreamError::Failed {
                            attempts,
                            last: failure,
                        });
                    }
                    last = Some(failure);
                }
            }
        }
        match last {
            Some(last) if Instant::now() < deadline && !matches!(last, AttemptFailure::Timeout) => {
                Err(UpstreamError::Failed { attempts, last })
            }
            _ => Err(UpstreamError::Deadline { attempts }),
        }
    }

    /// This thread's turn to fetch, waited for in arrival order. The semaphore is never closed, so
    /// acquiring only waits.
    async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let slots = &self.slots[crate::server::worker() % self.slots.len()];
        if let Ok(permit) = slots.try_acquire() {
            return Some(permit);
        }
        let _waiting = self.metrics.waiting_for_upstream();
        slots.acquire().await.ok()
    }

    /// Full jitter: uniformly random up to the exponential bound.
    fn backoff(&self, failures: u32) -> Duration {
        let bound = self
            .backoff_base
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(self.backoff_max);
        bound.mul_f64(rand::rng().random::<f64>())
    }

    async fn attempt(&self, id: u64) -> Result<(Bytes, DocumentType, u32), AttemptFailure> {
        let known = match &self.transport {
            Transport::Pooled(pool) => {
                let mut exchange = pool.get(id).await.map_err(|err| match err {
                    pool::SendError::ConnectTimeout => AttemptFailure::Timeout,
                    other => AttemptFailure::Connect(other.to_string()),
                })?;
                if let Err(failure) = full_answer(exchange.status()) {
                    exchange.discard().await;
                    return Err(failure);
                }
                let body = exchange
                    .body(self.max_body)
                    .await
                    .map_err(|err| match err {
                        wire::BodyError::TooLarge(max) => AttemptFailure::TooLarge(max),
                        other => AttemptFailure::Body(other.to_string()),
                    })?;
                // The connection is held until the verdict: on a hit, its buffer is read again
                // by the next response instead of every body getting an allocation of its own.
                let known = self.verdict(&[body]).await;
                exchange.release();
                known
            }
            Transport::Reqwest { clients, base } => {
                let client = &clients[crate::server::worker() % clients.len()];
                let response = client
                    .get(format!("{base}/{id}"))
                    .send()
                    .await
                    .map_err(|err| {
                        if err.is_timeout() {
                            AttemptFailure::Timeout
                        } else {
                            AttemptFailure::Connect(error_chain(&err))
                        }
                    })?;
                full_answer(response.status().as_u16())?;
                let body = self.read(http::Response::from(response)).await?;
                self.verdict(body.chunks()).await
            }
        };
        match known.verdict {
            Ok(kind) => Ok((known.body, kind, known.crc32)),
            Err(rejected) => Err(AttemptFailure::Corrupt(rejected)),
        }
    }

    /// The whole body of a 200 ([`full_answer`]), never more than the cap (checked while it
    /// streams in).
    async fn read<B>(&self, response: http::Response<B>) -> Result<Received, AttemptFailure>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: std::error::Error,
    {
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body) {
            return Err(AttemptFailure::TooLarge(self.max_body));
        }
        let mut received = Received::default();
        let mut incoming = response.into_body();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|err| AttemptFailure::Body(error_chain(&err)))?;
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers carry nothing we use
            };
            if (received.len() + chunk.len()) as u64 > self.max_body {
                return Err(AttemptFailure::TooLarge(self.max_body));
            }
            received.push(chunk);
        }
        Ok(received)
    }

    /// The remembered verdict on exactly these bytes, counted as a cache hit.
    fn remembered<P: AsRef<[u8]>>(&self, body: &[P]) -> Option<Known> {
        let known = self.cache.lookup(body)?;
        self.metrics.cache_lookup(true);
        Some(known)
    }

    /// The verdict on `body` (given as the pieces it arrived in), with the copy of it to send:
    /// the remembered one if these exact bytes were judged before, else an exact copy, validated
    /// now. Either way the caller's buffer is free again once this returns.
    async fn verdict<P: AsRef<[u8]> + Sync>(&self, body: &[P]) -> Known {
        if let Some(known) = self.remembered(body) {
            return known;
        }
        // Validation inflates megabytes: keep it off the threads that serve connections, one per
        // core at most. The semaphore is never closed, so acquiring only waits.
        let _slot = self.validations.acquire().await;
        // Requests that missed together wait here with the same bytes (a cold start under load:
        // 256 connections once took the process to 74 MiB). Whoever validated them first has
        // remembered the verdict by now.
        if let Some(known) = self.remembered(body) {
            return known;
        }
        self.metrics.cache_lookup(false);
        let body = body::joined(body);
        let owned = body.clone();
        let known = tokio::task::spawn_blocking(move || Known {
            crc32: crc32fast::hash(&owned),
            verdict: cache::judge(&owned),
            body: owned,
        })
        .await
        .unwrap_or_else(|_| Known {
            crc32: crc32fast::hash(&body),
            verdict: Err(Rejected {
                reason: "validator_panicked",
                detail: "the validator panicked".into(),
            }),
            body,
        });
        self.cache.remember(known.clone());
        known
    }
}

/// Only a full answer is a document: 206/304 could only come from a confused upstream, since no
/// Range or conditional header is ever sent.
fn full_answer(status: u16) -> Result<(), AttemptFailure> {
    if status == 200 {
        Ok(())
    } else {
        Err(AttemptFailure::Status(status))
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

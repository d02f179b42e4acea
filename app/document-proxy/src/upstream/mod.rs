//! The upstream client, top-down: a fetch asks the throttle whether an attempt may be made
//! (`policy::throttle`), takes a concurrency slot on its serving thread (`policy::limit`),
//! fetches the bytes (`transport`), and has them judged (`policy::verdicts`) while the
//! connection still holds them. A failed attempt is retried by its class (`error::FailureClass`):
//! a content failure at once, on the slot it holds (behind a busy limit, giving it back would
//! queue the retry behind every request waiting, doubling that request's latency), an overload
//! signal after a backoff with full jitter, without its slot meanwhile; both within the attempts
//! allowed, the request's deadline and the retry budget (`policy::budget`).

mod error;
pub mod policy;
pub mod transport;

use crate::server::ServingThread;
use crate::telemetry::{Metrics, Outcome};
use bytes::Bytes;
use document_validate::{DocumentType, Limits};
pub use error::{AttemptFailure, FailureClass, UpstreamError};
use policy::budget::RetryBudget;
use policy::cache::Known;
pub use policy::cache::{Rejected, Verdict};
pub use policy::limit::LimitSettings;
use policy::limit::{AdaptiveLimit, Slot};
use policy::throttle::Throttle;
pub use policy::throttle::ThrottleSettings;
use policy::verdicts::Verdicts;
use rand::Rng;
use reqwest::Url;
use std::time::Duration;
use tokio::time::Instant;
use transport::Transport;

/// How long a request refused by the throttle is told to wait.
const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Everything the upstream client is told, in the units it uses.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub url: Url,
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub retry_budget_ratio: f64,
    pub max_body_bytes: u64,
    /// Bytes of bodies held at once (`transport::memory`).
    pub body_memory_bytes: u64,
    pub throttle: ThrottleSettings,
    /// The adaptive limit's ceiling (for the whole process, shared out over its threads) and floor.
    pub concurrency: LimitSettings,
    pub validation_cache_bytes: usize,
    pub limits: Limits,
}

/// A sound document, ready to send.
#[derive(Debug, Clone)]
pub struct Document {
    pub body: Bytes,
    pub kind: DocumentType,
    /// CRC-32 of `body`, computed once for the verdict cache and reused for the ETag.
    pub crc32: u32,
    pub attempts: u32,
}

#[derive(Debug)]
pub struct Upstream {
    settings: UpstreamSettings,
    transport: Transport,
    limits: Vec<AdaptiveLimit>,
    throttle: Throttle,
    budget: RetryBudget,
    verdicts: Verdicts,
    metrics: Metrics,
}

impl Upstream {
    pub fn new(
        settings: UpstreamSettings,
        threads: usize,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let threads = threads.max(1);
        let per_thread = LimitSettings {
            ceiling: settings.concurrency.ceiling.div_ceil(threads),
            ..settings.concurrency
        };
        Ok(Self {
            transport: Transport::new(
                &settings.url,
                threads,
                settings.connect_timeout,
                transport::BodyMemory::new(
                    settings.body_memory_bytes,
                    metrics.body_memory_held_cell(),
                ),
            )?,
            limits: (0..threads)
                .map(|_| AdaptiveLimit::new(per_thread, metrics.concurrency_limit_total()))
                .collect(),
            throttle: Throttle::new(settings.throttle, metrics.throttle_ratio_cell()),
            budget: RetryBudget::new(settings.retry_budget_ratio),
            verdicts: Verdicts::new(
                settings.validation_cache_bytes,
                settings.limits,
                metrics.clone(),
            ),
            settings,
            metrics,
        })
    }

    pub fn url(&self) -> &Url {
        &self.settings.url
    }

    /// A sound document for `id`, or why there is none by `deadline`.
    pub async fn fetch(
        &self,
        thread: ServingThread,
        id: u64,
        deadline: Instant,
    ) -> Result<Document, UpstreamError> {
        self.budget.deposit();
        let limit = &self.limits[thread.0 % self.limits.len()];
        let mut slot = None;
        let mut attempts = 0;
        let mut last: Option<AttemptFailure> = None;
        while attempts < self.settings.max_attempts {
            if let Some(previous) = &last {
                if !self.budget.try_withdraw() {
                    self.metrics.retry_budget_exhausted();
                    break;
                }
                if previous.class() == FailureClass::Overload {
                    slot = None; // not held through a backoff
                    let pause = self.backoff(attempts);
                    if Instant::now() + pause >= deadline {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
            }
            if !self.throttle.admit() {
                if attempts == 0 {
                    self.metrics.throttled();
                    return Err(UpstreamError::Throttled {
                        retry_after: THROTTLED_RETRY_AFTER,
                    });
                }
                break;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            if attempts > 0 {
                self.metrics.retry();
            }
            attempts += 1;
            if slot.is_none() {
                slot = self.slot(limit).await;
            }
            match self.attempt(limit, thread, id, remaining, deadline).await {
                Ok((known, kind)) => {
                    return Ok(Document {
                        body: known.body,
                        kind,
                        crc32: known.crc32,
                        attempts,
                    });
                }
                Err(failure) if failure.class() == FailureClass::Final => {
                    return Err(match failure {
                        AttemptFailure::Interrupted => UpstreamError::Deadline { attempts },
                        last => UpstreamError::Failed { attempts, last },
                    });
                }
                Err(failure) => last = Some(failure),
            }
        }
        match last {
            Some(last)
                if Instant::now() < deadline
                    && !matches!(
                        last,
                        AttemptFailure::Transport(transport::TransportError::Timeout)
                    ) =>
            {
                Err(UpstreamError::Failed { attempts, last })
            }
            _ => Err(UpstreamError::Deadline { attempts }),
        }
    }

    /// A slot of `limit`, at once if one is free, else in arrival order (counted as waiting); its
    /// semaphore is never closed, so `None` never comes.
    async fn slot<'a>(&self, limit: &'a AdaptiveLimit) -> Option<Slot<'a>> {
        match limit.try_acquire() {
            Some(slot) => Some(slot),
            None => {
                let _waiting = self.metrics.waiting_for_upstream();
                limit.acquire().await
            }
        }
    }

    /// One attempt on a slot of `limit`, start to verdict: the bytes, their verdict. Its time on
    /// the wire is a sample for the concurrency limit, its class one for the throttle.
    async fn attempt(
        &self,
        limit: &AdaptiveLimit,
        thread: ServingThread,
        id: u64,
        remaining: Duration,
        deadline: Instant,
    ) -> Result<(Known, DocumentType), AttemptFailure> {
        let started = Instant::now();
        let timeout = self.settings.attempt_timeout.min(remaining);
        let mut on_the_wire = None;
        // Boxed: inline, the attempt made the request's future 1064 bytes, past glibc's
        // per-thread cache (1032), and poem moves and boxes that future at every layer.
        let fetched = tokio::time::timeout(
            timeout,
            Box::pin(self.transport.get(
                thread.0,
                id,
                self.settings.max_body_bytes,
                async |body: &[&[u8]]| {
                    on_the_wire = Some(started.elapsed());
                    self.verdicts.verdict(body, deadline.into_std()).await
                },
            )),
        )
        .await
        .unwrap_or(Err(transport::TransportError::Timeout));
        let result = match fetched {
            Ok(known) if known.interrupted() => Err(AttemptFailure::Interrupted),
            Ok(known) => match known.verdict.clone() {
                Ok(kind) => Ok((known, kind)),
                Err(rejected) => Err(AttemptFailure::Corrupt(rejected)),
            },
            Err(err) => Err(AttemptFailure::from(err)),
        };
        limit.sample(on_the_wire.unwrap_or_else(|| started.elapsed()));
        let outcome = result
            .as_ref()
            .map_or_else(AttemptFailure::outcome, |_| Outcome::Ok);
        self.metrics.upstream_attempt(outcome, started.elapsed());
        match &result {
            Ok(_) => self.throttle.record(true),
            Err(failure) => {
                self.throttle
                    .record(failure.class() != FailureClass::Overload);
                self.log(failure);
            }
        }
        result
    }

    fn log(&self, failure: &AttemptFailure) {
        match failure {
            AttemptFailure::Corrupt(rejected) => {
                self.metrics.validation_rejected(rejected.reason);
                tracing::warn!(
                    reason = rejected.reason,
                    detail = %rejected.detail,
                    "rejected upstream document"
                );
            }
            AttemptFailure::Interrupted => {
                self.metrics
                    .validation_rejected(document_validate::Rejection::Interrupted.reason());
                tracing::info!("validation stopped: the request is gone or past its deadline");
            }
            other => tracing::warn!(error = %other, "upstream attempt failed"),
        }
    }

    /// Full jitter: uniformly random up to the exponential bound.
    fn backoff(&self, failures: u32) -> Duration {
        let bound = self
            .settings
            .backoff_base
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(self.settings.backoff_max);
        bound.mul_f64(rand::rng().random::<f64>())
    }
}

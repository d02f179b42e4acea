//! Verdicts on upstream bodies: look up the remembered one, else judge the body and remember
//! the verdict. This is the one place that does that.
//!
//! Validation is CPU-bound (milliseconds for a large PNG), so it runs on the blocking pool, at
//! most [`VALIDATIONS_PER_CORE`] per core, and it is interruptible: if the request is dropped (the client hung up, or
//! the request's deadline cut it off) or its deadline passes, the validator is told so between
//! bounded pieces of its work and stops, and no CPU is spent for nobody. An interrupted
//! validation is not remembered: nothing was decided about those bytes.

use super::cache::{Known, Rejected, ValidationCache};
use crate::telemetry::Metrics;
use crate::upstream::transport;
use document_validate::{Interrupt, Limits};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::Semaphore;

/// Validations at once per core: two, so that while the next one is started (a wake-up of the
/// waiting request's serving thread, which shares the core), the other keeps the core busy.
/// With one per core and every document distinct, a fifth of the machine sat idle
/// (81% busy, 1420-1500 req/s); with two, 96% busy and 1730-1980 req/s, the p99 with bombs half
/// the time 456 ms instead of 1.9 s, peak RSS the same (a validation's memory is the 160 KiB
/// window of the thread it runs on; the one whole-image buffer is per process).
pub const VALIDATIONS_PER_CORE: usize = 2;

/// Stops a validation once its request is gone or past its deadline.
#[derive(Debug)]
struct Cancellation {
    gone: Arc<AtomicBool>,
    deadline: Instant,
}

impl Interrupt for Cancellation {
    fn interrupted(&self) -> bool {
        self.gone.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// Marks the request gone when the future waiting for the verdict is dropped before it has it.
struct GoneOnDrop(Arc<AtomicBool>);

impl Drop for GoneOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct Verdicts {
    cache: Arc<ValidationCache>,
    limits: Limits,
    /// Validations at once: unbounded, every document distinct, 256 at once took the process to
    /// 305 MiB of RSS.
    validations: Arc<Semaphore>,
    metrics: Metrics,
}

impl Verdicts {
    pub fn new(cache_bytes: usize, limits: Limits, metrics: Metrics) -> Self {
        Self {
            cache: Arc::new(ValidationCache::new(cache_bytes)),
            limits,
            validations: Arc::new(Semaphore::new(
                crate::server::threads() * VALIDATIONS_PER_CORE,
            )),
            metrics,
        }
    }

    /// The remembered verdict on exactly these bytes, counted as a cache hit.
    fn remembered(&self, body: &[&[u8]]) -> Option<Known> {
        let known = self.cache.lookup(body)?;
        self.metrics.cache_lookup(true);
        Some(known)
    }

    /// The verdict on `body` (given as the pieces it arrived in), with the copy of it to send (a
    /// sound one's): the remembered one if these exact bytes were judged before, else an exact
    /// copy, validated now unless `deadline` passes or this future is dropped first. Either way
    /// the caller's buffer is free again once this returns.
    pub async fn verdict(&self, body: &[&[u8]], deadline: Instant) -> Known {
        if let Some(known) = self.remembered(body) {
            return known;
        }
        // The semaphore is never closed, so acquiring only waits.
        let Ok(slot) = Arc::clone(&self.validations).acquire_owned().await else {
            unreachable!("the validations' semaphore is never closed")
        };
        // Requests that missed together wait here with the same bytes (a cold start under load:
        // 256 connections once took the process to 74 MiB). Whoever validated them first has
        // remembered the verdict by now.
        if let Some(known) = self.remembered(body) {
            return known;
        }
        self.metrics.cache_lookup(false);
        let owned = transport::joined(body);
        let gone = Arc::new(AtomicBool::new(false));
        let _guard = GoneOnDrop(Arc::clone(&gone));
        let cancellation = Cancellation { gone, deadline };
        let limits = self.limits;
        let cache = Arc::clone(&self.cache);
        tokio::task::spawn_blocking(move || {
            let mut known = Known {
                crc32: crc32fast::hash(&owned),
                verdict: super::cache::judge(&owned, &limits, &cancellation),
                body: owned,
            };
            if !known.interrupted() {
                cache.remember(known.clone());
            }
            if known.verdict.is_err() {
                // Nothing of a refused body is sent: only the cache (bounded) keeps its copy, so
                // a refused bomb's 2 MB is not held past its slot while its request is woken.
                known.body = bytes::Bytes::new();
            }
            // Given back here, on the validating thread, with the verdict remembered: the next
            // validation waiting starts now, not once this request's serving thread has run.
            drop(slot);
            known
        })
        .await
        .unwrap_or_else(|_| {
            let body = transport::joined(body);
            let known = Known {
                crc32: crc32fast::hash(&body),
                verdict: Err(Rejected {
                    reason: "validator_panicked",
                    detail: "the validator panicked".into(),
                }),
                body,
            };
            self.cache.remember(known.clone());
            known
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use document_validate::DocumentType;
    use dummy_pdf_or_png::documents::{corrupt, sample_pdf, sample_png};
    use std::time::Duration;

    fn verdicts() -> Verdicts {
        Verdicts::new(1 << 20, Limits::default(), Metrics::new())
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_verdict_is_judged_once_then_remembered() {
        let verdicts = verdicts();
        for body in [sample_png(), corrupt(&sample_pdf())] {
            let first = verdicts.verdict(&[&body], later()).await;
            let again = verdicts.verdict(&[&body], later()).await;
            assert_eq!(first.verdict, again.verdict);
            assert_eq!(again.body.as_ref(), body.as_slice());
        }
        let text = verdicts.metrics.render();
        assert!(text.contains(r#"document_proxy_validation_cache_lookups_total{result="hit"} 2"#));
        assert!(text.contains(r#"document_proxy_validation_cache_lookups_total{result="miss"} 2"#));
        let png = verdicts.verdict(&[&sample_png()], later()).await;
        assert_eq!(png.verdict, Ok(DocumentType::Png));
    }

    #[tokio::test]
    async fn a_validation_past_its_deadline_is_interrupted_and_not_remembered() {
        let verdicts = verdicts();
        let png = sample_png();
        let known = verdicts.verdict(&[&png], Instant::now()).await;
        assert!(known.interrupted(), "{:?}", known.verdict);
        let known = verdicts.verdict(&[&png], later()).await;
        assert_eq!(
            known.verdict,
            Ok(DocumentType::Png),
            "judged again, not remembered"
        );
    }

    #[tokio::test]
    async fn requests_that_miss_together_validate_the_same_bytes_at_most_once_per_slot() {
        let verdicts = verdicts();
        let png = sample_png();
        let body: &[&[u8]] = &[&png];
        let slots = crate::server::threads() * VALIDATIONS_PER_CORE;
        let waiting = (0..4 * slots).map(|_| verdicts.verdict(body, later()));
        for known in futures_util::future::join_all(waiting).await {
            assert_eq!(known.verdict, Ok(DocumentType::Png));
        }
        let text = verdicts.metrics.render();
        let misses = text
            .lines()
            .find_map(|line| {
                line.strip_prefix(
                    r#"document_proxy_validation_cache_lookups_total{result="miss"} "#,
                )
            })
            .and_then(|n| n.parse::<usize>().ok())
            .expect("the misses are counted");
        assert!(
            (1..=slots).contains(&misses),
            "{misses} validations of one body for {} requests ({slots} slots): a waiting request \
             started before the verdict was remembered",
            4 * slots
        );
    }
}

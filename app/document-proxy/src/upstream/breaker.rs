//! Circuit breaker on the upstream. Trips on the failure *rate* over a sliding window, not on
//! consecutive failures: with the real upstream's 10% corrupt documents a streak of a few failures
//! happens every second at load, and must not cut the service off. While open, requests get a 503
//! with `Retry-After` at once; after the open period one probe at a time is let through
//! (half-open), and a successful probe closes the circuit.

use crate::telemetry::{CircuitState, Metrics};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BUCKETS: usize = 10;

#[derive(Debug, Clone)]
pub struct BreakerSettings {
    pub failure_rate: f64,
    pub min_requests: u32,
    pub window: Duration,
    pub open_for: Duration,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    started: Option<Instant>,
    successes: u32,
    failures: u32,
}

#[derive(Debug)]
struct Inner {
    state: State,
    buckets: [Bucket; BUCKETS],
}

#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
    metrics: Metrics,
}

/// Leave to make one upstream attempt. A probe that is dropped without a result (the request was
/// cancelled) frees the half-open slot again.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    recorded: bool,
}

impl Permit<'_> {
    pub fn record(mut self, success: bool) {
        self.recorded = true;
        self.breaker.record(self.probe, success);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            let mut inner = self.breaker.lock();
            if let State::HalfOpen { probing } = &mut inner.state {
                *probing = false;
            }
        }
    }
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings, metrics: Metrics) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner {
                state: State::Closed,
                buckets: [Bucket::default(); BUCKETS],
            }),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent under every early return, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A permit, or how long until the circuit may let a request through again.
    pub fn acquire(&self) -> Result<Permit<'_>, Duration> {
        let now = Instant::now();
        let mut inner = self.lock();
        let probe = match inner.state {
            State::Closed => false,
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } => {
                self.transition(&mut inner, State::HalfOpen { probing: true });
                true
            }
            State::HalfOpen { probing: true } => {
                return Err(self.settings.open_for.min(Duration::from_secs(1)));
            }
            State::HalfOpen { probing: false } => {
                inner.state = State::HalfOpen { probing: true };
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    fn record(&self, probe: bool, success: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        if probe {
            let next = if success {
                inner.buckets = [Bucket::default(); BUCKETS];
                State::Closed
            } else {
                State::Open {
                    until: now + self.settings.open_for,
                }
            };
            self.transition(&mut inner, next);
            return;
        }
        if !matches!(inner.state, State::Closed) {
            return;
        }
        let bucket = self.bucket(&mut inner, now);
        if success {
            bucket.successes += 1;
        } else {
            bucket.failures += 1;
        }
        let window = self.settings.window;
        let (ok, failed) = inner
            .buckets
            .iter()
            .filter(|b| {
                b.started
                    .is_some_and(|started| now.duration_since(started) < window)
            })
            .fold((0u64, 0u64), |(ok, failed), b| {
                (ok + u64::from(b.successes), failed + u64::from(b.failures))
            });
        let total = ok + failed;
        if total >= u64::from(self.settings.min_requests)
            && failed as f64 >= self.settings.failure_rate * total as f64
        {
            tracing::warn!(failed, total, "upstream failing: circuit opens");
            self.transition(
                &mut inner,
                State::Open {
                    until: now + self.settings.open_for,
                },
            );
        }
    }

    /// The current bucket, recycling the slot of one that has left the window.
    fn bucket<'a>(&self, inner: &'a mut Inner, now: Instant) -> &'a mut Bucket {
        let width = self.settings.window / BUCKETS as u32;
        let slot = usize::try_from(
            now.duration_since(*START.get_or_init(Instant::now))
                .as_nanos()
                / width.as_nanos().max(1),
        )
        .unwrap_or(0)
            % BUCKETS;
        let bucket = &mut inner.buckets[slot];
        if bucket
            .started
            .is_none_or(|started| now.duration_since(started) >= width)
        {
            *bucket = Bucket {
                started: Some(now),
                successes: 0,
                failures: 0,
            };
        }
        bucket
    }

    fn transition(&self, inner: &mut Inner, next: State) {
        let gauge = match next {
            State::Closed => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        };
        if matches!(next, State::Closed) && !matches!(inner.state, State::Closed) {
            tracing::info!("upstream probe succeeded: circuit closes");
        }
        inner.state = next;
        self.metrics.circuit_state(gauge);
    }
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for: Duration) -> CircuitBreaker {
        let settings = BreakerSettings {
            failure_rate: 0.5,
            min_requests: 10,
            window: Duration::from_secs(10),
            open_for,
        };
        CircuitBreaker::new(settings, Metrics::new())
    }

    fn outcomes(breaker: &CircuitBreaker, ok: u32, failed: u32) {
        for i in 0..ok + failed {
            breaker.acquire().expect("closed").record(i >= failed);
        }
    }

    #[test]
    fn a_low_failure_rate_never_opens() {
        let breaker = breaker(Duration::from_secs(5));
        for _ in 0..100 {
            outcomes(&breaker, 9, 1);
        }
        assert!(breaker.acquire().is_ok());
    }

    #[test]
    fn opens_at_the_rate_and_recovers_through_one_probe() {
        let breaker = breaker(Duration::from_millis(50));
        outcomes(&breaker, 4, 6);
        let wait = breaker.acquire().expect_err("open");
        assert!(wait <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        let probe = breaker.acquire().expect("half-open probe");
        assert!(breaker.acquire().is_err(), "one probe at a time");
        probe.record(true);
        assert!(breaker.acquire().is_ok(), "closed again");
    }

    #[test]
    fn a_failed_probe_reopens_and_a_dropped_probe_frees_the_slot() {
        let breaker = breaker(Duration::from_millis(20));
        outcomes(&breaker, 0, 10);
        std::thread::sleep(Duration::from_millis(30));
        drop(breaker.acquire().expect("probe"));
        breaker.acquire().expect("slot freed").record(false);
        assert!(breaker.acquire().is_err(), "open again");
    }
}

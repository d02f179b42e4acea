//! Client-side adaptive throttling, as in the SRE book ("Handling Overload"): over a trailing
//! window, count the attempts this process wanted to make (`requests`) and those the upstream
//! accepted (`accepts`), and refuse an attempt locally with probability
//! `max(0, (requests - K * accepts) / (requests + 1))`.
//!
//! Only overload signals (timeouts, connection errors and resets, 5xx, 429) count as not
//! accepted: an upstream that answers at once with a corrupt document did its job as far as load
//! is concerned, so an upstream that is fast but bad with any probability is never throttled and
//! filtering alone decides what is served. An upstream that hangs or refuses drives the
//! probability towards 1 within a few attempts, and requests get a fast 503 with `Retry-After`;
//! unlike an on/off breaker some attempts keep going through, so recovery is noticed as soon as it
//! happens, without a probe that a single bad answer sends back to open.

use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The window is kept as this many buckets, each recycled when it falls out of the window.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleSettings {
    /// `K`: how many requests per accept are allowed before throttling starts (2 in the book).
    pub k: f64,
    pub window: Duration,
    /// No attempt is refused while the window holds fewer requests than this, so a handful of
    /// failures (one request's own attempts) cannot throttle a quiet service; Envoy's admission
    /// control filter has the same floor (`rps_threshold`).
    pub min_requests: u64,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Which slice of time (in bucket widths since `start`) the counts belong to.
    epoch: AtomicU64,
    requests: AtomicU64,
    accepts: AtomicU64,
}

/// The throttle state, shared by every serving thread. Lock-free: a few relaxed atomics per
/// attempt; a race while a bucket is recycled loses at most a count or two, which the
/// probability absorbs.
#[derive(Debug)]
pub struct Throttle {
    settings: ThrottleSettings,
    start: Instant,
    width: Duration,
    buckets: [Bucket; BUCKETS],
    /// The last rejection probability computed, as `f64` bits, for the gauge.
    ratio: Arc<AtomicU64>,
}

impl Throttle {
    /// `ratio` receives the current rejection probability (the metrics' throttle-ratio gauge).
    pub fn new(settings: ThrottleSettings, ratio: Arc<AtomicU64>) -> Self {
        ratio.store(0f64.to_bits(), Ordering::Relaxed);
        Self {
            settings,
            start: Instant::now(),
            width: settings.window / BUCKETS as u32,
            buckets: Default::default(),
            ratio,
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        (now.duration_since(self.start).as_nanos() / self.width.as_nanos().max(1)) as u64
    }

    /// The current bucket, emptied first if it still holds an older slice of time. Epochs start
    /// at 1 so that a never-used bucket (epoch 0) is never taken for a current one.
    fn bucket(&self, now: Instant) -> &Bucket {
        let epoch = self.epoch(now) + 1;
        let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
        let seen = bucket.epoch.load(Ordering::Relaxed);
        if seen != epoch
            && bucket
                .epoch
                .compare_exchange(seen, epoch, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            bucket.requests.store(0, Ordering::Relaxed);
            bucket.accepts.store(0, Ordering::Relaxed);
        }
        bucket
    }

    /// The probability of refusing the next attempt locally.
    pub fn ratio(&self, now: Instant) -> f64 {
        let current = self.epoch(now) + 1;
        let (requests, accepts) = self
            .buckets
            .iter()
            .filter(|b| current - b.epoch.load(Ordering::Relaxed).min(current) < BUCKETS as u64)
            .fold((0u64, 0u64), |(r, a), b| {
                (
                    r + b.requests.load(Ordering::Relaxed),
                    a + b.accepts.load(Ordering::Relaxed),
                )
            });
        if requests < self.settings.min_requests {
            return 0.0;
        }
        let excess = requests as f64 - self.settings.k * accepts as f64;
        (excess / (requests as f64 + 1.0)).max(0.0)
    }

    /// Whether an attempt may be made now. A refusal counts as a request at once; an admitted
    /// attempt counts when [`Throttle::record`] gives its outcome, so attempts still in flight
    /// (a burst that has not been answered yet) do not count as requests without accepts.
    pub fn admit(&self) -> bool {
        let now = Instant::now();
        let ratio = self.ratio(now);
        self.ratio.store(ratio.to_bits(), Ordering::Relaxed);
        let admitted = ratio <= 0.0 || rand::rng().random::<f64>() >= ratio;
        if !admitted {
            self.bucket(now).requests.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// The outcome of an admitted attempt: `accepted` unless it was an overload signal.
    pub fn record(&self, accepted: bool) {
        let bucket = self.bucket(Instant::now());
        bucket.requests.fetch_add(1, Ordering::Relaxed);
        if accepted {
            bucket.accepts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(window: Duration) -> Throttle {
        // The default floor: without it one unlucky first answer starts a spiral that refusals,
        // counted as requests without accepts, take a long time to climb out of.
        let settings = ThrottleSettings {
            k: 2.0,
            window,
            min_requests: 20,
        };
        Throttle::new(settings, Arc::default())
    }

    /// Admitted share of `n` attempts when each admitted one is accepted with probability `good`.
    fn admitted_share(throttle: &Throttle, n: u32, good: f64) -> f64 {
        let mut admitted = 0;
        for _ in 0..n {
            if throttle.admit() {
                admitted += 1;
                throttle.record(rand::rng().random::<f64>() < good);
            }
        }
        f64::from(admitted) / f64::from(n)
    }

    #[test]
    fn an_upstream_that_accepts_everything_is_never_throttled() {
        let throttle = throttle(Duration::from_secs(60));
        assert_eq!(admitted_share(&throttle, 10_000, 1.0), 1.0);
        assert_eq!(throttle.ratio(Instant::now()), 0.0);
    }

    #[test]
    fn attempts_are_refused_locally_only_below_one_accept_in_k() {
        // K = 2: an upstream accepting 60% of attempts (K x 0.6 > 1) is not throttled at all.
        let busy = throttle(Duration::from_secs(60));
        let share = admitted_share(&busy, 20_000, 0.6);
        assert!(share > 0.97, "{share}");
        // Accepting 30% (K x 0.3 < 1): most attempts are refused locally.
        let overloaded = throttle(Duration::from_secs(60));
        let share = admitted_share(&overloaded, 20_000, 0.3);
        assert!(share < 0.5, "{share}");
        // Refusing everything (hanging, refusing upstream): nearly every request refused.
        let dead = throttle(Duration::from_secs(60));
        let share = admitted_share(&dead, 1000, 0.0);
        assert!(share < 0.06, "{share}");
        assert!(dead.ratio(Instant::now()) > 0.99);
    }

    #[test]
    fn attempts_still_in_flight_do_not_count_against_the_upstream() {
        let throttle = throttle(Duration::from_secs(60));
        assert!(
            (0..1000).all(|_| throttle.admit()),
            "a burst, none answered yet"
        );
        (0..1000).for_each(|_| throttle.record(true));
        assert_eq!(throttle.ratio(Instant::now()), 0.0);
    }

    #[test]
    fn below_the_minimum_of_requests_nothing_is_refused() {
        let settings = ThrottleSettings {
            k: 2.0,
            window: Duration::from_secs(60),
            min_requests: 50,
        };
        let throttle = Throttle::new(settings, Arc::default());
        assert_eq!(admitted_share(&throttle, 50, 0.0), 1.0);
        assert!(admitted_share(&throttle, 200, 0.0) < 0.2);
    }

    #[test]
    fn the_window_forgets_so_a_recovered_upstream_is_let_through_again() {
        let throttle = throttle(Duration::from_millis(100));
        admitted_share(&throttle, 1000, 0.0);
        assert!(throttle.ratio(Instant::now()) > 0.9);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(throttle.ratio(Instant::now()), 0.0);
        assert_eq!(admitted_share(&throttle, 100, 1.0), 1.0);
    }
}

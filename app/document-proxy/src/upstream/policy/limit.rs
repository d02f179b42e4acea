//! Adaptive concurrency: how many upstream attempts one serving thread runs at once, found from
//! the latency it observes, after Netflix concurrency-limits' `Gradient2Limit` (the gradient of a
//! long-term average RTT to the recent one, with `√limit` of headroom) and Envoy's adaptive
//! concurrency filter (the same gradient against a minimum RTT).
//!
//! Every `SAMPLES` attempts the recent RTT (their mean) is compared with the lowest recent RTT
//! seen (Envoy's min RTT), or the floor (`LimitSettings::rtt_floor`) if that is higher (an
//! addition of ours: neither reference has it): while the upstream answers within `TOLERANCE` of
//! that reference, the gradient is 1 and the limit grows by `√limit` per step, so a far but
//! healthy upstream gets as many requests at once as the load offers; when the upstream slows
//! under load, the gradient falls below 1 and the limit settles where the latency is about
//! `TOLERANCE` times the reference.
//! Gradient2's long-term average would drift up with a latency that grows with the load (the
//! limit would then grow without end), so the reference is the minimum; Envoy re-measures it by
//! pinning concurrency low for a moment, which costs a dip in throughput, so here it instead
//! creeps up by `MIN_RTT_CREEP` per second and any faster recent RTT takes its place: a lasting
//! change in the upstream's distance is accepted within a minute or two. A limit is only raised
//! while it is in use (at least half of it in flight), so an idle service does not accumulate a
//! limit it never tested. Between `MIN_LIMIT` and the configured hard ceiling.
//!
//! Growing by `√limit` alone takes seconds to reach what a far upstream needs (behind 200 ms,
//! 128 slots per thread from 16 take about 3 s of round trips), and every request in that time
//! waits for a slot.
//! So a limit starts in slow start, as TCP's congestion window does: while every slot is in use
//! and the upstream answers within `TOLERANCE` of its best, the limit doubles at each update.
//! The first update whose gradient is below 1 ends slow start for good, and from then on the
//! gradient rule above alone moves the limit.
//!
//! One limit per serving thread, so taking a slot never touches another thread's state;
//! requests beyond it wait in arrival order, within their deadline, and `MAX_IN_FLIGHT` sheds
//! what exceeds even that.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// The limit a thread starts with: what a nearby upstream needs.
const INITIAL_LIMIT: usize = 16;
/// Never fewer slots than this per thread, whatever the gradient says.
const MIN_LIMIT: usize = 2;
/// RTT samples per limit update.
const SAMPLES: u32 = 10;
/// How much slower than usual the recent RTT may be before the limit shrinks (Gradient2's 1.5).
const TOLERANCE: f64 = 1.5;
/// How fast the reference (minimum) RTT may rise, per second, when nothing faster is seen.
const MIN_RTT_CREEP: f64 = 0.01;
/// Share of each step's computed limit taken at once (Gradient2's smoothing).
const SMOOTHING: f64 = 0.2;

#[derive(Debug)]
struct State {
    /// The limit as computed; the semaphore holds its whole part.
    limit: f64,
    /// Permits the semaphore stands for now (given out or available).
    granted: usize,
    /// Permits to take back from the next guards returned, after a decrease larger than what
    /// was available (mirrored in `AdaptiveLimit::owing`).
    owed: usize,
    /// The reference RTT in seconds (0: none yet), and when it was last brought up to date.
    min_rtt: f64,
    min_rtt_at: Instant,
    sum_rtt: f64,
    samples: u32,
    /// Most attempts in flight at once since the last update.
    busiest: usize,
    /// Whether the limit still doubles when saturated (until the upstream first slows).
    slow_start: bool,
}

/// What a limit is told.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    /// The most slots it may grow to.
    pub ceiling: usize,
    /// The reference RTT is never below this (`UPSTREAM_CONCURRENCY_RTT_FLOOR_MS`): a round trip
    /// of a few milliseconds is mostly the proxy's own host (a busy runtime polls a finished
    /// response late, and on a shared host the upstream's CPU is contended too), which fewer
    /// requests at once would not shorten. Behind a 1 ms upstream on a saturated 2-core host
    /// attempts take about 4 ms: against 1.5 x 1 ms the limit would shrink and leave the machine
    /// partly idle; against the default 1.5 x 5 ms it is not lowered until attempts take 7.5 ms.
    /// Lower it when the upstream is near and a few milliseconds more means it is struggling.
    pub rtt_floor: Duration,
}

#[derive(Debug)]
pub struct AdaptiveLimit {
    slots: Semaphore,
    /// Whether `State::owed` is above 0, readable without the lock: a returned slot takes the
    /// lock only when a permit is owed.
    owing: AtomicBool,
    ceiling: usize,
    /// `LimitSettings::rtt_floor`, in seconds.
    rtt_floor: f64,
    state: Mutex<State>,
    /// The pod's total limit (the sum over threads), for the gauge.
    total: Arc<AtomicI64>,
}

/// One attempt's slot; returned on drop.
#[derive(Debug)]
pub struct Slot<'a> {
    limit: &'a AdaptiveLimit,
    permit: Option<SemaphorePermit<'a>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        if !self.limit.owing.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.limit.lock();
        if state.owed > 0 {
            state.owed -= 1;
            state.granted -= 1;
            permit.forget();
            self.limit.owing.store(state.owed > 0, Ordering::Relaxed);
        }
    }
}

impl AdaptiveLimit {
    /// A limit between `MIN_LIMIT` (or the ceiling, if lower) and the ceiling; `total` is shared
    /// by every thread's limit and holds their sum.
    pub fn new(settings: LimitSettings, total: Arc<AtomicI64>) -> Self {
        let ceiling = settings.ceiling.max(1);
        let initial = INITIAL_LIMIT.min(ceiling);
        total.fetch_add(initial as i64, Ordering::Relaxed);
        Self {
            slots: Semaphore::new(initial),
            owing: AtomicBool::new(false),
            ceiling,
            rtt_floor: settings.rtt_floor.as_secs_f64(),
            state: Mutex::new(State {
                limit: initial as f64,
                granted: initial,
                owed: 0,
                min_rtt: 0.0,
                min_rtt_at: Instant::now(),
                sum_rtt: 0.0,
                samples: 0,
                busiest: 0,
                slow_start: true,
            }),
            total,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current limit, in whole slots.
    pub fn current(&self) -> usize {
        let state = self.lock();
        state.granted - state.owed
    }

    /// Whether a slot is free now, without waiting.
    pub fn try_acquire(&self) -> Option<Slot<'_>> {
        let permit = self.slots.try_acquire().ok()?;
        Some(self.slot(permit))
    }

    /// A slot, waited for in arrival order. The semaphore is never closed, so this only waits.
    pub async fn acquire(&self) -> Option<Slot<'_>> {
        let permit = self.slots.acquire().await.ok()?;
        Some(self.slot(permit))
    }

    fn slot<'a>(&'a self, permit: SemaphorePermit<'a>) -> Slot<'a> {
        let mut state = self.lock();
        let in_flight = state.granted - self.slots.available_permits();
        state.busiest = state.busiest.max(in_flight);
        drop(state);
        Slot {
            limit: self,
            permit: Some(permit),
        }
    }

    /// One attempt's round-trip time (for an attempt that timed out, the time it was given).
    pub fn sample(&self, rtt: Duration) {
        let mut state = self.lock();
        state.sum_rtt += rtt.as_secs_f64();
        state.samples += 1;
        if state.samples < SAMPLES {
            return;
        }
        let recent = state.sum_rtt / f64::from(state.samples);
        let busiest = state.busiest;
        state.sum_rtt = 0.0;
        state.samples = 0;
        state.busiest = 0;
        let now = Instant::now();
        let aged = now.duration_since(state.min_rtt_at).as_secs_f64();
        state.min_rtt_at = now;
        state.min_rtt = if state.min_rtt == 0.0 {
            recent
        } else {
            recent.min(state.min_rtt * (1.0 + MIN_RTT_CREEP * aged))
        };
        let reference = state.min_rtt.max(self.rtt_floor);
        let gradient = (TOLERANCE * reference / recent.max(1e-9)).clamp(0.5, 1.0);
        if gradient >= 1.0 && (busiest as f64) < state.limit / 2.0 {
            return; // not limited by this bound: nothing learnt about a higher one
        }
        let floor = MIN_LIMIT.min(self.ceiling) as f64;
        state.slow_start &= gradient >= 1.0;
        let next = if state.slow_start && busiest >= state.limit as usize {
            state.limit * 2.0
        } else {
            let computed = state.limit * gradient + state.limit.sqrt();
            state.limit * (1.0 - SMOOTHING) + computed * SMOOTHING
        };
        state.limit = next.clamp(floor, self.ceiling as f64);
        self.resize(&mut state);
    }

    /// Makes the semaphore stand for the whole part of the computed limit.
    fn resize(&self, state: &mut State) {
        let target = state.limit as usize;
        let current = state.granted - state.owed;
        if target > current {
            let mut grow = target - current;
            let repaid = grow.min(state.owed);
            state.owed -= repaid;
            grow -= repaid;
            state.granted += grow;
            self.slots.add_permits(grow);
        } else if target < current {
            let shrink = current - target;
            let taken = self.slots.forget_permits(shrink);
            state.granted -= taken;
            state.owed += shrink - taken;
        }
        self.owing.store(state.owed > 0, Ordering::Relaxed);
        self.total
            .fetch_add(target as i64 - current as i64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Up to `ceiling`, with `UPSTREAM_CONCURRENCY_RTT_FLOOR_MS`'s default floor.
    fn settings(ceiling: usize) -> LimitSettings {
        LimitSettings {
            ceiling,
            rtt_floor: Duration::from_millis(5),
        }
    }

    fn limit_of(ceiling: usize) -> AdaptiveLimit {
        AdaptiveLimit::new(settings(ceiling), Arc::default())
    }

    /// Runs `steps` updates with `in_flight` slots held and each sample taking `rtt(limit)`.
    fn drive(limit: &AdaptiveLimit, steps: u32, rtt: impl Fn(usize) -> Duration) {
        for _ in 0..steps {
            let held: Vec<_> = std::iter::from_fn(|| limit.try_acquire()).collect();
            let current = limit.current();
            drop(held);
            for _ in 0..SAMPLES {
                limit.sample(rtt(current));
            }
        }
    }

    #[test]
    fn behind_a_far_healthy_upstream_the_limit_grows_to_the_ceiling() {
        let total = Arc::default();
        let limit = AdaptiveLimit::new(settings(256), Arc::clone(&total));
        drive(&limit, 200, |_| Duration::from_millis(50));
        assert_eq!(limit.current(), 256);
        assert_eq!(total.load(Ordering::Relaxed), 256);
    }

    #[test]
    fn a_near_upstream_a_few_milliseconds_slower_under_load_is_not_backed_off_from() {
        let limit = limit_of(256);
        drive(&limit, 1, |_| Duration::from_millis(1));
        // 4 ms is what a 1 ms upstream took on a saturated 2-core host: within the floor.
        drive(&limit, 50, |_| Duration::from_millis(4));
        assert_eq!(limit.current(), 256);
    }

    #[test]
    fn without_a_floor_a_near_upstream_a_few_milliseconds_slower_is_backed_off_from() {
        let no_floor = LimitSettings {
            rtt_floor: Duration::ZERO,
            ..settings(256)
        };
        let limit = AdaptiveLimit::new(no_floor, Arc::default());
        drive(&limit, 1, |_| Duration::from_millis(1));
        drive(&limit, 50, |_| Duration::from_millis(4));
        let settled = limit.current();
        assert!(
            settled <= 8,
            "{settled}: 4 ms against 1.5 x 1 ms is past the tolerance"
        );
    }

    #[test]
    fn behind_a_far_healthy_upstream_the_limit_doubles_until_it_suffices() {
        let limit = limit_of(1024);
        // 256 connections over 2 threads behind 200 ms: 128 slots per thread are what it takes.
        drive(&limit, 3, |_| Duration::from_millis(200));
        assert_eq!(limit.current(), 128, "16 doubled three times");
    }

    #[test]
    fn once_the_upstream_has_slowed_the_limit_grows_by_its_square_root_only() {
        let limit = limit_of(1024);
        drive(&limit, 1, |_| Duration::from_millis(10));
        drive(&limit, 1, |_| Duration::from_millis(100)); // slower: slow start ends
        let after_slowdown = limit.current();
        drive(&limit, 1, |_| Duration::from_millis(10));
        let grown = limit.current();
        assert!(
            grown > after_slowdown && grown < 2 * after_slowdown,
            "{after_slowdown} -> {grown}"
        );
    }

    #[test]
    fn an_upstream_that_slows_under_load_brings_the_limit_down() {
        let limit = limit_of(1024);
        // Fast up to 32 at once, then each extra request queues: latency grows with the load.
        drive(&limit, 400, |in_flight| {
            Duration::from_micros(10_000 * (in_flight.max(32) as u64) / 32)
        });
        let settled = limit.current();
        assert!((32..=120).contains(&settled), "{settled}");
    }

    #[test]
    fn an_unused_limit_does_not_grow_and_slots_in_use_are_taken_back_when_it_shrinks() {
        let limit = limit_of(64);
        for _ in 0..100 {
            limit.sample(Duration::from_millis(1));
        }
        assert_eq!(
            limit.current(),
            INITIAL_LIMIT,
            "never more than one slot in use"
        );
        let held: Vec<_> = std::iter::from_fn(|| limit.try_acquire()).collect();
        assert_eq!(held.len(), INITIAL_LIMIT);
        // Twenty times slower: the gradient is at its floor and the limit shrinks while all are out.
        for _ in 0..10 * SAMPLES {
            limit.sample(Duration::from_millis(20));
        }
        let shrunk = limit.current();
        assert!(shrunk < INITIAL_LIMIT, "{shrunk}");
        drop(held);
        let free: Vec<_> = std::iter::from_fn(|| limit.try_acquire()).collect();
        assert_eq!(
            free.len(),
            shrunk,
            "returned slots beyond the new limit are forgotten"
        );
    }
}

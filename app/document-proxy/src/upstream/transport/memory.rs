//! How many bytes of upstream bodies the process holds at once. A body is held from just before
//! it is read until its reader is done with it (its verdict is in), and it is charged what its
//! `Content-Length` says, or the body limit when the length is not declared. An attempt whose
//! body does not fit waits, in arrival order, within its own timeout.
//!
//! Without it, a fast upstream of large documents that take long to judge (decompression bombs:
//! 1.9 MB bodies, a few milliseconds of CPU each, at most two validations per core) fills memory
//! with bodies read and waiting for a validator: the concurrency limit sees a fast, healthy
//! upstream and grows, up to a body per client connection. With it, what bodies cost stays under
//! the budget whatever the upstream sends, while small documents (tens of KB) are not held back
//! by it: the default 16 MiB holds 256 of the real upstream's 48 KB PNGs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Bytes per permit: budgets and bodies are counted in KiB.
const UNIT: u64 = 1024;

#[derive(Debug)]
pub struct BodyMemory {
    permits: Semaphore,
    /// The whole budget in units: a body larger than it takes all of it, never more.
    units: u32,
    /// Bytes held now, for the gauge.
    held: Arc<AtomicI64>,
}

/// Room for one body, given back on drop.
#[derive(Debug)]
pub struct Held<'a> {
    _permit: SemaphorePermit<'a>,
    bytes: i64,
    held: &'a AtomicI64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl BodyMemory {
    /// A budget of `bytes` (at least one unit); `held` receives the bytes held at any time.
    pub fn new(bytes: u64, held: Arc<AtomicI64>) -> Self {
        let units = u32::try_from(bytes / UNIT).unwrap_or(u32::MAX).max(1);
        Self {
            permits: Semaphore::new(units as usize),
            units,
            held,
        }
    }

    /// Room for a body of `bytes`, waited for in arrival order.
    pub async fn hold(&self, bytes: u64) -> Held<'_> {
        let wanted = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units);
        // The semaphore is never closed, so acquiring only waits.
        let permit = self
            .permits
            .acquire_many(wanted)
            .await
            .unwrap_or_else(|_| unreachable!("the body memory semaphore is never closed"));
        let bytes = i64::from(wanted) * UNIT as i64;
        self.held.fetch_add(bytes, Ordering::Relaxed);
        Held {
            _permit: permit,
            bytes,
            held: &self.held,
        }
    }

    /// Bytes not held now.
    #[cfg(test)]
    fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn memory(bytes: u64) -> BodyMemory {
        BodyMemory::new(bytes, Arc::new(AtomicI64::new(0)))
    }

    #[tokio::test]
    async fn a_body_that_does_not_fit_waits_until_room_is_given_back() {
        let memory = memory(4 * UNIT);
        let first = memory.hold(3 * UNIT).await;
        assert_eq!(memory.available(), UNIT);
        let waiting = tokio::time::timeout(Duration::from_millis(20), memory.hold(2 * UNIT)).await;
        assert!(waiting.is_err(), "2 KiB fitted into the 1 KiB left");
        drop(first);
        let second = memory.hold(2 * UNIT).await;
        assert_eq!(memory.available(), 2 * UNIT);
        drop(second);
        assert_eq!(memory.available(), 4 * UNIT);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_budget_takes_all_of_it_and_no_more() {
        let memory = memory(4 * UNIT);
        let held = memory.hold(100 * UNIT).await;
        assert_eq!(memory.available(), 0);
        assert_eq!(
            memory.held.load(Ordering::Relaxed),
            4 * UNIT as i64,
            "the gauge"
        );
        drop(held);
        assert_eq!(memory.held.load(Ordering::Relaxed), 0);
        let tiny = memory.hold(1).await;
        assert_eq!(memory.available(), 3 * UNIT, "a byte is charged one unit");
        drop(tiny);
    }
}

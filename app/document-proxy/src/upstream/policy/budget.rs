//! Retry budget (after Finagle's): every request deposits `ratio` of a retry, every retry
//! withdraws a whole one. Retries can therefore never add more than `ratio` extra load on a
//! struggling upstream, however many requests fail; a small reserve lets a quiet service retry.

use std::sync::atomic::{AtomicI64, Ordering};

/// Fixed-point: one retry is this many units.
const UNIT: i64 = 1000;
/// At most this many retries can be saved up, so a long quiet spell cannot fund a retry storm.
/// Why 100: with 10 the reserve runs dry in bursts at 256 concurrent requests against the real
/// upstream's 10% corruption (deposits made while full are lost, retries arrive together), and
/// 0.04% of requests fail; 100 absorbs such bursts and is still a one-off.
const MAX_SAVED_RETRIES: i64 = 100;

#[derive(Debug)]
pub struct RetryBudget {
    deposit: i64,
    balance: AtomicI64,
}

impl RetryBudget {
    pub fn new(ratio: f64) -> Self {
        Self {
            // `ratio` is validated to 0.0..=1.0, so this fits easily.
            deposit: (ratio * UNIT as f64).round() as i64,
            balance: AtomicI64::new(MAX_SAVED_RETRIES * UNIT),
        }
    }

    /// Called once per incoming request.
    pub fn deposit(&self) {
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((b + self.deposit).min(MAX_SAVED_RETRIES * UNIT))
            });
    }

    /// Whether one retry may be made now.
    pub fn try_withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= UNIT).then_some(b - UNIT)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_by_the_ratio_after_the_reserve() {
        let budget = RetryBudget::new(0.2);
        let mut retries = 0;
        for _ in 0..10_000 {
            budget.deposit();
            while budget.try_withdraw() {
                retries += 1;
            }
        }
        // 20% of 10 000 plus the reserve.
        assert!(
            (2000..=2000 + MAX_SAVED_RETRIES).contains(&retries),
            "{retries}"
        );
    }

    #[test]
    fn a_zero_ratio_allows_only_the_reserve() {
        let budget = RetryBudget::new(0.0);
        let retries = (0..200).filter(|_| {
            budget.deposit();
            budget.try_withdraw()
        });
        assert_eq!(retries.count(), MAX_SAVED_RETRIES as usize);
    }
}

//! Retry budget (after Finagle's): every request deposits `ratio` of a retry, every retry
//! withdraws a whole one. Retries can therefore never add more than `ratio` extra load on a
//! struggling upstream, however many requests fail; a small reserve lets a quiet service retry.

use std::sync::atomic::{AtomicI64, Ordering};

/// Fixed-point: one retry is this many units.
const UNIT: i64 = 1000;
/// At most this many retries can be saved up, so a long quiet spell cannot fund a retry storm.
const MAX_SAVED_RETRIES: i64 = 10;

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
        // 20% of 10 000 plus the reserve of 10.
        assert!((2000..=2010).contains(&retries), "{retries}");
    }

    #[test]
    fn a_zero_ratio_allows_only_the_reserve() {
        let budget = RetryBudget::new(0.0);
        let retries = (0..100).filter(|_| {
            budget.deposit();
            budget.try_withdraw()
        });
        assert_eq!(retries.count(), MAX_SAVED_RETRIES as usize);
    }
}

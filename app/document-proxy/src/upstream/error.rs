//! The upstream boundary's errors: why one attempt failed, and why a whole fetch did.

use super::Rejected;
use crate::telemetry::Outcome;
use std::time::Duration;

/// Why one attempt did not yield a sound document.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AttemptFailure {
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
    #[error("upstream sent a document that failed validation ({}): {}", .0.reason, .0.detail)]
    Corrupt(Rejected),
}

impl AttemptFailure {
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Status(_) => Outcome::HttpError,
            Self::Timeout => Outcome::Timeout,
            Self::Connect(_) => Outcome::ConnectError,
            Self::TooLarge(_) => Outcome::TooLarge,
            Self::Body(_) => Outcome::BodyError,
            Self::Corrupt(_) => Outcome::Corrupt,
        }
    }

    /// Client errors mean a misconfigured upstream URL: asking again will not help, except
    /// after 408 (the upstream gave up on an idle keep-alive connection just as it was reused)
    /// and 429. Everything else may be transient (the upstream corrupts 10% of documents on
    /// purpose).
    pub(super) fn retryable(&self) -> bool {
        !matches!(self, Self::Status(status) if (400..500).contains(status) && !matches!(status, 408 | 429))
    }
}

/// The upstream boundary's error; mapped to HTTP in `api::problem`.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream is failing; the circuit is open")]
    CircuitOpen { retry_after: Duration },
    #[error("no sound document from the upstream after {attempts} attempt(s); last: {last}")]
    Failed { attempts: u32, last: AttemptFailure },
    #[error("no sound document from the upstream within the deadline ({attempts} attempt(s))")]
    Deadline { attempts: u32 },
}

impl UpstreamError {
    pub fn attempts(&self) -> u32 {
        match self {
            Self::CircuitOpen { .. } => 0,
            Self::Failed { attempts, .. } | Self::Deadline { attempts } => *attempts,
        }
    }
}

//! The upstream boundary's errors: why one attempt failed, which class of failure that is, and
//! why a whole fetch failed.

use super::policy::cache::Rejected;
use super::transport::TransportError;
use crate::telemetry::Outcome;
use std::time::Duration;

/// Why one attempt did not yield a sound document.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AttemptFailure {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("upstream sent a document that failed validation ({}): {}", .0.reason, .0.detail)]
    Corrupt(Rejected),
    #[error("validation interrupted: the request is gone or past its deadline")]
    Interrupted,
}

/// What a failure says about the upstream, which decides how it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The upstream answered, but not with a sound document (corrupt, too large, not a 200):
    /// nothing says it is overloaded, so it is asked again at once, within the retry budget.
    Content,
    /// Timeouts, connection errors and resets, 5xx, 429: the upstream may be overloaded. Retried
    /// after a backoff with full jitter, and counted against it by the throttle.
    Overload,
    /// Asking again cannot help: a client error (a misconfigured upstream URL), or nobody is
    /// waiting for the answer any more.
    Final,
}

impl AttemptFailure {
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Transport(TransportError::Status(_)) => Outcome::HttpError,
            Self::Transport(TransportError::Timeout) | Self::Interrupted => Outcome::Timeout,
            Self::Transport(TransportError::Connect(_)) => Outcome::ConnectError,
            Self::Transport(TransportError::TooLarge(_)) => Outcome::TooLarge,
            Self::Transport(TransportError::Body(_)) => Outcome::BodyError,
            Self::Corrupt(_) => Outcome::Corrupt,
        }
    }

    /// 408 is the upstream giving up on an idle keep-alive connection just as it was reused, and
    /// 429 asks for less load: both are overload. Other 4xx mean a misconfigured upstream URL.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Transport(TransportError::Status(status)) => match status {
                408 | 429 | 500.. => FailureClass::Overload,
                400..500 => FailureClass::Final,
                _ => FailureClass::Content,
            },
            Self::Transport(
                TransportError::Timeout | TransportError::Connect(_) | TransportError::Body(_),
            ) => FailureClass::Overload,
            Self::Transport(TransportError::TooLarge(_)) | Self::Corrupt(_) => {
                FailureClass::Content
            }
            Self::Interrupted => FailureClass::Final,
        }
    }
}

/// The upstream boundary's error; mapped to HTTP in `api::problem`.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream is overloaded; attempts are being refused locally")]
    Throttled { retry_after: Duration },
    #[error("no sound document from the upstream after {attempts} attempt(s); last: {last}")]
    Failed { attempts: u32, last: AttemptFailure },
    #[error("no sound document from the upstream within the deadline ({attempts} attempt(s))")]
    Deadline { attempts: u32 },
}

impl UpstreamError {
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Throttled { .. } => 0,
            Self::Failed { attempts, .. } | Self::Deadline { attempts } => *attempts,
        }
    }
}

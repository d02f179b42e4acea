//! Configuration from environment variables, validated once at start. Every bad value is reported
//! (all of them, not just the first) with the variable's name and the accepted range, and the
//! process exits non-zero: a misconfigured pod must crash-loop visibly, not serve with a guess.

use reqwest::Url;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use validator::{Validate, ValidationErrors};

/// Everything the service can be told. Limits are kept in the unit of their variable so that a
/// value in an error message reads exactly as it was set.
#[derive(Debug, Clone, Validate)]
pub struct Config {
    pub port: u16,
    /// `None`: start the stand-in upstream in-process (feature `embedded-upstream`).
    pub upstream_url: Option<Url>,
    /// `None`: logs go to stdout only.
    pub loki_url: Option<Url>,
    pub log_level: String,
    #[validate(length(min = 1, max = 32), custom(function = "label_value"))]
    pub environment: String,
    #[validate(range(min = 100, max = 60_000))]
    pub request_timeout_ms: u64,
    #[validate(range(min = 10, max = 10_000))]
    pub upstream_connect_timeout_ms: u64,
    #[validate(range(min = 10, max = 30_000))]
    pub upstream_attempt_timeout_ms: u64,
    #[validate(range(min = 1, max = 10))]
    pub upstream_max_attempts: u32,
    #[validate(range(min = 1, max = 10_000))]
    pub retry_backoff_base_ms: u64,
    #[validate(range(min = 1, max = 30_000))]
    pub retry_backoff_max_ms: u64,
    #[validate(range(min = 0.0, max = 1.0))]
    pub retry_budget_ratio: f64,
    #[validate(range(min = 1024, max = 104_857_600))]
    pub upstream_max_body_bytes: u64,
    #[validate(range(min = 0.01, max = 1.0))]
    pub circuit_failure_rate: f64,
    /// Small samples trip on noise: an upstream failing a third of attempts (the chaos run's
    /// faults) shows at least 50% failures in 20 attempts 9% of the time, in 100 attempts 0.04%.
    #[validate(range(min = 1, max = 100_000))]
    pub circuit_min_requests: u32,
    #[validate(range(min = 100, max = 600_000))]
    pub circuit_window_ms: u64,
    #[validate(range(min = 10, max = 600_000))]
    pub circuit_open_ms: u64,
    #[validate(range(min = 1, max = 10_000))]
    pub upstream_concurrency_per_core: u32,
    #[validate(range(min = 1, max = 100_000))]
    pub max_in_flight: u32,
    #[validate(range(min = 0, max = 300_000))]
    pub shutdown_grace_ms: u64,
    /// A client connection without a complete request head for this long is closed. hyper uses
    /// one timer for a slow head and an idle keep-alive connection, so it must stay above the idle
    /// timeout of whatever pools connections to us (ingress-nginx and AWS ALB: 60 s), or we would
    /// close connections they are about to reuse.
    #[validate(range(min = 1000, max = 600_000))]
    pub client_idle_timeout_ms: u64,
    #[validate(range(min = 0, max = 1_073_741_824))]
    pub validation_cache_bytes: u64,
    #[validate(range(min = 1, max = 1_000_000))]
    pub loki_queue_capacity: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 8080,
            upstream_url: None,
            loki_url: None,
            log_level: "info".to_owned(),
            environment: "local".to_owned(),
            request_timeout_ms: 3000,
            upstream_connect_timeout_ms: 250,
            upstream_attempt_timeout_ms: 1000,
            upstream_max_attempts: 4,
            retry_backoff_base_ms: 10,
            retry_backoff_max_ms: 200,
            retry_budget_ratio: 0.2,
            upstream_max_body_bytes: 2 * 1024 * 1024,
            circuit_failure_rate: 0.5,
            circuit_min_requests: 100,
            circuit_window_ms: 10_000,
            circuit_open_ms: 5000,
            upstream_concurrency_per_core: 16,
            max_in_flight: 512,
            shutdown_grace_ms: 10_000,
            client_idle_timeout_ms: 65_000,
            validation_cache_bytes: 4 * 1024 * 1024,
            loki_queue_capacity: 10_000,
        }
    }
}

fn label_value(value: &str) -> Result<(), validator::ValidationError> {
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(()).ok_or_else(|| {
        validator::ValidationError::new("label").with_message("expected [a-z0-9-]{1,32}".into())
    })
}

/// Every problem found in the environment, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let mut config = Self::default();
        let mut reader = Reader {
            lookup: &lookup,
            errors: &mut errors,
        };
        reader.read("PORT", &mut config.port, "a port number 0-65535");
        reader.read_url("UPSTREAM_URL", &mut config.upstream_url);
        reader.read_url("LOKI_URL", &mut config.loki_url);
        reader.read("LOG_LEVEL", &mut config.log_level, "a tracing filter");
        reader.read("ENVIRONMENT", &mut config.environment, "[a-z0-9-]{1,32}");
        let number = "a number";
        reader.read("REQUEST_TIMEOUT_MS", &mut config.request_timeout_ms, number);
        reader.read(
            "UPSTREAM_CONNECT_TIMEOUT_MS",
            &mut config.upstream_connect_timeout_ms,
            number,
        );
        reader.read(
            "UPSTREAM_ATTEMPT_TIMEOUT_MS",
            &mut config.upstream_attempt_timeout_ms,
            number,
        );
        reader.read(
            "UPSTREAM_MAX_ATTEMPTS",
            &mut config.upstream_max_attempts,
            number,
        );
        reader.read(
            "RETRY_BACKOFF_BASE_MS",
            &mut config.retry_backoff_base_ms,
            number,
        );
        reader.read(
            "RETRY_BACKOFF_MAX_MS",
            &mut config.retry_backoff_max_ms,
            number,
        );
        reader.read("RETRY_BUDGET_RATIO", &mut config.retry_budget_ratio, number);
        reader.read(
            "UPSTREAM_MAX_BODY_BYTES",
            &mut config.upstream_max_body_bytes,
            number,
        );
        reader.read(
            "CIRCUIT_FAILURE_RATE",
            &mut config.circuit_failure_rate,
            number,
        );
        reader.read(
            "CIRCUIT_MIN_REQUESTS",
            &mut config.circuit_min_requests,
            number,
        );
        reader.read("CIRCUIT_WINDOW_MS", &mut config.circuit_window_ms, number);
        reader.read("CIRCUIT_OPEN_MS", &mut config.circuit_open_ms, number);
        reader.read(
            "UPSTREAM_CONCURRENCY_PER_CORE",
            &mut config.upstream_concurrency_per_core,
            number,
        );
        reader.read("MAX_IN_FLIGHT", &mut config.max_in_flight, number);
        reader.read("SHUTDOWN_GRACE_MS", &mut config.shutdown_grace_ms, number);
        reader.read(
            "CLIENT_IDLE_TIMEOUT_MS",
            &mut config.client_idle_timeout_ms,
            number,
        );
        reader.read(
            "VALIDATION_CACHE_BYTES",
            &mut config.validation_cache_bytes,
            number,
        );
        reader.read(
            "LOKI_QUEUE_CAPACITY",
            &mut config.loki_queue_capacity,
            number,
        );
        match config.check() {
            Ok(()) if errors.is_empty() => Ok(config),
            Ok(()) => Err(ConfigError(errors)),
            Err(more) => {
                errors.extend(more.0);
                Err(ConfigError(errors))
            }
        }
    }

    /// Range and consistency checks; also run on configurations built in code (tests).
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut errors = match self.validate() {
            Ok(()) => Vec::new(),
            Err(found) => describe(&found),
        };
        if self.retry_backoff_max_ms < self.retry_backoff_base_ms {
            errors.push(format!(
                "RETRY_BACKOFF_MAX_MS={}: must be at least RETRY_BACKOFF_BASE_MS={}",
                self.retry_backoff_max_ms, self.retry_backoff_base_ms
            ));
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            errors.push(format!(
                "LOG_LEVEL={:?}: not a tracing filter (e.g. info, debug, document_proxy=debug): {err}",
                self.log_level
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    pub fn client_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.client_idle_timeout_ms)
    }
}

/// Turns validator's field errors into `VARIABLE=value: must be between min and max` lines.
fn describe(found: &ValidationErrors) -> Vec<String> {
    let mut lines: Vec<String> = found
        .field_errors()
        .into_iter()
        .flat_map(|(field, errors)| {
            let var = field.to_uppercase();
            errors.iter().map(move |error| {
                let param = |name: &str| error.params.get(name).map(|v| v.to_string());
                let value = param("value").unwrap_or_default();
                match (param("min"), param("max"), &error.message) {
                    (Some(min), Some(max), _) => {
                        format!("{var}={value}: must be between {min} and {max}")
                    }
                    (_, _, Some(message)) => format!("{var}={value}: {message}"),
                    _ => format!("{var}={value}: invalid ({})", error.code),
                }
            })
        })
        .collect();
    lines.sort();
    lines
}

struct Reader<'a, F> {
    lookup: &'a F,
    errors: &'a mut Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn read<T: FromStr>(&mut self, var: &str, slot: &mut T, expected: &str) {
        let Some(raw) = (self.lookup)(var) else {
            return;
        };
        match raw.trim().parse() {
            Ok(value) => *slot = value,
            Err(_) => self
                .errors
                .push(format!("{var}={raw:?}: expected {expected}")),
        }
    }

    fn read_url(&mut self, var: &str, slot: &mut Option<Url>) {
        let Some(raw) = (self.lookup)(var).filter(|raw| !raw.trim().is_empty()) else {
            return;
        };
        match Url::parse(raw.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                *slot = Some(url)
            }
            _ => self
                .errors
                .push(format!("{var}={raw:?}: expected an http(s) URL")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|var| env.get(var).cloned())
    }

    #[test]
    fn defaults_are_valid() {
        let config = from(&[]).expect("defaults");
        assert_eq!(config.port, 8080);
        assert!(config.upstream_url.is_none());
    }

    #[test]
    fn values_are_read() {
        let config = from(&[
            ("PORT", "9000"),
            ("UPSTREAM_URL", "http://upstream:3000"),
            ("RETRY_BUDGET_RATIO", "0.1"),
        ])
        .expect("valid");
        assert_eq!(config.port, 9000);
        assert_eq!(
            config.upstream_url.expect("set").as_str(),
            "http://upstream:3000/"
        );
        assert_eq!(config.retry_budget_ratio, 0.1);
    }

    #[test]
    fn every_bad_value_is_named_with_its_accepted_range() {
        let err = from(&[
            ("PORT", "eighty"),
            ("REQUEST_TIMEOUT_MS", "5"),
            ("RETRY_BUDGET_RATIO", "1.5"),
            ("UPSTREAM_URL", "ftp://x"),
            ("LOG_LEVEL", "loud=[["),
            ("ENVIRONMENT", "Prod"),
        ])
        .expect_err("invalid");
        let text = err.to_string();
        for expected in [
            "PORT=\"eighty\": expected a port number 0-65535",
            "REQUEST_TIMEOUT_MS=5: must be between 100 and 60000",
            "RETRY_BUDGET_RATIO=1.5: must be between 0.0 and 1.0",
            "UPSTREAM_URL=\"ftp://x\": expected an http(s) URL",
            "LOG_LEVEL=",
            "ENVIRONMENT=",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(err.0.len(), 6, "{text}");
    }

    #[test]
    fn backoff_bounds_must_be_ordered() {
        let err = from(&[
            ("RETRY_BACKOFF_BASE_MS", "500"),
            ("RETRY_BACKOFF_MAX_MS", "100"),
        ])
        .expect_err("max below base");
        assert!(
            err.to_string().contains("RETRY_BACKOFF_MAX_MS=100"),
            "{err}"
        );
    }
}

//! Configuration from environment variables, validated once at start. Every variable is declared
//! once, in the table below: its field, default, accepted values and description; `--help`, the
//! reader and the check of the docs/contracts.md table all come from that declaration. Every bad
//! value is reported (all of them, not just the first) with the variable's name and the accepted
//! range, and the process exits non-zero: a misconfigured pod must crash-loop visibly, not serve
//! with a guess. `server()`, `upstream()` and `telemetry()` then hand each component its own
//! settings, converted to `Duration`s once.

use crate::server::ServerSettings;
use crate::telemetry::TelemetrySettings;
use crate::upstream::{LimitSettings, ThrottleSettings, UpstreamSettings};
use reqwest::Url;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use validator::ValidateRange;

/// One environment variable as `--help` and the docs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    pub default: String,
    pub accepted: &'static str,
    pub description: &'static str,
}

/// Declares the variables: `NAME field: Type = default, number(min, max) | text("accepted",
/// parser), "description";`. Limits are kept in the unit of their variable so that a value in an
/// error message reads exactly as it was set.
macro_rules! variables {
    ($($name:literal $field:ident: $ty:ty = $default:expr, $kind:ident($($arg:tt)*), $description:literal;)*) => {
        /// Everything the service can be told, as read from the environment.
        #[derive(Debug, Clone)]
        pub struct Config {
            $(#[doc = $description] pub $field: $ty,)*
        }

        impl Default for Config {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        impl Config {
            /// Every variable, in the order `--help` and docs/contracts.md list them.
            pub fn variables() -> Vec<Variable> {
                let defaults = Self::default();
                vec![$(Variable {
                    name: $name,
                    default: Show::show(&defaults.$field),
                    accepted: variables!(@accepted $kind($($arg)*)),
                    description: $description,
                },)*]
            }

            fn read(&mut self, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<String>) {
                $(if let Some(raw) = lookup($name) {
                    variables!(@read $kind($($arg)*), $name, raw, self.$field, errors);
                })*
            }

            fn check_ranges(&self, errors: &mut Vec<String>) {
                $(variables!(@range $kind($($arg)*), $name, self.$field, errors);)*
            }
        }
    };
    (@accepted number($min:literal, $max:literal)) => { concat!(stringify!($min), "-", stringify!($max)) };
    (@accepted text($accepted:literal, $parse:path)) => { $accepted };
    (@read number($min:literal, $max:literal), $name:literal, $raw:ident, $slot:expr, $errors:ident) => {
        match $raw.trim().parse() {
            Ok(value) => $slot = value,
            Err(_) => $errors.push(format!(
                "{}={:?}: expected a number {}",
                $name, $raw, concat!(stringify!($min), "-", stringify!($max))
            )),
        }
    };
    (@read text($accepted:literal, $parse:path), $name:literal, $raw:ident, $slot:expr, $errors:ident) => {
        match $parse($raw.trim()) {
            Some(value) => $slot = value,
            None => $errors.push(format!("{}={:?}: expected {}", $name, $raw, $accepted)),
        }
    };
    (@range number($min:literal, $max:literal), $name:literal, $value:expr, $errors:ident) => {
        if !$value.validate_range(Some($min), Some($max), None, None) {
            $errors.push(format!(
                "{}={}: must be between {} and {}",
                $name, $value, stringify!($min), stringify!($max)
            ));
        }
    };
    (@range text($accepted:literal, $parse:path), $name:literal, $value:expr, $errors:ident) => {};
}

variables! {
    "LISTEN_ADDR" listen_addr: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        text("an IP address", parse_ip), "Address to listen on (127.0.0.1: this machine only).";
    "PORT" port: u16 = 8080, number(0, 65535), "Port to listen on (0: any free port).";
    "UPSTREAM_URL" upstream_url: Option<Url> = None, text("an http(s) URL", parse_url),
        "Base URL of the document upstream; unset: the in-process stand-in (if built in).";
    "REQUEST_TIMEOUT_MS" request_timeout_ms: u64 = 3000, number(100, 60000),
        "Deadline for a whole document request, retries included.";
    "MAX_IN_FLIGHT" max_in_flight: u32 = 512, number(1, 100000),
        "Document requests served at once; more are shed with 503.";
    "SHUTDOWN_GRACE_MS" shutdown_grace_ms: u64 = 10000, number(0, 300000),
        "How long in-flight requests may finish after SIGTERM.";
    "CLIENT_IDLE_TIMEOUT_MS" client_idle_timeout_ms: u64 = 65000, number(1000, 600000),
        "Close a client connection without a complete request head after this long (above the 60 s of ingress-nginx and AWS ALB).";
    "UPSTREAM_CONNECT_TIMEOUT_MS" upstream_connect_timeout_ms: u64 = 250, number(10, 10000),
        "Timeout for opening an upstream connection.";
    "UPSTREAM_ATTEMPT_TIMEOUT_MS" upstream_attempt_timeout_ms: u64 = 1000, number(10, 30000),
        "Timeout for one upstream attempt, headers to verdict.";
    "UPSTREAM_MAX_ATTEMPTS" upstream_max_attempts: u32 = 4, number(1, 10),
        "Attempts per request, the first included.";
    "RETRY_BACKOFF_BASE_MS" retry_backoff_base_ms: u64 = 10, number(1, 10000),
        "First backoff bound after an overload signal (full jitter, doubling).";
    "RETRY_BACKOFF_MAX_MS" retry_backoff_max_ms: u64 = 200, number(1, 30000),
        "Largest backoff bound.";
    "RETRY_BUDGET_RATIO" retry_budget_ratio: f64 = 0.2, number(0.0, 1.0),
        "Retries allowed per request on average (plus a reserve of 100).";
    "UPSTREAM_MAX_BODY_BYTES" upstream_max_body_bytes: u64 = 2097152, number(1024, 104857600),
        "Largest upstream body accepted.";
    "UPSTREAM_BODY_MEMORY_BYTES" upstream_body_memory_bytes: u64 = 16777216, number(1048576, 1073741824),
        "Bytes of upstream bodies held at once, read or being judged; more wait (one body may take it all).";
    "THROTTLE_K" throttle_k: f64 = 2.0, number(1.0, 10.0),
        "Adaptive throttle: attempts allowed per accepted one before attempts are refused locally.";
    "THROTTLE_WINDOW_MS" throttle_window_ms: u64 = 10000, number(100, 600000),
        "Adaptive throttle: the trailing window its counts cover.";
    "THROTTLE_MIN_REQUESTS" throttle_min_requests: u32 = 20, number(0, 1000000),
        "Adaptive throttle: no attempt is refused while the window holds fewer requests.";
    "UPSTREAM_CONCURRENCY_MAX" upstream_concurrency_max: u32 = 1024, number(1, 100000),
        "Hard ceiling on upstream attempts at once (the adaptive limit stays below it).";
    "UPSTREAM_CONCURRENCY_RTT_FLOOR_MS" upstream_concurrency_rtt_floor_ms: u64 = 5, number(0, 10000),
        "Adaptive limit: round trips up to 1.5 times this are never backed off from (0: only the best seen counts).";
    "VALIDATION_CACHE_BYTES" validation_cache_bytes: u64 = 4194304, number(0, 1073741824),
        "Bytes of bodies whose verdicts are remembered (0: off).";
    "PNG_MAX_DECODED_BYTES" png_max_decoded_bytes: u64 = 67108864, number(1048576, 4294967296),
        "A PNG whose IHDR implies more decoded bytes is refused before inflating.";
    "PDF_MAX_INFLATE_RATIO" pdf_max_inflate_ratio: u32 = 20, number(1, 10000),
        "A PDF's streams may inflate to at most this many times the file's size.";
    "LOG_LEVEL" log_level: String = "info".to_owned(), text("a tracing filter", parse_text),
        "Log filter (e.g. info, debug, document_proxy=debug).";
    "ENVIRONMENT" environment: String = "local".to_owned(), text("[a-z0-9-]{1,32}", parse_text),
        "Environment label on log lines pushed to Loki.";
    "LOKI_URL" loki_url: Option<Url> = None, text("an http(s) URL", parse_url),
        "Loki push endpoint base; unset: logs go to stdout only.";
    "LOKI_QUEUE_CAPACITY" loki_queue_capacity: u32 = 10000, number(1, 1000000),
        "Log lines queued for Loki before new ones are dropped (and counted).";
}

/// How a default reads in `--help` and the docs.
trait Show {
    fn show(&self) -> String;
}

macro_rules! show_display {
    ($($ty:ty),*) => { $(impl Show for $ty { fn show(&self) -> String { self.to_string() } })* };
}
show_display!(u16, u32, u64, f64, String, IpAddr);

impl Show for Option<Url> {
    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| "(unset)".to_owned(), Url::to_string)
    }
}

fn parse_ip(raw: &str) -> Option<IpAddr> {
    raw.parse().ok()
}

fn parse_text(raw: &str) -> Option<String> {
    Some(raw.to_owned())
}

/// An http(s) URL with a host; empty means unset.
fn parse_url(raw: &str) -> Option<Option<Url>> {
    if raw.is_empty() {
        return Some(None);
    }
    Url::parse(raw)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .map(Some)
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
        config.read(&lookup, &mut errors);
        if let Err(more) = config.check() {
            errors.extend(more.0);
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// Range and consistency checks; also run on configurations built in code (tests).
    pub fn check(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        self.check_ranges(&mut errors);
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
        let label = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        if !(1..=32).contains(&self.environment.len()) || !self.environment.bytes().all(label) {
            errors.push(format!(
                "ENVIRONMENT={:?}: expected [a-z0-9-]{{1,32}}",
                self.environment
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn server(&self) -> ServerSettings {
        ServerSettings {
            listen: SocketAddr::new(self.listen_addr, self.port),
            request_timeout: ms(self.request_timeout_ms),
            max_in_flight: self.max_in_flight as usize,
            idle_timeout: ms(self.client_idle_timeout_ms),
            grace: ms(self.shutdown_grace_ms),
        }
    }

    /// The upstream client's settings, for the upstream at `url` (`UPSTREAM_URL`, or the
    /// stand-in started in its place).
    pub fn upstream(&self, url: Url) -> UpstreamSettings {
        UpstreamSettings {
            url,
            connect_timeout: ms(self.upstream_connect_timeout_ms),
            attempt_timeout: ms(self.upstream_attempt_timeout_ms),
            max_attempts: self.upstream_max_attempts,
            backoff_base: ms(self.retry_backoff_base_ms),
            backoff_max: ms(self.retry_backoff_max_ms),
            retry_budget_ratio: self.retry_budget_ratio,
            max_body_bytes: self.upstream_max_body_bytes,
            body_memory_bytes: self.upstream_body_memory_bytes,
            throttle: ThrottleSettings {
                k: self.throttle_k,
                window: ms(self.throttle_window_ms),
                min_requests: u64::from(self.throttle_min_requests),
            },
            concurrency: LimitSettings {
                ceiling: self.upstream_concurrency_max as usize,
                rtt_floor: ms(self.upstream_concurrency_rtt_floor_ms),
            },
            validation_cache_bytes: usize::try_from(self.validation_cache_bytes)
                .unwrap_or(usize::MAX),
            limits: document_validate::Limits {
                png_max_decoded_bytes: self.png_max_decoded_bytes,
                pdf_max_inflate_ratio: self.pdf_max_inflate_ratio,
            },
        }
    }

    pub fn telemetry(&self) -> TelemetrySettings {
        TelemetrySettings {
            log_level: self.log_level.clone(),
            environment: self.environment.clone(),
            loki_url: self.loki_url.clone(),
            loki_queue_capacity: self.loki_queue_capacity as usize,
        }
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// `--help`: what the binary does and every variable it reads.
pub fn usage() -> String {
    let mut text = format!(
        "document-proxy {}\n\
         Serves GET /<id> with a PDF or PNG from the upstream, never a corrupt one.\n\n\
         Usage: document-proxy [--help | --version]\n\n\
         Configured by environment variables (default; accepted values):\n",
        env!("CARGO_PKG_VERSION")
    );
    let variables = Config::variables();
    let width = variables
        .iter()
        .map(|var| var.name.len())
        .max()
        .unwrap_or(0);
    for var in &variables {
        text.push_str(&format!(
            "  {:<width$} {} (default {}; {})\n",
            var.name, var.description, var.default, var.accepted
        ));
    }
    text
}

#[cfg(test)]
mod tests;

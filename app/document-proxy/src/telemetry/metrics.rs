//! Metrics through OpenTelemetry with the Prometheus exporter on one registry. Every label value
//! comes from a small fixed set (route patterns, outcomes, types): no label ever holds an id.
//! Written natively rather than with poem's `opentelemetry`/`prometheus` features, which pin older
//! OpenTelemetry versions and label requests by full URL (unbounded cardinality).

use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    Counter, Histogram, Meter, MeterProvider, ObservableGauge, UpDownCounter,
};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Seconds; 0.3 is the latency SLO's threshold and must stay a bucket boundary.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Rejection reasons the service adds to the validator's own (`Rejection::REASONS`).
pub const REJECTION_REASONS: [&str; 1] = ["validator_panicked"];

/// Where an upstream attempt ended; the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Corrupt,
    HttpError,
    Timeout,
    ConnectError,
    TooLarge,
    BodyError,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Self::Ok,
        Self::Corrupt,
        Self::HttpError,
        Self::Timeout,
        Self::ConnectError,
        Self::TooLarge,
        Self::BodyError,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Corrupt => "corrupt",
            Self::HttpError => "http_error",
            Self::Timeout => "timeout",
            Self::ConnectError => "connect_error",
            Self::TooLarge => "too_large",
            Self::BodyError => "body_error",
        }
    }
}

/// A gauge raised by one for as long as this lives. A guard rather than a pair of calls: hyper
/// drops a request's future when the client hangs up, and the gauge must come down all the same.
#[derive(Debug)]
pub struct Raised<'a>(&'a UpDownCounter<i64>);

impl<'a> Raised<'a> {
    fn new(gauge: &'a UpDownCounter<i64>) -> Self {
        gauge.add(1, &[]);
        Self(gauge)
    }
}

impl Drop for Raised<'_> {
    fn drop(&mut self) {
        self.0.add(-1, &[]);
    }
}

/// The service's instruments. Cloning is cheap (handles to shared instruments).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    // Kept alive: dropping the provider stops collection.
    _provider: SdkMeterProvider,
    request_duration: Histogram<f64>,
    in_flight: UpDownCounter<i64>,
    waiting_for_upstream: UpDownCounter<i64>,
    upstream_attempts: Counter<u64>,
    upstream_duration: Histogram<f64>,
    documents_served: Counter<u64>,
    retries: Counter<u64>,
    retry_budget_exhausted: Counter<u64>,
    throttled: Counter<u64>,
    validation_rejections: Counter<u64>,
    /// Written by the throttle (`f64` bits), the concurrency limits (their sum) and the body
    /// memory (bytes held), read at each scrape by the observable gauges kept alive here.
    throttle_ratio: Arc<AtomicU64>,
    concurrency_limit: Arc<AtomicI64>,
    body_memory_held: Arc<AtomicI64>,
    _gauges: Arc<(
        ObservableGauge<f64>,
        ObservableGauge<i64>,
        ObservableGauge<i64>,
    )>,
    shed: Counter<u64>,
    log_events_dropped: Counter<u64>,
    cache_lookups: Counter<u64>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        {
            // Registration only fails on a duplicate, impossible on a fresh registry.
            let _ = registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .without_target_info()
            .build()
            .expect("the exporter builds with a fresh registry");
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let meter = provider.meter("document-proxy");
        let metrics = Self::instruments(&meter, registry, provider);
        metrics.publish_zeros();
        meter
            .i64_gauge("document_proxy_build_info")
            .with_description("Always 1; the labels say which build is running.")
            .build()
            .record(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]);
        metrics
    }

    fn instruments(meter: &Meter, registry: Registry, provider: SdkMeterProvider) -> Self {
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build()
        };
        let throttle_ratio = Arc::new(AtomicU64::new(0));
        let concurrency_limit = Arc::new(AtomicI64::new(0));
        let body_memory_held = Arc::new(AtomicI64::new(0));
        let ratio = Arc::clone(&throttle_ratio);
        let limit = Arc::clone(&concurrency_limit);
        let held = Arc::clone(&body_memory_held);
        let gauges = (
            meter
                .f64_observable_gauge("document_proxy_upstream_throttle_ratio")
                .with_description(
                    "Probability that the adaptive throttle refuses an upstream attempt now (0: none refused).",
                )
                .with_callback(move |observer| {
                    observer.observe(f64::from_bits(ratio.load(Ordering::Relaxed)), &[]);
                })
                .build(),
            meter
                .i64_observable_gauge("document_proxy_upstream_concurrency_limit")
                .with_description(
                    "Upstream attempts allowed at once by the adaptive concurrency limit (all serving threads).",
                )
                .with_callback(move |observer| observer.observe(limit.load(Ordering::Relaxed), &[]))
                .build(),
            meter
                .i64_observable_gauge("document_proxy_upstream_body_memory_held")
                .with_unit("By")
                .with_description(
                    "Bytes of upstream bodies held now, read or being judged (at most UPSTREAM_BODY_MEMORY_BYTES).",
                )
                .with_callback(move |observer| observer.observe(held.load(Ordering::Relaxed), &[]))
                .build(),
        );
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .build()
        };
        Self {
            registry,
            _provider: provider,
            throttle_ratio,
            concurrency_limit,
            body_memory_held,
            _gauges: Arc::new(gauges),
            request_duration: seconds(
                "document_proxy_http_request_duration",
                "HTTP requests by route pattern, method and status.",
            ),
            in_flight: meter
                .i64_up_down_counter("document_proxy_http_requests_in_flight")
                .with_description("HTTP requests being served now.")
                .build(),
            waiting_for_upstream: meter
                .i64_up_down_counter("document_proxy_upstream_waiting")
                .with_description(
                    "Document requests waiting for an upstream slot (the adaptive concurrency limit in use).",
                )
                .build(),
            upstream_attempts: counter(
                "document_proxy_upstream_attempts",
                "Upstream fetch attempts by outcome.",
            ),
            upstream_duration: seconds(
                "document_proxy_upstream_attempt_duration",
                "Upstream fetch attempts, headers to validated body, by outcome.",
            ),
            documents_served: counter(
                "document_proxy_documents_served",
                "Documents delivered by type.",
            ),
            retries: counter(
                "document_proxy_upstream_retries",
                "Upstream attempts after the first.",
            ),
            retry_budget_exhausted: counter(
                "document_proxy_retry_budget_exhausted",
                "Retries not made because the retry budget was spent.",
            ),
            throttled: counter(
                "document_proxy_upstream_throttled",
                "Requests answered 503 at once because the adaptive throttle refused the attempt.",
            ),
            validation_rejections: counter(
                "document_proxy_validation_rejections",
                "Upstream documents refused by the validator, by reason.",
            ),
            shed: counter(
                "document_proxy_requests_shed",
                "Requests refused because too many were in flight.",
            ),
            log_events_dropped: counter(
                "document_proxy_log_events_dropped",
                "Log events not pushed to Loki (queue full or Loki failing); stdout still has them.",
            ),
            cache_lookups: counter(
                "document_proxy_validation_cache_lookups",
                "Validation verdict cache lookups by result.",
            ),
        }
    }

    /// OpenTelemetry exports a series only once it has a value: publish every counter's fixed
    /// label sets at zero so dashboards, alerts and `rate()` see them from the first scrape.
    fn publish_zeros(&self) {
        for outcome in Outcome::ALL {
            self.upstream_attempts
                .add(0, &[KeyValue::new("outcome", outcome.label())]);
        }
        for type_label in ["pdf", "png"] {
            self.documents_served
                .add(0, &[KeyValue::new("type", type_label)]);
        }
        for result in ["hit", "miss"] {
            self.cache_lookups
                .add(0, &[KeyValue::new("result", result)]);
        }
        for reason in REJECTION_REASONS
            .iter()
            .chain(document_validate::Rejection::REASONS)
        {
            self.validation_rejections
                .add(0, &[KeyValue::new("reason", *reason)]);
        }
        for counter in [
            &self.retries,
            &self.retry_budget_exhausted,
            &self.throttled,
            &self.shed,
            &self.log_events_dropped,
        ] {
            counter.add(0, &[]);
        }
        self.in_flight.add(0, &[]);
        self.waiting_for_upstream.add(0, &[]);
    }

    /// Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn request_finished(
        &self,
        route: &'static str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        self.request_duration.record(
            elapsed.as_secs_f64(),
            &[
                KeyValue::new("route", route),
                KeyValue::new("method", method_label(method)),
                KeyValue::new("status", i64::from(status)),
            ],
        );
    }

    /// Counts one more request in flight until the guard is dropped.
    pub fn in_flight(&self) -> Raised<'_> {
        Raised::new(&self.in_flight)
    }

    /// Counts one more request waiting for an upstream slot until the guard is dropped.
    pub fn waiting_for_upstream(&self) -> Raised<'_> {
        Raised::new(&self.waiting_for_upstream)
    }

    pub fn upstream_attempt(&self, outcome: Outcome, elapsed: Duration) {
        let labels = [KeyValue::new("outcome", outcome.label())];
        self.upstream_attempts.add(1, &labels);
        self.upstream_duration
            .record(elapsed.as_secs_f64(), &labels);
    }

    pub fn document_served(&self, type_label: &'static str) {
        self.documents_served
            .add(1, &[KeyValue::new("type", type_label)]);
    }

    pub fn retry(&self) {
        self.retries.add(1, &[]);
    }

    pub fn retry_budget_exhausted(&self) {
        self.retry_budget_exhausted.add(1, &[]);
    }

    pub fn throttled(&self) {
        self.throttled.add(1, &[]);
    }

    /// `reason` is one of `document_validate::Rejection::REASONS` or [`REJECTION_REASONS`].
    pub fn validation_rejected(&self, reason: &'static str) {
        self.validation_rejections
            .add(1, &[KeyValue::new("reason", reason)]);
    }

    /// Where the throttle keeps its current rejection probability (as `f64` bits) for the gauge.
    pub fn throttle_ratio_cell(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.throttle_ratio)
    }

    /// Where the concurrency limits keep their sum for the gauge.
    pub fn concurrency_limit_total(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.concurrency_limit)
    }

    /// Where the body memory keeps the bytes it holds for the gauge.
    pub fn body_memory_held_cell(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.body_memory_held)
    }

    pub fn shed(&self) {
        self.shed.add(1, &[]);
    }

    pub fn log_events_dropped(&self, count: u64) {
        self.log_events_dropped.add(count, &[]);
    }

    pub fn cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache_lookups
            .add(1, &[KeyValue::new("result", result)]);
    }
}

/// HTTP allows any token as a method: only the standard ones become label values, so a client
/// cannot mint new series.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    STANDARD
        .into_iter()
        .find(|standard| *standard == method)
        .unwrap_or("other")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

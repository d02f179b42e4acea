//! Logs and metrics. Logs are JSON lines on stdout, always: that is the source of truth, nothing is
//! lost when Loki is away. When `LOKI_URL` is set the very same lines are also queued for Loki.

pub mod loki;
pub mod metrics;

use crate::api::context;
use loki::{LogLine, LokiFlush, LokiSender};
pub use metrics::{Metrics, Outcome, Raised};
use reqwest::Url;
use std::io::{self, Write};
use std::time::SystemTime;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Where logs go and which.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// A tracing filter, checked by the configuration.
    pub log_level: String,
    /// The `environment` label of lines pushed to Loki.
    pub environment: String,
    /// `None`: logs go to stdout only.
    pub loki_url: Option<Url>,
    pub loki_queue_capacity: usize,
}

/// Installs the global subscriber. Returns the Loki flush handle when pushing, to be awaited at
/// shutdown. A second call in one process (tests under `cargo test`) keeps the first subscriber.
pub fn init_logging(settings: &TelemetrySettings, metrics: &Metrics) -> Option<LokiFlush> {
    let (loki, flush) = match &settings.loki_url {
        Some(url) => match loki::start(
            url,
            &settings.environment,
            settings.loki_queue_capacity,
            metrics.clone(),
        ) {
            Ok((sender, flush)) => (Some(sender), Some(flush)),
            Err(err) => {
                eprintln!(
                    "document-proxy: cannot start the Loki client, logging to stdout only: {err}"
                );
                (None, None)
            }
        },
        None => (None, None),
    };
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false);
    let installed = tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(RequestJson(json))
        .with_env_filter(filter)
        .with_writer(TeeWriter { loki })
        .try_init()
        .is_ok();
    if installed { flush } else { None }
}

/// JSON lines; a line logged while a request is served starts with its `request_id`.
///
/// The id comes from the request's task-local context, not from a tracing span: creating,
/// entering and closing a span for every request took 3% of the service's CPU samples under
/// `make bench` (`perf record`, 256 connections), and a span's fields reach a line only if
/// LOG_LEVEL enables the span.
#[derive(Debug)]
struct RequestJson(Format<Json>);

impl<S, N> FormatEvent<S, N> for RequestJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let Some(id) = context::request_id() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(512);
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(fields) => write!(
                writer,
                "{{\"request_id\":{},{fields}",
                serde_json::Value::from(id)
            ),
            None => writer.write_str(&line),
        }
    }
}

/// Writes each formatted event to stdout and, if configured, hands a copy to the Loki queue.
#[derive(Debug, Clone)]
struct TeeWriter {
    loki: Option<LokiSender>,
}

impl<'a> MakeWriter<'a> for TeeWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            loki: None,
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            loki: self.loki.as_ref(),
            level: *meta.level(),
        }
    }
}

/// The fmt layer writes one whole event per `write` call.
#[derive(Debug)]
struct LineWriter<'a> {
    loki: Option<&'a LokiSender>,
    level: Level,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write_all(buf)?;
        if let Some(loki) = self.loki {
            loki.send(LogLine {
                level: self.level,
                timestamp: SystemTime::now(),
                line: String::from_utf8_lossy(buf).into_owned(),
            });
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().lock().flush()
    }
}

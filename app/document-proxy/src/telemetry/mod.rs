//! Logs and metrics. Logs are JSON lines on stdout, always: that is the source of truth, nothing is
//! lost when Loki is away (written at once, or within `stdout::WINDOW` under load). When
//! `LOKI_URL` is set the very same lines are also queued for Loki.

pub mod loki;
pub mod metrics;
pub mod stdout;

use crate::api::context;
use loki::{LogLine, LokiFlush, LokiSender};
pub use metrics::{Metrics, Outcome, Raised};
use reqwest::Url;
use std::io::{self, Write};
use std::sync::OnceLock;
use std::time::SystemTime;
use stdout::Coalescing;
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

/// Stdout for log lines, shared by every subscriber this process installs; `None` if its flusher
/// thread could not start (lines are then written one by one).
static STDOUT: OnceLock<Option<Coalescing<io::Stdout>>> = OnceLock::new();

/// Writes out the log lines still buffered for stdout: at shutdown, before exiting on an error, and
/// from the panic hook.
pub fn flush_stdout() {
    if let Some(Some(out)) = STDOUT.get() {
        let _ = out.flush();
    }
}

fn coalesced_stdout() -> Option<&'static Coalescing<io::Stdout>> {
    STDOUT
        .get_or_init(|| {
            let out = Coalescing::new(io::stdout(), stdout::WINDOW)
                .inspect_err(|err| {
                    eprintln!("document-proxy: writing each log line at once: {err}");
                })
                .ok()?;
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                flush_stdout();
                previous(info);
            }));
            Some(out)
        })
        .as_ref()
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
        .with_writer(TeeWriter {
            stdout: coalesced_stdout(),
            loki,
        })
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
        write!(writer, "{{\"request_id\":{},", serde_json::Value::from(id))?;
        let mut fields = AfterOpeningBrace {
            line: &mut writer,
            skipped: false,
        };
        self.0.format_event(ctx, Writer::new(&mut fields), event)
    }
}

/// The JSON format's output without its opening `{`, which `RequestJson` has written with the
/// request id: the line is formatted once, into the line's own buffer.
struct AfterOpeningBrace<'w, 'a> {
    line: &'w mut Writer<'a>,
    skipped: bool,
}

impl std::fmt::Write for AfterOpeningBrace<'_, '_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.skipped || text.is_empty() {
            return self.line.write_str(text);
        }
        self.skipped = true;
        self.line.write_str(text.strip_prefix('{').unwrap_or(text))
    }
}

/// Writes each formatted event to stdout and, if configured, hands a copy to the Loki queue.
#[derive(Debug, Clone)]
struct TeeWriter {
    stdout: Option<&'static Coalescing<io::Stdout>>,
    loki: Option<LokiSender>,
}

impl<'a> MakeWriter<'a> for TeeWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            stdout: self.stdout,
            loki: None,
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            stdout: self.stdout,
            loki: self.loki.as_ref(),
            level: *meta.level(),
        }
    }
}

/// The fmt layer writes one whole event per `write` call.
#[derive(Debug)]
struct LineWriter<'a> {
    stdout: Option<&'static Coalescing<io::Stdout>>,
    loki: Option<&'a LokiSender>,
    level: Level,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.stdout {
            Some(out) => out.write_line(buf)?,
            None => io::stdout().lock().write_all(buf)?,
        }
        if let Some(loki) = self.loki {
            loki.send(LogLine {
                level: self.level,
                timestamp: SystemTime::now(),
                line: String::from_utf8_lossy(buf).into_owned(),
            });
        }
        Ok(buf.len())
    }

    /// Lines are written within `stdout::WINDOW`; `flush_stdout` writes them out at once.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

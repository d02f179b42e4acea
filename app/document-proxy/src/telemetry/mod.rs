//! Logs and metrics. Logs are JSON lines on stdout, always: that is the source of truth, nothing is
//! lost when Loki is away. When `LOKI_URL` is set the very same lines are also queued for Loki.

pub mod loki;
pub mod metrics;

use crate::config::Config;
use loki::{LogLine, LokiFlush, LokiSender};
pub use metrics::{CircuitState, Metrics, Outcome};
use std::io::{self, Write};
use std::time::SystemTime;
use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber. Returns the Loki flush handle when pushing, to be awaited at
/// shutdown. A second call in one process (tests under `cargo test`) keeps the first subscriber.
pub fn init_logging(config: &Config, metrics: &Metrics) -> Option<LokiFlush> {
    let (loki, flush) = match &config.loki_url {
        Some(url) => match loki::start(
            url,
            &config.environment,
            config.loki_queue_capacity as usize,
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
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(TeeWriter { loki })
        .try_init()
        .is_ok();
    if installed { flush } else { None }
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

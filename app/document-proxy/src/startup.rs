//! Wiring: `Application::build` binds the port and assembles everything (so tests can start the
//! service in-process on port 0); `run_until_stopped` serves until shutdown and drains.

use crate::api::DocumentApi;
use crate::api::middleware::Observe;
use crate::api::routes;
use crate::api::shortcut::DocumentShortcut;
use crate::config::{Config, ConfigError};
use crate::server;
use crate::shutdown::{Shutdown, ShutdownSignal};
use crate::telemetry::{self, Metrics, loki::LokiFlush};
use crate::upstream::Upstream;
use poem::EndpointExt;
use poem_openapi::OpenApiService;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("UPSTREAM_URL is required: this build has no embedded stand-in upstream")]
    NoUpstream,
    #[error("cannot start the embedded stand-in upstream: {0}")]
    StandIn(std::io::Error),
}

pub struct Application {
    listener: server::Listener,
    threads: usize,
    app: poem::endpoint::BoxEndpoint<'static>,
    timeouts: server::Timeouts,
    shutdown: Shutdown,
    signal: ShutdownSignal,
    loki: Option<LokiFlush>,
    #[cfg(feature = "embedded-upstream")]
    _stand_in: Option<dummy_pdf_or_png::StandIn>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.listener.local_addr())
            .finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        config.check()?;
        let metrics = Metrics::new();
        let loki = telemetry::init_logging(&config.telemetry(), &metrics);
        let (upstream_url, stand_in) = upstream_url(&config).await?;
        #[cfg(not(feature = "embedded-upstream"))]
        let _: Option<()> = stand_in;
        let settings = config.server();
        let threads = server::threads();
        let upstream = Upstream::new(config.upstream(upstream_url), threads, metrics.clone())?;
        let (shutdown, signal) = Shutdown::new();
        let api = DocumentApi {
            upstream: Arc::new(upstream),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            request_timeout: settings.request_timeout,
            metrics: metrics.clone(),
            shutdown: signal.clone(),
        };
        let shortcut_api = api.clone();
        let upstream_url = api.upstream.url().clone();
        let service = OpenApiService::new(api, "document-proxy", env!("CARGO_PKG_VERSION"))
            .description("Serves PDF and PNG documents from the dummy-pdf-or-png upstream, never a corrupt one.");
        let app = DocumentShortcut {
            api: shortcut_api,
            router: routes::router(service),
        }
        .with(Observe { metrics })
        .boxed();
        let listener =
            server::Listener::bind(settings.listen).map_err(|source| StartError::Bind {
                addr: settings.listen,
                source,
            })?;
        let addr = listener.local_addr();
        tracing::info!(%addr, threads, upstream = %upstream_url, "document-proxy ready");
        Ok(Self {
            listener,
            threads,
            app,
            timeouts: server::Timeouts {
                idle: settings.idle_timeout,
                grace: settings.grace,
            },
            shutdown,
            signal,
            loki,
            #[cfg(feature = "embedded-upstream")]
            _stand_in: stand_in,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().port()
    }

    /// A handle that stops the service (tests; `main` wires it to SIGTERM/SIGINT).
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until shutdown is triggered: readiness turns 503 at once, the listener closes, and
    /// in-flight requests get up to the grace period to finish. Then the logs are flushed: the Loki
    /// queue, then stdout's buffer.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = server::run(
            self.listener,
            self.threads,
            self.app,
            self.signal,
            self.timeouts,
        )
        .await;
        tracing::info!("stopped serving");
        if let Some(loki) = self.loki {
            loki.flush().await;
        }
        telemetry::flush_stdout();
        served
    }
}

/// The configured upstream, or the in-process stand-in when none is configured.
#[cfg(feature = "embedded-upstream")]
async fn upstream_url(
    config: &Config,
) -> Result<(reqwest::Url, Option<dummy_pdf_or_png::StandIn>), StartError> {
    if let Some(url) = &config.upstream_url {
        return Ok((url.clone(), None));
    }
    let stand_in =
        dummy_pdf_or_png::StandIn::start(SocketAddr::from(([127, 0, 0, 1], 0)), Default::default())
            .await
            .map_err(StartError::StandIn)?;
    let url = reqwest::Url::parse(&stand_in.url())
        .map_err(|e| StartError::StandIn(std::io::Error::other(e)))?;
    tracing::warn!(
        upstream = %url,
        "UPSTREAM_URL is not set: serving from the EMBEDDED STAND-IN upstream (10% corrupt PDFs, like the real one). \
         Set UPSTREAM_URL for a real deployment."
    );
    Ok((url, Some(stand_in)))
}

#[cfg(not(feature = "embedded-upstream"))]
async fn upstream_url(config: &Config) -> Result<(reqwest::Url, Option<()>), StartError> {
    config
        .upstream_url
        .clone()
        .map(|url| (url, None))
        .ok_or(StartError::NoUpstream)
}

//! Entry point: answer `--help`/`--version`, or read the environment, build, serve until
//! SIGTERM/SIGINT, and exit 0 after draining.

use document_proxy::{Application, Config, config};
use std::process::ExitCode;

/// jemalloc rather than the C library's malloc: per document the service allocates and frees
/// buffers of tens of kilobytes, which glibc's malloc serves from its general bins at a higher CPU
/// cost per request. The image ships this same glibc build (app/Dockerfile); its one setting (one
/// arena) is built in from `.cargo/config.toml`. docs/benchmarks.md has the figures.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The main runtime only starts things and waits: requests are served on `server`'s own threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("document-proxy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!(
                "document-proxy: unknown argument {other:?}: it takes no arguments, only environment variables (see --help)"
            );
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("document-proxy: invalid configuration:\n{err}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            document_proxy::telemetry::flush_stdout();
            eprintln!("document-proxy: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    app.shutdown_handle().on_os_signal();
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("document-proxy: server error: {err}");
            ExitCode::FAILURE
        }
    }
}

//! Entry point: read the environment, build, serve until SIGTERM/SIGINT, exit 0 after draining.

use document_proxy::{Application, Config};
use std::process::ExitCode;

/// The main runtime only starts things and waits: requests are served on `server`'s own threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
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

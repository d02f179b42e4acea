//! Entry point: read the environment, build, serve until SIGTERM/SIGINT, exit 0 after draining.

use document_proxy::{Application, Config};
use std::process::ExitCode;

#[tokio::main]
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
    app.run_until_stopped().await;
    ExitCode::SUCCESS
}

//! `dummy-pdf-or-png`: serves the stand-in on `PORT` (3000) until SIGTERM or Ctrl-C.

use dummy_pdf_or_png::{Config, Faults, StandIn};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().json().init();
    let config = match read_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("dummy-pdf-or-png: configuration error: {message}");
            return ExitCode::from(2);
        }
    };
    let (port, config) = config;
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let stand_in = match StandIn::start(addr, config.clone()).await {
        Ok(stand_in) => stand_in,
        Err(err) => {
            eprintln!("dummy-pdf-or-png: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %stand_in.addr(), faults = ?config.faults, distinct = config.distinct, "serving");
    wait_for_signal().await;
    tracing::info!("stopping");
    stand_in.stop().await;
    ExitCode::SUCCESS
}

fn read_config() -> Result<(u16, Config), String> {
    let env = |var: &str| std::env::var(var).ok();
    let port = match env("PORT") {
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("PORT={raw:?}: expected a port number 0-65535"))?,
        None => 3000,
    };
    let distinct = match env("DISTINCT_DOCUMENTS").as_deref().map(str::trim) {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(format!(
                "DISTINCT_DOCUMENTS={other:?}: expected true or false"
            ));
        }
    };
    let faults = Faults::from_env(env).map_err(|e| e.0)?;
    Ok((port, Config { faults, distinct }))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

//! `dummy-pdf-or-png`: serves the stand-in on `LISTEN_ADDR:PORT` (0.0.0.0:3000) until SIGTERM
//! or Ctrl-C; `--help` lists the variables it reads.

use dummy_pdf_or_png::faults::{KNOB_HELP, knob_variables};
use dummy_pdf_or_png::{Config, Faults, StandIn};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

fn usage() -> String {
    let mut text = format!(
        "dummy-pdf-or-png {}\n\
         Stand-in for the document upstream: any GET gets a PNG (50%), a PDF (40%) or a corrupt PDF\n\
         (10%), with injectable faults.\n\n\
         Usage: dummy-pdf-or-png [--help | --version]\n\n\
         Configured by environment variables:\n\
         \x20 {:<22} address to listen on (default 0.0.0.0)\n\
         \x20 {:<22} port to listen on (default 3000)\n\
         \x20 {:<22} true: every document distinct (default false)\n",
        env!("CARGO_PKG_VERSION"),
        "LISTEN_ADDR",
        "PORT",
        "DISTINCT_DOCUMENTS"
    );
    for (var, help) in knob_variables().zip(KNOB_HELP) {
        text.push_str(&format!("  {var:<22} {help}\n"));
    }
    text.push_str("Rates are shares 0.0-1.0; CORRUPT_RATE defaults to 0.1, the others to 0.\n");
    text
}

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("dummy-pdf-or-png {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!(
                "dummy-pdf-or-png: unknown argument {other:?}: it takes no arguments, only environment variables (see --help)"
            );
            return ExitCode::from(2);
        }
    }
    tracing_subscriber::fmt().json().init();
    let config = match read_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("dummy-pdf-or-png: configuration error: {message}");
            return ExitCode::from(2);
        }
    };
    let (addr, config) = config;
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

fn read_config() -> Result<(SocketAddr, Config), String> {
    let env = |var: &str| std::env::var(var).ok();
    let ip: IpAddr = match env("LISTEN_ADDR") {
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("LISTEN_ADDR={raw:?}: expected an IP address"))?,
        None => Ipv4Addr::UNSPECIFIED.into(),
    };
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
    Ok((SocketAddr::new(ip, port), Config { faults, distinct }))
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

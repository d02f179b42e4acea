//! `spawn_app()`: the service in-process on port 0 in front of its own stand-in upstream.

use document_proxy::shutdown::Shutdown;
use document_proxy::{Application, Config};
use dummy_pdf_or_png::{Config as StandInConfig, Faults, StandIn};
use std::net::SocketAddr;
use std::time::Duration;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub stand_in: StandIn,
    pub shutdown: Shutdown,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the service answers")
    }

    /// The value of one metric sample line (`name{labels}`), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

/// A test configuration: short timeouts so failure paths finish quickly.
pub fn test_config() -> Config {
    Config {
        listen_addr: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        log_level: "info".to_owned(),
        request_timeout_ms: 2000,
        upstream_attempt_timeout_ms: 500,
        ..Config::default()
    }
}

/// The service in front of a stand-in that serves only sound documents.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Faults::none(), |_| {}).await
}

/// The service in front of a stand-in that answers every request after `latency`.
pub async fn spawn_app_behind_slow_upstream(latency: Duration) -> TestApp {
    let faults = Faults {
        latency,
        ..Faults::none()
    };
    spawn_app_with(faults, |_| {}).await
}

pub async fn spawn_app_with(faults: Faults, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in_front_of(start_stand_in(0, faults).await, configure).await
}

/// A stand-in on a loopback port (0: any free port) serving the fixed documents.
pub async fn start_stand_in(port: u16, faults: Faults) -> StandIn {
    let config = StandInConfig {
        faults,
        distinct: false,
    };
    StandIn::start(loopback(port), config)
        .await
        .expect("stand-in starts")
}

pub async fn spawn_app_in_front_of(
    stand_in: StandIn,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = test_config();
    config.upstream_url = Some(stand_in.url().parse().expect("url"));
    configure(&mut config);
    let app = Application::build(config)
        .await
        .expect("the service builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        stand_in,
        shutdown,
        server,
    }
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Asserts an RFC 9457 problem with this status and returns its JSON.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = response.bytes().await.expect("problem body");
    let problem: serde_json::Value = serde_json::from_slice(&body).expect("problem JSON");
    assert_eq!(problem["status"], status);
    assert_eq!(problem["request_id"], request_id.as_str());
    for field in ["type", "title", "detail"] {
        assert!(problem[field].is_string(), "{field} missing in {problem}");
    }
    problem
}

/// Asserts a 200 whose Content-Type matches the bytes, which are a sound document.
pub async fn assert_sound_document(response: reqwest::Response) -> bytes::Bytes {
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = response.bytes().await.expect("body");
    let kind = document_proxy::validate::validate(&body).expect("a sound document");
    assert_eq!(content_type, kind.mime());
    body
}

//! Start-up, configuration errors, the OpenAPI document, and draining on shutdown.

use crate::helpers::{loopback, spawn_app, spawn_app_behind_slow_upstream, start_stand_in};
use dummy_pdf_or_png::Faults;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_document-proxy");
const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/snapshots/openapi.json"
);

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.expect("html").contains("swagger"));
}

/// Pins the generated spec. After an intended API change: `UPDATE_SNAPSHOTS=1 cargo nextest run`.
#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json").await.bytes().await.expect("spec");
    let spec: serde_json::Value = serde_json::from_slice(&spec).expect("json");
    let responses = &spec["paths"]["/{id}"]["get"]["responses"];
    for content_type in ["application/pdf", "image/png"] {
        assert!(
            responses["200"]["content"][content_type].is_object(),
            "{content_type} documented"
        );
    }
    for status in ["400", "404", "405", "413", "431", "502", "503", "504"] {
        assert!(
            responses[status]["content"]["application/problem+json"].is_object(),
            "{status} documented as problem+json"
        );
    }
    assert_eq!(app.get("/openapi.yaml").await.status(), 200);
    let pretty = serde_json::to_string_pretty(&spec).expect("json") + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &pretty).expect("write snapshot");
    }
    let pinned =
        std::fs::read_to_string(SNAPSHOT).expect("snapshot exists (UPDATE_SNAPSHOTS=1 creates it)");
    assert_eq!(
        pretty, pinned,
        "the API changed; review and run with UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn help_and_version_print_and_exit_zero_and_unknown_arguments_exit_two() {
    let help = Command::new(BINARY).arg("--help").output().expect("runs");
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for var in document_proxy::Config::variables() {
        assert!(
            text.contains(var.name),
            "{} missing in --help:\n{text}",
            var.name
        );
    }
    let version = Command::new(BINARY)
        .arg("--version")
        .output()
        .expect("runs");
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("document-proxy {}", env!("CARGO_PKG_VERSION"))
    );
    let unknown = Command::new(BINARY).arg("--port=1").output().expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("unknown argument \"--port=1\"") && stderr.contains("--help"),
        "{stderr}"
    );
}

#[test]
fn bad_configuration_exits_non_zero_naming_each_variable() {
    let output = Command::new(BINARY)
        .env("PORT", "http")
        .env("MAX_IN_FLIGHT", "0")
        .env("UPSTREAM_URL", "not a url")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "PORT=\"http\"",
        "MAX_IN_FLIGHT=0: must be between 1 and 100000",
        "UPSTREAM_URL=",
    ] {
        assert!(stderr.contains(expected), "{expected} missing in: {stderr}");
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let app = spawn_app_behind_slow_upstream(Duration::from_millis(300)).await;
    let request = tokio::spawn({
        let (client, url) = (app.client.clone(), format!("{}/1", app.address));
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.shutdown.trigger();
    assert_eq!(
        request.await.expect("joined").expect("answered"),
        200,
        "in-flight request finished"
    );
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.server).await;
    assert!(
        stopped
            .expect("stops within the grace period")
            .expect("joined")
            .is_ok()
    );
    assert!(
        reqwest::get(format!("{}/healthz", app.address))
            .await
            .is_err(),
        "no longer accepting"
    );
}

/// The real binary: ready fast, SIGTERM drains an in-flight request, and the exit code is 0.
#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let faults = Faults {
        latency: Duration::from_millis(600),
        ..Faults::none()
    };
    let stand_in = start_stand_in(0, faults).await;
    let port = std::net::TcpListener::bind(loopback(0))
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .env("PORT", port.to_string())
        .env("UPSTREAM_URL", stand_in.url())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never became ready"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let in_flight = tokio::spawn(client.get(format!("{base}/1")).send());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let response = in_flight.await.expect("joined").expect("answered");
    assert_eq!(
        response.status(),
        200,
        "the in-flight request was drained, not cut"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joined")
        .expect("waited");
    assert_eq!(status.code(), Some(0));
}

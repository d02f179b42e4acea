//! Request ids, metrics, and the Loki push. The Loki here is a stand-in (no real Loki runs in
//! tests): it decodes the same snappy/protobuf push a real Loki receives.

use crate::helpers::{assert_problem, loopback, spawn_app, spawn_app_with};
use document_proxy::telemetry::loki::PushRequest;
use dummy_pdf_or_png::Faults;
use poem::{EndpointExt, Route, handler, post, web::Data};
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_request_id_is_taken_returned_and_put_in_problems() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/abc", app.address))
        .header("x-request-id", "trace-42")
        .send()
        .await;
    let response = response.expect("answer");
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    assert_eq!(
        assert_problem(response, 400).await["request_id"],
        "trace-42"
    );
    let generated = app.get("/1").await;
    assert_eq!(
        generated.headers()["x-request-id"].len(),
        36,
        "a UUID when none was sent"
    );
    let hostile = app
        .client
        .get(format!("{}/1", app.address))
        .header("x-request-id", "a b")
        .send()
        .await;
    assert_ne!(
        hostile.expect("answer").headers()["x-request-id"],
        "a b",
        "unprintable ids are replaced"
    );
}

#[tokio::test]
async fn metrics_after_traffic_use_route_patterns_and_bounded_labels() {
    let app = spawn_app().await;
    for path in ["/1", "/2", "/987654", "/abc", "/healthz", "/x/y"] {
        app.get(path).await;
    }
    let invented = reqwest::Method::from_bytes(b"BREW").expect("a valid method token");
    let brewed = app
        .client
        .request(invented, format!("{}/1", app.address))
        .send()
        .await;
    assert_eq!(brewed.expect("answer").status(), 405);
    let text = app.get("/metrics").await.text().await.expect("text");
    for series in [
        r#"document_proxy_http_request_duration_seconds_count{method="GET",route="/{id}",status="200"} 3"#,
        r#"document_proxy_http_request_duration_seconds_count{method="GET",route="/{id}",status="400"} 1"#,
        r#"document_proxy_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1"#,
        r#"document_proxy_http_request_duration_seconds_bucket{method="GET",route="/{id}",status="200",le="0.3"}"#,
        r#"document_proxy_http_request_duration_seconds_count{method="other",route="/{id}",status="405"} 1"#,
        r#"document_proxy_upstream_attempts_total{outcome="ok"} 3"#,
        r#"document_proxy_upstream_attempt_duration_seconds_count{outcome="ok"} 3"#,
        "document_proxy_http_requests_in_flight",
        "document_proxy_upstream_waiting 0",
        "document_proxy_upstream_throttle_ratio 0",
        "document_proxy_upstream_throttled_total 0",
        "document_proxy_upstream_concurrency_limit ",
        "document_proxy_upstream_body_memory_held_bytes 0",
        r#"document_proxy_validation_rejections_total{reason="png_decoded_limit"} 0"#,
        r#"document_proxy_validation_rejections_total{reason="pdf_inflate_limit"} 0"#,
        r#"document_proxy_validation_rejections_total{reason="interrupted"} 0"#,
        "document_proxy_requests_shed_total 0",
        "document_proxy_log_events_dropped_total 0",
        "document_proxy_upstream_retries_total 0",
        r#"document_proxy_validation_cache_lookups_total{result="hit"}"#,
        r#"document_proxy_build_info{version=""#,
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    for id in ["987654", "abc", "x/y", "BREW"] {
        assert!(!text.contains(id), "a raw path leaked into a label: {id}");
    }
    let served: f64 = ["pdf", "png"]
        .iter()
        .map(|t| {
            let series = format!("document_proxy_documents_served_total{{type=\"{t}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        })
        .sum();
    assert_eq!(served, 3.0);
}

#[tokio::test]
async fn clients_that_hang_up_mid_request_or_while_waiting_leave_the_gauges_as_they_were() {
    let slow = Faults {
        latency: Duration::from_millis(300),
        ..Faults::none()
    };
    // One fetch at a time per thread: of four requests, some hang up while waiting their turn.
    let app = spawn_app_with(slow, |config| config.upstream_concurrency_max = 1).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .expect("client");
    let requests = (1..=4).map(|id| impatient.get(format!("{}/{id}", app.address)).send());
    for hung_up in futures_util::future::join_all(requests).await {
        assert!(hung_up.is_err(), "the client gave up before the answer");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The scrape itself is the one request in flight.
    assert_eq!(
        app.metric("document_proxy_http_requests_in_flight ").await,
        1.0
    );
    assert_eq!(app.metric("document_proxy_upstream_waiting ").await, 0.0);
}

#[handler]
async fn push(body: Vec<u8>, received: Data<&Arc<Mutex<Vec<PushRequest>>>>) -> &'static str {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("snappy body");
    received
        .lock()
        .expect("lock")
        .push(PushRequest::decode(raw.as_slice()).expect("protobuf body"));
    ""
}

type Pushed = Vec<(String, String)>;

/// Runs one request (id header `request_id`) into a 100%-corrupt upstream through a service that
/// pushes to a Loki stand-in, and returns the pushed (labels, line) pairs once `done` holds.
async fn pushed_lines(log_level: &str, request_id: &str, done: impl Fn(&Pushed) -> bool) -> Pushed {
    let received: Arc<Mutex<Vec<PushRequest>>> = Arc::new(Mutex::new(Vec::new()));
    let loki =
        poem::listener::Listener::into_acceptor(poem::listener::TcpListener::bind(loopback(0)))
            .await
            .expect("bind");
    let loki_port = poem::listener::Acceptor::local_addr(&loki)[0]
        .as_socket_addr()
        .expect("tcp")
        .port();
    let routes = Route::new()
        .at("/loki/api/v1/push", post(push))
        .data(Arc::clone(&received));
    tokio::spawn(poem::Server::new_with_acceptor(loki).run(routes));
    let faults = Faults {
        corrupt_rate: 1.0,
        ..Faults::none()
    };
    let app = spawn_app_with(faults, |config| {
        config.loki_url = Some(
            format!("http://127.0.0.1:{loki_port}")
                .parse()
                .expect("url"),
        );
        config.environment = "test".to_owned();
        config.log_level = log_level.to_owned();
    })
    .await;
    let response = app
        .client
        .get(format!("{}/5", app.address))
        .header("x-request-id", request_id)
        .send()
        .await;
    assert_problem(response.expect("answer"), 502).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Pushed = received
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|request| &request.streams)
            .flat_map(|stream| {
                stream
                    .entries
                    .iter()
                    .map(|e| (stream.labels.clone(), e.line.clone()))
            })
            .collect();
        if done(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "the expected lines were not pushed: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rejected_line(lines: &Pushed, request_id: &str) -> bool {
    lines.iter().any(|(labels, line)| {
        labels.contains(r#"level="warn""#)
            && line.contains("rejected upstream document")
            && line.contains(request_id)
    })
}

#[tokio::test]
async fn loki_stand_in_receives_every_line_of_a_request_with_its_id_and_fixed_labels() {
    let access_line = |lines: &Pushed| {
        lines.iter().any(|(_, line)| {
            line.contains("find-me-7")
                && line.contains(r#""message":"access""#)
                && line.contains(r#""status":502"#)
        })
    };
    let lines = pushed_lines("info", "find-me-7", |lines| {
        access_line(lines) && rejected_line(lines, "find-me-7")
    })
    .await;
    for (labels, _) in &lines {
        assert!(
            labels.starts_with(r#"{service="document-proxy", environment="test", level=""#),
            "{labels}"
        );
        assert!(!labels.contains("find-me-7"), "ids never become labels");
    }
}

#[tokio::test]
async fn at_log_level_warn_lines_still_carry_the_request_id() {
    let lines = pushed_lines("warn", "find-me-8", |lines| {
        rejected_line(lines, "find-me-8")
    })
    .await;
    assert!(
        lines
            .iter()
            .all(|(labels, _)| !labels.contains(r#"level="info""#)),
        "info lines are filtered out at warn"
    );
}

#[tokio::test]
async fn a_hanging_loki_neither_slows_requests_nor_grows_memory_and_drops_are_counted() {
    // Accepts connections and never answers: the worst Loki there is.
    let hanging = tokio::net::TcpListener::bind(loopback(0))
        .await
        .expect("bind");
    let loki_port = hanging.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    let app = spawn_app_with(Faults::none(), |config| {
        config.loki_url = Some(
            format!("http://127.0.0.1:{loki_port}")
                .parse()
                .expect("url"),
        );
        config.loki_queue_capacity = 50;
    })
    .await;
    let started = Instant::now();
    for id in 1..=300 {
        assert_eq!(app.get(&format!("/{id}")).await.status(), 200);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "300 requests took {took:?} with Loki hanging"
    );
    let dropped = app.metric("document_proxy_log_events_dropped_total").await;
    assert!(
        dropped >= 200.0,
        "only {dropped} log events counted as dropped"
    );
}

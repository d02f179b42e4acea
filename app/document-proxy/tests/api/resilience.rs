//! Not piling onto a struggling upstream, and not falling over under load.

use crate::helpers::{assert_problem, assert_sound_document, spawn_app_with};
use dummy_pdf_or_png::Faults;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_circuit_opens_on_a_failing_upstream_and_recovers_through_a_probe() {
    let app = spawn_app_with(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        |config| {
            config.circuit_min_requests = 8;
            config.circuit_open_ms = 400;
        },
    )
    .await;
    for id in 1..=2 {
        assert_problem(app.get(&format!("/{id}")).await, 502).await;
    }
    let seen = app.stand_in.requests_seen();
    let started = Instant::now();
    let response = app.get("/3").await;
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "open circuit answers at once"
    );
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503).await;
    assert_eq!(
        app.stand_in.requests_seen(),
        seen,
        "no request reaches the upstream while open"
    );
    assert_eq!(
        app.metric("document_proxy_circuit_breaker_state").await,
        2.0
    );

    app.stand_in.set_faults(Faults::none());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_sound_document(app.get("/4").await).await;
    assert_eq!(
        app.metric("document_proxy_circuit_breaker_state").await,
        0.0
    );
    assert_sound_document(app.get("/5").await).await;
}

#[tokio::test]
async fn retries_never_add_more_than_the_budget_to_a_failing_upstream() {
    let app = spawn_app_with(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        |config| {
            // Breaker out of the way: the budget alone must bound the load.
            config.circuit_failure_rate = 1.0;
            config.circuit_min_requests = 100_000;
            config.retry_backoff_base_ms = 1;
            config.retry_backoff_max_ms = 1;
        },
    )
    .await;
    let requests = 200;
    for id in 1..=requests {
        assert_problem(app.get(&format!("/{id}")).await, 502).await;
    }
    let seen = app.stand_in.requests_seen() as f64;
    // Each request once, plus 20% of them as retries, plus the budget's reserve of 100.
    assert!(
        seen <= f64::from(requests) * 1.2 + 100.0,
        "{seen} upstream requests for {requests}"
    );
    assert!(
        app.metric("document_proxy_retry_budget_exhausted_total")
            .await
            > 0.0
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_bound_are_shed_at_once() {
    let app = spawn_app_with(
        Faults {
            latency: Duration::from_millis(400),
            ..Faults::none()
        },
        |config| {
            config.max_in_flight = 2;
        },
    )
    .await;
    let started = Instant::now();
    let statuses = futures_util::future::join_all((1..=8).map(|id| {
        let app = &app;
        async move {
            let response = app.get(&format!("/{id}")).await;
            let status = response.status().as_u16();
            if status == 503 {
                assert!(response.headers().contains_key("retry-after"));
                assert_problem(response, 503).await;
            }
            status
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        6,
        "{statuses:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(app.metric("document_proxy_requests_shed_total").await, 6.0);
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "probes are never shed"
    );
}

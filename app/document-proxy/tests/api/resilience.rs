//! Not piling onto a struggling upstream, never failing more than the upstream does, and not
//! falling over under load.

use crate::helpers::{
    TestApp, assert_problem, assert_sound_document, spawn_app_behind_slow_upstream, spawn_app_with,
};
use dummy_pdf_or_png::Faults;
use std::time::{Duration, Instant};

/// Sends `count` requests, `at_once` at a time; returns how many got a sound document.
async fn served(app: &TestApp, count: u64, at_once: usize) -> u64 {
    let mut ok = 0;
    let ids: Vec<u64> = (1..=count).collect();
    for wave in ids.chunks(at_once) {
        let answers = futures_util::future::join_all(
            wave.iter()
                .map(|id| async move { app.get(&format!("/{id}")).await }),
        );
        for response in answers.await {
            if response.status() == 200 {
                assert_sound_document(response).await;
                ok += 1;
            }
        }
    }
    ok
}

#[tokio::test]
async fn a_fast_upstream_bad_with_probability_p_is_served_at_least_one_minus_p_within_the_budget() {
    // Every attempt is a draw: with the budget spent, the expected share served is
    // (1 - p)(1.2 + 100 / requests), so at p = 0.9 it takes 3000 requests for "at least 1 - p" to
    // hold by about 4 standard deviations (3.8; 300 would give 2.5, one run in 160 failing by
    // chance). At p = 0.5 300 are 7 deviations clear.
    let at_once = 16;
    for (p, requests) in [(0.5, 300), (0.9, 3000)] {
        let app = spawn_app_with(
            Faults {
                corrupt_rate: p,
                ..Faults::none()
            },
            |_| {},
        )
        .await;
        let ok = served(&app, requests, at_once).await as f64;
        let share = ok / requests as f64;
        assert!(share >= 1.0 - p, "p = {p}: served {share}");
        // The budget is what brings the share above 1 - p: at both shares the requests want more
        // retries than its 20% and reserve of 100, so the upstream sees every attempt the budget
        // allows but what the last wave deposits after its retries, and never more.
        let allowed = requests as f64 * 1.2 + 100.0;
        let seen = app.stand_in.requests_seen() as f64;
        assert!(
            (allowed - at_once as f64..=allowed).contains(&seen),
            "p = {p}: {seen} upstream requests for {requests}, the budget allows {allowed}"
        );
        assert_eq!(
            app.metric("document_proxy_upstream_throttled_total").await,
            0.0
        );
        assert_eq!(
            app.metric("document_proxy_upstream_throttle_ratio").await,
            0.0
        );
    }
}

#[tokio::test]
async fn a_content_failure_is_retried_at_once_without_a_backoff() {
    let app = spawn_app_with(
        Faults {
            corrupt_rate: 1.0,
            ..Faults::none()
        },
        |config| {
            // A backoff would take seconds: three draws up to 1, 2 and 3 s.
            config.retry_backoff_base_ms = 1000;
            config.retry_backoff_max_ms = 3000;
            config.request_timeout_ms = 10_000;
        },
    )
    .await;
    let started = Instant::now();
    assert_problem(app.get("/1").await, 502).await;
    let took = started.elapsed();
    assert_eq!(app.stand_in.requests_seen(), 4, "every attempt made");
    assert!(
        took < Duration::from_millis(400),
        "{took:?} for four attempts"
    );
}

#[tokio::test]
async fn an_overload_signal_is_retried_after_a_backoff() {
    let app = spawn_app_with(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        |config| {
            config.retry_backoff_base_ms = 200;
            config.retry_backoff_max_ms = 200;
            config.upstream_max_attempts = 10;
            config.request_timeout_ms = 10_000;
            config.throttle_min_requests = 1000;
        },
    )
    .await;
    let started = Instant::now();
    assert_problem(app.get("/1").await, 502).await;
    // Nine full-jitter draws up to 200 ms: below 100 ms in all only by a fluke (2^-9 x 9!⁻¹).
    assert!(
        started.elapsed() > Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refusing_upstream_is_answered_fast_with_retry_after_and_served_again_once_back() {
    let app = spawn_app_with(
        Faults {
            error_rate: 1.0,
            ..Faults::none()
        },
        |config| {
            config.throttle_window_ms = 1000;
            config.throttle_min_requests = 5;
        },
    )
    .await;
    for id in 1..=30 {
        app.get(&format!("/{id}")).await;
    }
    let seen = app.stand_in.requests_seen();
    let started = Instant::now();
    let mut throttled = 0;
    for id in 31..=50 {
        let response = app.get(&format!("/{id}")).await;
        if response.status() == 503 {
            assert!(response.headers().contains_key("retry-after"));
            assert_problem(response, 503).await;
            throttled += 1;
        }
    }
    assert!(throttled >= 15, "{throttled} of 20 refused locally");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once: {:?}",
        started.elapsed()
    );
    assert!(
        app.stand_in.requests_seen() - seen <= 20,
        "the upstream saw fewer attempts than requests"
    );
    assert!(app.metric("document_proxy_upstream_throttle_ratio").await > 0.5);

    app.stand_in.set_faults(Faults::none());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_sound_document(app.get("/51").await).await;
    assert_eq!(
        app.metric("document_proxy_upstream_throttle_ratio").await,
        0.0
    );
}

#[tokio::test]
async fn behind_a_far_healthy_upstream_the_concurrency_limit_grows() {
    let app = spawn_app_behind_slow_upstream(Duration::from_millis(50)).await;
    let initial = app
        .metric("document_proxy_upstream_concurrency_limit")
        .await;
    assert!(initial > 0.0);
    let offered = (initial as usize) * 4;
    let started = Instant::now();
    let ok = served(&app, offered as u64 * 3, offered).await;
    assert_eq!(ok, offered as u64 * 3);
    let grown = app
        .metric("document_proxy_upstream_concurrency_limit")
        .await;
    assert!(
        grown > initial * 1.5,
        "limit {initial} -> {grown} with {offered} requests at once ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_never_add_more_than_the_budget_to_a_failing_upstream() {
    let app = spawn_app_with(
        Faults {
            corrupt_rate: 1.0,
            ..Faults::none()
        },
        |_| {},
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

/// One slot per serving thread behind a 50 ms upstream whose every answer is corrupt, and two
/// requests per thread: a request keeps its slot for its content retries, so the first of each
/// pair is done after its four attempts (200 ms). Giving the slot back between attempts would
/// queue each retry behind the other request (the first done after seven round trips, 350 ms).
#[tokio::test]
async fn a_content_retry_keeps_its_slot_instead_of_queueing_again() {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let faults = Faults {
        latency: Duration::from_millis(50),
        corrupt_rate: 1.0,
        ..Faults::none()
    };
    let app = spawn_app_with(faults, |config| {
        config.upstream_concurrency_max = u32::try_from(threads).expect("few threads");
    })
    .await;
    let started = Instant::now();
    let finished = futures_util::future::join_all((1..=2 * threads as u64).map(|id| {
        let app = &app;
        async move {
            assert_problem(app.get(&format!("/{id}")).await, 502).await;
            started.elapsed()
        }
    }))
    .await;
    let first = finished.iter().min().expect("requests");
    assert!(
        *first < Duration::from_millis(290),
        "the first request took {first:?}: its retries queued behind the others"
    );
}

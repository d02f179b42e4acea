//! Decompression bombs from the stand-in (bodies under the 2 MiB cap inflating to about 2 GB):
//! refused at a bounded cost, and never validated for a request that is gone.
//!
//! Inflating one of them whole costs about a second of CPU; refused at the limits, a PNG bomb costs
//! its copy and CRCs (refused at IHDR) and a PDF bomb `PDF_MAX_INFLATE_RATIO` x its size of inflating.

use crate::helpers::{assert_problem, spawn_app_with};
use dummy_pdf_or_png::Faults;
use std::time::{Duration, Instant};

/// CPU seconds this process (service and stand-in, which run in it) has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn bombs() -> Faults {
    Faults {
        bomb_rate: 1.0,
        ..Faults::none()
    }
}

#[tokio::test]
async fn a_bomb_is_refused_before_inflating_and_counted_with_its_reason() {
    let app = spawn_app_with(bombs(), |_| {}).await;
    // The stand-in builds its bombs on the first request; not part of what is measured.
    assert_problem(app.get("/1").await, 502).await;
    let (cpu, started) = (cpu_seconds(), Instant::now());
    for id in 2..=11 {
        assert_problem(app.get(&format!("/{id}")).await, 502).await;
    }
    let per_request = (cpu_seconds() - cpu) / 10.0;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Four attempts per request, each a distinct bomb: at most 20 x 1.9 MB inflated, not 1.9 GB.
    assert!(
        per_request < 0.2,
        "{:.0} ms of CPU per request",
        per_request * 1000.0
    );
    let refused = app
        .metric(r#"document_proxy_validation_rejections_total{reason="png_decoded_limit"}"#)
        .await
        + app
            .metric(r#"document_proxy_validation_rejections_total{reason="pdf_inflate_limit"}"#)
            .await;
    assert!(refused >= 40.0, "{refused} refusals counted");
}

#[tokio::test]
async fn a_validation_stops_when_its_request_is_gone_or_past_its_deadline() {
    let app = spawn_app_with(bombs(), |config| {
        // Limits out of the way: only the interruption can stop the inflating.
        config.png_max_decoded_bytes = 4_294_967_296;
        config.pdf_max_inflate_ratio = 10_000;
        config.request_timeout_ms = 300;
    })
    .await;
    let started = Instant::now();
    assert_problem(app.get("/1").await, 504).await;
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let hung_up = impatient.get(format!("{}/2", app.address)).send().await;
    assert!(hung_up.is_err(), "the client gave up first");
    // Every validation started has stopped within milliseconds: the next second is idle.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cpu = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_seconds() - cpu;
    assert!(
        spent < 0.1,
        "{:.0} ms of CPU spent for nobody",
        spent * 1000.0
    );
}

/// The most memory this process (service, stand-in and client) has held, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmHWM in kB");
    kib / 1024.0
}

/// 128 requests at once for bombs, which a fast upstream hands over at once and which take
/// milliseconds each to refuse (at most two validations per core): without a bound on the bodies
/// held, each request's 1.9 MB body waits read in memory for a validator (about 250 MB here).
#[tokio::test]
async fn bodies_waiting_for_their_verdict_stay_within_the_body_memory() {
    let app = spawn_app_with(bombs(), |config| {
        config.upstream_body_memory_bytes = 8 << 20;
        config.upstream_max_attempts = 1;
        config.request_timeout_ms = 10_000;
        config.upstream_attempt_timeout_ms = 10_000;
    })
    .await;
    assert_problem(app.get("/1").await, 502).await; // the stand-in builds its bombs
    let before = peak_rss_mib();
    let answers = futures_util::future::join_all((2..130).map(|id| {
        let app = &app;
        async move { app.get(&format!("/{id}")).await }
    }))
    .await;
    for answer in answers {
        assert_eq!(answer.status(), 502, "a bomb is refused, never timed out");
    }
    let grown = peak_rss_mib() - before;
    assert!(
        grown < 64.0,
        "peak memory grew {grown:.0} MiB for 8 MiB of bodies held at once"
    );
}

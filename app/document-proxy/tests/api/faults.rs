//! Each stand-in fault, and what the client sees: a sound document or a fast, explained failure.

use crate::helpers::{
    TestApp, assert_problem, assert_sound_document, spawn_app, spawn_app_behind_slow_upstream,
    spawn_app_in_front_of, spawn_app_with, start_stand_in,
};
use dummy_pdf_or_png::Faults;
use std::time::{Duration, Instant};

#[tokio::test]
async fn upstream_5xx_is_retried_and_a_dead_upstream_gives_502() {
    let app = spawn_app_with(
        Faults {
            error_rate: 0.2,
            ..Faults::none()
        },
        |_| {},
    )
    .await;
    let before = app.stand_in.requests_seen();
    let mut ok = 0;
    for id in 1..=20 {
        if app.get(&format!("/{id}")).await.status() == 200 {
            ok += 1;
        }
    }
    // 20%: retries hide it within the 20% retry budget; the throttle refuses nothing (K x 80%
    // accepted > 1).
    assert!(ok >= 19, "retries hide a 20% error rate: {ok}/20");
    // Every upstream request beyond one per client request is a counted retry (none at all in
    // 1.2% of runs, so no `> 0` here: the dead upstream below proves the retries).
    let beyond_first = app.stand_in.requests_seen() - before - 20;
    assert_eq!(
        app.metric("document_proxy_upstream_retries_total").await,
        beyond_first as f64
    );

    app.stand_in.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::none()
    });
    let seen = app.stand_in.requests_seen();
    assert_problem(app.get("/1").await, 502).await;
    assert_eq!(
        app.stand_in.requests_seen() - seen,
        4,
        "UPSTREAM_MAX_ATTEMPTS attempts, no more"
    );
}

#[tokio::test]
async fn connection_resets_and_truncated_bodies_are_retried_then_502() {
    for faults in [
        Faults {
            reset_rate: 1.0,
            ..Faults::none()
        },
        Faults {
            truncate_rate: 1.0,
            ..Faults::none()
        },
    ] {
        // Retries alone are under test here; the throttle has its own tests and would refuse
        // attempts at the first phase's 100% failures.
        let app =
            spawn_app_with(faults.clone(), |config| config.throttle_min_requests = 1000).await;
        let started = Instant::now();
        assert_problem(app.get("/1").await, 502).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{faults:?}: {:?}",
            started.elapsed()
        );
        app.stand_in.set_faults(Faults {
            reset_rate: 0.1,
            truncate_rate: 0.1,
            ..Faults::none()
        });
        let mut ok = 0;
        for id in 1..=20 {
            if app.get(&format!("/{id}")).await.status() == 200 {
                ok += 1;
            }
        }
        assert!(ok >= 19, "{ok}/20 with 10% resets and 10% truncations");
    }
}

#[tokio::test]
async fn a_hanging_or_trickling_upstream_gets_a_504_within_the_deadline() {
    for faults in [
        Faults {
            hang_rate: 1.0,
            ..Faults::none()
        },
        Faults {
            trickle_rate: 1.0,
            ..Faults::none()
        },
    ] {
        let app = spawn_app_with(faults, |config| {
            config.request_timeout_ms = 600;
            config.upstream_attempt_timeout_ms = 250;
        })
        .await;
        let started = Instant::now();
        assert_problem(app.get("/1").await, 504).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_millis(900),
            "{took:?}"
        );
        assert!(
            app.metric("document_proxy_upstream_attempts_total{outcome=\"timeout\"}")
                .await
                >= 2.0
        );
    }
}

#[tokio::test]
async fn a_slow_upstream_within_the_deadline_still_serves() {
    let app = spawn_app_behind_slow_upstream(Duration::from_millis(150)).await;
    assert_sound_document(app.get("/1").await).await;
}

#[tokio::test]
async fn an_oversize_body_is_refused_while_streaming_and_memory_stays_flat() {
    let app = spawn_app_with(
        Faults {
            oversize_rate: 1.0,
            ..Faults::none()
        },
        |_| {},
    )
    .await;
    let before = resident_bytes();
    for id in 1..=5 {
        assert_problem(app.get(&format!("/{id}")).await, 502).await;
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(
        grown < 16 * 1024 * 1024,
        "RSS grew by {grown} bytes for 64 MiB bodies"
    );
    assert!(
        app.metric("document_proxy_upstream_attempts_total{outcome=\"too_large\"}")
            .await
            >= 5.0
    );
}

#[tokio::test]
async fn an_upstream_that_goes_down_and_comes_back_is_served_again() {
    let app = spawn_app().await;
    assert_sound_document(app.get("/1").await).await;
    let addr = app.stand_in.addr();
    let TestApp {
        stand_in,
        address,
        client,
        shutdown,
        server,
    } = app;
    stand_in.stop().await;
    let down = client
        .get(format!("{address}/2"))
        .send()
        .await
        .expect("answer");
    assert!(
        [502, 503].contains(&down.status().as_u16()),
        "{}",
        down.status()
    );
    let back = start_stand_in(addr.port(), Faults::none()).await;
    let app = TestApp {
        stand_in: back,
        address,
        client,
        shutdown,
        server,
    };
    assert_sound_document(app.get("/3").await).await;
}

#[tokio::test]
async fn a_stand_in_on_a_closed_port_is_a_fast_502() {
    let stand_in = start_stand_in(0, Faults::none()).await;
    let addr = stand_in.addr();
    stand_in.stop().await;
    let placeholder = start_stand_in(0, Faults::none()).await;
    let app = spawn_app_in_front_of(placeholder, |config| {
        config.upstream_url = Some(format!("http://{addr}").parse().expect("url"));
    })
    .await;
    let started = Instant::now();
    assert_problem(app.get("/1").await, 502).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(
        app.metric("document_proxy_upstream_attempts_total{outcome=\"connect_error\"}")
            .await
            >= 1.0
    );
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The stand-in's PNG as a complete HTTP/1.1 answer.
fn png_answer() -> Vec<u8> {
    let png = &dummy_pdf_or_png::documents::Library::get().png.body;
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        png.len()
    )
    .into_bytes();
    answer.extend_from_slice(png);
    answer
}

#[tokio::test]
async fn upstream_connections_are_reused_and_one_closed_while_idle_costs_no_failed_attempt() {
    // Idle long enough that two back-to-back requests share a connection on a loaded machine.
    let upstream = RawUpstream::start(Duration::from_millis(400), png_answer(), b"").await;
    let placeholder = start_stand_in(0, Faults::none()).await;
    let app = spawn_app_in_front_of(placeholder, |config| {
        config.upstream_url = Some(format!("http://{}", upstream.addr).parse().expect("url"));
    })
    .await;
    assert_sound_document(app.get("/1").await).await;
    assert_sound_document(app.get("/2").await).await;
    assert_eq!(
        upstream.connections(),
        1,
        "the second request reuses the connection"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_sound_document(app.get("/3").await).await;
    assert_eq!(
        upstream.connections(),
        2,
        "the closed connection is replaced"
    );
    let outcome =
        |name: &str| format!("document_proxy_upstream_attempts_total{{outcome=\"{name}\"}}");
    assert_eq!(app.metric(&outcome("ok")).await, 3.0);
    assert_eq!(app.metric(&outcome("connect_error")).await, 0.0);
    assert_eq!(
        app.metric("document_proxy_upstream_retries_total").await,
        0.0
    );
}

#[tokio::test]
async fn a_408_sent_on_an_idle_connection_before_closing_it_is_not_taken_for_the_next_answer() {
    let farewell =
        b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let upstream = RawUpstream::start(Duration::from_millis(50), png_answer(), farewell).await;
    let placeholder = start_stand_in(0, Faults::none()).await;
    let app = spawn_app_in_front_of(placeholder, |config| {
        config.upstream_url = Some(format!("http://{}", upstream.addr).parse().expect("url"));
    })
    .await;
    assert_sound_document(app.get("/1").await).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_sound_document(app.get("/2").await).await;
    assert_eq!(upstream.connections(), 2, "the idle connection is replaced");
    let outcome =
        |name: &str| format!("document_proxy_upstream_attempts_total{{outcome=\"{name}\"}}");
    assert_eq!(app.metric(&outcome("ok")).await, 2.0);
    assert_eq!(
        app.metric(&outcome("http_error")).await,
        0.0,
        "the 408 was never read as an answer"
    );
}

#[tokio::test]
async fn fetches_beyond_the_concurrency_limit_wait_their_turn_on_the_connections_already_open() {
    let upstream = RawUpstream::start(Duration::from_secs(10), png_answer(), b"").await;
    let placeholder = start_stand_in(0, Faults::none()).await;
    let app = spawn_app_in_front_of(placeholder, |config| {
        config.upstream_url = Some(format!("http://{}", upstream.addr).parse().expect("url"));
        config.upstream_concurrency_max = 1;
    })
    .await;
    let requests = (1..=24).map(|id| {
        let app = &app;
        async move { app.get(&format!("/{id}")).await }
    });
    for response in futures_util::future::join_all(requests).await {
        assert_sound_document(response).await;
    }
    let threads = document_proxy::server::threads() as u64;
    assert!(
        upstream.connections() <= threads,
        "{} upstream connections for one fetch at a time on each of {threads} threads",
        upstream.connections()
    );
    assert_eq!(app.metric("document_proxy_upstream_waiting").await, 0.0);
}

#[tokio::test]
async fn retries_after_a_small_error_answer_reuse_its_connection_and_a_large_one_closes_it() {
    for (body_bytes, connections) in [(19, 1), (64 * 1024, 4)] {
        let mut answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {body_bytes}\r\n\r\n"
        )
        .into_bytes();
        answer.resize(answer.len() + body_bytes, b'x');
        let upstream = RawUpstream::start(Duration::from_secs(10), answer, b"").await;
        let placeholder = start_stand_in(0, Faults::none()).await;
        let app = spawn_app_in_front_of(placeholder, |config| {
            config.upstream_url = Some(format!("http://{}", upstream.addr).parse().expect("url"));
            config.throttle_min_requests = 1000;
        })
        .await;
        assert_problem(app.get("/1").await, 502).await;
        assert_eq!(
            app.metric("document_proxy_upstream_attempts_total{outcome=\"http_error\"}")
                .await,
            4.0
        );
        assert_eq!(
            upstream.connections(),
            connections,
            "4 attempts, each answered 503 with a {body_bytes}-byte body"
        );
    }
}

/// An upstream that gives the same answer to every request and closes a keep-alive connection
/// after it has been idle for a while, without announcing it in the response (as most servers
/// do), sending `farewell` first (as some do): a pool must notice, not fail on it.
struct RawUpstream {
    addr: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RawUpstream {
    async fn start(idle: Duration, answer: Vec<u8>, farewell: &'static [u8]) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = std::sync::Arc::clone(&connections);
        let answer = std::sync::Arc::new(answer);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = std::sync::Arc::clone(&answer);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while let Ok(Ok(read @ 1..)) =
                        tokio::time::timeout(idle, socket.read(&mut buffer)).await
                    {
                        head.extend_from_slice(&buffer[..read]);
                        if head.windows(4).any(|w| w == b"\r\n\r\n") {
                            head.clear();
                            if socket.write_all(&answer).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = socket.write_all(farewell).await;
                });
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }

    fn connections(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use dummy_pdf_or_png::Faults;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn ids_that_are_not_positive_integers_are_400_problems() {
    let app = spawn_app().await;
    for path in [
        "/abc",
        "/0",
        "/-1",
        "/1.5",
        "/99999999999999999999999",
        "/%00",
        "/1e3",
    ] {
        let problem = assert_problem(app.get(path).await, 400).await;
        assert!(!problem["detail"].as_str().expect("detail").is_empty());
    }
    assert_eq!(
        app.stand_in.requests_seen(),
        0,
        "bad input never reaches the upstream"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_problems() {
    let app = spawn_app().await;
    for path in ["/a/b", "/1/2", "/"] {
        assert_problem(app.get(path).await, 404).await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        for path in ["/1", "/healthz"] {
            let response = app
                .client
                .request(method.clone(), format!("{}{path}", app.address))
                .send()
                .await
                .expect("answer");
            assert_eq!(response.headers()["allow"], "GET, HEAD");
            assert_problem(response, 405).await;
        }
    }
}

#[tokio::test]
async fn request_bodies_are_413_and_oversized_headers_431() {
    let app = spawn_app().await;
    let with_body = app
        .client
        .get(format!("{}/1", app.address))
        .body(vec![b'x'; 10])
        .send()
        .await;
    assert_problem(with_body.expect("answer"), 413).await;
    let big_header = app
        .client
        .get(format!("{}/1", app.address))
        .header("x-filler", "y".repeat(20 * 1024))
        .send()
        .await;
    assert_problem(big_header.expect("answer"), 431).await;
    assert_eq!(app.stand_in.requests_seen(), 0);
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off_and_keep_alive_within_the_idle_timeout_works() {
    let app = spawn_app_with(Faults::none(), |config| {
        config.client_idle_timeout_ms = 1000
    })
    .await;
    let host = app.address.trim_start_matches("http://");
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    let mut slow = TcpStream::connect(host).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("closed within the timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "closed, not answered");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    let mut kept = TcpStream::connect(host).await.expect("connect");
    for _ in 0..2 {
        kept.write_all(request).await.expect("write");
        let read = kept.read(&mut buf).await.expect("read");
        assert!(
            buf[..read].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            &buf[..read]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

use crate::helpers::{assert_sound_document, spawn_app, spawn_app_with};
use dummy_pdf_or_png::Faults;
use futures_util::StreamExt;

#[tokio::test]
async fn serves_sound_documents_with_the_type_of_their_bytes_and_safe_headers() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for id in 1..=20 {
        let response = app.get(&format!("/{id}")).await;
        let headers = response.headers().clone();
        let body = assert_sound_document(response).await;
        assert_eq!(headers["content-length"], body.len().to_string().as_str());
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let etag = format!("\"{:x}-{:08x}\"", body.len(), crc32fast::hash(&body));
        assert_eq!(
            headers["etag"],
            etag.as_str(),
            "a strong ETag of these exact bytes"
        );
        let disposition = headers["content-disposition"].to_str().expect("ascii");
        assert!(
            disposition.starts_with(&format!("inline; filename=\"{id}.")),
            "{disposition}"
        );
        assert!(headers.contains_key("x-request-id"));
        seen.insert(headers["content-type"].clone());
    }
    assert_eq!(seen.len(), 2, "both PDFs and PNGs are served: {seen:?}");
}

#[tokio::test]
async fn a_corrupt_document_is_never_passed_on() {
    let app = spawn_app_with(
        Faults {
            corrupt_rate: 1.0,
            ..Faults::none()
        },
        |_| {},
    )
    .await;
    for id in 1..=5 {
        let response = app.get(&format!("/{id}")).await;
        crate::helpers::assert_problem(response, 502).await;
    }
    assert!(
        app.metric("document_proxy_upstream_attempts_total{outcome=\"corrupt\"}")
            .await
            >= 5.0
    );
}

#[tokio::test]
async fn through_the_real_upstreams_ten_percent_corruption_at_least_99_5_percent_succeed() {
    let app = spawn_app_with(Faults::default(), |_| {}).await;
    let requests = 600;
    let results: Vec<u32> = futures_util::stream::iter(1..=requests)
        .map(|id| {
            let app = &app;
            async move {
                let response = app.get(&format!("/{id}")).await;
                if response.status() == 200 {
                    assert_sound_document(response).await;
                    1
                } else {
                    0
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let ok: u32 = results.iter().sum();
    assert!(
        f64::from(ok) / f64::from(requests) >= 0.995,
        "{ok}/{requests} succeeded"
    );
    assert!(
        app.metric("document_proxy_upstream_attempts_total{outcome=\"corrupt\"}")
            .await
            > 0.0
    );
}

#[tokio::test]
async fn the_upstream_content_type_is_never_trusted() {
    let app = spawn_app_with(
        Faults {
            wrong_type_rate: 1.0,
            ..Faults::none()
        },
        |_| {},
    )
    .await;
    for id in 1..=10 {
        assert_sound_document(app.get(&format!("/{id}")).await).await;
    }
}

#[tokio::test]
async fn client_range_and_conditional_headers_never_yield_a_partial_or_empty_document() {
    let app = spawn_app().await;
    for (name, value) in [
        ("range", "bytes=0-99"),
        ("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
        ("if-none-match", "*"),
        ("if-range", "\"x\""),
    ] {
        let response = app
            .client
            .get(format!("{}/7", app.address))
            .header(name, value)
            .send()
            .await
            .expect("answer");
        assert_sound_document(response).await;
    }
}

#[tokio::test]
async fn head_answers_headers_without_a_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .head(format!("{}/3", app.address))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(["application/pdf", "image/png"].contains(&content_type.as_str()));
    assert!(response.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn a_cold_cache_under_concurrent_requests_validates_each_document_only_once_per_slot() {
    let app = spawn_app().await;
    let requests = (1..=48).map(|id| {
        let app = &app;
        async move { app.get(&format!("/{id}")).await }
    });
    for response in futures_util::future::join_all(requests).await {
        let status = response.status();
        assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
    }
    // The stand-in serves three distinct bodies; at most two validations per core run at once.
    let slots = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let validated = app
        .metric(r#"document_proxy_validation_cache_lookups_total{result="miss"}"#)
        .await;
    assert!(
        (1.0..=(3 * slots) as f64).contains(&validated),
        "{validated} validations for 48 requests over 3 documents and {slots} slots"
    );
}

//! `cargo bench -p document-proxy --bench validation`: what validating a document costs, against
//! what a verdict-cache hit costs. Plain timing loops (no harness) so it runs with the stable
//! toolchain and no extra dependencies; its figures are why there is a verdict cache
//! (docs/benchmarks.md, "The hot path").

use bytes::Bytes;
use document_proxy::upstream::policy::cache::{Known, ValidationCache, judge};
use document_proxy::validate::{Limits, Never};
use dummy_pdf_or_png::documents::{corrupt, sample_pdf, sample_png};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn time_per_op(name: &str, mut op: impl FnMut()) {
    op();
    let mut runs = 0u32;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        op();
        runs += 1;
    }
    let per_op = started.elapsed() / runs;
    println!(
        "{name:<40} {:>12.1} µs/op  ({runs} runs)",
        per_op.as_secs_f64() * 1e6
    );
}

fn main() {
    let png = Bytes::from(sample_png());
    let pdf = Bytes::from(sample_pdf());
    let bad = Bytes::from(corrupt(&pdf));
    println!(
        "png {} bytes, pdf {} bytes, corrupt pdf {} bytes",
        png.len(),
        pdf.len(),
        bad.len()
    );
    for (name, body) in [("png", &png), ("pdf", &pdf), ("corrupt pdf", &bad)] {
        time_per_op(&format!("validate {name}"), || {
            black_box(judge(black_box(body), &Limits::default(), &Never).is_ok());
        });
    }
    let cache = ValidationCache::new(4 << 20);
    for body in [&png, &pdf, &bad] {
        cache.remember(Known {
            body: body.clone(),
            crc32: crc32fast::hash(body),
            verdict: judge(body, &Limits::default(), &Never),
        });
    }
    for (name, body) in [("png", &png), ("pdf", &pdf)] {
        // A fresh copy: the upstream's bytes never share memory with the cached ones.
        let fresh = Bytes::copy_from_slice(body);
        time_per_op(
            &format!("cache hit {name} (fingerprint + full compare)"),
            || {
                black_box(cache.lookup(black_box(&[fresh.as_ref()])).is_some());
            },
        );
    }
}

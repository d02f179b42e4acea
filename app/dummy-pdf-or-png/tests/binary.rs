//! The stand-in's binary as the container, `scripts/load-test` and the live PromQL check run it:
//! configured by the environment only.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_dummy-pdf-or-png");

/// The binary on a free loopback port, stopped when dropped.
struct Running {
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: &[(&str, &str)]) -> Running {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(BINARY)
        .env_clear()
        .env("PORT", port.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let started = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not listening on PORT={port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Running { child, port }
}

/// The status line and body of `GET path` (HTTP/1.1, connection closed after the answer).
fn get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("reads");
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, answer[head_end + 4..].to_vec())
}

#[test]
fn serves_documents_on_port() {
    let running = start(&[("CORRUPT_RATE", "0")]);
    let (status, body) = get(running.port, "/1");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(
        body.starts_with(b"%PDF-") || body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PDF or a PNG"
    );
}

#[test]
fn fault_variables_apply_to_every_request() {
    let running = start(&[("FAULT_ERROR_RATE", "1")]);
    for _ in 0..3 {
        let (status, _) = get(running.port, "/1");
        assert!(status.starts_with("HTTP/1.1 5"), "{status}");
    }
}

#[test]
fn a_bad_setting_exits_2_naming_the_variable() {
    let output = Command::new(BINARY)
        .env_clear()
        .env("PORT", "0")
        .env("FAULT_ERROR_RATE", "2")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FAULT_ERROR_RATE"), "{stderr}");
}

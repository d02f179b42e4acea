use super::*;
use std::collections::HashMap;

fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(|var| env.get(var).cloned())
}

#[test]
fn defaults_are_valid() {
    let config = from(&[]).expect("defaults");
    assert_eq!(config.port, 8080);
    assert_eq!(
        config.server().listen,
        "0.0.0.0:8080".parse().expect("addr")
    );
    assert!(config.upstream_url.is_none());
}

#[test]
fn values_are_read_and_converted_once_for_each_component() {
    let config = from(&[
        ("PORT", "9000"),
        ("LISTEN_ADDR", "127.0.0.1"),
        ("UPSTREAM_URL", "http://upstream:3000"),
        ("RETRY_BUDGET_RATIO", "0.1"),
        ("REQUEST_TIMEOUT_MS", "1500"),
        ("PNG_MAX_DECODED_BYTES", "2000000"),
    ])
    .expect("valid");
    assert_eq!(
        config.server().listen,
        "127.0.0.1:9000".parse().expect("addr")
    );
    assert_eq!(config.server().request_timeout, Duration::from_millis(1500));
    let url = config.upstream_url.clone().expect("set");
    assert_eq!(url.as_str(), "http://upstream:3000/");
    let upstream = config.upstream(url);
    assert_eq!(upstream.retry_budget_ratio, 0.1);
    assert_eq!(upstream.limits.png_max_decoded_bytes, 2_000_000);
}

#[test]
fn every_bad_value_is_named_with_its_accepted_range() {
    let err = from(&[
        ("PORT", "eighty"),
        ("REQUEST_TIMEOUT_MS", "5"),
        ("RETRY_BUDGET_RATIO", "1.5"),
        ("UPSTREAM_URL", "ftp://x"),
        ("LOG_LEVEL", "loud=[["),
        ("ENVIRONMENT", "Prod"),
        ("LISTEN_ADDR", "localhost"),
        ("PNG_MAX_DECODED_BYTES", "1"),
        ("PDF_MAX_INFLATE_RATIO", "0"),
    ])
    .expect_err("invalid");
    let text = err.to_string();
    for expected in [
        "PORT=\"eighty\": expected a number 0-65535",
        "REQUEST_TIMEOUT_MS=5: must be between 100 and 60000",
        "RETRY_BUDGET_RATIO=1.5: must be between 0.0 and 1.0",
        "UPSTREAM_URL=\"ftp://x\": expected an http(s) URL",
        "LISTEN_ADDR=\"localhost\": expected an IP address",
        "PNG_MAX_DECODED_BYTES=1: must be between 1048576 and 4294967296",
        "PDF_MAX_INFLATE_RATIO=0: must be between 1 and 10000",
        "LOG_LEVEL=",
        "ENVIRONMENT=",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(err.0.len(), 9, "{text}");
}

#[test]
fn backoff_bounds_must_be_ordered() {
    let err = from(&[
        ("RETRY_BACKOFF_BASE_MS", "500"),
        ("RETRY_BACKOFF_MAX_MS", "100"),
    ])
    .expect_err("max below base");
    assert!(
        err.to_string().contains("RETRY_BACKOFF_MAX_MS=100"),
        "{err}"
    );
}

#[test]
fn every_variable_is_in_the_help_once() {
    let help = usage();
    let variables = Config::variables();
    for var in &variables {
        assert_eq!(
            help.matches(&format!("  {} ", var.name)).count(),
            1,
            "{}",
            var.name
        );
    }
    let mut names: Vec<_> = variables.iter().map(|var| var.name).collect();
    names.dedup();
    assert_eq!(names.len(), variables.len(), "a variable declared twice");
}

/// The rows docs/contracts.md must have between its markers, generated from the declaration.
fn contract_rows() -> String {
    Config::variables()
        .iter()
        .map(|var| {
            format!(
                "| `{}` | {} | {} | {} |\n",
                var.name, var.default, var.accepted, var.description
            )
        })
        .collect()
}

const CONTRACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/contracts.md");
const HEADER: &str = "| variable | default | accepted | meaning |\n|---|---|---|---|\n";

/// The rows of the variables table in `doc`, if it has one.
fn table_in(doc: &str) -> Option<String> {
    let start = doc.find(HEADER)? + HEADER.len();
    Some(
        doc[start..]
            .lines()
            .take_while(|line| line.starts_with('|'))
            .map(|line| format!("{line}\n"))
            .collect(),
    )
}

#[test]
fn the_contracts_table_of_variables_is_the_declared_one() {
    let doc = std::fs::read_to_string(CONTRACTS).expect("docs/contracts.md");
    let table =
        table_in(&doc).unwrap_or_else(|| panic!("{CONTRACTS}: no table starting {HEADER:?}"));
    assert!(
        table == contract_rows(),
        "{CONTRACTS}: the variables table differs from config.rs; it should read:\n{}",
        contract_rows()
    );
}

#[test]
fn the_contracts_check_fails_on_a_drifted_or_missing_table() {
    let doc = std::fs::read_to_string(CONTRACTS).expect("docs/contracts.md");
    let drifted = doc.replacen("| `PORT` | 8080 |", "| `PORT` | 8081 |", 1);
    assert_ne!(drifted, doc, "the injected drift applies");
    assert_ne!(table_in(&drifted), Some(contract_rows()));
    let dropped = doc.replacen("| `THROTTLE_K` |", "| `THROTTLE_KK` |", 1);
    assert_ne!(table_in(&dropped), Some(contract_rows()));
    assert_eq!(table_in("no table here"), None);
}

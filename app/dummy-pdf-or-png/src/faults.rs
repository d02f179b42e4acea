//! Fault injection: each knob is an environment variable for a whole run (chaos tests, the dev
//! cluster) and a request header for one request (integration tests).

use http::HeaderMap;
use std::time::Duration;

/// How the stand-in misbehaves. Rates are shares of requests in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub latency: Duration,
    pub error_rate: f64,
    pub reset_rate: f64,
    pub hang_rate: f64,
    pub trickle_rate: f64,
    pub truncate_rate: f64,
    pub wrong_type_rate: f64,
    pub oversize_rate: f64,
    pub corrupt_rate: f64,
    /// Share sent as a decompression bomb (half PNG, half PDF), distinct every time.
    pub bomb_rate: f64,
}

impl Default for Faults {
    /// The real upstream's behaviour: sound documents, except 10% corrupt PDFs.
    fn default() -> Self {
        Self {
            corrupt_rate: 0.1,
            ..Self::none()
        }
    }
}

/// A fault setting that could not be read; names where it came from and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError(pub String);

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingError {}

#[derive(Debug, Clone, Copy)]
enum Knob {
    Latency,
    Rate(fn(&mut Faults) -> &mut f64),
}

/// (environment variable, request header, knob): one table so both stay in step.
const KNOBS: [(&str, &str, Knob); 10] = [
    ("FAULT_LATENCY_MS", "x-fault-latency-ms", Knob::Latency),
    (
        "FAULT_ERROR_RATE",
        "x-fault-error-rate",
        Knob::Rate(|f| &mut f.error_rate),
    ),
    (
        "FAULT_RESET_RATE",
        "x-fault-reset-rate",
        Knob::Rate(|f| &mut f.reset_rate),
    ),
    (
        "FAULT_HANG_RATE",
        "x-fault-hang-rate",
        Knob::Rate(|f| &mut f.hang_rate),
    ),
    (
        "FAULT_TRICKLE_RATE",
        "x-fault-trickle-rate",
        Knob::Rate(|f| &mut f.trickle_rate),
    ),
    (
        "FAULT_TRUNCATE_RATE",
        "x-fault-truncate-rate",
        Knob::Rate(|f| &mut f.truncate_rate),
    ),
    (
        "FAULT_WRONG_TYPE_RATE",
        "x-fault-wrong-type-rate",
        Knob::Rate(|f| &mut f.wrong_type_rate),
    ),
    (
        "FAULT_OVERSIZE_RATE",
        "x-fault-oversize-rate",
        Knob::Rate(|f| &mut f.oversize_rate),
    ),
    (
        "CORRUPT_RATE",
        "x-corrupt-rate",
        Knob::Rate(|f| &mut f.corrupt_rate),
    ),
    ("BOMB_RATE", "x-bomb-rate", Knob::Rate(|f| &mut f.bomb_rate)),
];

/// What each knob means, for `--help`, in the order of the table above.
pub const KNOB_HELP: [&str; 10] = [
    "delay before answering, in ms (0-600000)",
    "share answered 503",
    "share whose connection is closed without an answer",
    "share never answered",
    "share whose body trickles (1 KiB per 100 ms)",
    "share whose body stops short of Content-Length",
    "share sent with the other document's Content-Type",
    "share sent as a 64 MiB body",
    "share sent as a corrupt PDF",
    "share sent as a decompression bomb (about 2 GB inflated), distinct every time",
];

/// The environment variables the knobs are read from, in table order.
pub fn knob_variables() -> impl Iterator<Item = &'static str> {
    KNOBS.iter().map(|(var, _, _)| *var)
}

impl Faults {
    /// Every document sound, no faults.
    pub fn none() -> Self {
        Self {
            latency: Duration::ZERO,
            error_rate: 0.0,
            reset_rate: 0.0,
            hang_rate: 0.0,
            trickle_rate: 0.0,
            truncate_rate: 0.0,
            wrong_type_rate: 0.0,
            oversize_rate: 0.0,
            corrupt_rate: 0.0,
            bomb_rate: 0.0,
        }
    }

    /// Defaults overridden by whichever `FAULT_*`/`CORRUPT_RATE` variables `lookup` finds.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let mut faults = Self::default();
        for (var, _, knob) in KNOBS {
            if let Some(raw) = lookup(var) {
                faults.set(knob, raw.trim(), var)?;
            }
        }
        Ok(faults)
    }

    /// These settings overridden by the request's `x-fault-*` headers.
    pub fn with_headers(&self, headers: &HeaderMap) -> Result<Self, SettingError> {
        let mut faults = self.clone();
        for (_, header, knob) in KNOBS {
            if let Some(value) = headers.get(header) {
                let raw = value
                    .to_str()
                    .map_err(|_| SettingError(format!("{header}: not visible ASCII")))?;
                faults.set(knob, raw.trim(), header)?;
            }
        }
        Ok(faults)
    }

    fn set(&mut self, knob: Knob, raw: &str, source: &str) -> Result<(), SettingError> {
        match knob {
            Knob::Latency => {
                let ms: u64 = raw.parse().map_err(|_| {
                    SettingError(format!("{source}={raw:?}: expected milliseconds, 0-600000"))
                })?;
                if ms > 600_000 {
                    return Err(SettingError(format!("{source}={ms}: expected 0-600000")));
                }
                self.latency = Duration::from_millis(ms);
            }
            Knob::Rate(field) => {
                let rate: f64 = raw
                    .parse()
                    .ok()
                    .filter(|r: &f64| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        SettingError(format!("{source}={raw:?}: expected a share 0.0-1.0"))
                    })?;
                *field(self) = rate;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults_and_headers_override_env() {
        let env = |var: &str| (var == "FAULT_ERROR_RATE").then(|| "0.25".to_owned());
        let faults = Faults::from_env(env).expect("valid env");
        assert_eq!(faults.error_rate, 0.25);
        assert_eq!(faults.corrupt_rate, 0.1);

        let mut headers = HeaderMap::new();
        headers.insert("x-fault-latency-ms", "40".parse().expect("header"));
        headers.insert("x-corrupt-rate", "1".parse().expect("header"));
        let per_request = faults.with_headers(&headers).expect("valid headers");
        assert_eq!(per_request.latency, Duration::from_millis(40));
        assert_eq!(per_request.corrupt_rate, 1.0);
        assert_eq!(per_request.error_rate, 0.25);
    }

    #[test]
    fn bad_values_name_the_setting_and_the_range() {
        let env = |var: &str| (var == "FAULT_HANG_RATE").then(|| "2".to_owned());
        let err = Faults::from_env(env).expect_err("out of range");
        assert!(
            err.0.contains("FAULT_HANG_RATE") && err.0.contains("0.0-1.0"),
            "{err}"
        );

        let mut headers = HeaderMap::new();
        headers.insert("x-fault-latency-ms", "soon".parse().expect("header"));
        let err = Faults::none()
            .with_headers(&headers)
            .expect_err("not a number");
        assert!(err.0.contains("x-fault-latency-ms"), "{err}");
    }
}

//! The stand-in's command line: `--help` and `--version` answer, anything else is refused.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_dummy-pdf-or-png");

#[test]
fn help_lists_every_variable_and_unknown_arguments_exit_two() {
    let help = Command::new(BINARY).arg("--help").output().expect("runs");
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    let knobs = dummy_pdf_or_png::faults::knob_variables();
    for var in ["LISTEN_ADDR", "PORT", "DISTINCT_DOCUMENTS"]
        .into_iter()
        .chain(knobs)
    {
        assert!(text.contains(var), "{var} missing in --help:\n{text}");
    }
    let version = Command::new(BINARY).arg("-V").output().expect("runs");
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("dummy-pdf-or-png "));
    let unknown = Command::new(BINARY).arg("serve").output().expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown argument \"serve\""));
}

//! PDF documents from real producers: every one the reference tool accepts is accepted here.
//!
//! The corpus is written by `scripts/corpus/pdf.py` (producers that install in seconds, run at
//! test time, plus the committed fixtures of heavy producers in `fixtures/pdf/`), and judged by
//! `qpdf --check`. `make tools` (scripts/install-tools) installs both.

use document_validate::{DocumentType, Limits, Never, validate_within};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/fixtures/pdf")
}

/// One corpus document and the reference tool's verdict on it.
pub struct Entry {
    pub path: PathBuf,
    pub producer: String,
    /// `qpdf --check`'s exit code: 0 sound, 2 errors, 3 warnings.
    pub qpdf: i32,
    pub message: String,
}

impl Entry {
    /// What a reader opens without complaint: qpdf found nothing, or only warnings about
    /// bookkeeping that no reader relies on (listed here, each seen from a real producer).
    pub fn sound(&self) -> bool {
        const BENIGN: &[&str] = &[
            // pypdf's incremental saves keep the original /Size.
            "reported number of objects",
        ];
        self.qpdf == 0 || (self.qpdf == 3 && BENIGN.iter().any(|b| self.message.contains(b)))
    }
}

/// Runs the corpus script once per content of the script and the fixtures, into a directory
/// under the target dir (written beside it, then renamed, so parallel test processes share it).
pub fn corpus() -> &'static [Entry] {
    static CORPUS: OnceLock<Vec<Entry>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let script = repo_root().join("scripts/corpus/pdf.py");
        let mut key = std::fs::read(&script).expect("scripts/corpus/pdf.py is readable");
        let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures())
            .expect("fixtures/pdf exists")
            .map(|e| e.expect("fixture entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
            .collect();
        names.sort();
        for n in &names {
            key.extend(std::fs::read(n).expect("fixture readable"));
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pdf-corpus-{:08x}", crc32fast::hash(&key)));
        if !dir.join("manifest.tsv").exists() {
            let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
            let run = Command::new("python3")
                .arg(&script)
                .arg(&tmp)
                .output()
                .expect("python3 runs (install it with scripts/install-tools)");
            assert!(
                run.status.success(),
                "scripts/corpus/pdf.py failed (run scripts/install-tools): {}",
                String::from_utf8_lossy(&run.stderr)
            );
            // Another process may have won the race: its corpus is the same.
            if std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest");
        manifest
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.splitn(4, '\t').collect();
                Entry {
                    path: dir.join(f[0]),
                    producer: f[1].to_owned(),
                    qpdf: f[2].parse().expect("exit code"),
                    message: f.get(3).unwrap_or(&"").to_string(),
                }
            })
            .collect()
    })
}

#[test]
fn every_sound_document_from_real_producers_is_accepted() {
    let mut refused = Vec::new();
    let mut accepted = 0;
    for e in corpus().iter().filter(|e| e.sound()) {
        let body = std::fs::read(&e.path).expect("corpus file");
        match validate_within(&body, &Limits::default(), &Never) {
            Ok(DocumentType::Pdf) => accepted += 1,
            other => refused.push(format!("{} ({}): {other:?}", e.path.display(), e.producer)),
        }
    }
    assert!(
        refused.is_empty(),
        "{} of {} sound PDFs refused:\n{}",
        refused.len(),
        refused.len() + accepted,
        refused.join("\n")
    );
    assert!(accepted >= 150, "corpus too small: {accepted}");
}

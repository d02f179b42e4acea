//! PNG documents from real producers: every one the reference tool accepts is accepted here.
//!
//! Producers: Pillow and pypng, run at test time by `scripts/corpus/png-producers.py` (interlaced,
//! 1/2/4/8/16-bit, palette with tRNS, grey+alpha, many IDAT chunks, tEXt/zTXt/iTXt/eXIf, APNG), and
//! every PNG that Debian packages ship under /usr/share. `pngcheck` decides which are sound. Both
//! tools come from `scripts/install-tools`; without them the tests fail, they do not skip.

mod differential;

use document_validate::{DocumentType, validate};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("document-validate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The producers' PNGs, written into `dir`.
fn produce(dir: &Path) -> Vec<PathBuf> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/corpus/png-producers.py");
    let status = Command::new("python3").arg(&script).arg(dir).status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "{}: {status:?} (Pillow and pypng come from scripts/install-tools)",
        script.display()
    );
    pngs_under(dir)
}

/// Every `*.png` below `dir`, sorted.
fn pngs_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let (path, kind) = (entry.path(), entry.file_type());
            if kind.as_ref().is_ok_and(|k| k.is_dir()) {
                todo.push(path);
            } else if kind.is_ok_and(|k| k.is_file())
                && path.extension().is_some_and(|e| e == "png")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `pngcheck -q` over `paths`: the message it gave for each file it rejects (empty: all sound).
fn pngcheck_rejections(paths: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut rejected = Vec::new();
    for batch in paths.chunks(500) {
        let out = Command::new("pngcheck")
            .arg("-q")
            .args(batch)
            .output()
            .expect("pngcheck runs (it comes from scripts/install-tools)");
        // Quiet mode prints nothing for a sound file, a line "<path>  <warning> (warning)" for a
        // file it accepts with a warning, and for a rejected one its messages, each starting with
        // its path, then a line "ERROR: <path>".
        let mut lines: Vec<&str> = Vec::new();
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines() {
            if let Some(path) = line.strip_prefix("ERROR: ") {
                let own = lines.iter().filter(|l| l.starts_with(path));
                let message = own.copied().collect::<Vec<_>>().join("\n");
                rejected.push((PathBuf::from(path), message));
                lines.clear();
            } else {
                lines.push(line);
            }
        }
        assert!(
            out.status.success() || !rejected.is_empty(),
            "pngcheck failed without naming a file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    rejected
}

/// The files pngcheck accepts, with their bytes.
fn sound(paths: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let rejected = pngcheck_rejections(paths);
    paths
        .iter()
        .filter(|p| !rejected.iter().any(|(r, _)| r == *p))
        .map(|p| (p.clone(), std::fs::read(p).expect("read a corpus file")))
        .collect()
}

fn assert_all_accepted(docs: &[(PathBuf, Vec<u8>)]) {
    let refused: Vec<String> = docs
        .iter()
        .filter_map(|(path, bytes)| match validate(bytes) {
            Ok(DocumentType::Png) => None,
            other => Some(format!("{}: {other:?}", path.display())),
        })
        .collect();
    assert!(
        refused.is_empty(),
        "sound PNGs refused:\n{}",
        refused.join("\n")
    );
}

#[test]
fn every_producer_variant_pngcheck_accepts_is_accepted() {
    let dir = TempDir::new("png-corpus");
    let produced = produce(&dir.0);
    let docs = sound(&produced);
    // Every variant the script writes is sound: one pngcheck refused would be a producer bug to
    // look at, not a file to drop silently.
    assert_eq!(
        docs.len(),
        produced.len(),
        "pngcheck refused some of {produced:?}"
    );
    assert!(docs.len() >= 40, "only {} variants", docs.len());
    assert_all_accepted(&docs);
}

#[test]
fn every_png_debian_packages_ship_that_pngcheck_accepts_is_accepted() {
    let docs = sound(&pngs_under(Path::new("/usr/share")));
    // Debian's base system ships icons (adwaita-icon-theme alone has thousands); fewer means the
    // folder was not searched.
    assert!(
        docs.len() >= 100,
        "only {} PNGs under /usr/share",
        docs.len()
    );
    assert_all_accepted(&docs);
}

//! The stand-in upstream's own documents, generated in code so the project builds and tests from a
//! clean clone: a sound PDF shaped like the real `dummy.pdf`, a sound PNG shaped like the real
//! `dummy.png`, and the lossy-text-round-trip damage that produces the real `corrupt-dummy.pdf`.
//!
//! The generators live in `pdf` and `png`; this file holds the public API, the shared
//! deterministic helpers, `corrupt`, and the `distinct` dispatch.

mod bomb;
mod pdf;
mod png;

pub use bomb::{bomb_pdf, bomb_png};
pub use pdf::sample_pdf;
pub use png::{png_chunk, sample_png};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::Write;
use std::sync::OnceLock;

/// Which kind of document a variant is made from; `distinct` needs it to know where to vary bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Png,
}

/// One servable file: the name and content type decide the headers, like `http.ServeFile` does.
#[derive(Debug, Clone)]
pub struct Document {
    pub file_name: &'static str,
    pub content_type: &'static str,
    pub body: Bytes,
}

/// The three files the real upstream picks from, built once per process, and the bombs of the
/// bomb fault.
#[derive(Debug, Clone)]
pub struct Library {
    pub png: Document,
    pub pdf: Document,
    pub corrupt_pdf: Document,
    pub bomb_png: Document,
    pub bomb_pdf: Document,
}

impl Library {
    /// Built on first use: the PNG takes tens of milliseconds to compress, so never per request.
    pub fn get() -> &'static Library {
        static LIBRARY: OnceLock<Library> = OnceLock::new();
        LIBRARY.get_or_init(|| {
            let pdf = sample_pdf();
            Library {
                png: Document {
                    file_name: "dummy.png",
                    content_type: "image/png",
                    body: Bytes::from(sample_png()),
                },
                bomb_png: Document {
                    file_name: "bomb.png",
                    content_type: "image/png",
                    body: Bytes::from(bomb_png()),
                },
                bomb_pdf: Document {
                    file_name: "bomb.pdf",
                    content_type: "application/pdf",
                    body: Bytes::from(bomb_pdf()),
                },
                corrupt_pdf: Document {
                    file_name: "corrupt-dummy.pdf",
                    content_type: "application/pdf",
                    body: Bytes::from(corrupt(&pdf)),
                },
                pdf: Document {
                    file_name: "dummy.pdf",
                    content_type: "application/pdf",
                    body: Bytes::from(pdf),
                },
            }
        })
    }
}

/// Deterministic xorshift64*: the documents must be byte-identical on every build and platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn zlib(data: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        Compression::new(level),
    );
    encoder
        .write_all(data)
        .expect("writing into a Vec cannot fail");
    encoder.finish().expect("writing into a Vec cannot fail")
}

/// The real upstream's damage: a lossy UTF-8 text round trip (invalid bytes become U+FFFD), then
/// LF -> CRLF without doubling existing CRLFs. Header and trailer survive; offsets and streams don't.
pub fn corrupt(doc: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(doc);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// A still-sound variant whose bytes differ for every `n`, so caches and clients can tell
/// responses apart. PNG: a `tEXt` "Variant" chunk just before IEND (replacing one put there
/// earlier). PDF: the second (per-revision) /ID string of the last trailer is rewritten in place at
/// the same length, so no offset moves; without such an /ID a comment goes before `startxref`,
/// which moves no offset either. Input that is not the expected kind comes back unchanged.
pub fn distinct(doc: &[u8], kind: Kind, n: u64) -> Vec<u8> {
    match kind {
        Kind::Png => png::distinct_png(doc, n),
        Kind::Pdf => pdf::distinct_pdf(doc, n),
    }
}

//! Strict PDF structure validation: no repair, no guessing.
//!
//! Checks: the header; the last `startxref` before the final `%%EOF` points exactly at an xref
//! table or an xref stream; the `/Prev` (and hybrid `/XRefStm`) chain; every in-use entry's offset
//! points exactly at `N G obj` with matching numbers and the object parses up to `endobj`; every
//! stream is exactly `/Length` bytes (direct or indirect) then `endstream`; every stream whose first
//! filter is FlateDecode inflates completely (Adler-32 checked); compressed (type 2) entries exist in
//! their object stream; `/Root` resolves to a `/Type/Catalog` dictionary.
//!
//! What cannot be checked: bytes inside free text (string literals such as `/Info` values, names,
//! numbers that nothing cross-checks) and streams with filters other than FlateDecode (only their
//! length is checked). A flip there can leave a structurally sound file.
//!
//! Work is bounded: nesting depth, xref sections, resolution depth, and inflated bytes (total and
//! retained) are capped, and nothing is allocated from a declared size without checking it against
//! the input length first.
//!
//! Layout: this file holds the entry point, the header and trailer checks, the cross-reference
//! model (`Pdf`) and the final per-object and `/Root` passes; `lexer` tokenises objects, `xref`
//! loads the xref sections, `objects` parses and resolves objects (including members of object
//! streams), and `streams` checks stream lengths and decodes or inflates stream data.

mod catalog;
mod codecs;
mod crypt;
mod filters;
mod lexer;
mod objects;
mod streams;
#[cfg(test)]
mod tests;
mod xref;

use super::Rejection;
use lexer::{Value, is_ws};
use std::collections::HashMap;

/// Deepest nesting of arrays/dictionaries accepted (real files stay below 10).
const MAX_DEPTH: usize = 64;
/// Most xref sections followed through `/Prev` and `/XRefStm`.
const MAX_SECTIONS: usize = 1024;
/// Deepest chain of resolutions (indirect /Length inside an object stream whose /Length is ...).
const MAX_RESOLVE_DEPTH: usize = 4;
/// Decoded bytes a document may always produce, whatever its size (a blank scanned A4 page at
/// 300 dpi in greyscale is 8.7 MB of image data that Flate packs into a few KB); above it, up to
/// `Limits::pdf_max_inflate_ratio` times the file's length.
const INFLATE_FLOOR: u64 = 16 * 1024 * 1024;
/// Readers look for the header in the first 1024 bytes; offsets count from its `%`.
const HEADER_WINDOW: usize = 1024;
/// Objects checked between two polls of the interrupt (besides the polls while decoding).
const POLL_OBJECTS: usize = 64;
/// Inflated bytes kept in memory (xref and object streams), as a multiple of the input length.
const RETAIN_FACTOR: usize = 16;
const RETAIN_FLOOR: usize = 1024 * 1024;

/// Validates a whole PDF file: `Ok(())` only if it is structurally sound.
pub fn validate(
    data: &[u8],
    limits: &crate::Limits,
    interrupt: &dyn crate::Interrupt,
) -> Result<(), Rejection> {
    let start =
        header_offset(data).ok_or(Rejection::PdfHeader("no %PDF- in the first 1024 bytes"))?;
    let data = &data[start..];
    check_header(data)?;
    let startxref = find_startxref(data)?;
    let inflate_limit = (data.len() as u64)
        .saturating_mul(u64::from(limits.pdf_max_inflate_ratio))
        .max(INFLATE_FLOOR);
    let mut pdf = Pdf {
        data,
        xref: HashMap::new(),
        objstms: HashMap::new(),
        budget: filters::Budget::new(
            inflate_limit,
            codecs::STREAM_RATIO_MIN.max(u64::from(limits.pdf_max_inflate_ratio)),
            interrupt,
        ),
        retain_left: data.len().saturating_mul(RETAIN_FACTOR).max(RETAIN_FLOOR),
        encrypted: false,
    };
    let trailer = pdf.load_xref(startxref)?;
    pdf.check_encryption(trailer.encrypt)?;
    pdf.check_objects()?;
    pdf.check_root(trailer.root)?;
    pdf.check_info(trailer.info)?;
    pdf.check_id(trailer.id)
}

/// Where `%PDF-` starts, if it starts in the first 1024 bytes (ISO 32000-2, 7.5.2: readers accept
/// bytes before the header, such as a UTF-8 BOM, and count byte offsets from it, as qpdf does).
pub fn header_offset(body: &[u8]) -> Option<usize> {
    let window = &body[..body.len().min(HEADER_WINDOW + 4)];
    window.windows(5).position(|w| w == b"%PDF-")
}

fn check_header(data: &[u8]) -> Result<(), Rejection> {
    let version_ok = match data.get(..8) {
        Some([b'%', b'P', b'D', b'F', b'-', b'1', b'.', minor]) => (b'0'..=b'7').contains(minor),
        Some(b"%PDF-2.0") => true,
        _ => false,
    };
    if !version_ok {
        return Err(Rejection::PdfHeader("not %PDF-1.0..1.7 or %PDF-2.0"));
    }
    match data.get(8) {
        Some(b) if is_ws(*b) => Ok(()),
        _ => Err(Rejection::PdfHeader(
            "version not followed by an end of line",
        )),
    }
}

/// `startxref`, whitespace, digits, whitespace, `%%EOF`, then only whitespace to the end of the
/// file. The whitespace is any (wkhtmltopdf writes a space after the offset).
fn find_startxref(data: &[u8]) -> Result<usize, Rejection> {
    let trim = |s: &[u8]| s.len() - s.iter().rev().take_while(|b| is_ws(**b)).count();
    let body = &data[..trim(data)];
    let before_eof = body
        .strip_suffix(b"%%EOF")
        .ok_or(Rejection::PdfTrailer("file does not end with %%EOF"))?;
    let digits_end = trim(before_eof);
    if digits_end == before_eof.len() {
        return Err(Rejection::PdfStartxref("no end of line before %%EOF"));
    }
    let digits_start = before_eof[..digits_end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = &before_eof[digits_start..digits_end];
    let keyword_end = trim(&before_eof[..digits_start]);
    if keyword_end == digits_start {
        return Err(Rejection::PdfStartxref(
            "the offset is not a line of digits",
        ));
    }
    if !before_eof[..keyword_end].ends_with(b"startxref") {
        return Err(Rejection::PdfTrailer("no startxref line before %%EOF"));
    }
    let offset = parse_usize(digits).ok_or(Rejection::PdfStartxref("not a number"))?;
    if offset >= data.len() {
        return Err(Rejection::PdfStartxref("offset past the end of the file"));
    }
    Ok(offset)
}

fn parse_usize(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0usize, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + usize::from(d - b'0'))
    })
}

// ---------------------------------------------------------------------------------------------
// Cross-reference model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Free,
    InUse { offset: usize, generation: u16 },
    Compressed { stream: u32, index: u32 },
}

/// What the validator reads from the newest trailer.
struct Trailer<'a> {
    root: (u32, u16),
    encrypt: Option<Value<'a>>,
    info: Option<Value<'a>>,
    id: Option<Value<'a>>,
}

/// A parsed `N G obj ... endobj`.
struct Object<'a> {
    value: Value<'a>,
    /// Byte range of the stream data, if the object is a stream.
    stream: Option<std::ops::Range<usize>>,
}

/// A decoded object stream: where each member object's text is.
struct ObjStm {
    data: Vec<u8>,
    first: usize,
    members: Vec<(u32, usize)>,
}

/// The document under validation: the input, the merged xref (entries from newer sections win),
/// decoded object streams, and what is left of the inflate budgets.
struct Pdf<'a> {
    data: &'a [u8],
    xref: HashMap<u32, Entry>,
    objstms: HashMap<u32, ObjStm>,
    budget: filters::Budget<'a>,
    retain_left: usize,
    /// The newest trailer has /Encrypt: stream data is ciphertext (see `crypt`).
    encrypted: bool,
}

impl Pdf<'_> {
    /// Every in-use object: header, syntax, stream framing, FlateDecode integrity; every
    /// compressed entry: present in its object stream.
    fn check_objects(&mut self) -> Result<(), Rejection> {
        let mut entries: Vec<(u32, Entry)> = self.xref.iter().map(|(n, e)| (*n, *e)).collect();
        entries.sort_unstable_by_key(|(n, _)| *n);
        for (i, (num, entry)) in entries.into_iter().enumerate() {
            if i % POLL_OBJECTS == 0 {
                self.budget.poll()?;
            }
            match entry {
                Entry::Free => {}
                Entry::InUse { offset, generation } => {
                    let object = self.parse_object(offset, num, generation, 0)?;
                    if let (Value::Dict(dict), Some(range)) = (&object.value, object.stream) {
                        self.check_stream(dict, range, num)?;
                    }
                }
                Entry::Compressed { stream, index } => {
                    self.compressed(num, stream, index, 0)?;
                }
            }
        }
        Ok(())
    }

    /// Whether object `num`'s value can be read: not a member of an encrypted object stream.
    fn readable(&self, num: u32) -> bool {
        !(self.encrypted && matches!(self.xref.get(&num), Some(Entry::Compressed { .. })))
    }
}

//! The stand-in upstream's own documents, generated in code so the project builds and tests from a
//! clean clone: a sound PDF shaped like the real `dummy.pdf`, a sound PNG shaped like the real
//! `dummy.png`, and the lossy-text-round-trip damage that produces the real `corrupt-dummy.pdf`.

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

/// The three files the real upstream picks from, built once per process.
#[derive(Debug, Clone)]
pub struct Library {
    pub png: Document,
    pub pdf: Document,
    pub corrupt_pdf: Document,
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

/// Serialises numbered objects and remembers where each starts, for the xref table.
struct PdfWriter {
    out: Vec<u8>,
    offsets: Vec<(u32, usize)>,
}

impl PdfWriter {
    fn object(&mut self, num: u32, body: &[u8]) {
        self.offsets.push((num, self.out.len()));
        self.out
            .extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n\n");
    }

    fn stream(&mut self, num: u32, dict: &str, data: &[u8]) {
        self.offsets.push((num, self.out.len()));
        self.out
            .extend_from_slice(format!("{num} 0 obj\n{dict}\nstream\n").as_bytes());
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n\n");
    }
}

/// Page text: the real dummy.pdf says "Dummy PDF file"; this one says so too, in Helvetica (a
/// standard-14 font every viewer has, so the page renders without embedding a real font).
const CONTENT: &str = "q\n0.2 0.4 0.8 rg\n56.7 740 481.6 2 re f\nQ\n\
BT\n/F1 24 Tf\n56.7 760 Td\n(Dummy PDF file) Tj\nET\n\
BT\n/F1 11 Tf\n56.7 715 Td\n14 TL\n\
(Served by the dummy-pdf-or-png stand-in upstream.) Tj\nT*\n\
(A sound PDF-1.4 with an xref table, FlateDecode streams and an indirect /Length.) Tj\nT*\n\
(One request in ten gets its corrupt twin: lossy UTF-8, LF to CRLF.) Tj\nET\n";

const XMP: &str = "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n\
<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Dummy PDF file</rdf:li></rdf:Alt></dc:title>\n\
</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end=\"r\"?>";

/// Deterministic sound PDF-1.4 (about 12 KB) shaped like the real one: xref table, trailer with
/// /Root /Info /ID, a FlateDecode content stream whose /Length is an indirect reference, and a
/// font-program-like FlateDecode stream with /Length1. The second line is a binary comment whose
/// bytes are invalid UTF-8, as real generators write, so `corrupt` changes offsets from there on.
pub fn sample_pdf() -> Vec<u8> {
    let mut w = PdfWriter {
        out: b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec(),
        offsets: Vec::new(),
    };
    w.object(
        1,
        b"<</Type/Catalog/Pages 2 0 R/Metadata 9 0 R/PageMode/UseNone>>",
    );
    w.object(2, b"<</Type/Pages/Kids[3 0 R]/Count 1>>");
    w.object(
        3,
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]\
/Resources<</Font<</F1 6 0 R>>/ProcSet[/PDF/Text]>>/Contents 4 0 R>>",
    );
    let content = zlib(CONTENT.as_bytes(), 9);
    w.stream(4, "<</Length 5 0 R/Filter/FlateDecode>>", &content);
    w.object(5, content.len().to_string().as_bytes());
    w.object(
        6,
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>",
    );
    // Stands in for the real file's embedded TrueType subset (size, /Length1, indirect /Length).
    // Unreferenced on purpose: no viewer will try to parse these bytes as a font.
    let mut rng = Rng(0x5EED_F0F7_D0C0_FFEE);
    let font: Vec<u8> = (0..10_240).map(|_| (rng.next() >> 32) as u8).collect();
    let packed = zlib(&font, 9);
    w.stream(
        7,
        &format!(
            "<</Length 8 0 R/Filter/FlateDecode/Length1 {}>>",
            font.len()
        ),
        &packed,
    );
    w.object(8, packed.len().to_string().as_bytes());
    let xmp = zlib(XMP.as_bytes(), 9);
    w.stream(
        9,
        &format!(
            "<</Type/Metadata/Subtype/XML/Length {}/Filter/FlateDecode>>",
            xmp.len()
        ),
        &xmp,
    );
    w.object(
        10,
        b"<</Title(Dummy PDF file)/Author(dummy-pdf-or-png)/Producer(dummy-pdf-or-png stand-in)\
/CreationDate(D:20070223175637+02'00')>>",
    );

    let xref = w.out.len();
    let size = w.offsets.len() + 1;
    w.offsets.sort_unstable();
    let mut out = w.out;
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for (_, offset) in &w.offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let id = "F7D77B3D22B9F92829D49FF5D78B8F28";
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {size}/Root 1 0 R\n/Info 10 0 R\n/ID [ <{id}>\n<{id}> ]\n>>\n\
startxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

const WIDTH: usize = 1239;
const HEIGHT: usize = 1754;
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Appends one PNG chunk with its length and CRC (also used by the validator's tests).
pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("generated chunks are far below 2^31 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// Draws the page: white A4 at 150 dpi with a title bar, a disc and rows of pseudo-glyphs, which
/// gives real-looking entropy (roughly 50 KB compressed, like the real 48 KB file).
fn draw_page() -> Vec<u8> {
    const WHITE: [u8; 4] = [255, 255, 255, 255];
    let mut px = vec![0u8; WIDTH * HEIGHT * 4];
    for p in px.chunks_exact_mut(4) {
        p.copy_from_slice(&WHITE);
    }
    let mut set = |x: usize, y: usize, rgba: [u8; 4]| {
        if x < WIDTH && y < HEIGHT {
            let i = (y * WIDTH + x) * 4;
            px[i..i + 4].copy_from_slice(&rgba);
        }
    };
    // Title bar with a horizontal gradient.
    for y in 110..190 {
        for x in 100..1139 {
            let t = ((x - 100) * 255 / 1039) as u8;
            set(x, y, [40, 80u8.saturating_add(t / 3), 200 - t / 2, 255]);
        }
    }
    // An anti-aliased disc with partial transparency at its edge.
    let (cx, cy, r) = (1000.0f64, 330.0f64, 90.0f64);
    for y in 230..430 {
        for x in 900..1100 {
            let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
            let cover = (r - d + 0.5).clamp(0.0, 1.0);
            if cover > 0.0 {
                set(x, y, [220, 60, 60, (cover * 255.0) as u8]);
            }
        }
    }
    // A small alphabet of 7x12 glyph bitmaps, then lines of "words" set from it.
    let mut rng = Rng(0x00D0_C0DE_1239_1754);
    let glyphs: Vec<[u8; 12]> = (0..40)
        .map(|_| {
            let mut g = [0u8; 12];
            for row in &mut g {
                *row = (rng.next() >> 57) as u8;
            }
            g
        })
        .collect();
    for line in 0..14 {
        let top = 470 + line * 44;
        let mut x = 100;
        let end = if line % 7 == 6 { 700 } else { 1130 };
        loop {
            let word = 2 + rng.below(9) as usize;
            if x + word * 9 > end {
                break;
            }
            for _ in 0..word {
                let g = &glyphs[rng.below(glyphs.len() as u64) as usize];
                for (dy, bits) in g.iter().enumerate() {
                    for dx in 0..7 {
                        if (bits >> dx) & 1 == 1 {
                            set(x + dx, top + dy, [30, 30, 30, 255]);
                        }
                    }
                }
                x += 9;
            }
            x += 12;
        }
    }
    px
}

/// Applies per-row PNG filtering, choosing Sub or Up by the usual minimum-sum heuristic.
fn filter_rows(px: &[u8]) -> Vec<u8> {
    let stride = WIDTH * 4;
    let mut out = Vec::with_capacity(HEIGHT * (stride + 1));
    let zero = vec![0u8; stride];
    let mut prev: &[u8] = &zero;
    for row in px.chunks_exact(stride) {
        let up = row.iter().zip(prev).map(|(a, b)| a.wrapping_sub(*b));
        let sub = row
            .iter()
            .enumerate()
            .map(|(i, a)| a.wrapping_sub(if i >= 4 { row[i - 4] } else { 0 }));
        let cost = |it: &mut dyn Iterator<Item = u8>| -> u64 {
            it.map(|v| u64::from((v as i8).unsigned_abs())).sum()
        };
        let use_up = cost(&mut up.clone()) <= cost(&mut sub.clone());
        if use_up {
            out.push(2);
            out.extend(up);
        } else {
            out.push(1);
            out.extend(sub);
        }
        prev = row;
    }
    out
}

/// Deterministic sound PNG shaped like the real one: 1239x1754 RGBA 8-bit, non-interlaced, pHYs
/// (150 dpi) and tEXt chunks, IDAT split at 16 KiB like common encoders, ~8.7 MB once inflated.
pub fn sample_png() -> Vec<u8> {
    let idat = zlib(&filter_rows(&draw_page()), 6);
    let mut out = PNG_SIGNATURE.to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(WIDTH as u32).to_be_bytes());
    ihdr.extend_from_slice(&(HEIGHT as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    let mut phys = Vec::with_capacity(9);
    phys.extend_from_slice(&5906u32.to_be_bytes());
    phys.extend_from_slice(&5906u32.to_be_bytes());
    phys.push(1);
    png_chunk(&mut out, b"pHYs", &phys);
    png_chunk(&mut out, b"tEXt", b"Software\0dummy-pdf-or-png stand-in");
    for part in idat.chunks(16_384) {
        png_chunk(&mut out, b"IDAT", part);
    }
    png_chunk(&mut out, b"IEND", &[]);
    out
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

const IEND: &[u8; 12] = b"\0\0\0\0IEND\xAE\x42\x60\x82";
const VARIANT_KEYWORD: &[u8] = b"Variant\0";

/// A still-sound variant whose bytes differ for every `n`, so caches and clients can tell
/// responses apart. PNG: a `tEXt` "Variant" chunk just before IEND (replacing one put there
/// earlier). PDF: the second (per-revision) /ID string of the last trailer is rewritten in place at
/// the same length, so no offset moves; without such an /ID a comment goes before `startxref`,
/// which moves no offset either. Input that is not the expected kind comes back unchanged.
pub fn distinct(doc: &[u8], kind: Kind, n: u64) -> Vec<u8> {
    match kind {
        Kind::Png => distinct_png(doc, n),
        Kind::Pdf => distinct_pdf(doc, n),
    }
}

fn distinct_png(doc: &[u8], n: u64) -> Vec<u8> {
    if doc.len() < PNG_SIGNATURE.len() + IEND.len() || !doc.ends_with(IEND) {
        return doc.to_vec();
    }
    let mut body = &doc[..doc.len() - IEND.len()];
    // Replace our own earlier variant chunk if it sits right before IEND.
    let text = format!("variant {n}");
    let old_len = VARIANT_KEYWORD.len() + "variant ".len() + 20; // u64 has at most 20 digits
    for len in 0..=old_len {
        let Some(start) = body.len().checked_sub(12 + len) else {
            break;
        };
        let chunk = &body[start..];
        if chunk[..4] == (len as u32).to_be_bytes()
            && &chunk[4..8] == b"tEXt"
            && chunk[8..].starts_with(VARIANT_KEYWORD)
        {
            body = &body[..start];
            break;
        }
    }
    let mut data = Vec::with_capacity(VARIANT_KEYWORD.len() + text.len());
    data.extend_from_slice(VARIANT_KEYWORD);
    data.extend_from_slice(text.as_bytes());
    let mut out = Vec::with_capacity(body.len() + data.len() + 24);
    out.extend_from_slice(body);
    png_chunk(&mut out, b"tEXt", &data);
    out.extend_from_slice(IEND);
    out
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Finds the second hex string of `/ID [<...> <...>]` after the last `trailer`; returns the range
/// of its hex digits.
fn second_id(doc: &[u8]) -> Option<std::ops::Range<usize>> {
    let trailer = rfind(doc, b"trailer")?;
    let id = trailer + rfind(&doc[trailer..], b"/ID")? + 3;
    let is_ws = |b: u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0');
    let mut i = id;
    let skip_ws = |i: &mut usize| {
        while *i < doc.len() && is_ws(doc[*i]) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if doc.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    let hex = |i: &mut usize| -> Option<std::ops::Range<usize>> {
        skip_ws(i);
        if doc.get(*i) != Some(&b'<') {
            return None;
        }
        let start = *i + 1;
        let len = doc[start..].iter().position(|b| *b == b'>')?;
        *i = start + len + 1;
        doc[start..start + len]
            .iter()
            .all(u8::is_ascii_hexdigit)
            .then_some(start..start + len)
    };
    hex(&mut i)?;
    let second = hex(&mut i)?;
    (second.len() >= 16).then_some(second)
}

fn distinct_pdf(doc: &[u8], n: u64) -> Vec<u8> {
    let mut out = doc.to_vec();
    if let Some(range) = second_id(doc) {
        // The first 16 hex digits carry n itself, so different n always give different bytes.
        let digits = format!("{n:016X}");
        out[range.start..range.start + 16].copy_from_slice(digits.as_bytes());
        return out;
    }
    match rfind(doc, b"startxref") {
        Some(at) => {
            let comment = format!("%variant {n}\n");
            out.splice(at..at, comment.bytes());
            out
        }
        None => out,
    }
}

//! The sound sample PDF (xref table, FlateDecode streams, indirect /Length) and its same-length
//! `/ID` rewrite for `distinct`.

use super::{Rng, zlib};

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

pub(super) fn distinct_pdf(doc: &[u8], n: u64) -> Vec<u8> {
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

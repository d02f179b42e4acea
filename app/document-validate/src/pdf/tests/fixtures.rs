//! Test fixtures: the sample PDF, text-search helpers that locate its regions independently of
//! the validator, and a hand-built xref-stream PDF that can be broken in specific ways.

use dummy_pdf_or_png::documents::sample_pdf;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::{Read, Write};
use std::ops::Range;
use std::sync::OnceLock;

pub(super) fn sample() -> &'static [u8] {
    static SAMPLE: OnceLock<Vec<u8>> = OnceLock::new();
    SAMPLE.get_or_init(sample_pdf)
}

pub(super) fn find(hay: &[u8], needle: &[u8], from: usize) -> usize {
    from + hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present in the sample")
}

pub(super) fn rfind(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .rposition(|w| w == needle)
        .expect("needle present in the sample")
}

/// Regions of the sample located by plain text search, independently of the validator.
pub(super) struct Regions {
    pub(super) startxref_number: Range<usize>,
    pub(super) xref_table: Range<usize>,
    pub(super) headers: Vec<Range<usize>>,
    pub(super) streams: Vec<Range<usize>>,
}

/// Whether writing `new` at `at` changes nothing a reader relies on: one whitespace byte for
/// another between the tokens of the xref table's `xref` and subsection lines (the 20-byte
/// entries are exact), or one digit for another in a free entry's generation (the generation
/// a reused number would get: readers and qpdf ignore it, and MuPDF writes 65536 there).
pub(super) fn same_syntax(pdf: &[u8], at: usize, new: u8) -> bool {
    let ws = |b: u8| b" \t\r\n\x0c\0".contains(&b);
    let table = regions(pdf).xref_table;
    let line_start = pdf[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let line_end = find(pdf, b"\n", at) + 1;
    let line = &pdf[line_start..line_end];
    let free_generation =
        line.len() == 20 && line[17] == b'f' && (11..16).contains(&(at - line_start));
    table.contains(&at)
        && ((ws(pdf[at]) && ws(new) && line.len() != 20)
            || (free_generation && new.is_ascii_digit()))
}

pub(super) fn regions(pdf: &[u8]) -> Regions {
    let sx = rfind(pdf, b"startxref\n") + b"startxref\n".len();
    let startxref_number = sx..find(pdf, b"\n", sx);
    let xref = rfind(pdf, b"\nxref\n") + 1;
    let xref_table = xref..find(pdf, b"trailer", xref);
    let table = &pdf[xref_table.clone()];
    let mut headers = Vec::new();
    let mut streams = Vec::new();
    for line in table.split(|b| *b == b'\n').filter(|l| l.ends_with(b" n ")) {
        let offset: usize = std::str::from_utf8(&line[..10])
            .expect("ascii")
            .parse()
            .expect("digits");
        let header_end = find(pdf, b" obj", offset) + 4;
        headers.push(offset..header_end);
        let endobj = find(pdf, b"endobj", offset);
        if let Some(p) = pdf[offset..endobj]
            .windows(7)
            .position(|w| w == b"stream\n")
        {
            let start = offset + p + 7;
            streams.push(start..rfind(&pdf[..endobj], b"\nendstream"));
        }
    }
    Regions {
        startxref_number,
        xref_table,
        headers,
        streams,
    }
}

/// What a zlib stream decodes to, or `None` when it does not decode.
pub(super) fn inflated(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(raw)
        .read_to_end(&mut out)
        .ok()
        .map(|_| out)
}

pub(super) fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("vec write");
    e.finish().expect("vec write")
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Break {
    None,
    Offset,
    Member,
    RootType,
}

/// PDF-1.5 with the catalog and pages in an object stream, indexed by a FlateDecode xref
/// stream with the PNG Up predictor (/Predictor 12), like modern writers produce.
pub(super) fn xref_stream_pdf(brk: Break) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = [0usize; 8];
    let catalog: &[u8] = if brk == Break::RootType {
        b"<</Type/Pages/Pages 2 0 R>>"
    } else {
        b"<</Type/Catalog/Pages 2 0 R>>"
    };
    let pages: &[u8] = b"<</Type/Pages/Kids[3 0 R]/Count 1>>";
    let header = format!("1 0 2 {} ", catalog.len() + 1);
    let mut members = header.clone().into_bytes();
    members.extend_from_slice(catalog);
    members.push(b' ');
    members.extend_from_slice(pages);
    let packed = zlib(&members);
    offsets[6] = out.len();
    out.extend_from_slice(
        format!(
            "6 0 obj\n<</Type/ObjStm/N 2/First {}/Length {}/Filter/FlateDecode>>\nstream\n",
            header.len(),
            packed.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&packed);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    offsets[3] = out.len();
    out.extend_from_slice(
        b"3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>\nendobj\n",
    );
    let content = zlib(b"BT /F1 12 Tf 72 720 Td (xref stream) Tj ET");
    offsets[4] = out.len();
    out.extend_from_slice(b"4 0 obj\n<</Length 5 0 R/Filter/FlateDecode>>\nstream\r\n");
    out.extend_from_slice(&content);
    out.extend_from_slice(b"endstream\nendobj\n");
    offsets[5] = out.len();
    out.extend_from_slice(format!("5 0 obj\n{}\nendobj\n", content.len()).as_bytes());
    offsets[7] = out.len();
    if brk == Break::Offset {
        offsets[3] += 1;
    }
    let member_index = if brk == Break::Member { 1 } else { 0 };
    let rows: Vec<[u8; 4]> = (0..8)
        .map(|n| match n {
            0 => [0, 0, 0, 255],
            1 => [2, 0, 6, member_index],
            2 => [2, 0, 6, 1],
            _ => {
                let o = u16::try_from(offsets[n]).expect("small test file");
                let [hi, lo] = o.to_be_bytes();
                [1, hi, lo, 0]
            }
        })
        .collect();
    let mut predicted = Vec::new();
    let mut prev = [0u8; 4];
    for row in &rows {
        predicted.push(2);
        predicted.extend(row.iter().zip(prev).map(|(a, b)| a.wrapping_sub(b)));
        prev = *row;
    }
    let packed = zlib(&predicted);
    out.extend_from_slice(
        format!(
            "7 0 obj\n<</Type/XRef/Size 8/W[1 2 1]/Root 1 0 R/Length {}/Filter/FlateDecode\
/DecodeParms<</Columns 4/Predictor 12>>>>\nstream\n",
            packed.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&packed);
    out.extend_from_slice(
        format!("\nendstream\nendobj\nstartxref\n{}\n%%EOF\n", offsets[7]).as_bytes(),
    );
    out
}

//! Stream filter chains (ISO 32000-2, 7.4): which filters are decoded and checked, the predictor
//! of each stage (/DecodeParms), and the budget every decoder charges its output to.
//!
//! Decoded and checked: ASCIIHexDecode, ASCII85Decode, RunLengthDecode, LZWDecode (EarlyChange
//! 0 or 1) and FlateDecode, each with the TIFF (2) or PNG (10..15) predictor where /DecodeParms
//! says so. Passed through unchecked, with every filter after them: DCTDecode, JPXDecode,
//! JBIG2Decode and CCITTFaxDecode (image codecs: checking them means decoding the image) and
//! Crypt (its output depends on the document's key). A name outside ISO 32000's list is refused:
//! no reader can decode that stream.

use super::Rejection;
use super::lexer::{Dict, Value};
use crate::Interrupt;

/// The decoders this module runs (see `codecs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Codec {
    AsciiHex,
    Ascii85,
    RunLength,
    Lzw { early_change: bool },
    Flate,
}

/// A predictor applied after a Flate or LZW stage: `row` is the bytes per row without the PNG
/// tag byte, `bpp` the bytes per pixel (rounded up), `bpc` the bits per component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Predictor {
    None,
    Tiff { row: usize, bpp: usize, bpc: u8 },
    Png { row: usize, bpp: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stage {
    pub(super) codec: Codec,
    pub(super) predictor: Predictor,
}

/// The filters this module can check, in decoding order; `opaque_tail` says an unchecked filter
/// (or an indirect /Filter or /DecodeParms) follows them.
#[derive(Debug, Default)]
pub(super) struct Chain {
    pub(super) stages: Vec<Stage>,
    pub(super) opaque_tail: bool,
}

/// Filters whose output this validator cannot check, full names and inline-image abbreviations.
const PASS_THROUGH: &[&[u8]] = &[
    b"DCTDecode",
    b"DCT",
    b"JPXDecode",
    b"JBIG2Decode",
    b"CCITTFaxDecode",
    b"CCF",
    b"Crypt",
];

/// Reads /Filter and /DecodeParms into a [`Chain`].
pub(super) fn chain(dict: &Dict<'_>) -> Result<Chain, &'static str> {
    let filters: Vec<&[u8]> = match dict.get(b"Filter") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Name(n)) => vec![n],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::Name(n) => Ok(*n),
                _ => Err("/Filter array holds a non-name"),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Ref(..)) => return Ok(opaque()),
        Some(_) => return Err("/Filter is neither a name nor an array"),
    };
    let parms: Vec<Option<&Dict<'_>>> = match dict.get(b"DecodeParms") {
        // PyMuPDF writes `/DecodeParms<<>>` on unfiltered images.
        _ if filters.is_empty() => Vec::new(),
        None | Some(Value::Null) => vec![None; filters.len()],
        Some(Value::Dict(d)) if filters.len() == 1 => vec![Some(d)],
        Some(Value::Array(a)) if a.len() == filters.len() => a
            .iter()
            .map(|v| match v {
                Value::Dict(d) => Ok(Some(d)),
                Value::Null => Ok(None),
                _ => Err("/DecodeParms entry is neither a dictionary nor null"),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Ref(..)) => return Ok(opaque()),
        Some(_) => return Err("/DecodeParms does not match /Filter"),
    };
    let mut chain = Chain::default();
    for (name, parms) in filters.into_iter().zip(parms) {
        let codec = match name {
            b"FlateDecode" | b"Fl" => Codec::Flate,
            b"LZWDecode" | b"LZW" => Codec::Lzw {
                early_change: parms.and_then(|p| p.int(b"EarlyChange")).unwrap_or(1) != 0,
            },
            b"ASCIIHexDecode" | b"AHx" => Codec::AsciiHex,
            b"ASCII85Decode" | b"A85" => Codec::Ascii85,
            b"RunLengthDecode" | b"RL" => Codec::RunLength,
            _ if PASS_THROUGH.contains(&name) => {
                chain.opaque_tail = true;
                break;
            }
            _ => return Err("unknown /Filter name"),
        };
        let predictor = match codec {
            Codec::Flate | Codec::Lzw { .. } => parms.map_or(Ok(Predictor::None), predictor)?,
            _ => Predictor::None,
        };
        chain.stages.push(Stage { codec, predictor });
    }
    Ok(chain)
}

fn opaque() -> Chain {
    Chain {
        stages: Vec::new(),
        opaque_tail: true,
    }
}

fn predictor(p: &Dict<'_>) -> Result<Predictor, &'static str> {
    let kind = p.int(b"Predictor").unwrap_or(1);
    let columns = p.int(b"Columns").unwrap_or(1);
    let colors = p.int(b"Colors").unwrap_or(1);
    let bpc = p.int(b"BitsPerComponent").unwrap_or(8);
    if kind == 1 {
        return Ok(Predictor::None);
    }
    if !(1..=1 << 20).contains(&columns)
        || !(1..=32).contains(&colors)
        || ![1, 2, 4, 8, 16].contains(&bpc)
    {
        return Err("bad predictor parameters in /DecodeParms");
    }
    // In range by the checks above: at most 2^20 * 32 * 16 bits.
    let row = ((columns * colors * bpc) as usize).div_ceil(8);
    let bpp = ((colors * bpc) as usize).div_ceil(8);
    match kind {
        2 => Ok(Predictor::Tiff {
            row,
            bpp,
            bpc: bpc as u8,
        }),
        10..=15 => Ok(Predictor::Png { row, bpp }),
        _ => Err("unsupported /Predictor"),
    }
}

/// Decoded output is handed on in pieces of about this many bytes.
pub(super) const PIECE: usize = 32 * 1024;
/// The interrupt is polled after this many decoded bytes.
const POLL_EVERY: u64 = 256 * 1024;

/// What decoding may still produce for this document, and who may stop it.
pub(super) struct Budget<'i> {
    left: u64,
    limit: u64,
    /// How many times its input a stream that is not image samples may inflate to.
    stream_ratio: u64,
    until_poll: u64,
    interrupt: &'i dyn Interrupt,
}

impl<'i> Budget<'i> {
    pub(super) fn new(limit: u64, stream_ratio: u64, interrupt: &'i dyn Interrupt) -> Self {
        Self {
            left: limit,
            limit,
            stream_ratio,
            until_poll: POLL_EVERY,
            interrupt,
        }
    }

    /// Counts `n` decoded bytes; polls the interrupt every [`POLL_EVERY`] bytes.
    pub(super) fn charge(&mut self, n: usize) -> Result<(), Rejection> {
        let n = n as u64;
        self.left = self
            .left
            .checked_sub(n)
            .ok_or(Rejection::PdfInflateLimit { limit: self.limit })?;
        if n >= self.until_poll {
            self.until_poll = POLL_EVERY;
            self.poll()
        } else {
            self.until_poll -= n;
            Ok(())
        }
    }

    pub(super) fn stream_ratio(&self) -> u64 {
        self.stream_ratio
    }

    pub(super) fn poll(&self) -> Result<(), Rejection> {
        if self.interrupt.interrupted() {
            Err(Rejection::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Where decoded pieces go.
pub(super) type Sink<'s> = &'s mut dyn FnMut(&[u8]) -> Result<(), Rejection>;

/// Checks that every PNG row of streamed predictor output starts with a tag 0..=4 (a partial
/// last row is accepted, as readers do), then passes the piece on.
pub(super) fn check_png_rows(
    stride: usize,
    seen: &mut usize,
    piece: &[u8],
) -> Result<(), &'static str> {
    let mut i = (stride - *seen % stride) % stride;
    while let Some(tag) = piece.get(i) {
        if *tag > 4 {
            return Err("PNG predictor row tag is not 0..=4");
        }
        i += stride;
    }
    *seen += piece.len();
    Ok(())
}

/// Undoes a predictor over a whole decoded stream (xref and object streams, which are parsed).
pub(super) fn unpredict(data: Vec<u8>, predictor: Predictor) -> Result<Vec<u8>, &'static str> {
    match predictor {
        Predictor::None => Ok(data),
        Predictor::Tiff { row, bpp, bpc: 8 } => {
            let mut data = data;
            for line in data.chunks_mut(row) {
                for i in bpp..line.len() {
                    line[i] = line[i].wrapping_add(line[i - bpp]);
                }
            }
            Ok(data)
        }
        Predictor::Tiff { .. } => {
            Err("TIFF predictor below 8 bits per component in a parsed stream")
        }
        Predictor::Png { row, bpp } => {
            unpredict_png(&data, row, bpp).ok_or("bad PNG predictor data")
        }
    }
}

fn unpredict_png(data: &[u8], row: usize, bpp: usize) -> Option<Vec<u8>> {
    if row == 0 || !data.len().is_multiple_of(row + 1) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / (row + 1) * row);
    let mut prev = vec![0u8; row];
    let mut cur = vec![0u8; row];
    for line in data.chunks_exact(row + 1) {
        let (filter, src) = (line[0], &line[1..]);
        for i in 0..row {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                _ => return None,
            };
            cur[i] = src[i].wrapping_add(predicted);
        }
        out.extend_from_slice(&cur);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

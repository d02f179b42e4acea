//! Stream data: exact `/Length` (direct or indirect), complete FlateDecode inflation with
//! Adler-32 and a byte budget, and decoding of the streams that must be kept (xref streams with
//! PNG predictors, object streams).

use super::lexer::{Dict, Value, is_ws};
use super::{Pdf, Rejection};
use flate2::{Decompress, FlushDecompress, Status};

impl Pdf<'_> {
    pub(super) fn stream_length(
        &mut self,
        dict: &Dict<'_>,
        num: u32,
        depth: usize,
    ) -> Result<usize, Rejection> {
        let bad = Rejection::PdfStreamLength { object: num };
        let value = match dict.get(b"Length") {
            Some(Value::Int(i)) => *i,
            Some(Value::Ref(n, g)) => match self.resolve(*n, *g, depth + 1) {
                Ok(Value::Int(i)) => i,
                Ok(_) => return Err(bad),
                Err(Rejection::PdfLimits(l)) => return Err(Rejection::PdfLimits(l)),
                Err(_) => return Err(bad),
            },
            _ => return Err(bad),
        };
        usize::try_from(value).map_err(|_| bad)
    }

    /// Decodes a stream that must be kept (xref or object stream): no filter or FlateDecode,
    /// optional PNG predictor for xref streams.
    pub(super) fn decode_retained(
        &mut self,
        dict: &Dict<'_>,
        range: std::ops::Range<usize>,
        num: u32,
        xref: bool,
    ) -> Result<Vec<u8>, Rejection> {
        let data = self.data;
        let at = range.start;
        let raw = &data[range];
        let unsupported = |detail| {
            if xref {
                Rejection::PdfXref { offset: at, detail }
            } else {
                Rejection::PdfObjectStream {
                    object: num,
                    detail,
                }
            }
        };
        let flate = match first_filter(dict) {
            Ok(None) => false,
            Ok(Some(f)) if f == b"FlateDecode" => true,
            _ => return Err(unsupported("filter other than FlateDecode")),
        };
        if flate && matches!(dict.get(b"Filter"), Some(Value::Array(a)) if a.len() > 1) {
            return Err(unsupported("filter chain"));
        }
        let mut out = Vec::new();
        if flate {
            let mut retain_left = self.retain_left;
            inflate(raw, &mut self.buf, &mut self.inflate_left, num, |chunk| {
                if chunk.len() > retain_left {
                    return Err(Rejection::PdfLimits(
                        "xref/object streams inflate too large",
                    ));
                }
                retain_left -= chunk.len();
                out.extend_from_slice(chunk);
                Ok(())
            })?;
            self.retain_left = retain_left;
        } else {
            out.extend_from_slice(raw);
        }
        if !xref {
            return Ok(out);
        }
        let predictor = match dict.get(b"DecodeParms") {
            None => None,
            Some(Value::Dict(p)) => Some(p),
            Some(_) => return Err(unsupported("bad /DecodeParms")),
        };
        match predictor.and_then(|p| p.int(b"Predictor")).unwrap_or(1) {
            1 => Ok(out),
            10..=15 => {
                let p = predictor.ok_or(unsupported("bad /DecodeParms"))?;
                let columns = p.int(b"Columns").unwrap_or(1);
                let colors = p.int(b"Colors").unwrap_or(1);
                let bpc = p.int(b"BitsPerComponent").unwrap_or(8);
                if !(1..=1 << 20).contains(&columns)
                    || !(1..=32).contains(&colors)
                    || ![1, 2, 4, 8, 16].contains(&bpc)
                {
                    return Err(unsupported("bad predictor parameters"));
                }
                let bits = (columns * colors * bpc) as usize;
                let bpp = ((colors * bpc) as usize).div_ceil(8);
                unpredict_png(&out, bits.div_ceil(8), bpp)
                    .ok_or(unsupported("bad PNG predictor data"))
            }
            _ => Err(unsupported("unsupported predictor")),
        }
    }

    pub(super) fn check_stream(
        &mut self,
        dict: &Dict<'_>,
        range: std::ops::Range<usize>,
        num: u32,
    ) -> Result<(), Rejection> {
        match first_filter(dict) {
            Ok(Some(f)) if f == b"FlateDecode" => {
                let data = self.data;
                let raw = &data[range];
                inflate(raw, &mut self.buf, &mut self.inflate_left, num, |_| Ok(())).map(|_| ())
            }
            Ok(_) => Ok(()), // other filters: the length check is all that can be done here
            Err(detail) => Err(Rejection::PdfSyntax {
                object: num,
                detail,
            }),
        }
    }
}

/// The first filter applied when decoding, if any.
fn first_filter<'v>(dict: &'v Dict<'_>) -> Result<Option<&'v [u8]>, &'static str> {
    match dict.get(b"Filter") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Name(n)) => Ok(Some(n)),
        Some(Value::Array(a)) => match a.first() {
            None => Ok(None),
            Some(Value::Name(n)) => Ok(Some(n)),
            Some(_) => Err("/Filter array holds a non-name"),
        },
        Some(_) => Err("/Filter is neither a name nor an array"),
    }
}

/// Undoes PNG row predictors (types 0-4 per row, as xref streams use with /Predictor 10-15).
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
                4 => {
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
                _ => return None,
            };
            cur[i] = src[i].wrapping_add(predicted);
        }
        out.extend_from_slice(&cur);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(out)
}

/// Inflates a zlib stream completely into `buf` chunks handed to `sink`. The stream must end
/// (Adler-32 verified by the inflater) within `raw`; only whitespace may follow it.
fn inflate(
    raw: &[u8],
    buf: &mut [u8],
    budget: &mut u64,
    num: u32,
    mut sink: impl FnMut(&[u8]) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    let fail = |detail| Rejection::PdfFlate {
        object: num,
        detail,
    };
    let mut inflater = Decompress::new(true);
    let mut at = 0usize;
    loop {
        let (in0, out0) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(&raw[at..], buf, FlushDecompress::None)
            .map_err(|_| fail("invalid deflate data or Adler-32 mismatch"))?;
        let consumed = (inflater.total_in() - in0) as usize;
        let produced = inflater.total_out() - out0;
        at += consumed;
        *budget = budget
            .checked_sub(produced)
            .ok_or(Rejection::PdfLimits("too many inflated bytes"))?;
        sink(&buf[..produced as usize])?;
        if status == Status::StreamEnd {
            break;
        }
        if consumed == 0 && produced == 0 {
            return Err(fail("zlib stream is truncated"));
        }
    }
    if raw[at..].iter().all(|b| is_ws(*b)) {
        Ok(())
    } else {
        Err(fail("data after the end of the zlib stream"))
    }
}

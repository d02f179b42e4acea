//! The image data: one zlib stream over the IDAT chunks, which must inflate completely (Adler-32
//! verified, nothing after its end) to exactly the size IHDR implies, every scanline of every pass
//! starting with a filter type 0..=4.
//!
//! Two inflaters, chosen by that size. Up to [`ONE_SHOT_MAX`] decoded bytes, libdeflate inflates
//! the whole stream in one call into a buffer of exactly that size: the fastest inflater in
//! `benches/inflate.rs` (1.5-3x zlib-rs's speed on the stand-in's and Pillow's images,
//! docs/benchmarks.md "Validation"), and the buffer it needs is known from IHDR before it starts.
//! Above that, zlib-rs streams through a 64 KiB buffer, so memory per validation stays bounded
//! whatever the image's size and the interrupt is polled between 64 KiB pieces.

use super::header::{Header, Pass};
use crate::{Interrupt, Rejection};
use flate2::{Decompress, FlushDecompress, Status};
use libdeflater::{DecompressionError, Decompressor};

/// The largest decoded size inflated in one call, so the most memory one validation holds (plus
/// the IDAT data joined, at most the body's size). With the service's bound of one validation per
/// core, 16 MiB keeps 2 cores at 32 MiB, and covers a 2048 x 2048 RGB or 1920 x 1080 RGBA image.
/// One call of that size takes about 5 ms of CPU here, the longest the interrupt goes unpolled.
pub(super) const ONE_SHOT_MAX: u64 = 16 << 20;

/// The streaming inflater's output buffer: amortises the per-call cost, stays in L2.
const STREAM_BUF: usize = 64 * 1024;

const BAD_DATA: Rejection = Rejection::PngZlib("invalid deflate data or Adler-32 mismatch");
const TRAILING: Rejection = Rejection::PngZlib("data after the end of the zlib stream");

/// Checks the image data `idat` (the IDAT chunks' contents, in order) against `header`, in one
/// call if it decodes to at most `one_shot_max` bytes (normally [`ONE_SHOT_MAX`]).
pub(super) fn check(
    header: &Header,
    idat: &[&[u8]],
    interrupt: &dyn Interrupt,
    one_shot_max: u64,
) -> Result<(), Rejection> {
    let mut lines = Scanlines::new(header);
    if lines.expected <= one_shot_max {
        one_shot(&mut lines, idat, interrupt)?;
    } else {
        streaming(&mut lines, idat, interrupt)?;
    }
    lines.finish()
}

fn one_shot(
    lines: &mut Scanlines,
    idat: &[&[u8]],
    interrupt: &dyn Interrupt,
) -> Result<(), Rejection> {
    let joined;
    let stream: &[u8] = match idat {
        [single] => single,
        _ => {
            joined = idat.concat();
            &joined
        }
    };
    if interrupt.interrupted() {
        return Err(Rejection::Interrupted);
    }
    let expected = usize::try_from(lines.expected).map_err(|_| lines.too_long())?;
    let mut out = vec![0u8; expected];
    let produced = Decompressor::new()
        .zlib_decompress(stream, &mut out)
        .map_err(|e| match e {
            DecompressionError::BadData => BAD_DATA,
            DecompressionError::InsufficientSpace => lines.too_long(),
        })?;
    if interrupt.interrupted() {
        return Err(Rejection::Interrupted);
    }
    let out = &out[..produced];
    // libdeflate checked the Adler-32 where the stream ends but does not say where that is: the
    // stream ends at the end of the data only if its last four bytes are that checksum.
    let trailer = stream.len().checked_sub(4).map(|at| &stream[at..]);
    if trailer != Some(&adler32(out).to_be_bytes()[..]) {
        return Err(TRAILING);
    }
    lines.feed(out)
}

fn adler32(data: &[u8]) -> u32 {
    let mut hash = simd_adler32::Adler32::new();
    hash.write(data);
    hash.finish()
}

fn streaming(
    lines: &mut Scanlines,
    idat: &[&[u8]],
    interrupt: &dyn Interrupt,
) -> Result<(), Rejection> {
    let mut inflater = Decompress::new(true);
    let mut buf = vec![0u8; STREAM_BUF];
    let mut ended = false;
    for part in idat {
        let mut at = 0usize;
        while !ended {
            if interrupt.interrupted() {
                return Err(Rejection::Interrupted);
            }
            let (in0, out0) = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress(&part[at..], &mut buf, FlushDecompress::None)
                .map_err(|_| BAD_DATA)?;
            let consumed = (inflater.total_in() - in0) as usize;
            let produced = (inflater.total_out() - out0) as usize;
            at += consumed;
            lines.feed(&buf[..produced])?;
            if status == Status::StreamEnd {
                ended = true;
            } else if consumed == 0 && produced == 0 {
                break; // needs the next IDAT
            }
        }
        if ended && at < part.len() {
            return Err(TRAILING);
        }
    }
    if !ended {
        return Err(Rejection::PngZlib("zlib stream is truncated"));
    }
    Ok(())
}

/// Walks the inflated bytes piece by piece, checking each scanline's filter byte and the total.
struct Scanlines {
    passes: Vec<Pass>,
    pass: usize,
    rows_left: u64,
    /// Offset inside the current row; 0 means the next byte is a filter-type byte.
    in_row: u64,
    total: u64,
    expected: u64,
}

impl Scanlines {
    fn new(header: &Header) -> Self {
        let passes = header.passes();
        let expected = header.decoded_size();
        let rows_left = passes.first().map_or(0, |p| p.rows);
        Self {
            passes,
            pass: 0,
            rows_left,
            in_row: 0,
            total: 0,
            expected,
        }
    }

    fn too_long(&self) -> Rejection {
        Rejection::PngImageTooLong {
            expected: self.expected,
        }
    }

    fn feed(&mut self, mut out: &[u8]) -> Result<(), Rejection> {
        self.total += out.len() as u64;
        if self.total > self.expected {
            return Err(self.too_long());
        }
        while let Some(&first) = out.first() {
            let Some(pass) = self.passes.get(self.pass) else {
                // Unreachable given the total check above; refuse rather than panic.
                return Err(self.too_long());
            };
            if self.in_row == 0 && first > 4 {
                return Err(Rejection::PngFilter(first));
            }
            let take = (pass.row - self.in_row).min(out.len() as u64);
            out = &out[take as usize..];
            self.in_row += take;
            if self.in_row == pass.row {
                self.in_row = 0;
                self.rows_left -= 1;
                if self.rows_left == 0 {
                    self.pass += 1;
                    self.rows_left = self.passes.get(self.pass).map_or(0, |p| p.rows);
                }
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), Rejection> {
        if self.total == self.expected {
            Ok(())
        } else {
            Err(Rejection::PngImageSize {
                expected: self.expected,
                actual: self.total,
            })
        }
    }
}

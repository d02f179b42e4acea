//! The image data: one zlib stream over the IDAT chunks, which must inflate completely (Adler-32
//! verified, nothing after its end) to exactly the size IHDR implies, every scanline of every pass
//! starting with a filter type 0..=4.
//!
//! The inflater is miniz_oxide (safe Rust), streaming through a 64 KiB window: of the inflaters
//! compared in `benches/inflate.rs` (docs/benchmarks.md, "Validation") it is the fastest on the
//! stand-in's documents once each validation's cost is counted whole. libdeflate inflates faster
//! into a buffer of the whole decoded size, but that buffer is memory per validation (megabytes,
//! faulted in each time) and libdeflater does not say where the stream ends, so finding data after
//! it costs a second pass over the output; together they cost more than miniz_oxide here. The
//! window keeps memory per validation at 64 KiB whatever the image's size, stays in L2, and gives
//! the pieces between which the interrupt is polled.

use super::header::{Header, Pass};
use crate::{Interrupt, Rejection};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_COMPUTE_ADLER32, TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_PARSE_ZLIB_HEADER,
    TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

/// The inflate window: a power of two (miniz_oxide wraps around it) of at least deflate's 32 KiB
/// back-reference distance. Also the most output between two polls of the interrupt.
pub(super) const WINDOW: usize = 64 * 1024;

const TRAILING: Rejection = Rejection::PngZlib("data after the end of the zlib stream");
const TRUNCATED: Rejection = Rejection::PngZlib("zlib stream is truncated");

/// Checks the image data `idat` (the IDAT chunks' contents, in order) against `header`.
pub(super) fn check(
    header: &Header,
    idat: &[&[u8]],
    interrupt: &dyn Interrupt,
) -> Result<(), Rejection> {
    let mut lines = Scanlines::new(header);
    let mut state = Box::<DecompressorOxide>::default();
    let mut window = vec![0u8; WINDOW];
    let (mut at, mut ended) = (0usize, false);
    // Until the window first fills, its positions are the stream's own: telling miniz_oxide so
    // makes it refuse a back-reference to before the start of the data ("distance too far back",
    // which zlib refuses), a check it cannot make in a window that has wrapped. Once the window
    // has filled, the stream is longer than deflate's 32 KiB reach and no distance can be too far.
    let mut history = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    for (i, part) in idat.iter().enumerate() {
        let mut rest: &[u8] = part;
        let more = if i + 1 < idat.len() {
            TINFL_FLAG_HAS_MORE_INPUT
        } else {
            0
        };
        while !ended {
            if interrupt.interrupted() {
                return Err(Rejection::Interrupted);
            }
            let flags = TINFL_FLAG_PARSE_ZLIB_HEADER | TINFL_FLAG_COMPUTE_ADLER32 | more | history;
            let (status, read, written) = decompress(&mut state, rest, &mut window, at, flags);
            rest = &rest[read..];
            // Output never wraps within one call: it fills the window from `at` to its end at most.
            lines.feed(&window[at..at + written])?;
            at = (at + written) & (WINDOW - 1);
            if at == 0 && written > 0 {
                history = 0;
            }
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput => break,
                TINFLStatus::Done => ended = true,
                TINFLStatus::FailedCannotMakeProgress => return Err(TRUNCATED),
                TINFLStatus::Adler32Mismatch => {
                    return Err(Rejection::PngZlib("Adler-32 mismatch"));
                }
                _ => {
                    return Err(Rejection::PngZlib("invalid zlib header or deflate data"));
                }
            }
        }
        if !rest.is_empty() {
            return Err(TRAILING);
        }
    }
    if !ended {
        return Err(TRUNCATED);
    }
    lines.finish()
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

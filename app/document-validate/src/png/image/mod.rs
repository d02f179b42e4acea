//! The image data: one zlib stream over the IDAT chunks, which must inflate completely (Adler-32
//! verified, nothing after its end) to exactly the size IHDR implies, every scanline of every pass
//! starting with a filter type 0..=4. Two inflaters make these same checks, chosen by the decoded
//! size IHDR implies and how many times the data inflates (docs/validation-cost.md has the
//! comparison behind the choice):
//!
//! - `streaming`: the validator's own decoder through a window that stays in cache, for data
//!   that inflates at least [`WINDOW_MIN_RATIO`] times (documents: a page's white space is long
//!   runs and row copies, and writing it to memory and reading it back would cost more than
//!   decoding it), for any image above [`WHOLE_MAX`], and when the whole buffer is in use. Memory
//!   per validation is fixed whatever the size, and the interrupt is polled every piece.
//! - `whole`: libdeflate into the process's one buffer of the decoded size, for the rest up to
//!   [`WHOLE_MAX`]: photos and scans, mostly literals, which libdeflate's decoding is 1.3-1.7x
//!   faster on. It costs the decoded size in memory and cannot be interrupted mid-stream, so
//!   both are bounded by the cap.

mod streaming;
mod whole;

use super::header::{Header, Pass};
use crate::{Interrupt, Rejection};

/// The largest decoded size inflated by libdeflate into a whole buffer: 16 MiB holds a scanned A4
/// page at 150 dpi in RGBA (8.7 MB) or at 300 dpi in grey (8.7 MB). Inflating it takes libdeflate
/// a few milliseconds, the longest a validation runs between two polls of the interrupt, and it
/// is the most memory the process holds for decoded image data (one buffer).
pub const WHOLE_MAX: u64 = 16 << 20;

/// Image data that inflates at least this many times its compressed size is streamed: at 32
/// output bytes per input byte it is mostly long matches, whose cost is the memory they fill.
pub const WINDOW_MIN_RATIO: u64 = 32;

const TRAILING: Rejection = Rejection::PngZlib("data after the end of the zlib stream");
const TRUNCATED: Rejection = Rejection::PngZlib("zlib stream is truncated");

/// Which inflater checks the image data: [`Inflate::BySize`] in [`super::validate`]; the others
/// force one, for the tests and the benchmark that compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflate {
    /// `Whole` up to [`WHOLE_MAX`] decoded bytes for data that inflates less than
    /// [`WINDOW_MIN_RATIO`] times, if the buffer is free; else `Streaming`.
    BySize,
    /// The whole buffer, waited for if another validation holds it.
    Whole,
    Streaming,
}

/// Checks the image data `idat` (the IDAT chunks' contents, in order) against `header`.
pub(super) fn check(
    header: &Header,
    idat: &[&[u8]],
    interrupt: &dyn Interrupt,
    inflate: Inflate,
) -> Result<(), Rejection> {
    let joined;
    let stream: &[u8] = if let [one] = idat {
        one
    } else {
        joined = idat.concat();
        &joined
    };
    let decoded = header.decoded_size();
    let ratio_streams = decoded >= (stream.len() as u64).saturating_mul(WINDOW_MIN_RATIO);
    match inflate {
        Inflate::BySize if decoded <= WHOLE_MAX && !ratio_streams => {
            whole::check(header, stream, interrupt, false)
        }
        Inflate::Whole => whole::check(header, stream, interrupt, true),
        Inflate::BySize | Inflate::Streaming => streaming::check(header, stream, interrupt),
    }
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

    /// Walks the next `len` inflated bytes, `byte(i)` being the one at `i` of them: only the
    /// filter bytes are read.
    fn feed(&mut self, len: usize, byte: impl Fn(usize) -> Option<u8>) -> Result<(), Rejection> {
        self.total += len as u64;
        if self.total > self.expected {
            return Err(self.too_long());
        }
        let mut at = 0;
        while let Some(first) = byte(at) {
            let Some(pass) = self.passes.get(self.pass) else {
                // Unreachable given the total check above; refuse rather than panic.
                return Err(self.too_long());
            };
            if self.in_row == 0 && first > 4 {
                return Err(Rejection::PngFilter(first));
            }
            let take = (pass.row - self.in_row).min((len - at) as u64);
            at += take as usize;
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

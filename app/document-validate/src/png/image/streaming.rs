//! The streaming inflater: miniz_oxide (safe Rust) through a 64 KiB window, for images of any
//! decoded size. Memory per validation is the window plus miniz_oxide's state (about 11 KiB)
//! whatever the image's size, the window stays in L2, and it gives the pieces between which the
//! interrupt is polled: at most 64 KiB of output, well under a millisecond of work.

use super::{Scanlines, TRAILING, TRUNCATED};
use crate::png::header::Header;
use crate::{Interrupt, Rejection};
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_COMPUTE_ADLER32, TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_PARSE_ZLIB_HEADER,
    TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

/// The inflate window: a power of two (miniz_oxide wraps around it) of at least deflate's 32 KiB
/// back-reference distance. Also the most output between two polls of the interrupt.
pub(crate) const WINDOW: usize = 64 * 1024;

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

//! The whole-buffer inflater: libdeflate (`libdeflate-exact`) inflates the IDAT stream in one call
//! into a buffer of exactly the decoded size IHDR implies, then the scanlines are walked in it.
//!
//! What each check becomes: libdeflate verifies the zlib header, the deflate data and the Adler-32
//! and reports the input it used (less than the IDAT data: data after the stream's end); a stream
//! that inflates past the buffer is too long; fewer bytes written is too short; the filter bytes
//! are read where each row starts (one byte per row, no second pass over the image). libdeflate
//! says only "bad data" for a broken stream, so the streaming inflater, which names the failure
//! (Adler-32, truncation, invalid data), re-reads that stream: a refused image costs both, and
//! the verdict stays a refusal whatever the second says.
//!
//! The buffer is allocated per validation and not zeroed (libdeflate writes before it reads);
//! freed, the allocator hands the same pages to the next one.

use super::{Scanlines, TRAILING, streaming};
use crate::png::header::Header;
use crate::{Interrupt, Rejection};
use libdeflate_exact::{Error, Inflater};

/// Checks the image data `idat` (the IDAT chunks' contents, in order) against `header`.
pub(super) fn check(
    header: &Header,
    idat: &[&[u8]],
    interrupt: &dyn Interrupt,
) -> Result<(), Rejection> {
    if interrupt.interrupted() {
        return Err(Rejection::Interrupted);
    }
    let expected = header.decoded_size();
    let Ok(size) = usize::try_from(expected) else {
        return streaming::check(header, idat, interrupt);
    };
    let joined;
    let stream: &[u8] = if let [one] = idat {
        one
    } else {
        joined = idat.concat();
        &joined
    };
    let mut buffer = Vec::<u8>::with_capacity(size);
    let inflated = Inflater::new().zlib(stream, &mut buffer.spare_capacity_mut()[..size]);
    if interrupt.interrupted() {
        return Err(Rejection::Interrupted);
    }
    match inflated {
        Ok(inflated) => {
            if inflated.consumed != stream.len() {
                return Err(TRAILING);
            }
            let mut lines = Scanlines::new(header);
            lines.feed(inflated.output)?;
            lines.finish()
        }
        Err(Error::OutputFull) => Err(Rejection::PngImageTooLong { expected }),
        Err(Error::BadData) => {
            drop(buffer);
            streaming::check(header, idat, interrupt)
                .and(Err(Rejection::PngZlib("invalid zlib stream")))
        }
    }
}

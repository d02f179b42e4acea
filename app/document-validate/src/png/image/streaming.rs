//! The streaming inflater: the validator's own decoder (`crate::inflate`), whose output goes
//! through a window that stays in L2 cache, handed on in pieces of at most
//! [`inflate::PIECE_MAX`] bytes. Memory per validation is the window (about 160 KiB, kept per
//! thread) whatever the image's size; each piece's scanlines are walked while it is in cache, and
//! the interrupt is polled before each one: well under a millisecond of work apart.

use super::{Scanlines, TRAILING, TRUNCATED};
use crate::inflate::{self, StreamError};
use crate::png::header::Header;
use crate::{Interrupt, Rejection};

/// Checks the image data `stream` (the IDAT chunks' contents, joined) against `header`.
pub(super) fn check(
    header: &Header,
    stream: &[u8],
    interrupt: &dyn Interrupt,
) -> Result<(), Rejection> {
    if interrupt.interrupted() {
        return Err(Rejection::Interrupted);
    }
    let mut lines = Scanlines::new(header);
    let inflated = inflate::zlib(stream, |piece| {
        if interrupt.interrupted() {
            return Err(Rejection::Interrupted);
        }
        lines.feed(piece.len(), |i| piece.get(i))
    });
    match inflated {
        Ok(used) if used == stream.len() => lines.finish(),
        Ok(_) => Err(TRAILING),
        Err(inflate::Error::Sink(rejection)) => Err(rejection),
        Err(inflate::Error::Stream(StreamError::Truncated)) => Err(TRUNCATED),
        Err(inflate::Error::Stream(StreamError::Adler32)) => {
            Err(Rejection::PngZlib("Adler-32 mismatch"))
        }
        Err(inflate::Error::Stream(StreamError::Invalid(what))) => Err(Rejection::PngZlib(what)),
    }
}

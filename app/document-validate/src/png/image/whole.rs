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
//! One buffer for the process, kept between validations and never zeroed (libdeflate writes before
//! it reads, and only what it wrote is looked at): a validation that finds it in use streams
//! instead, so however many validations run at once, the process holds at most one decoded image.

use super::{Scanlines, TRAILING, streaming};
use crate::png::header::Header;
use crate::{Interrupt, Rejection};
use libdeflate_exact::{Error, Inflater};
use std::sync::{Mutex, PoisonError, TryLockError};

/// The inflate buffer, as large as the largest image it has held (at most `WHOLE_MAX`). Kept: a
/// fresh buffer per validation is fresh pages from the kernel each time (jemalloc returns
/// allocations above 8 MiB to it at once), and with every document distinct the page faults cost
/// the service more CPU than the inflating. One, not one per validation running: each whole
/// buffer is up to 16 MiB more resident memory, and a validation that finds it in use streams
/// up to about 1.8x slower (docs/validation-cost.md).
static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Runs `inflate` with the buffer, grown to at least `size` bytes of capacity: at once if it is
/// free, else after waiting for it if `wait`, else not at all (`None`).
fn with_buffer<R>(size: usize, wait: bool, inflate: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
    // A poisoned lock only means a panic elsewhere while inflating; the buffer is still a buffer.
    let mut buffer = match BUFFER.try_lock() {
        Ok(buffer) => buffer,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) if wait => {
            BUFFER.lock().unwrap_or_else(PoisonError::into_inner)
        }
        Err(TryLockError::WouldBlock) => return None,
    };
    if buffer.capacity() < size {
        // Nothing in it is kept: a new allocation (on huge pages), not a copying `reserve`.
        *buffer = libdeflate_exact::output_buffer(size);
    }
    Some(inflate(&mut buffer))
}

/// Checks the image data `stream` (the IDAT chunks' contents, joined) against `header`, in the
/// buffer if it is free or `wait` says to wait for it, else by streaming.
pub(super) fn check(
    header: &Header,
    stream: &[u8],
    interrupt: &dyn Interrupt,
    wait: bool,
) -> Result<(), Rejection> {
    if interrupt.interrupted() {
        return Err(Rejection::Interrupted);
    }
    let expected = header.decoded_size();
    let Ok(size) = usize::try_from(expected) else {
        return streaming::check(header, stream, interrupt);
    };
    let checked = with_buffer(size, wait, |buffer| {
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
                lines.feed(inflated.output.len(), |i| inflated.output.get(i).copied())?;
                lines.finish()
            }
            Err(Error::OutputFull) => Err(Rejection::PngImageTooLong { expected }),
            Err(Error::BadData) => streaming::check(header, stream, interrupt)
                .and(Err(Rejection::PngZlib("invalid zlib stream"))),
        }
    });
    checked.unwrap_or_else(|| streaming::check(header, stream, interrupt))
}

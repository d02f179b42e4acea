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
//! Buffers are kept between validations and never zeroed (libdeflate writes before it reads, and
//! only what it wrote is looked at).

use super::{Scanlines, TRAILING, streaming};
use crate::png::header::Header;
use crate::{Interrupt, Rejection};
use libdeflate_exact::{Error, Inflater};
use std::sync::Mutex;

/// Inflate buffers between validations: as many as ran at once at the peak (in the service, at
/// most one per core), each as large as the largest image it held (at most `WHOLE_MAX`). A fresh
/// buffer per validation is fresh pages from the kernel each time (jemalloc returns allocations
/// above 8 MiB to it at once): with every document distinct, the page faults cost the service
/// more CPU than the inflating. One per thread instead held a buffer on every blocking thread
/// that ever validated, more than validations run at once.
static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Runs `inflate` with a kept buffer of at least `size` bytes of capacity, and keeps it again.
fn with_buffer<R>(size: usize, inflate: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    // A poisoned lock only means a panic elsewhere while pushing or popping: use a new buffer.
    let kept = SPARE.lock().ok().and_then(|mut spare| spare.pop());
    let mut buffer = kept.unwrap_or_default();
    if buffer.capacity() < size {
        // Nothing in it is kept: a new allocation, not a copying `reserve`.
        buffer = Vec::with_capacity(size);
    }
    let result = inflate(&mut buffer);
    if let Ok(mut spare) = SPARE.lock() {
        spare.push(buffer);
    }
    result
}

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
    with_buffer(size, |buffer| {
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
            Err(Error::BadData) => streaming::check(header, idat, interrupt)
                .and(Err(Rejection::PngZlib("invalid zlib stream"))),
        }
    })
}

//! libdeflate's zlib inflate into a caller's buffer, reporting how many input bytes the stream
//! used (so data after its end can be refused) and how many output bytes it wrote.
//!
//! `libdeflater`, the safe wrapper, calls `libdeflate_zlib_decompress`, which drops the input
//! count; this calls `libdeflate_zlib_decompress_ex` (libdeflate-sys, the same C library). What
//! libdeflate checks (lib/zlib_decompress.c, lib/deflate_decompress.c of libdeflate 1.26): the
//! zlib header (CM 8, CINFO <= 7, FCHECK, no preset dictionary), the whole deflate stream
//! (no back-reference before the start of the output, no invalid code or length), and the
//! Adler-32 of what it wrote against the four bytes after the stream's end.
//!
//! Also [`output_buffer`]: the buffer to inflate large images into, backed by huge pages; and
//! [`adler32`], libdeflate's checksum (its AVX2 code is about 1.4x simd-adler32's on this
//! machine: docs/validation-cost.md), for the validator's own streaming inflater.

use libdeflate_sys::{
    libdeflate_adler32, libdeflate_alloc_decompressor, libdeflate_decompressor,
    libdeflate_free_decompressor,
    libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE as INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS as SUCCESS, libdeflate_zlib_decompress_ex,
};
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Why a stream did not inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not a complete, valid zlib stream with a matching Adler-32 (libdeflate does not say which).
    BadData,
    /// The stream inflates to more than the output buffer holds.
    OutputFull,
}

/// A successful inflate: the stream's length in the input, and the bytes it inflated to.
#[derive(Debug)]
pub struct Inflated<'out> {
    /// Input bytes the zlib stream took, header and Adler-32 included.
    pub consumed: usize,
    /// The inflated data: the first bytes of the output buffer, all written by libdeflate.
    pub output: &'out [u8],
}

/// One libdeflate decompressor (about 11 KiB of tables). Not shared between threads.
#[derive(Debug)]
pub struct Inflater {
    raw: NonNull<libdeflate_decompressor>,
}

impl Inflater {
    /// Allocates the decompressor.
    ///
    /// # Panics
    /// If libdeflate cannot allocate it (out of memory), as `Vec` does.
    pub fn new() -> Self {
        // SAFETY: takes no arguments; returns an owned decompressor or NULL, checked below.
        #[allow(unsafe_code)]
        let raw = unsafe { libdeflate_alloc_decompressor() };
        Self {
            raw: NonNull::new(raw).expect("libdeflate_alloc_decompressor: out of memory"),
        }
    }

    /// Inflates the zlib stream at the start of `input` into `out`, which need not be
    /// initialised: only the bytes libdeflate reports written are returned, as `output`.
    pub fn zlib<'out>(
        &mut self,
        input: &[u8],
        out: &'out mut [MaybeUninit<u8>],
    ) -> Result<Inflated<'out>, Error> {
        let (mut consumed, mut written) = (0usize, 0usize);
        // SAFETY: `self.raw` is a live decompressor owned by `self`, used by one thread at a
        // time (`&mut self`). `input` is readable for `input.len()` bytes and `out` writable for
        // `out.len()` bytes for the duration of the call; libdeflate reads nothing from `out`
        // that it has not written first (a back-reference before the output's start is refused),
        // and keeps neither pointer after returning. The two counts are valid `usize` places.
        #[allow(unsafe_code)]
        let result = unsafe {
            libdeflate_zlib_decompress_ex(
                self.raw.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &raw mut consumed,
                &raw mut written,
            )
        };
        match result {
            SUCCESS if written <= out.len() => {
                let output = &out[..written];
                // SAFETY: on success libdeflate has written the first `written` bytes of `out`
                // (and `written <= out.len()` is checked above), so they are initialised;
                // `MaybeUninit<u8>` has the layout of `u8`.
                #[allow(unsafe_code)]
                let output = unsafe { &*(std::ptr::from_ref(output) as *const [u8]) };
                Ok(Inflated { consumed, output })
            }
            INSUFFICIENT_SPACE => Err(Error::OutputFull),
            _ => Err(Error::BadData),
        }
    }
}

/// The Adler-32 `adler` (1 for none yet) continued over `bytes`.
pub fn adler32(adler: u32, bytes: &[u8]) -> u32 {
    // SAFETY: `bytes` is readable for `bytes.len()` bytes for the duration of the call, and
    // libdeflate only reads them (it keeps no pointer after returning).
    #[allow(unsafe_code)]
    unsafe {
        libdeflate_adler32(adler, bytes.as_ptr().cast(), bytes.len())
    }
}

/// Transparent huge pages are 2 MiB on x86-64 and on arm64 with 4 KiB pages.
const HUGE_PAGE: usize = 2 << 20;

/// An empty buffer of `capacity` bytes to inflate a large image into, whose whole 2 MiB stretches
/// the kernel is asked to back with transparent huge pages (`madvise(MADV_HUGEPAGE)`; Linux's
/// default THP mode, `madvise`, uses them only where asked). Inflating an 8.7 MB image writes it
/// and the Adler-32 reads it back: in 4 KiB pages that is a TLB miss every page on both passes.
/// Best effort: where the kernel has no THP or no huge page free, the buffer is plain pages.
/// Ask before the buffer is first written: pages already touched stay as they are.
pub fn output_buffer(capacity: usize) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(capacity);
    advise_huge_pages(buffer.spare_capacity_mut());
    buffer
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(memory: &mut [MaybeUninit<u8>]) {
    let offset = memory.as_mut_ptr().align_offset(HUGE_PAGE);
    let whole = memory.len().saturating_sub(offset) / HUGE_PAGE * HUGE_PAGE;
    if whole == 0 {
        return;
    }
    // SAFETY: the range is inside `memory` (offset + whole <= len), which this function borrows
    // exclusively, and starts on a 2 MiB boundary (so on a page boundary, as madvise requires).
    // MADV_HUGEPAGE changes no byte and no mapping the allocator relies on: it only tells the
    // kernel how to back the pages when they are first touched. Its result is ignored: advice.
    #[allow(unsafe_code)]
    unsafe {
        libc::madvise(
            memory.as_mut_ptr().add(offset).cast(),
            whole,
            libc::MADV_HUGEPAGE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &mut [MaybeUninit<u8>]) {}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from libdeflate_alloc_decompressor and is freed once, here.
        #[allow(unsafe_code)]
        unsafe {
            libdeflate_free_decompressor(self.raw.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_is_rfc_1950s() {
        // RFC 1950's definition, byte by byte, over bytes long enough for the vector code.
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in &bytes {
            a = (a + u32::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(1, &bytes), (b << 16) | a);
        let (head, tail) = bytes.split_at(33_333);
        assert_eq!(adler32(adler32(1, head), tail), (b << 16) | a);
    }

    #[test]
    fn an_output_buffer_is_empty_with_the_capacity_asked_and_holds_an_inflated_stream() {
        for capacity in [0, 100, 3 * HUGE_PAGE + 12345] {
            let mut buffer = output_buffer(capacity);
            assert!(buffer.is_empty() && buffer.capacity() >= capacity);
            let data = vec![7u8; capacity.min(1000)];
            let inflated = Inflater::new()
                .zlib(&zlib(&data), &mut buffer.spare_capacity_mut()[..capacity])
                .expect("inflates");
            assert_eq!(inflated.output, data.as_slice());
        }
    }

    /// A stored-block zlib stream (no compressor needed): header, one final stored block, Adler-32.
    fn zlib(data: &[u8]) -> Vec<u8> {
        assert!(data.len() <= 0xFFFF);
        let len = data.len() as u16;
        let mut out = vec![0x78, 0x01, 0x01];
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(data);
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in data {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        out.extend_from_slice(&((b << 16) | a).to_be_bytes());
        out
    }

    fn uninit(n: usize) -> Vec<MaybeUninit<u8>> {
        vec![MaybeUninit::uninit(); n]
    }

    #[test]
    fn reports_the_stream_length_and_the_output() {
        let stream = zlib(b"hello, image data");
        let mut input = stream.clone();
        input.extend_from_slice(b"trailing");
        let mut out = uninit(64);
        let inflated = Inflater::new()
            .zlib(&input, &mut out)
            .expect("sound stream");
        assert_eq!(inflated.consumed, stream.len());
        assert_eq!(inflated.output, b"hello, image data");
    }

    #[test]
    fn a_wrong_adler32_or_a_truncated_stream_is_bad_data() {
        let mut stream = zlib(b"hello, image data");
        let mut out = uninit(64);
        let mut inflater = Inflater::new();
        let short = &stream[..stream.len() - 1];
        assert_eq!(inflater.zlib(short, &mut out).err(), Some(Error::BadData));
        *stream.last_mut().expect("non-empty") ^= 1;
        assert_eq!(inflater.zlib(&stream, &mut out).err(), Some(Error::BadData));
    }

    #[test]
    fn more_output_than_the_buffer_holds_is_output_full() {
        let stream = zlib(b"hello, image data");
        let mut out = uninit(16);
        assert_eq!(
            Inflater::new().zlib(&stream, &mut out).err(),
            Some(Error::OutputFull)
        );
    }
}

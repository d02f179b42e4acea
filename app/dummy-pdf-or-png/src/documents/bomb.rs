//! Decompression bombs: bodies under the service's 2 MiB cap that inflate to about 2 GB. A PNG
//! whose IHDR claims a 30000 x 16000 RGBA image (1.9 GB decoded) with image data to match, and a
//! PDF whose one FlateDecode stream inflates to 1.9 GB. Both are otherwise well-formed (CRCs,
//! xref offsets, Adler-32), so only a limit on what inflating may cost stops a validator.
//!
//! Built once: 1 MiB of a pattern is deflated once into a block sequence that ends byte-aligned
//! (a sync flush) and refers to nothing before itself, so repeating it is still a valid stream.
//! The pattern is not one byte repeated (a validator that takes runs of one byte by formula
//! inflates zeros at tens of GB/s, and such a bomb costs it nothing): it is 0, 1, 0, 1, ... A
//! distance of 2 takes no extra bits, so it deflates as small as zeros, and every PNG row starts
//! with 0 or 1 (filter type None or Sub): the image data stays sound until it runs short.

use super::png::png_chunk;
use flate2::{Compress, Compression, FlushCompress};

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// The pattern's length.
const PERIOD: usize = 2;
/// Decoded bytes behind each repetition of the deflated block (whole periods).
const PIECE: usize = 1 << 20;
/// Repetitions: about 1.9 GB inflated, about 1.9 MB deflated.
const PIECES: usize = 1830;
const WIDTH: u32 = 30_000;
const HEIGHT: u32 = 16_000;

/// The bytes the bombs inflate to, one period.
fn pattern() -> [u8; PERIOD] {
    [0, 1]
}

const ADLER_BASE: u32 = 65_521;

/// The Adler-32 of `a` followed by `len2` bytes whose Adler-32 is `b`: zlib's `adler32_combine`
/// (adler32.c).
fn adler32_combine(a: u32, b: u32, len2: usize) -> u32 {
    let rem = (len2 % ADLER_BASE as usize) as u64;
    let base = u64::from(ADLER_BASE);
    let a1 = u64::from(a & 0xFFFF);
    let sum2 = rem * a1 % base;
    let sum1 = (a1 + u64::from(b & 0xFFFF) + base - 1) % base;
    let sum2 = (sum2 + u64::from(a >> 16) + u64::from(b >> 16) + base - rem) % base;
    (sum1 | (sum2 << 16)) as u32
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= ADLER_BASE;
        b %= ADLER_BASE;
    }
    (b << 16) | a
}

/// A zlib stream of the pattern repeated to `PIECES * PIECE` bytes.
fn pattern_zlib() -> Vec<u8> {
    let piece_data: Vec<u8> = pattern().iter().copied().cycle().take(PIECE).collect();
    let mut compress = Compress::new(Compression::best(), false);
    let mut piece = Vec::with_capacity(PIECE / 128);
    compress
        .compress_vec(&piece_data, &mut piece, FlushCompress::Sync)
        .expect("deflating into a large enough Vec cannot fail");
    let mut out = Vec::with_capacity(2 + piece.len() * PIECES + 6);
    out.extend_from_slice(&[0x78, 0xDA]);
    let piece_adler = adler32(&piece_data);
    let mut adler = 1;
    for _ in 0..PIECES {
        out.extend_from_slice(&piece);
        adler = adler32_combine(adler, piece_adler, PIECE);
    }
    // A final, empty fixed-Huffman block, then the Adler-32 of it all.
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&adler.to_be_bytes());
    out
}

pub fn bomb_png() -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&WIDTH.to_be_bytes());
    ihdr.extend_from_slice(&HEIGHT.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, adaptive filters, no interlace
    let mut out = PNG_SIGNATURE.to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &pattern_zlib());
    png_chunk(&mut out, b"IEND", &[]);
    out
}

pub fn bomb_pdf() -> Vec<u8> {
    let data = pattern_zlib();
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(&mut out, b"<</Type/Catalog/Pages 2 0 R>>");
    object(&mut out, b"<</Type/Pages/Kids[3 0 R]/Count 1>>");
    object(
        &mut out,
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>",
    );
    let mut stream =
        format!("<</Length {}/Filter/FlateDecode>>\nstream\n", data.len()).into_bytes();
    stream.extend_from_slice(&data);
    stream.extend_from_slice(b"\nendstream");
    object(&mut out, &stream);
    let xref = out.len();
    let size = offsets.len() + 1;
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let id = "B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0B0";
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {size}/Root 1 0 R/ID [ <{id}> <{id}> ]>>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn bombs_fit_under_the_cap_and_inflate_to_gigabytes() {
        for bomb in [bomb_png(), bomb_pdf()] {
            assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
        }
        let data = pattern_zlib();
        let mut inflated = 0u64;
        let mut buf = vec![0u8; PERIOD * 4096];
        let expected: Vec<u8> = pattern()
            .iter()
            .copied()
            .cycle()
            .take(buf.len() + PERIOD)
            .collect();
        let mut decoder = flate2::read::ZlibDecoder::new(&data[..]);
        loop {
            let n = decoder
                .read(&mut buf)
                .expect("a valid zlib stream, Adler-32 included");
            if n == 0 {
                break;
            }
            let at = (inflated % PERIOD as u64) as usize;
            assert!(
                buf[..n] == expected[at..at + n],
                "the pattern, from byte {inflated}"
            );
            inflated += n as u64;
        }
        assert_eq!(inflated, (PIECES * PIECE) as u64);
        assert!(inflated > 1_900_000_000);
    }
}

//! The sound sample PNG (drawn page, filtered rows, split IDAT), the chunk writer, and the
//! `tEXt` variant chunk for `distinct`.

use super::{Rng, zlib};

const WIDTH: usize = 1239;
const HEIGHT: usize = 1754;
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Appends one PNG chunk with its length and CRC (also used by the validator's tests).
pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("generated chunks are far below 2^31 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// Draws the page: white A4 at 150 dpi with a title bar, a disc and rows of pseudo-glyphs, which
/// gives real-looking entropy (roughly 50 KB compressed, like the real 48 KB file).
fn draw_page() -> Vec<u8> {
    const WHITE: [u8; 4] = [255, 255, 255, 255];
    let mut px = vec![0u8; WIDTH * HEIGHT * 4];
    for p in px.chunks_exact_mut(4) {
        p.copy_from_slice(&WHITE);
    }
    let mut set = |x: usize, y: usize, rgba: [u8; 4]| {
        if x < WIDTH && y < HEIGHT {
            let i = (y * WIDTH + x) * 4;
            px[i..i + 4].copy_from_slice(&rgba);
        }
    };
    // Title bar with a horizontal gradient.
    for y in 110..190 {
        for x in 100..1139 {
            let t = ((x - 100) * 255 / 1039) as u8;
            set(x, y, [40, 80u8.saturating_add(t / 3), 200 - t / 2, 255]);
        }
    }
    // An anti-aliased disc with partial transparency at its edge.
    let (cx, cy, r) = (1000.0f64, 330.0f64, 90.0f64);
    for y in 230..430 {
        for x in 900..1100 {
            let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
            let cover = (r - d + 0.5).clamp(0.0, 1.0);
            if cover > 0.0 {
                set(x, y, [220, 60, 60, (cover * 255.0) as u8]);
            }
        }
    }
    // A small alphabet of 7x12 glyph bitmaps, then lines of "words" set from it.
    let mut rng = Rng(0x00D0_C0DE_1239_1754);
    let glyphs: Vec<[u8; 12]> = (0..40)
        .map(|_| {
            let mut g = [0u8; 12];
            for row in &mut g {
                *row = (rng.next() >> 57) as u8;
            }
            g
        })
        .collect();
    for line in 0..14 {
        let top = 470 + line * 44;
        let mut x = 100;
        let end = if line % 7 == 6 { 700 } else { 1130 };
        loop {
            let word = 2 + rng.below(9) as usize;
            if x + word * 9 > end {
                break;
            }
            for _ in 0..word {
                let g = &glyphs[rng.below(glyphs.len() as u64) as usize];
                for (dy, bits) in g.iter().enumerate() {
                    for dx in 0..7 {
                        if (bits >> dx) & 1 == 1 {
                            set(x + dx, top + dy, [30, 30, 30, 255]);
                        }
                    }
                }
                x += 9;
            }
            x += 12;
        }
    }
    px
}

/// Applies per-row PNG filtering, choosing Sub or Up by the usual minimum-sum heuristic.
fn filter_rows(px: &[u8]) -> Vec<u8> {
    let stride = WIDTH * 4;
    let mut out = Vec::with_capacity(HEIGHT * (stride + 1));
    let zero = vec![0u8; stride];
    let mut prev: &[u8] = &zero;
    for row in px.chunks_exact(stride) {
        let up = row.iter().zip(prev).map(|(a, b)| a.wrapping_sub(*b));
        let sub = row
            .iter()
            .enumerate()
            .map(|(i, a)| a.wrapping_sub(if i >= 4 { row[i - 4] } else { 0 }));
        let cost = |it: &mut dyn Iterator<Item = u8>| -> u64 {
            it.map(|v| u64::from((v as i8).unsigned_abs())).sum()
        };
        let use_up = cost(&mut up.clone()) <= cost(&mut sub.clone());
        if use_up {
            out.push(2);
            out.extend(up);
        } else {
            out.push(1);
            out.extend(sub);
        }
        prev = row;
    }
    out
}

/// Deterministic sound PNG shaped like the real one: 1239x1754 RGBA 8-bit, non-interlaced, pHYs
/// (150 dpi) and tEXt chunks, IDAT split at 16 KiB like common encoders, ~8.7 MB once inflated.
pub fn sample_png() -> Vec<u8> {
    let idat = zlib(&filter_rows(&draw_page()), 6);
    let mut out = PNG_SIGNATURE.to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(WIDTH as u32).to_be_bytes());
    ihdr.extend_from_slice(&(HEIGHT as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    let mut phys = Vec::with_capacity(9);
    phys.extend_from_slice(&5906u32.to_be_bytes());
    phys.extend_from_slice(&5906u32.to_be_bytes());
    phys.push(1);
    png_chunk(&mut out, b"pHYs", &phys);
    png_chunk(&mut out, b"tEXt", b"Software\0dummy-pdf-or-png stand-in");
    for part in idat.chunks(16_384) {
        png_chunk(&mut out, b"IDAT", part);
    }
    png_chunk(&mut out, b"IEND", &[]);
    out
}

const IEND: &[u8; 12] = b"\0\0\0\0IEND\xAE\x42\x60\x82";
const VARIANT_KEYWORD: &[u8] = b"Variant\0";

pub(super) fn distinct_png(doc: &[u8], n: u64) -> Vec<u8> {
    if doc.len() < PNG_SIGNATURE.len() + IEND.len() || !doc.ends_with(IEND) {
        return doc.to_vec();
    }
    let mut body = &doc[..doc.len() - IEND.len()];
    // Replace our own earlier variant chunk if it sits right before IEND.
    let text = format!("variant {n}");
    let old_len = VARIANT_KEYWORD.len() + "variant ".len() + 20; // u64 has at most 20 digits
    for len in 0..=old_len {
        let Some(start) = body.len().checked_sub(12 + len) else {
            break;
        };
        let chunk = &body[start..];
        if chunk[..4] == (len as u32).to_be_bytes()
            && &chunk[4..8] == b"tEXt"
            && chunk[8..].starts_with(VARIANT_KEYWORD)
        {
            body = &body[..start];
            break;
        }
    }
    let mut data = Vec::with_capacity(VARIANT_KEYWORD.len() + text.len());
    data.extend_from_slice(VARIANT_KEYWORD);
    data.extend_from_slice(text.as_bytes());
    let mut out = Vec::with_capacity(body.len() + data.len() + 24);
    out.extend_from_slice(body);
    png_chunk(&mut out, b"tEXt", &data);
    out.extend_from_slice(IEND);
    out
}

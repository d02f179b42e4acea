//! Strict PNG validation: every chunk's CRC, the critical-chunk grammar, and a full inflate of the
//! image data whose size must match IHDR exactly (`image`). An image whose IHDR implies more
//! decoded bytes than the limit is refused at IHDR, before anything is inflated.

mod header;
mod image;
#[cfg(test)]
pub(crate) mod tests;

use super::{Interrupt, Limits, Rejection};
use header::{Header, MAX_U31};
pub use image::{Inflate, WHOLE_MAX, WINDOW_MIN_RATIO};

/// The 8-byte PNG signature.
pub const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Validates a whole PNG file: `Ok(())` only if it is structurally sound.
pub fn validate(data: &[u8], limits: &Limits, interrupt: &dyn Interrupt) -> Result<(), Rejection> {
    validate_inflating(data, limits, interrupt, image::Inflate::BySize)
}

/// [`validate`] with the image data checked by the inflater `inflate` says.
pub fn validate_inflating(
    data: &[u8],
    limits: &Limits,
    interrupt: &dyn Interrupt,
    inflate: image::Inflate,
) -> Result<(), Rejection> {
    if !data.starts_with(SIGNATURE) {
        return Err(Rejection::UnknownFormat);
    }
    // Pass 1: chunk grammar and CRCs, cheap, so damaged files are refused before any inflating.
    let mut pos = SIGNATURE.len();
    let mut header: Option<Header> = None;
    let mut idat: Vec<&[u8]> = Vec::new();
    let mut idat_closed = false;
    let mut palette = false;
    loop {
        let chunk_start = pos;
        let rest = &data[pos..];
        if rest.len() < 12 {
            return Err(Rejection::PngTruncated("missing IEND"));
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len > MAX_U31 {
            return Err(Rejection::PngChunk {
                offset: chunk_start,
            });
        }
        let len = len as usize;
        if rest.len() - 12 < len {
            return Err(Rejection::PngTruncated(
                "chunk extends past the end of the file",
            ));
        }
        let kind: [u8; 4] = [rest[4], rest[5], rest[6], rest[7]];
        // Letters only, and the reserved bit (case of the third letter) must be clear.
        if !kind.iter().all(u8::is_ascii_alphabetic) || kind[2].is_ascii_lowercase() {
            return Err(Rejection::PngChunk {
                offset: chunk_start,
            });
        }
        let body = &rest[8..8 + len];
        let stored =
            u32::from_be_bytes([rest[8 + len], rest[9 + len], rest[10 + len], rest[11 + len]]);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&kind);
        crc.update(body);
        if crc.finalize() != stored {
            return Err(Rejection::PngCrc {
                offset: chunk_start,
            });
        }
        pos += 12 + len;

        if header.is_none() && &kind != b"IHDR" {
            return Err(Rejection::PngChunkOrder("IHDR is not the first chunk"));
        }
        if !idat.is_empty() && &kind != b"IDAT" {
            idat_closed = true;
        }
        match &kind {
            b"IHDR" => {
                if header.is_some() {
                    return Err(Rejection::PngChunkOrder("second IHDR"));
                }
                let parsed = Header::parse(body)?;
                let implied = parsed.decoded_size();
                if implied > limits.png_max_decoded_bytes {
                    return Err(Rejection::PngDecodedLimit {
                        implied,
                        limit: limits.png_max_decoded_bytes,
                    });
                }
                header = Some(parsed);
            }
            b"PLTE" => {
                let h = header.ok_or(Rejection::PngChunkOrder("IHDR is not the first chunk"))?;
                if palette {
                    return Err(Rejection::PngChunkOrder("second PLTE"));
                }
                if !idat.is_empty() {
                    return Err(Rejection::PngChunkOrder("PLTE after IDAT"));
                }
                if matches!(h.color_type, 0 | 4) {
                    return Err(Rejection::PngPalette("not allowed for greyscale"));
                }
                let entries = len / 3;
                if !len.is_multiple_of(3) || entries == 0 || entries > 256 {
                    return Err(Rejection::PngPalette("length is not 3 x 1..=256"));
                }
                if h.color_type == 3 && entries > 1usize << h.bit_depth {
                    return Err(Rejection::PngPalette(
                        "more entries than the bit depth allows",
                    ));
                }
                palette = true;
            }
            b"IDAT" => {
                if idat_closed {
                    return Err(Rejection::PngChunkOrder("IDAT chunks are not consecutive"));
                }
                idat.push(body);
            }
            b"IEND" => {
                if len != 0 {
                    return Err(Rejection::PngIend);
                }
                if pos != data.len() {
                    return Err(Rejection::PngTrailingData(data.len() - pos));
                }
                break;
            }
            _ if kind[0].is_ascii_uppercase() => {
                return Err(Rejection::PngUnknownCritical {
                    offset: chunk_start,
                });
            }
            _ => {}
        }
    }
    let header = header.ok_or(Rejection::PngChunkOrder("IHDR is not the first chunk"))?;
    if idat.is_empty() {
        return Err(Rejection::PngChunkOrder("no IDAT chunk"));
    }
    if header.color_type == 3 && !palette {
        return Err(Rejection::PngPalette("missing for an indexed-colour image"));
    }
    // Pass 2: the image data.
    image::check(&header, &idat, interrupt, inflate)
}

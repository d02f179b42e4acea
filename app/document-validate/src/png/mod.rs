//! Strict PNG validation: every chunk's CRC, the critical-chunk grammar, and a full inflate of the
//! image data whose size must match IHDR exactly. The inflate streams through a fixed buffer and
//! only looks at scanline filter bytes, so an 8.7 MB image costs no 8.7 MB allocation.

#[cfg(test)]
pub(crate) mod tests;

use super::Rejection;
use flate2::{Decompress, FlushDecompress, Status};

/// The 8-byte PNG signature.
pub const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Inflate output buffer: big enough to amortise the per-call cost, small enough for the stack of
/// any worker thread.
const INFLATE_BUF: usize = 64 * 1024;

/// PNG caps chunk lengths (and dimensions) at 2^31 - 1.
const MAX_U31: u32 = 0x7FFF_FFFF;

/// What IHDR says, as far as the size of the inflated image data is concerned.
#[derive(Debug, Clone, Copy)]
struct Header {
    width: u32,
    height: u32,
    bits_per_pixel: u64,
    color_type: u8,
    bit_depth: u8,
    interlaced: bool,
}

/// Validates a whole PNG file: `Ok(())` only if it is structurally sound.
pub fn validate(
    data: &[u8],
    limits: &crate::Limits,
    interrupt: &dyn crate::Interrupt,
) -> Result<(), Rejection> {
    let _ = (limits, interrupt); // enforced by the follow-up change to this module
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
                header = Some(parse_ihdr(body)?);
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
    inflate_image(&header, &idat)
}

fn parse_ihdr(body: &[u8]) -> Result<Header, Rejection> {
    let [
        w0,
        w1,
        w2,
        w3,
        h0,
        h1,
        h2,
        h3,
        bit_depth,
        color_type,
        compression,
        filter,
        interlace,
    ] = *body
    else {
        return Err(Rejection::PngIhdr("length is not 13"));
    };
    let width = u32::from_be_bytes([w0, w1, w2, w3]);
    let height = u32::from_be_bytes([h0, h1, h2, h3]);
    if width == 0 || height == 0 || width > MAX_U31 || height > MAX_U31 {
        return Err(Rejection::PngIhdr("width or height outside 1..=2^31-1"));
    }
    let channels: u64 = match (color_type, bit_depth) {
        (0, 1 | 2 | 4 | 8 | 16) => 1,
        (3, 1 | 2 | 4 | 8) => 1,
        (2, 8 | 16) => 3,
        (4, 8 | 16) => 2,
        (6, 8 | 16) => 4,
        _ => {
            return Err(Rejection::PngIhdr(
                "invalid bit depth / colour type combination",
            ));
        }
    };
    if compression != 0 {
        return Err(Rejection::PngIhdr("unknown compression method"));
    }
    if filter != 0 {
        return Err(Rejection::PngIhdr("unknown filter method"));
    }
    if interlace > 1 {
        return Err(Rejection::PngIhdr("unknown interlace method"));
    }
    Ok(Header {
        width,
        height,
        bits_per_pixel: channels * u64::from(bit_depth),
        color_type,
        bit_depth,
        interlaced: interlace == 1,
    })
}

/// Scanline geometry: (bytes per row including the filter byte, rows) per non-empty pass.
fn passes(h: &Header) -> Vec<(u64, u64)> {
    const ADAM7: [(u64, u64, u64, u64); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    let (w, ht) = (u64::from(h.width), u64::from(h.height));
    let row = |pw: u64| 1 + (pw * h.bits_per_pixel).div_ceil(8);
    if !h.interlaced {
        return vec![(row(w), ht)];
    }
    ADAM7
        .iter()
        .filter_map(|&(x0, y0, dx, dy)| {
            let pw = if w > x0 { (w - x0).div_ceil(dx) } else { 0 };
            let ph = if ht > y0 { (ht - y0).div_ceil(dy) } else { 0 };
            (pw > 0 && ph > 0).then(|| (row(pw), ph))
        })
        .collect()
}

/// Walks the inflated bytes chunk by chunk, checking each scanline's filter byte and the total.
struct Scanlines {
    passes: Vec<(u64, u64)>,
    pass: usize,
    rows_left: u64,
    /// Offset inside the current row; 0 means the next byte is a filter-type byte.
    in_row: u64,
    total: u64,
    expected: u64,
}

impl Scanlines {
    fn new(passes: Vec<(u64, u64)>) -> Self {
        // At most 2^31 rows of at most 1 + 2^31 * 8 bytes: fits u64 comfortably.
        let expected = passes.iter().map(|(row, rows)| row * rows).sum();
        let rows_left = passes.first().map_or(0, |p| p.1);
        Self {
            passes,
            pass: 0,
            rows_left,
            in_row: 0,
            total: 0,
            expected,
        }
    }

    fn feed(&mut self, mut out: &[u8]) -> Result<(), Rejection> {
        self.total += out.len() as u64;
        if self.total > self.expected {
            return Err(Rejection::PngImageSize {
                expected: self.expected,
                actual: self.total,
            });
        }
        while let Some(&first) = out.first() {
            let Some(&(row_len, _)) = self.passes.get(self.pass) else {
                // Unreachable given the total check above; refuse rather than panic.
                return Err(Rejection::PngZlib("data past the last scanline"));
            };
            if self.in_row == 0 && first > 4 {
                return Err(Rejection::PngFilter(first));
            }
            let take = (row_len - self.in_row).min(out.len() as u64);
            out = &out[take as usize..];
            self.in_row += take;
            if self.in_row == row_len {
                self.in_row = 0;
                self.rows_left -= 1;
                if self.rows_left == 0 {
                    self.pass += 1;
                    self.rows_left = self.passes.get(self.pass).map_or(0, |p| p.1);
                }
            }
        }
        Ok(())
    }
}

fn inflate_image(header: &Header, idat: &[&[u8]]) -> Result<(), Rejection> {
    let mut lines = Scanlines::new(passes(header));
    let mut inflater = Decompress::new(true);
    let mut buf = vec![0u8; INFLATE_BUF];
    let mut ended = false;
    for part in idat {
        let mut at = 0usize;
        while !ended {
            let (in0, out0) = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress(&part[at..], &mut buf, FlushDecompress::None)
                .map_err(|_| Rejection::PngZlib("invalid deflate data or Adler-32 mismatch"))?;
            let consumed = (inflater.total_in() - in0) as usize;
            let produced = (inflater.total_out() - out0) as usize;
            at += consumed;
            lines.feed(&buf[..produced])?;
            if status == Status::StreamEnd {
                ended = true;
            } else if consumed == 0 && produced == 0 {
                break; // needs the next IDAT
            }
        }
        if ended && at < part.len() {
            return Err(Rejection::PngZlib("data after the end of the zlib stream"));
        }
    }
    if !ended {
        return Err(Rejection::PngZlib("zlib stream is truncated"));
    }
    if lines.total != lines.expected {
        return Err(Rejection::PngImageSize {
            expected: lines.expected,
            actual: lines.total,
        });
    }
    Ok(())
}

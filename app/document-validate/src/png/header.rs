//! IHDR: the image geometry, and the exact size of the inflated image data it implies.

use crate::Rejection;

/// PNG caps chunk lengths (and dimensions) at 2^31 - 1.
pub(super) const MAX_U31: u32 = 0x7FFF_FFFF;

/// What IHDR says, as far as the size of the inflated image data is concerned.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    width: u32,
    height: u32,
    bits_per_pixel: u64,
    pub(super) color_type: u8,
    pub(super) bit_depth: u8,
    interlaced: bool,
}

/// One non-empty Adam7 pass (or the whole image): bytes per row including the filter byte, rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pass {
    pub(super) row: u64,
    pub(super) rows: u64,
}

impl Header {
    pub(super) fn parse(body: &[u8]) -> Result<Self, Rejection> {
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
        Ok(Self {
            width,
            height,
            bits_per_pixel: channels * u64::from(bit_depth),
            color_type,
            bit_depth,
            interlaced: interlace == 1,
        })
    }

    /// Scanline geometry of every non-empty pass, in the order the data stores them.
    pub(super) fn passes(&self) -> Vec<Pass> {
        const ADAM7: [(u64, u64, u64, u64); 7] = [
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ];
        let (w, h) = (u64::from(self.width), u64::from(self.height));
        let row = |pw: u64| 1 + (pw * self.bits_per_pixel).div_ceil(8);
        if !self.interlaced {
            return vec![Pass {
                row: row(w),
                rows: h,
            }];
        }
        ADAM7
            .iter()
            .filter_map(|&(x0, y0, dx, dy)| {
                let pw = if w > x0 { (w - x0).div_ceil(dx) } else { 0 };
                let ph = if h > y0 { (h - y0).div_ceil(dy) } else { 0 };
                (pw > 0 && ph > 0).then(|| Pass {
                    row: row(pw),
                    rows: ph,
                })
            })
            .collect()
    }

    /// The exact number of bytes the image data must inflate to. At most 2^31 rows of at most
    /// 1 + 2^31 * 8 bytes: fits u64 comfortably.
    pub(super) fn decoded_size(&self) -> u64 {
        self.passes().iter().map(|p| p.row * p.rows).sum()
    }
}

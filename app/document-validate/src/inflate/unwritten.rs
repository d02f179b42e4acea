//! The parts of long runs of one byte the window has not written. A run (a page's white space: a
//! row of zeros once filtered) has its whole 64-byte blocks recorded, not written, and a block is
//! written only when something reads it: a match reaching back into it, or the sink asking for
//! one of its bytes. The Adler-32 adds runs by formula, and on a page most of a run is never read
//! (the next row copies the row before from its start, or copies 258 bytes across the end of its
//! run), so the fill a run would cost, and the cache lines it would evict, are not paid for what
//! nobody reads. A copy of what is one byte is a run too ([`Unwritten::uniform`] tells, from the
//! blocks' bytes where they are unwritten): a page whose encoder copies each white row from the
//! row above costs what one of runs does.
//!
//! One bit per block says whether it is unwritten, and one byte per block what it holds: a
//! run's ends, up to its first and from its last block boundary, are written when it is
//! recorded, so a bit is set exactly where a whole block is unwritten and the check a match
//! makes before it copies is one or two words, never a false alarm.

/// Runs at least this long leave their whole blocks unwritten; shorter ones cost less to fill.
pub(super) const UNWRITTEN_MIN: usize = 256;
/// The block size, and so what the window slides by a multiple of.
pub(super) const BLOCK: usize = 1 << BLOCK_SHIFT;

const BLOCK_SHIFT: u32 = 6;
const BITS: usize = u64::BITS as usize;

/// The unwritten blocks of a window's buffer.
#[derive(Debug, Default)]
pub(super) struct Unwritten {
    /// One bit per block: set if the block is unwritten.
    map: Vec<u64>,
    /// Per block, the byte an unwritten block holds.
    bytes: Vec<u8>,
    /// False while no block is unwritten: images without long runs (photos, mostly literals)
    /// make no other check.
    any: bool,
}

impl Unwritten {
    /// Empties it for a window buffer of `len` bytes.
    pub(super) fn reset(&mut self, len: usize) {
        let blocks = len.div_ceil(BLOCK);
        self.map.clear();
        self.map.resize(blocks.div_ceil(BITS) + 1, 0);
        self.bytes.resize(blocks, 0);
        self.any = false;
    }

    /// Records the run of `byte` at `start..end` (at least [`UNWRITTEN_MIN`] long, after every
    /// block recorded), writing its ends into `buf` and leaving its whole blocks unwritten.
    pub(super) fn add(&mut self, buf: &mut [u8], start: usize, end: usize, byte: u8) {
        debug_assert!(end - start >= UNWRITTEN_MIN);
        // `(start + BLOCK - 1) >> BLOCK_SHIFT`, not `div_ceil`, whose test of the remainder is a
        // branch the processor mispredicts.
        let (first, last) = ((start + BLOCK - 1) >> BLOCK_SHIFT, end >> BLOCK_SHIFT);
        // The run's ends, before its first and after its last whole block, each by one fill of
        // a block's length: the run is longer than two blocks, so both stay inside it, and a
        // fill of one length is not a branch on the length.
        buf[start..start + BLOCK].fill(byte);
        buf[end - BLOCK..end].fill(byte);
        self.bytes[first..last].fill(byte);
        self.set(first, last);
        self.any = true;
    }

    /// True if a block of `start..end` (not empty) is unwritten. A match reads at most 258 bytes
    /// (a repeated one more, which takes the slow path), five blocks: their bits are in two
    /// neighbouring words (the map has a word to spare).
    #[inline(always)]
    pub(super) fn any_in(&self, start: usize, end: usize) -> bool {
        if !self.any {
            return false;
        }
        let (first, last) = (start >> BLOCK_SHIFT, (end - 1) >> BLOCK_SHIFT);
        let count = last - first + 1;
        if count > BITS {
            return self.any_in_many(first, last + 1);
        }
        self.bits_from(first) & low_bits(count) != 0
    }

    /// True if blocks `first..=last` are all unwritten (at most 64 of them, else false).
    fn all_unwritten(&self, first: usize, last: usize) -> bool {
        let count = last - first + 1;
        if count > BITS {
            return false;
        }
        let all = low_bits(count);
        self.bits_from(first) & all == all
    }

    /// The 64 bits of blocks `first..first + 64`, from the word holding `first`'s bit and the
    /// next (the map has a word to spare): two shifts, no 128-bit arithmetic in the decoder's loop.
    #[inline(always)]
    fn bits_from(&self, first: usize) -> u64 {
        let (word, shift) = (first / BITS, first % BITS);
        // `<< 1 << (63 - shift)` is `<< (64 - shift)` without the shift by 64 when `shift` is 0.
        self.map[word] >> shift | self.map[word + 1] << 1 << (BITS - 1 - shift)
    }

    #[cold]
    fn any_in_many(&self, first: usize, last: usize) -> bool {
        (first / BITS..=(last - 1) / BITS).any(|w| self.map[w] & mask(w, first, last) != 0)
    }

    /// The byte at `at`, from its block's byte if the block is unwritten.
    #[inline(always)]
    pub(super) fn byte(&self, buf: &[u8], at: usize) -> u8 {
        let block = at >> BLOCK_SHIFT;
        if self.map[block / BITS] >> (block % BITS) & 1 == 0 {
            buf[at]
        } else {
            self.bytes[block]
        }
    }

    /// The byte all of `start..end` (not empty) is, if it is one byte: the unwritten blocks'
    /// bytes, and the written parts' read from `buf` if `read_written` (else they make it not
    /// one byte).
    pub(super) fn uniform(
        &self,
        buf: &[u8],
        start: usize,
        end: usize,
        read_written: bool,
    ) -> Option<u8> {
        if self.byte(buf, start) != self.byte(buf, end - 1) {
            return None;
        }
        let (first, last) = (start >> BLOCK_SHIFT, (end - 1) >> BLOCK_SHIFT);
        if self.all_unwritten(first, last) {
            // Inside a run copied from row to row: its blocks' bytes say it all.
            return uniform(&self.bytes[first..=last]);
        }
        if !read_written {
            return None;
        }
        let mut byte = None;
        let mut at = start;
        while at < end {
            let block = at >> BLOCK_SHIFT;
            let stop = ((block + 1) << BLOCK_SHIFT).min(end);
            let here = if self.is_set(block) {
                self.bytes[block]
            } else {
                uniform(&buf[at..stop])?
            };
            if *byte.get_or_insert(here) != here {
                return None;
            }
            at = stop;
        }
        byte
    }

    /// Writes the unwritten blocks of `start..end` (not empty) into `buf`.
    #[inline(never)]
    pub(super) fn write(&mut self, buf: &mut [u8], start: usize, end: usize) {
        let (first, last) = (start >> BLOCK_SHIFT, ((end - 1) >> BLOCK_SHIFT) + 1);
        for block in first..last {
            let (word, bit) = (block / BITS, 1u64 << (block % BITS));
            if self.map[word] & bit != 0 {
                buf[block * BLOCK..(block + 1) * BLOCK].fill(self.bytes[block]);
                self.map[word] &= !bit;
            }
        }
    }

    /// Moves `from..end` of `buf` to its front (`from` a multiple of [`BLOCK`]), the window's
    /// history sliding back: the written bytes are copied, the unwritten blocks' bits and bytes
    /// moved.
    pub(super) fn slide(&mut self, buf: &mut [u8], from: usize, end: usize) {
        debug_assert_eq!(from % BLOCK, 0);
        let (shift, blocks) = (from / BLOCK, end.div_ceil(BLOCK));
        let mut block = shift;
        while block < blocks {
            let written_end = self.next(block, true, blocks);
            let (a, b) = (block * BLOCK, (written_end * BLOCK).min(end));
            buf.copy_within(a..b, a - from);
            block = self.next(written_end, false, blocks);
        }
        self.bytes.copy_within(shift..blocks, 0);
        // The bits move down by `shift`: word w takes bits from words w + q and w + q + 1.
        let (q, r) = (shift / BITS, shift % BITS);
        for w in 0..self.map.len() {
            let low = self.map.get(w + q).copied().unwrap_or(0);
            let high = self.map.get(w + q + 1).copied().unwrap_or(0);
            self.map[w] = if r == 0 {
                low
            } else {
                low >> r | high << (BITS - r)
            };
        }
        self.any = self.map.iter().any(|&word| word != 0);
    }

    /// Copies `start..end` of `buf` to the end of `out`, the unwritten blocks in it filled in.
    pub(super) fn copy_out(&self, buf: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
        let base = out.len();
        out.extend_from_slice(&buf[start..end]);
        for block in start / BLOCK..end.div_ceil(BLOCK) {
            if self.is_set(block) {
                let (a, b) = ((block * BLOCK).max(start), ((block + 1) * BLOCK).min(end));
                out[base + a - start..base + b - start].fill(self.bytes[block]);
            }
        }
    }

    fn is_set(&self, block: usize) -> bool {
        self.map[block / BITS] >> (block % BITS) & 1 == 1
    }

    /// The first block from `block` on (before `limit`) whose bit is `set`, or `limit`.
    fn next(&self, mut block: usize, set: bool, limit: usize) -> usize {
        while block < limit {
            let word = self.map[block / BITS];
            let word = if set { word } else { !word };
            let rest = word >> (block % BITS);
            if rest != 0 {
                return (block + rest.trailing_zeros() as usize).min(limit);
            }
            block = (block / BITS + 1) * BITS;
        }
        limit
    }

    /// Sets the bits of blocks `first..last`.
    fn set(&mut self, first: usize, last: usize) {
        if first == last {
            return;
        }
        for word in first / BITS..=(last - 1) / BITS {
            self.map[word] |= mask(word, first, last);
        }
    }
}

/// The byte all of `bytes` are, if they are one byte (and not empty): a fold the compiler
/// vectorises, cheaper on a block than stopping early.
fn uniform(bytes: &[u8]) -> Option<u8> {
    let &first = bytes.first()?;
    let differ = bytes
        .iter()
        .fold(0, |differ, &byte| differ | (byte ^ first));
    (differ == 0).then_some(first)
}

/// The low `count` bits set (1..=64 of them).
#[inline(always)]
fn low_bits(count: usize) -> u64 {
    u64::MAX >> (BITS - count)
}

/// The bits of map word `word` for the blocks `first..last` (not empty).
#[inline(always)]
fn mask(word: usize, first: usize, last: usize) -> u64 {
    let base = word * BITS;
    let low = first.saturating_sub(base).min(BITS);
    let high = (last - base).min(BITS);
    let below = |n: usize| {
        if n == BITS { u64::MAX } else { (1u64 << n) - 1 }
    };
    below(high) & !below(low)
}

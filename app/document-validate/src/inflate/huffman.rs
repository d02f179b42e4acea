//! Decode tables for deflate's canonical Huffman codes, as zlib and libdeflate build them: a
//! primary table indexed by the next `root` bits of input, with a subtable for each prefix whose
//! codes are longer than `root`. One lookup gives a code's symbol (already turned into what the
//! decoder needs: a literal, a length or distance base with its extra bits) and its length.
//!
//! Entry layout (u32): bits 0-7 the bits to consume for the code, bits 8-11 the extra bits after it
//! (or a subtable's index bits), bits 12-15 flags, bits 16-31 the value (a literal byte, a base, or
//! a subtable's offset).

use super::bits::Bits;

pub(super) const LITERAL: u32 = 1 << 10;
pub(super) const END_OF_BLOCK: u32 = 1 << 11;
const SUBTABLE: u32 = 1 << 12;
pub(super) const INVALID: u32 = 1 << 13;
pub(super) const FOLDED: u32 = 1 << 14;

/// Primary table bits: 10 for literals/lengths, 8 for distances (libdeflate uses 11 and 8).
pub(super) const LITLEN_ROOT: u32 = 10;
pub(super) const DISTANCE_ROOT: u32 = 8;
/// The code-length code's longest code is 7 bits: one table, no subtables.
pub(super) const CODE_LENGTH_ROOT: u32 = 7;

const MAX_LENGTH: usize = 15;

/// An entry with value `value`, `extra` bits after the code, and `flags`.
pub(super) const fn entry(value: u32, extra: u32, flags: u32) -> u32 {
    (value << 16) | (extra << 6) | flags
}

pub(super) fn value(entry: u32) -> u32 {
    entry >> 16
}

pub(super) fn code_bits(entry: u32) -> u32 {
    entry & 0x3F
}

pub(super) fn extra_bits(entry: u32) -> u32 {
    (entry >> 6) & 0xF
}

/// Why a set of code lengths makes no usable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadCode {
    /// More codes than the lengths leave room for.
    Oversubscribed,
    /// Room left over, which deflate allows only for a single code of one bit (and no codes at
    /// all), as zlib and libdeflate do.
    Incomplete,
}

/// A decode table, reused from block to block.
#[derive(Debug, Default)]
pub(super) struct Table {
    entries: Vec<u32>,
    root: u32,
    /// The distance of each folded primary entry (literal/length tables only).
    folded: Vec<u16>,
}

impl Table {
    /// Builds the table for the code whose lengths per symbol are `lengths`; symbol `s` decodes
    /// to `entry_of(s)`.
    pub(super) fn build(
        &mut self,
        lengths: &[u8],
        root: u32,
        entry_of: impl Fn(usize) -> u32,
    ) -> Result<(), BadCode> {
        let mut count = [0u32; MAX_LENGTH + 1];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        count[0] = 0;
        let mut left: i64 = 1;
        for &n in &count[1..] {
            left = (left << 1) - i64::from(n);
            if left < 0 {
                return Err(BadCode::Oversubscribed);
            }
        }
        let longest = (1..=MAX_LENGTH).rev().find(|&l| count[l] > 0).unwrap_or(0);
        if left > 0 && longest > 1 {
            return Err(BadCode::Incomplete);
        }
        let mut first_code = [0u32; MAX_LENGTH + 1];
        let mut code = 0;
        for len in 1..=MAX_LENGTH {
            code = (code + count[len - 1]) << 1;
            first_code[len] = code;
        }

        self.root = root;
        self.entries.clear();
        self.entries.resize(1 << root, INVALID);
        let root_mask = (1u32 << root) - 1;
        // Codes longer than the root: each root prefix's longest code sizes its subtable.
        let mut longest_after = [0u8; 1 << LITLEN_ROOT];
        if longest > root as usize {
            let mut next = first_code;
            for &len in lengths {
                let len = usize::from(len);
                if len > root as usize {
                    let prefix = reversed(next[len], len) & root_mask;
                    let sub = &mut longest_after[prefix as usize];
                    *sub = (*sub).max((len - root as usize) as u8);
                }
                if len > 0 {
                    next[len] += 1;
                }
            }
            for (prefix, &bits) in longest_after.iter().enumerate().take(1 << root) {
                if bits > 0 {
                    let offset = self.entries.len() as u32;
                    self.entries[prefix] = entry(offset, u32::from(bits), SUBTABLE) | root;
                    self.entries
                        .resize(self.entries.len() + (1 << bits), INVALID);
                }
            }
        }
        let mut next = first_code;
        for (symbol, &len) in lengths.iter().enumerate() {
            let len = usize::from(len);
            if len == 0 {
                continue;
            }
            let code = reversed(next[len], len);
            next[len] += 1;
            if len <= root as usize {
                let step = 1 << len;
                let filled = entry_of(symbol) | len as u32;
                for i in (code as usize..1 << root).step_by(step) {
                    self.entries[i] = filled;
                }
            } else {
                let pointer = self.entries[(code & root_mask) as usize];
                let (offset, bits) = (value(pointer) as usize, extra_bits(pointer));
                let sub_len = len - root as usize;
                let filled = entry_of(symbol) | len as u32;
                for i in ((code >> root) as usize..1 << bits).step_by(1 << sub_len) {
                    self.entries[offset + i] = filled;
                }
            }
        }
        Ok(())
    }

    /// Folds into this literal/length table's primary entries each match whose distance code
    /// `distance` decodes within the primary bits.
    pub(super) fn fold(&mut self, distance: &Table) {
        self.folded.clear();
        self.folded.resize(1 << self.root, 0);
        for i in 0..1usize << self.root {
            let e = self.entries[i];
            if e & (LITERAL | END_OF_BLOCK | SUBTABLE | INVALID) != 0 || extra_bits(e) != 0 {
                continue;
            }
            let rest = (i >> code_bits(e)) as u32;
            let d = distance.entries[(rest & ((1 << distance.root) - 1)) as usize];
            let both = code_bits(e) + code_bits(d) + extra_bits(d);
            if d & (SUBTABLE | INVALID) != 0 || both > self.root {
                continue;
            }
            let extra = (rest >> code_bits(d)) & ((1 << extra_bits(d)) - 1);
            self.entries[i] = entry(value(e), 0, FOLDED) | both;
            self.folded[i] = (value(d) + extra) as u16;
        }
    }

    /// The distance of the folded entry at the front of `bits`.
    #[inline(always)]
    pub(super) fn folded_distance(&self, bits: &Bits<'_>) -> u32 {
        u32::from(self.folded[bits.peek(self.root) as usize])
    }

    /// The entry for the code at the front of `bits`, none of them consumed.
    #[inline(always)]
    pub(super) fn decode(&self, bits: &Bits<'_>) -> u32 {
        let e = self.entries[bits.peek(self.root) as usize];
        if e & SUBTABLE == 0 {
            return e;
        }
        let rest = bits.peek(self.root + extra_bits(e)) >> self.root;
        self.entries[value(e) as usize + rest as usize]
    }
}

/// The low `len` bits of `code`, reversed: deflate sends Huffman codes most significant bit first
/// into a stream read least significant bit first.
fn reversed(code: u32, len: usize) -> u32 {
    code.reverse_bits() >> (32 - len)
}

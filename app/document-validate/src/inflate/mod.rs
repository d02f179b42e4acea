//! A zlib (RFC 1950) / deflate (RFC 1951) decoder that streams its output through a window small
//! enough to stay in L2 cache, handing each chunk to a sink (which checks it) and to the Adler-32
//! while the chunk is still there.
//!
//! Why it is written here rather than taken from a library: a validator reads every inflated byte
//! once, so what an inflate costs on documents (long runs of repeated data: 8.7 MB of output from
//! 60 KB for a scanned page) is memory traffic, not decoding. libdeflate is the fastest decoder but
//! needs the whole output buffer: writing 8.7 MB to memory and reading it back for the checksum
//! costs about 2 ms on this machine whatever the decoder. The streaming decoders (miniz_oxide,
//! zlib-rs) keep their window in cache but copy long matches a byte at a time, which costs as
//! much. This one keeps the window in cache, copies 16 bytes at a time and sums runs of one byte
//! by formula: about 2x libdeflate's whole validation on a page (docs/validation-cost.md
//! has the comparison, and the images, mostly literals, where libdeflate stays the choice).
//!
//! It follows zlib's rules for what is refused: a zlib header with a method other than deflate,
//! a window over 32 KiB, a preset dictionary or a bad check; a reserved block type; a stored
//! block whose length and its complement disagree; more than 286 length or 30 distance codes;
//! an oversubscribed code, or an incomplete one other than a single one-bit code; a repeat with
//! nothing to repeat, or past the lengths; no end-of-block code; the literal/length codes 286
//! and 287 and the distance codes 30 and 31; a distance before the start of the output; a wrong
//! Adler-32. Bits used past the end of the input make it truncated, whatever they decoded to
//! (an invalid code too: zlib judges a code only once all its bits are there), and so does a
//! preset dictionary's 4-byte id cut short (zlib reads it before it refuses).

mod adler;
mod bits;
mod huffman;
mod unwritten;
mod window;

pub use window::{PIECE_MAX, Piece};

use bits::Bits;
use huffman::{
    CODE_LENGTH_ROOT, DISTANCE_ROOT, END_OF_BLOCK, FOLDED, INVALID, LITERAL, LITLEN_ROOT, Table,
    code_bits, entry, extra_bits, value,
};
use window::{Cursor, FLUSH_AT, Window};

/// Why a zlib stream does not inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// The input ends before the stream does.
    Truncated,
    /// The Adler-32 after the data is not the data's.
    Adler32,
    /// Any other failure, named as zlib names it.
    Invalid(&'static str),
}

/// A failure of the stream, or the sink's own error, which stops the inflating where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    Stream(StreamError),
    Sink(E),
}

impl<E> From<StreamError> for Error<E> {
    fn from(error: StreamError) -> Self {
        Self::Stream(error)
    }
}

/// Inflates the zlib stream at the start of `input`, handing its output to `sink` in order, in
/// pieces of at most [`PIECE_MAX`] bytes; gives how many bytes of `input` the stream took.
pub fn zlib<E>(
    input: &[u8],
    sink: impl FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<usize, Error<E>> {
    let [cmf, flg, ..] = *input else {
        return Err(StreamError::Truncated.into());
    };
    check_header(cmf, flg, input.len())?;
    let mut out = Window::new(sink);
    let mut bits = Bits::new(&input[2..]);
    let inflated = blocks(&mut bits, &mut out);
    let inflated = inflated.and_then(|()| out.finish().map_err(Error::Sink));
    let (adler, at) = match inflated {
        Ok(adler) => (adler, bits.align().ok_or(StreamError::Truncated)?),
        Err(Error::Stream(StreamError::Invalid(_))) if bits.overran() => {
            return Err(StreamError::Truncated.into());
        }
        Err(error) => return Err(error),
    };
    let trailer = input
        .get(2 + at..2 + at + 4)
        .ok_or(StreamError::Truncated)?;
    let expected = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if expected != adler {
        return Err(StreamError::Adler32.into());
    }
    Ok(2 + at + 4)
}

/// Checks the two header bytes of a stream `len` bytes long.
fn check_header(cmf: u8, flg: u8, len: usize) -> Result<(), StreamError> {
    if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return Err(StreamError::Invalid("incorrect header check"));
    }
    if cmf & 0x0F != 8 {
        return Err(StreamError::Invalid("unknown compression method"));
    }
    if cmf >> 4 > 7 {
        return Err(StreamError::Invalid("invalid window size"));
    }
    if flg & 0x20 != 0 {
        // zlib reads the dictionary's 4-byte id before it asks for the dictionary.
        return Err(if len < 6 {
            StreamError::Truncated
        } else {
            StreamError::Invalid("preset dictionary")
        });
    }
    Ok(())
}

/// The code tables, kept from block to block.
#[derive(Default)]
struct Codes {
    litlen: Table,
    distance: Table,
    code_length: Table,
}

/// The deflate blocks, up to the end of the last one.
fn blocks<E, F: FnMut(Piece<'_>) -> Result<(), E>>(
    bits: &mut Bits<'_>,
    out: &mut Window<F>,
) -> Result<(), Error<E>> {
    let mut codes = Codes::default();
    loop {
        bits.refill();
        let last = bits.take(1) == 1;
        match bits.take(2) {
            0 => stored(bits, out)?,
            1 => {
                codes.fixed();
                compressed(bits, out, &codes)?;
            }
            2 => {
                codes.dynamic(bits)?;
                compressed(bits, out, &codes)?;
            }
            _ => return Err(StreamError::Invalid("invalid block type").into()),
        }
        if bits.overran() {
            return Err(StreamError::Truncated.into());
        }
        if last {
            return Ok(());
        }
    }
}

fn stored<E, F: FnMut(Piece<'_>) -> Result<(), E>>(
    bits: &mut Bits<'_>,
    out: &mut Window<F>,
) -> Result<(), Error<E>> {
    let at = bits.align().ok_or(StreamError::Truncated)?;
    let input = bits.input();
    let header = input.get(at..at + 4).ok_or(StreamError::Truncated)?;
    let len = u16::from_le_bytes([header[0], header[1]]);
    if len != !u16::from_le_bytes([header[2], header[3]]) {
        return Err(StreamError::Invalid("invalid stored block lengths").into());
    }
    let end = at + 4 + usize::from(len);
    let data = input.get(at + 4..end).ok_or(StreamError::Truncated)?;
    out.extend(data).map_err(Error::Sink)?;
    bits.restart(end);
    Ok(())
}

/// The literals and matches of a block with Huffman codes, up to its end-of-block code.
fn compressed<E, F: FnMut(Piece<'_>) -> Result<(), E>>(
    bits: &mut Bits<'_>,
    out: &mut Window<F>,
    codes: &Codes,
) -> Result<(), Error<E>> {
    loop {
        if out.full() {
            // Bounds the output of a truncated stream: zeros past its end decode to something.
            if bits.overran() {
                return Err(StreamError::Truncated.into());
            }
            out.flush().map_err(Error::Sink)?;
        }
        let mut local = *bits;
        let ended = out.write(|cursor| symbols(&mut local, cursor, codes));
        *bits = local;
        if ended? {
            return Ok(());
        }
    }
}

/// Decodes symbols into `out` until the block ends (true) or the window is full (false). The
/// decoder's hot loop: its state is in locals, and the sink is never called from it (only
/// `memset` and `memmove`, for fills and long copies).
#[inline(always)]
fn symbols(bits: &mut Bits<'_>, out: &mut Cursor<'_>, codes: &Codes) -> Result<bool, StreamError> {
    bits.refill();
    // Each next entry is looked up before the match before it is copied, so the lookup's
    // latency overlaps the copy.
    let mut e = codes.litlen.decode(bits);
    while out.pos < FLUSH_AT {
        if e & LITERAL != 0 {
            bits.consume(code_bits(e));
            out.literal(value(e) as u8);
            bits.refill();
            e = codes.litlen.decode(bits);
            continue;
        }
        let (len, distance);
        if e & FOLDED != 0 {
            distance = codes.litlen.folded_distance(bits);
            let (code_len, code) = (code_bits(e), bits.peek(code_bits(e)));
            bits.consume(code_len);
            // The same match again and again (a row of white space is a dozen of 258 bytes one
            // back, a row like the one above a dozen of 258 bytes a row back): each repeat is the
            // same code, so it is one compare, and the copies are one.
            let mut total = value(e);
            while out.pos + (total as usize) < FLUSH_AT
                && bits.buffered() >= code_len
                && bits.peek(code_len) == code
            {
                bits.consume(code_len);
                total += value(e);
            }
            len = total;
        } else {
            if e & (END_OF_BLOCK | INVALID) != 0 {
                if e & INVALID != 0 {
                    bits.consume(invalid_code_bits(e));
                    return Err(StreamError::Invalid("invalid literal/length code"));
                }
                bits.consume(code_bits(e));
                return Ok(true);
            }
            len = value(e) + (bits.peek(code_bits(e) + extra_bits(e)) >> code_bits(e));
            bits.consume(code_bits(e) + extra_bits(e));
            let d = codes.distance.decode(bits);
            if d & INVALID != 0 {
                bits.consume(invalid_code_bits(d));
                return Err(StreamError::Invalid("invalid distance code"));
            }
            distance = value(d) + (bits.peek(code_bits(d) + extra_bits(d)) >> code_bits(d));
            bits.consume(code_bits(d) + extra_bits(d));
        }
        if distance as usize > out.pos {
            return Err(StreamError::Invalid("invalid distance too far back"));
        }
        bits.refill();
        e = codes.litlen.decode(bits);
        out.copy_match(distance as usize, len as usize);
    }
    Ok(false)
}

/// The bits of an invalid code, consumed before it is refused, so that one whose bits run past
/// the end of the input is a truncation, as in zlib (which decides a code only once all its bits
/// are there): a code for symbols 286-287 or 30-31 has its length; the one missing code of an
/// incomplete code (a lone one-bit code) is one bit.
fn invalid_code_bits(e: u32) -> u32 {
    code_bits(e).max(1)
}

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order the code-length code's lengths come in.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

fn litlen_entry(symbol: usize) -> u32 {
    match symbol {
        0..=255 => entry(symbol as u32, 0, LITERAL),
        256 => entry(0, 0, END_OF_BLOCK),
        257..=285 => {
            let i = symbol - 257;
            entry(u32::from(LENGTH_BASE[i]), u32::from(LENGTH_EXTRA[i]), 0)
        }
        _ => INVALID,
    }
}

fn distance_entry(symbol: usize) -> u32 {
    match (DISTANCE_BASE.get(symbol), DISTANCE_EXTRA.get(symbol)) {
        (Some(&base), Some(&extra)) => entry(u32::from(base), u32::from(extra), 0),
        _ => INVALID,
    }
}

impl Codes {
    /// The fixed codes of RFC 1951 3.2.6.
    fn fixed(&mut self) {
        let mut lengths = [0u8; 288 + 32];
        lengths[..144].fill(8);
        lengths[144..256].fill(9);
        lengths[256..280].fill(7);
        lengths[280..288].fill(8);
        lengths[288..].fill(5);
        let (litlen, distance) = lengths.split_at(288);
        // Complete codes by construction.
        let built = self.litlen.build(litlen, LITLEN_ROOT, litlen_entry);
        let built = built.and(self.distance.build(distance, DISTANCE_ROOT, distance_entry));
        debug_assert_eq!(built, Ok(()));
        self.litlen.fold(&self.distance);
    }

    /// Reads a dynamic block's code lengths (RFC 1951 3.2.7) and builds its codes.
    fn dynamic(&mut self, bits: &mut Bits<'_>) -> Result<(), StreamError> {
        bits.refill();
        let litlens = bits.take(5) as usize + 257;
        let distances = bits.take(5) as usize + 1;
        let code_lengths = bits.take(4) as usize + 4;
        if litlens > 286 || distances > 30 {
            return Err(StreamError::Invalid("too many length or distance symbols"));
        }
        let mut lengths = [0u8; 19];
        for &symbol in &CODE_LENGTH_ORDER[..code_lengths] {
            bits.refill();
            lengths[symbol] = bits.take(3) as u8;
        }
        // zlib wants the code-length code complete: a lone one-bit code is not enough here.
        let lone = lengths.iter().filter(|&&l| l > 0).count() <= 1;
        let built = self
            .code_length
            .build(&lengths, CODE_LENGTH_ROOT, |s| entry(s as u32, 0, 0));
        if built.is_err() || lone {
            return Err(StreamError::Invalid("invalid code lengths set"));
        }

        let mut lengths = [0u8; 286 + 30];
        let total = litlens + distances;
        let mut i = 0;
        while i < total {
            bits.refill();
            let e = self.code_length.decode(bits);
            if e & INVALID != 0 {
                return Err(StreamError::Invalid("invalid code lengths set"));
            }
            bits.consume(code_bits(e));
            let (fill, times) = match value(e) {
                len @ 0..=15 => (len as u8, 1),
                16 => {
                    let Some(&previous) = i.checked_sub(1).and_then(|p| lengths.get(p)) else {
                        return Err(StreamError::Invalid("invalid bit length repeat"));
                    };
                    (previous, 3 + bits.take(2) as usize)
                }
                17 => (0, 3 + bits.take(3) as usize),
                _ => (0, 11 + bits.take(7) as usize),
            };
            if i + times > total {
                return Err(StreamError::Invalid("invalid bit length repeat"));
            }
            lengths[i..i + times].fill(fill);
            i += times;
        }
        let (litlen, distance) = lengths[..total].split_at(litlens);
        if litlen[256] == 0 {
            return Err(StreamError::Invalid("invalid code -- missing end-of-block"));
        }
        self.litlen
            .build(litlen, LITLEN_ROOT, litlen_entry)
            .map_err(|_| StreamError::Invalid("invalid literal/lengths set"))?;
        self.distance
            .build(distance, DISTANCE_ROOT, distance_entry)
            .map_err(|_| StreamError::Invalid("invalid distances set"))?;
        self.litlen.fold(&self.distance);
        Ok(())
    }
}

#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod tests;

//! Streams written token by token (fixed Huffman codes), so each way a run is recorded, read and
//! refused happens where the test puts it, against the tokens' own output and zlib's inflate: a
//! copy from inside the run being extended, from a recorded run, across two runs of different
//! bytes whose blocks are all unwritten, from written bytes that are one byte, across a run's
//! end, and all of it past the window's slides.

use super::*;
use flate2::{Decompress, FlushDecompress, Status};

#[derive(Debug, Clone, Copy)]
enum Token {
    Literal(u8),
    /// Length 3..=258, distance 1..=32768.
    Match(u16, u16),
}
use Token::{Literal, Match};

/// The bits of a stream, least significant first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    count: u32,
}

impl BitWriter {
    fn bits(&mut self, value: u32, n: u32) {
        self.acc |= u64::from(value) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.count -= 8;
        }
    }

    /// A Huffman code, sent most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.bits(code.reverse_bits() >> (32 - len), len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

fn literal_length(w: &mut BitWriter, symbol: u32) {
    match symbol {
        0..=143 => w.code(0x30 + symbol, 8),
        144..=255 => w.code(0x190 + symbol - 144, 9),
        256..=279 => w.code(symbol - 256, 7),
        _ => w.code(0xC0 + symbol - 280, 8),
    }
}

/// One fixed-code block of `tokens` in a zlib stream, and the bytes it inflates to.
fn stream(tokens: &[Token]) -> (Vec<u8>, Vec<u8>) {
    let mut out: Vec<u8> = Vec::new();
    let mut w = BitWriter::default();
    w.bits(0b011, 3);
    for &token in tokens {
        match token {
            Literal(byte) => {
                literal_length(&mut w, u32::from(byte));
                out.push(byte);
            }
            Match(len, distance) => {
                let i = LENGTH_BASE
                    .iter()
                    .rposition(|&base| base <= len)
                    .expect("3..=258");
                literal_length(&mut w, 257 + i as u32);
                w.bits(u32::from(len - LENGTH_BASE[i]), u32::from(LENGTH_EXTRA[i]));
                let d = DISTANCE_BASE
                    .iter()
                    .rposition(|&base| base <= distance)
                    .expect("1..=32768");
                w.code(d as u32, 5);
                w.bits(
                    u32::from(distance - DISTANCE_BASE[d]),
                    u32::from(DISTANCE_EXTRA[d]),
                );
                for _ in 0..len {
                    out.push(out[out.len() - usize::from(distance)]);
                }
            }
        }
    }
    literal_length(&mut w, 256);
    let mut zlib = vec![0x78, 0x01];
    zlib.extend(w.finish());
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &out {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&(b << 16 | a).to_be_bytes());
    (zlib, out)
}

/// `n` bytes `byte` after a literal: the literal, then matches one back.
fn run(tokens: &mut Vec<Token>, byte: u8, n: usize) {
    tokens.push(Literal(byte));
    push_matches(tokens, n - 1, 1);
}

/// `n` bytes copied from `distance` back, 258 at a time.
fn push_matches(tokens: &mut Vec<Token>, mut n: usize, distance: u16) {
    while n > 0 {
        let len = n.min(258);
        let len = if n - len < 3 && n > 258 { n - 3 } else { len };
        tokens.push(Match(len as u16, distance));
        n -= len;
    }
}

fn inflates_as_written(tokens: &[Token]) {
    let (input, expected) = stream(tokens);
    let mut zlib_out = Vec::with_capacity(expected.len() + 64);
    let status = Decompress::new(true)
        .decompress_vec(&input, &mut zlib_out, FlushDecompress::Finish)
        .expect("zlib takes the stream");
    assert_eq!(status, Status::StreamEnd);
    assert!(
        zlib_out == expected,
        "the stream is not what the tokens say"
    );
    let mut out = Vec::new();
    let used = zlib(&input, |piece| {
        piece.copy_to(&mut out);
        Ok::<(), ()>(())
    });
    assert_eq!(used, Ok(input.len()));
    assert_eq!(out.len(), expected.len());
    let first_difference = out.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "output differs");
}

#[test]
fn copies_from_inside_runs_inflate_as_written() {
    let mut t = Vec::new();
    // A run of B to 2048, then one of A ending at 4096, a block boundary.
    run(&mut t, b'B', 2048);
    run(&mut t, b'A', 2048);
    // From inside the runs of B and of A: 256 bytes of B from 4096, of A from 4352, their blocks
    // unwritten from one boundary to the next.
    t.push(Match(256, 4096 - 1000));
    t.push(Match(256, 4352 - 3000));
    t.push(Literal(b'z'));
    // From A's last block to A's first after B: unwritten blocks, A at both ends, not one byte.
    t.push(Match(258, 4609 - 4095));
    // From inside the run being extended: a run of zeros, then copies 258 back extend it.
    run(&mut t, 0, 300);
    push_matches(&mut t, 4000, 258);
    // A short run (written) after the zeros, then a copy across the zeros' end and into it.
    run(&mut t, b'C', 200);
    t.push(Match(258, 300));
    // Rows like a page's: a filter byte, white space copied from the row above, now and then a
    // row with something on it; on past the window's slides.
    const ROW: u16 = 4957;
    run(&mut t, 2, 1);
    t.push(Literal(0));
    push_matches(&mut t, usize::from(ROW) - 2, 1);
    for row in 0..200u32 {
        t.push(Literal(2));
        if row % 17 == 5 {
            for k in 0..40u8 {
                t.push(Literal(k.wrapping_mul(37) | 1));
                t.push(Match(60, ROW));
            }
            push_matches(&mut t, usize::from(ROW) - 1 - 40 * 61, ROW);
        } else {
            push_matches(&mut t, usize::from(ROW) - 1, ROW);
        }
    }
    inflates_as_written(&t);
}

#[test]
fn a_whole_match_of_written_bytes_is_a_run_only_if_all_of_them_are_one_byte() {
    for odd in [None, Some(70), Some(257)] {
        // 300 zeros written as literals (one of them other than zero), copied whole.
        let mut t: Vec<Token> = (0..300)
            .map(|i| Literal(u8::from(Some(i) == odd) * 7))
            .collect();
        t.push(Match(258, 300));
        t.push(Match(258, 258));
        inflates_as_written(&t);
    }
}

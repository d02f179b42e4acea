//! Bounded cost per document: a PNG whose IHDR implies too much is refused before anything is
//! inflated, image data longer than IHDR implies stops at once, an interrupted validation stops
//! at the first poll that says so, in both inflaters, and which inflater runs is decided by the
//! decoded size.

use super::*;
use crate::png::image::{Inflate, WHOLE_MAX};
use crate::{Interrupt, Limits, Never};
use std::cell::Cell;

/// Says "interrupted" from its `after`-th poll on, and counts the polls.
struct InterruptAfter {
    after: u32,
    polls: Cell<u32>,
}

impl InterruptAfter {
    fn new(after: u32) -> Self {
        Self {
            after,
            polls: Cell::new(0),
        }
    }
}

impl Interrupt for InterruptAfter {
    fn interrupted(&self) -> bool {
        self.polls.set(self.polls.get() + 1);
        self.polls.get() > self.after
    }
}

/// A PNG with this IHDR and one IDAT chunk holding `idat`.
fn with_ihdr(w: u32, h: u32, depth: u8, color: u8, idat: &[u8]) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", idat);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// 1239 x 1754 RGBA, 8-bit: 1754 rows of 1 + 4956 bytes.
const SAMPLE_DECODED: u64 = 1754 * (1 + 1239 * 4);

#[test]
fn the_limit_is_inclusive_and_reported() {
    let at = |limit| Limits {
        png_max_decoded_bytes: limit,
        ..Limits::default()
    };
    assert_eq!(
        crate::png::validate(sample(), &at(SAMPLE_DECODED), &Never),
        Ok(())
    );
    assert_eq!(
        crate::png::validate(sample(), &at(SAMPLE_DECODED - 1), &Never),
        Err(Rejection::PngDecodedLimit {
            implied: SAMPLE_DECODED,
            limit: SAMPLE_DECODED - 1,
        })
    );
}

#[test]
fn a_bomb_is_refused_before_inflating() {
    // 30000 x 30000 RGBA at 16 bits: 7.2 GB decoded. Its IDAT is not even zlib: inflating it would
    // end in PngZlib, and any inflating polls the interrupt first.
    let bomb = with_ihdr(30_000, 30_000, 16, 6, b"not zlib");
    let polls = InterruptAfter::new(u32::MAX);
    let verdict = crate::png::validate(&bomb, &Limits::default(), &polls);
    assert_eq!(
        verdict,
        Err(Rejection::PngDecodedLimit {
            implied: 30_000 * (1 + 30_000 * 8),
            limit: Limits::default().png_max_decoded_bytes,
        })
    );
    assert_eq!(polls.polls.get(), 0, "the image data was looked at");
}

/// The module's validator with default limits and the inflater `inflate`.
fn validate_by(data: &[u8], interrupt: &dyn Interrupt, inflate: Inflate) -> Result<(), Rejection> {
    validate_inflating(data, &Limits::default(), interrupt, inflate)
}

#[test]
fn data_past_the_implied_size_stops_at_once() {
    // IHDR says 1 x 1 grey (2 bytes); the stream inflates to 32 MiB of zeros. Streaming stops
    // at its first piece (polled before it); the whole buffer is 2 bytes, so libdeflate stops
    // when it fills.
    let bomb = with_ihdr(1, 1, 8, 0, &zlib(&vec![0u8; 32 << 20]));
    for (inflate, polls_at_most) in [(Inflate::Streaming, 2), (Inflate::Whole, 2)] {
        let polls = InterruptAfter::new(u32::MAX);
        let verdict = validate_by(&bomb, &polls, inflate);
        assert_eq!(verdict, Err(Rejection::PngImageTooLong { expected: 2 }));
        assert!(polls.polls.get() <= polls_at_most, "{inflate:?} kept going");
    }
}

#[test]
fn an_interrupted_validation_stops_at_the_next_poll() {
    // Streaming, the sample's 8.7 MB come in pieces, each after a poll (and one poll before).
    for after in [0, 1, 5, 50] {
        let interrupt = InterruptAfter::new(after);
        let verdict = validate_by(sample(), &interrupt, Inflate::Streaming);
        assert_eq!(verdict, Err(Rejection::Interrupted), "after {after}");
        assert_eq!(interrupt.polls.get(), after + 1, "kept going after {after}");
    }
    // Not interrupted: the whole sample streams through, a poll per piece.
    let interrupt = InterruptAfter::new(u32::MAX);
    assert_eq!(
        validate_by(sample(), &interrupt, Inflate::Streaming),
        Ok(())
    );
    let pieces = SAMPLE_DECODED.div_ceil(crate::inflate::PIECE_MAX as u64);
    assert!(
        u64::from(interrupt.polls.get()) >= pieces,
        "{}",
        interrupt.polls.get()
    );
    // The whole buffer polls before inflating and after: an interrupt raised while libdeflate
    // ran is obeyed before any verdict, so an interrupted validation never gives one.
    for after in [0, 1] {
        let interrupt = InterruptAfter::new(after);
        let verdict = validate_by(sample(), &interrupt, Inflate::Whole);
        assert_eq!(verdict, Err(Rejection::Interrupted), "after {after}");
        assert_eq!(interrupt.polls.get(), after + 1, "kept going after {after}");
    }
}

/// The polls of a `BySize` validation of `png` that inflated it whole, if one of a few tries did.
/// Under `cargo test` another test's validation may hold the one buffer for a few milliseconds,
/// and then this one streams (nextest runs each test in a process of its own).
fn polls_inflating_whole(png: &[u8]) -> Option<u32> {
    (0..50)
        .map(|_| {
            let interrupt = InterruptAfter::new(u32::MAX);
            assert_eq!(validate_by(png, &interrupt, Inflate::BySize), Ok(()));
            interrupt.polls.get()
        })
        .find(|&polls| polls == 2)
}

/// `rows` rows of 2048 grey pixels (1 + 2048 bytes, filter type 0): noise (each byte random,
/// inflating about once) or zeros (inflating about 1000 times).
fn grey_rows(rows: u64, noise: bool) -> Vec<u8> {
    let mut raw = vec![0u8; (rows * 2049) as usize];
    if noise {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for (i, byte) in raw.iter_mut().enumerate() {
            if i % 2049 != 0 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
        }
    }
    let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
    e.write_all(&raw).expect("in memory");
    let height = u32::try_from(rows).expect("small");
    with_ihdr(2048, height, 8, 0, &e.finish().expect("in memory"))
}

/// The polls of a `BySize` validation of `png`: two if inflated whole, one per piece streamed.
fn polls_by_size(png: &[u8]) -> u64 {
    let interrupt = InterruptAfter::new(u32::MAX);
    assert_eq!(validate_by(png, &interrupt, Inflate::BySize), Ok(()));
    u64::from(interrupt.polls.get())
}

#[test]
fn the_decoded_size_and_the_ratio_choose_the_inflater() {
    // The sample (8.7 MB from 60 KB) streams: a document's white space.
    let pieces = SAMPLE_DECODED / crate::inflate::PIECE_MAX as u64;
    assert!(polls_by_size(sample()) >= pieces);
    // Noise inflates about once: up to the cap it is inflated whole, one row more streams.
    let most = WHOLE_MAX / 2049;
    assert_eq!(
        polls_inflating_whole(&grey_rows(most, true)),
        Some(2),
        "{most} rows"
    );
    let polls = polls_by_size(&grey_rows(most + 1, true));
    assert!(
        polls >= WHOLE_MAX / crate::inflate::PIECE_MAX as u64,
        "{polls} polls"
    );
    // Zeros inflate about 1000 times: they stream well below the cap.
    let polls = polls_by_size(&grey_rows(most / 2, false));
    assert!(
        polls >= WHOLE_MAX / 2 / crate::inflate::PIECE_MAX as u64,
        "{polls} polls"
    );
}

#[test]
fn the_crate_entry_point_passes_the_interrupt_on() {
    let interrupt = InterruptAfter::new(0);
    assert_eq!(
        crate::validate_within(sample(), &Limits::default(), &interrupt),
        Err(Rejection::Interrupted)
    );
}

#[test]
fn trailing_data_and_truncation_are_refused() {
    let raw = [0u8, 1, 2, 0, 3, 4];
    let stream = zlib(&raw);
    let run = |idat: &[u8]| by_each_inflater(&with_ihdr(2, 2, 8, 0, idat));
    assert_eq!(run(&stream), Ok(()));
    for cut in 1..stream.len() {
        assert!(
            matches!(run(&stream[..cut]), Err(Rejection::PngZlib(_))),
            "cut to {cut}"
        );
    }
    let mut longer = stream.clone();
    longer.push(0);
    assert_eq!(
        run(&longer),
        Err(Rejection::PngZlib("data after the end of the zlib stream"))
    );
    let mut adler = stream.clone();
    *adler.last_mut().expect("non-empty") ^= 1;
    assert_eq!(run(&adler), Err(Rejection::PngZlib("Adler-32 mismatch")));
    // Over several IDAT chunks: the stream split in two, then a third chunk after its end.
    let split = |tail: &[u8]| {
        let mut png = SIGNATURE.to_vec();
        png_chunk(&mut png, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0]);
        png_chunk(&mut png, b"IDAT", &stream[..4]);
        png_chunk(&mut png, b"IDAT", &stream[4..]);
        png_chunk(&mut png, b"IDAT", tail);
        png_chunk(&mut png, b"IEND", &[]);
        by_each_inflater(&png)
    };
    assert_eq!(split(&[]), Ok(()));
    assert_eq!(
        split(&[0]),
        Err(Rejection::PngZlib("data after the end of the zlib stream"))
    );
}

/// A zlib stream in one fixed-Huffman block: three zero literals, then "copy 3 bytes from
/// `distance` back" (1..=4), inflating to six zero bytes.
fn zeros_then_copy(distance: u32) -> Vec<u8> {
    let (mut bytes, mut bit) = (vec![0x78, 0x01], 0u32);
    let mut put = |value: u32, len: u32, msb_first: bool| {
        for i in 0..len {
            let b = if msb_first {
                value >> (len - 1 - i)
            } else {
                value >> i
            } & 1;
            if bit == 0 {
                bytes.push(0);
            }
            *bytes.last_mut().expect("pushed") |= (b as u8) << bit;
            bit = (bit + 1) % 8;
        }
    };
    put(0b011, 3, false); // final block, fixed Huffman codes
    for _ in 0..3 {
        put(0x30, 8, true); // literal 0
    }
    put(1, 7, true); // length code 257: 3 bytes
    put(distance - 1, 5, true); // distance codes 0..=3: distances 1..=4
    put(0, 7, true); // end of block
    bytes.extend_from_slice(&0x0006_0001u32.to_be_bytes()); // Adler-32 of six zero bytes
    bytes
}

#[test]
fn a_back_reference_before_the_start_of_the_data_is_refused() {
    // 2 x 2 grey: rows [0, 0, 0] [0, 0, 0], filter type 0 each.
    let run = |idat: &[u8]| by_each_inflater(&with_ihdr(2, 2, 8, 0, idat));
    for distance in 1..=3 {
        assert_eq!(
            run(&zeros_then_copy(distance)),
            Ok(()),
            "distance {distance}"
        );
    }
    // Four back from the fourth byte is before the first: zlib refuses it ("invalid distance too
    // far back"), and so must the validator, even though a zeroed window would give the same bytes.
    assert!(matches!(
        run(&zeros_then_copy(4)),
        Err(Rejection::PngZlib(_))
    ));
}

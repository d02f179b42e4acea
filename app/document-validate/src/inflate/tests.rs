//! The decoder against zlib (zlib-rs through flate2) as the oracle: every stream zlib writes at
//! every level inflates to the same bytes, and every mutation of one (byte changes, truncation,
//! insertion, deletion) gets zlib's verdict: accepted with the same output and length, or
//! refused (truncated exactly when zlib wants more input).

use super::*;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use proptest::prelude::*;
use std::io::Write;

fn deflated(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// What zlib makes of `input`: the output and the input used, or refused (`Err(true)` if it
/// wanted more input).
fn by_zlib(input: &[u8]) -> Result<(Vec<u8>, usize), bool> {
    let mut d = Decompress::new(true);
    let mut out = Vec::with_capacity(input.len() * 64 + 1024);
    loop {
        let before = d.total_out();
        match d.decompress_vec(
            &input[d.total_in() as usize..],
            &mut out,
            FlushDecompress::Finish,
        ) {
            Ok(Status::StreamEnd) => return Ok((out, d.total_in() as usize)),
            Ok(_) if d.total_out() == before && d.total_in() as usize == input.len() => {
                return Err(true);
            }
            Ok(_) => out.reserve(out.capacity()),
            Err(_) => return Err(false),
        }
    }
}

/// What this decoder makes of `input`, the same way, checking the sink's pieces on the way.
fn by_us(input: &[u8]) -> Result<(Vec<u8>, usize), bool> {
    let mut out = Vec::new();
    let inflated = zlib(input, |piece| {
        assert!(piece.len() <= PIECE_MAX, "a piece of {}", piece.len());
        piece.copy_to(&mut out);
        Ok::<(), ()>(())
    });
    match inflated {
        Ok(used) => Ok((out, used)),
        Err(Error::Stream(StreamError::Truncated)) => Err(true),
        Err(_) => Err(false),
    }
}

fn same_as_zlib(input: &[u8]) {
    let ours = by_us(input);
    let theirs = by_zlib(input);
    match (&ours, &theirs) {
        (Ok((a, n)), Ok((b, m))) => {
            assert_eq!(n, m, "input used");
            assert!(
                a == b,
                "outputs differ ({} against {} bytes)",
                a.len(),
                b.len()
            );
        }
        _ => assert_eq!(ours.map(|o| o.1), theirs.map(|o| o.1)),
    }
}

/// Data with the shapes images have: runs, short and long periods, literals, and long repeats.
fn shaped(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        let r = next();
        let n = (r >> 8) as usize % 700 + 1;
        match r % 5 {
            0 => data.extend(std::iter::repeat_n(r as u8, n)),
            1 => data.extend((0..n).map(|_| next() as u8)),
            2 => {
                let period = (r >> 20) as usize % 20 + 1;
                let start = data.len().saturating_sub(period);
                for i in 0..n {
                    let b = data.get(start + i % period).copied().unwrap_or(0);
                    data.push(b);
                }
            }
            _ => {
                let back = (r >> 24) as usize % 40_000 + 1;
                let start = data.len().saturating_sub(back);
                for i in 0..n {
                    let b = data.get(start + i).copied().unwrap_or(7);
                    data.push(b);
                }
            }
        }
    }
    data.truncate(len);
    data
}

#[test]
fn every_level_of_zlib_inflates_to_the_same_bytes() {
    for (seed, len) in [
        (1, 0),
        (2, 1),
        (3, 300),
        (4, 70_000),
        (5, 1_000_000),
        (6, 3_000_000),
    ] {
        let data = shaped(seed, len);
        for level in 0..=9 {
            let stream = deflated(&data, level);
            let (out, used) = by_us(&stream).expect("zlib's own stream");
            assert_eq!(used, stream.len(), "seed {seed} level {level}");
            assert!(out == data, "seed {seed} level {level}: output differs");
        }
    }
}

#[test]
fn the_input_after_the_stream_is_not_taken() {
    let mut stream = deflated(b"hello hello hello hello", 6);
    let end = stream.len();
    stream.extend_from_slice(b"trailing");
    assert_eq!(by_us(&stream).map(|o| o.1), Ok(end));
}

#[test]
fn each_refusal_zlib_names_is_made() {
    let cases: [(&[u8], StreamError); 8] = [
        (&[0x78], StreamError::Truncated),
        (
            &[0x78, 0x9d],
            StreamError::Invalid("incorrect header check"),
        ),
        (
            &[0x79, 0x9c],
            StreamError::Invalid("incorrect header check"),
        ),
        (&[0x88, 0x98], StreamError::Invalid("invalid window size")),
        (
            &[0x78, 0xbb, 0, 0, 0, 1],
            StreamError::Invalid("preset dictionary"),
        ),
        // A block of type 3.
        (
            &[0x78, 0x9c, 0x07],
            StreamError::Invalid("invalid block type"),
        ),
        // A stored block whose length's complement is wrong.
        (
            &[0x78, 0x9c, 0x01, 0x05, 0x00, 0x00, 0x00],
            StreamError::Invalid("invalid stored block lengths"),
        ),
        // A fixed block whose first code is a match: 8 back, with nothing written yet.
        (
            &[0x78, 0x9c, 0x03, 0x02, 0x00],
            StreamError::Invalid("invalid distance too far back"),
        ),
    ];
    for (input, refusal) in cases {
        let verdict = zlib(input, |_| Ok::<(), ()>(()));
        assert_eq!(verdict, Err(Error::Stream(refusal)), "{input:02x?}");
        assert!(by_zlib(input).is_err(), "zlib takes {input:02x?}");
    }
}

#[test]
fn a_wrong_adler32_is_refused() {
    let mut stream = deflated(&shaped(9, 100_000), 6);
    let last = stream.len() - 1;
    stream[last] ^= 1;
    let verdict = zlib(&stream, |_| Ok::<(), ()>(()));
    assert_eq!(verdict, Err(Error::Stream(StreamError::Adler32)));
}

#[test]
fn the_sink_stops_the_inflating() {
    let stream = deflated(&vec![0u8; 10 * PIECE_MAX], 9);
    let mut pieces = 0;
    let verdict = zlib(&stream, |_| {
        pieces += 1;
        if pieces == 2 { Err("enough") } else { Ok(()) }
    });
    assert_eq!(verdict, Err(Error::Sink("enough")));
    assert_eq!(pieces, 2);
}

#[test]
fn every_truncation_is_truncated() {
    let stream = deflated(&shaped(10, 200_000), 6);
    for cut in (0..stream.len()).step_by(97) {
        let verdict = zlib(&stream[..cut], |_| Ok::<(), ()>(()));
        assert_eq!(
            verdict,
            Err(Error::Stream(StreamError::Truncated)),
            "cut at {cut}"
        );
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, u8),
    Delete(usize),
}

fn mutated(stream: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut s = stream.to_vec();
    for m in mutations {
        let len = s.len().max(1);
        match *m {
            Mutation::Set(at, b) if !s.is_empty() => s[at % len] = b,
            Mutation::Flip(at, bit) if !s.is_empty() => s[at % len] ^= 1 << (bit % 8),
            Mutation::Cut(at) => s.truncate(at % len),
            Mutation::Insert(at, b) => s.insert(at % (s.len() + 1), b),
            Mutation::Delete(at) if !s.is_empty() => {
                s.remove(at % len);
            }
            _ => {}
        }
    }
    s
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Set(a, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_mutated_stream_gets_zlibs_verdict(
        seed in any::<u64>(),
        len in 0usize..20_000,
        level in 0u32..=9,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let stream = deflated(&shaped(seed, len), level);
        same_as_zlib(&mutated(&stream, &mutations));
    }

    #[test]
    fn arbitrary_bytes_after_a_header_get_zlibs_verdict(
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut input = vec![0x78, 0x9c];
        input.extend_from_slice(&body);
        same_as_zlib(&input);
    }
}

#[test]
fn a_preset_dictionary_is_truncated_until_its_id_is_there() {
    // 0x68 0x62: a sound header check, with the preset-dictionary flag set. zlib reads the
    // dictionary's 4-byte id before it asks for the dictionary.
    for len in 2..=8 {
        let mut input = vec![0x68, 0x62];
        input.resize(len, 0);
        same_as_zlib(&input);
    }
    let verdict = zlib(&[0x68, 0x62, 0, 0, 0], |_| Ok::<(), ()>(()));
    assert_eq!(verdict, Err(Error::Stream(StreamError::Truncated)));
}

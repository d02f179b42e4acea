//! Differential testing against `pngcheck`: mutants of sound PNGs from real producers (byte flips,
//! truncation, insertion, deletion, and chunk edits that keep every CRC right) judged by both.
//!
//! A mutant the validator accepts and pngcheck rejects for its signature, a critical chunk or the
//! image data is a bug and fails the test. pngcheck is stricter than decoders about ancillary
//! chunks, which decoders skip or ignore when damaged: those classes are listed in
//! [`LENIENT_ANCILLARY`] and only counted. Mutants the validator refuses and pngcheck accepts are
//! listed in [`OVER_STRICT`] by the validator's reason; any other such refusal fails the test.
//!
//! The default run judges `DIFFERENTIAL_CASES` mutants (400, a few seconds); `make fuzz-validate`
//! runs many more with a seed of its own (`DIFFERENTIAL_SEED`).

use super::{TempDir, pngcheck_rejections, produce};
use crate::rng::Rng;
use document_validate::validate;
use dummy_pdf_or_png::documents::png_chunk;
use std::collections::BTreeMap;

/// pngcheck refusals the validator does not make, by the ancillary chunk pngcheck names: decoders
/// skip these chunks (or ignore them when damaged), so the image data is served as it is.
const LENIENT_ANCILLARY: &[&str] = &[
    "tEXt", "zTXt", "iTXt", "eXIf", "tRNS", "pHYs", "gAMA", "cHRM", "sRGB", "iCCP", "bKGD", "hIST",
    "sBIT", "sPLT", "tIME", "acTL", "fcTL", "fdAT", "oFFs", "pCAL", "sCAL", "sTER",
];

/// The validator's refusals of mutants pngcheck accepts, by reason, and why each is kept: pngcheck
/// (in the quiet mode used here, as in its default) checks chunks and CRCs but does not inflate
/// the image data to its end, so damage inside a CRC-consistent IDAT passes it; a decoder fails on
/// it, or shows a damaged image.
const OVER_STRICT: &[(&str, &str)] = &[
    (
        "png_zlib",
        "the zlib stream is truncated, invalid, fails its Adler-32, or has data after its end",
    ),
    (
        "png_image_size",
        "the image data inflates to other than the size IHDR implies (IHDR or IDAT edited)",
    ),
    (
        "png_ihdr",
        "IHDR names a compression, filter or interlace method PNG does not define (pngcheck warns)",
    ),
    (
        "png_decoded_limit",
        "IHDR implies more decoded bytes than Limits allows: pngcheck has no such limit",
    ),
    (
        "png_filter",
        "a scanline starts with a filter type above 4 (the rows do not match IHDR's geometry)",
    ),
];

type Chunk = ([u8; 4], Vec<u8>);

fn chunks(png: &[u8]) -> Vec<Chunk> {
    let (mut pos, mut out) = (8, Vec::new());
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let kind = png[pos + 4..pos + 8].try_into().expect("4 bytes");
        out.push((kind, png[pos + 8..pos + 8 + len].to_vec()));
        pos += 12 + len;
    }
    out
}

fn assemble(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        png_chunk(&mut out, kind, data);
    }
    out
}

/// One mutant of `source` and what was done to it.
fn mutate(source: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut png = source.to_vec();
    let at = rng.below(png.len());
    match rng.below(5) {
        0 => {
            let x = 1 + rng.below(255) as u8;
            png[at] ^= x;
            (png, format!("flip {x:#04x} at {at}"))
        }
        1 => (png[..at].to_vec(), format!("truncate to {at}")),
        2 => {
            let extra = rng.few_bytes();
            png.splice(at..at, extra.iter().copied());
            (png, format!("insert {extra:02x?} at {at}"))
        }
        3 => {
            let n = 1 + rng.below(8).min(png.len() - at - 1);
            png.drain(at..at + n);
            (png, format!("delete {n} at {at}"))
        }
        _ => chunk_edit(source, rng),
    }
}

/// An edit of the chunk sequence, every CRC recomputed.
fn chunk_edit(source: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut list = chunks(source);
    let i = rng.below(list.len());
    let name = String::from_utf8_lossy(&list[i].0).into_owned();
    let what = match rng.below(7) {
        0 if !list[i].1.is_empty() => {
            let at = rng.below(list[i].1.len());
            let x = 1 + rng.below(255) as u8;
            list[i].1[at] ^= x;
            format!("{name}: flip {x:#04x} at {at} of its data")
        }
        1 => {
            let keep = rng.below(list[i].1.len());
            list[i].1.truncate(keep);
            format!("{name}: data cut to {keep}")
        }
        2 => {
            let extra = rng.few_bytes();
            list[i].1.extend_from_slice(&extra);
            format!("{name}: {} bytes appended to its data", extra.len())
        }
        3 => {
            list.remove(i);
            format!("{name}: removed")
        }
        4 => {
            let copy = list[i].clone();
            list.insert(i, copy);
            format!("{name}: duplicated")
        }
        5 if i + 1 < list.len() => {
            list.swap(i, i + 1);
            format!("{name}: swapped with the next chunk")
        }
        _ => {
            let kinds = [
                *b"IHDR", *b"PLTE", *b"IDAT", *b"IEND", *b"tEXt", *b"tRNS", *b"abCD",
            ];
            let to = kinds[rng.below(kinds.len())];
            list[i].0 = to;
            format!("{name}: renamed {}", String::from_utf8_lossy(&to))
        }
    };
    (assemble(&list), format!("chunk {i} {what}"))
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ancillary chunk a pngcheck message names, if it names one from [`LENIENT_ANCILLARY`].
fn lenient_class(message: &str) -> Option<&'static str> {
    LENIENT_ANCILLARY
        .iter()
        .copied()
        .find(|name| message.contains(name))
}

#[test]
fn mutants_are_judged_like_pngcheck_judges_them() {
    let cases = env_or("DIFFERENTIAL_CASES", 400) as usize;
    let rng_seed = env_or("DIFFERENTIAL_SEED", 14);
    let mut rng = Rng(rng_seed);
    let dir = TempDir::new("png-differential");
    let sources: Vec<Vec<u8>> = produce(&dir.0)
        .iter()
        .map(|p| std::fs::read(p).expect("read a source PNG"))
        .filter(|png| png.len() < 20_000)
        .collect();
    let mutants_dir = dir.0.join("mutants");
    std::fs::create_dir_all(&mutants_dir).expect("create the mutants folder");
    let mut mutants = Vec::with_capacity(cases);
    for n in 0..cases {
        let (png, how) = mutate(&sources[n % sources.len()], &mut rng);
        let path = mutants_dir.join(format!("{n:06}.png"));
        std::fs::write(&path, &png).expect("write a mutant");
        mutants.push((path, png, format!("source {} {how}", n % sources.len())));
    }
    let paths: Vec<_> = mutants.iter().map(|m| m.0.clone()).collect();
    let refused_by_pngcheck: BTreeMap<_, _> = pngcheck_rejections(&paths).into_iter().collect();

    let (mut bugs, mut lenient, mut strict) = (Vec::new(), BTreeMap::new(), BTreeMap::new());
    for (path, png, how) in &mutants {
        let ours = validate(png);
        match (ours, refused_by_pngcheck.get(path)) {
            (Ok(_), Some(message)) => match lenient_class(message) {
                Some(class) => {
                    let seen = lenient
                        .entry(class)
                        .or_insert((0, message.trim().to_owned()));
                    seen.0 += 1;
                }
                None => bugs.push(format!("{how}: accepted, pngcheck: {}", message.trim())),
            },
            (Err(rejection), None) => {
                let reason = rejection.reason();
                if !OVER_STRICT.iter().any(|(r, _)| *r == reason) {
                    bugs.push(format!("{how}: refused ({rejection}), pngcheck accepts it"));
                }
                *strict.entry(reason).or_insert(0) += 1;
            }
            _ => {}
        }
    }
    eprintln!("{cases} mutants, DIFFERENTIAL_SEED={rng_seed}");
    eprintln!("accepted, pngcheck refuses (ancillary; count, example): {lenient:?}");
    eprintln!("refused but pngcheck accepts, by reason: {strict:?}");
    assert!(
        bugs.is_empty(),
        "DIFFERENTIAL_SEED={rng_seed}: {} disagreements:\n{}",
        bugs.len(),
        bugs.join("\n")
    );
}

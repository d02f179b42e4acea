//! `cargo bench -p document-validate --bench inflate`: the inflaters the PNG validator could use,
//! side by side on the same image data, and what one whole validation costs per document.
//!
//! Documents: the stand-in's PNG and PDF (and `distinct` variants of them), document-sized PNGs
//! written by Pillow at bench time (`scripts/corpus/png-producers.py --large`, skipped with a note
//! when Pillow is missing), the largest PNGs Debian packages ship under /usr/share, and a noise
//! image at the whole-buffer cap (the slowest data per decoded byte: the bound on the one call
//! that cannot be interrupted); and any PNGs named in `BENCH_PNGS` (paths separated by `:`, such
//! as the documents your upstream serves). Each inflater decodes a PNG's whole IDAT stream with its checksum
//! verified; then whole validations, with each of the validator's two inflaters forced and as it
//! chooses. Each figure is the CPU time of the benchmark thread per call, the lowest mean of three
//! half-second loops (plain loops, no harness, stable toolchain). Method and results:
//! docs/validation-cost.md.

use document_validate::png::{Inflate, WHOLE_MAX, validate_inflating};
use document_validate::{Limits, Never, validate_within};
use dummy_pdf_or_png::documents::{Kind, distinct, sample_pdf, sample_png};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// This thread's CPU time so far: the machine is shared, so wall time would count other work.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    Duration::from_nanos(ns.unwrap_or(0))
}

/// CPU time per call of `op`: the lowest mean of three half-second loops, after a warm-up call.
fn mean(mut op: impl FnMut()) -> Duration {
    op();
    (0..3)
        .map(|_| {
            let (started, cpu) = (Instant::now(), cpu_time());
            let mut runs = 0u32;
            while started.elapsed() < Duration::from_millis(500) || runs < 3 {
                op();
                runs += 1;
            }
            (cpu_time() - cpu) / runs
        })
        .min()
        .unwrap_or_default()
}

/// A PNG's concatenated IDAT data, where each chunk's part lies in it, and its decoded size.
struct ImageData {
    idat: Vec<u8>,
    parts: Vec<(usize, usize)>,
    decoded: usize,
}

fn image_data(png: &[u8]) -> ImageData {
    let (mut pos, mut idat, mut parts) = (8, Vec::new(), Vec::new());
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if &png[pos + 4..pos + 8] == b"IDAT" {
            parts.push((idat.len(), len));
            idat.extend_from_slice(&png[pos + 8..pos + 8 + len]);
        }
        pos += 12 + len;
    }
    // The validator accepted these images, so the size IHDR implies is what the stream holds.
    let decoded = miniz_oxide::inflate::decompress_to_vec_zlib(&idat)
        .expect("sound data")
        .len();
    ImageData {
        idat,
        parts,
        decoded,
    }
}

type Inflater = fn(&ImageData, &mut [u8]) -> usize;

/// zlib-rs through flate2, streaming IDAT by IDAT into a 64 KiB buffer (no whole-image buffer).
fn zlib_rs_streaming(img: &ImageData, buf: &mut [u8]) -> usize {
    let mut d = flate2::Decompress::new(true);
    let window = (64 * 1024).min(buf.len());
    let buf = &mut buf[..window];
    for &(at, len) in &img.parts {
        let mut part = &img.idat[at..at + len];
        loop {
            let before = d.total_in();
            let status = d
                .decompress(part, buf, flate2::FlushDecompress::None)
                .expect("sound data");
            part = &part[(d.total_in() - before) as usize..];
            if status == flate2::Status::StreamEnd || part.is_empty() {
                break;
            }
        }
    }
    d.total_out() as usize
}

/// zlib-rs through flate2 into the whole-image buffer, one call per IDAT.
fn zlib_rs_whole(img: &ImageData, buf: &mut [u8]) -> usize {
    let mut d = flate2::Decompress::new(true);
    for &(at, len) in &img.parts {
        let out = d.total_out() as usize;
        d.decompress(
            &img.idat[at..at + len],
            &mut buf[out..],
            flate2::FlushDecompress::None,
        )
        .expect("sound data");
    }
    d.total_out() as usize
}

/// miniz_oxide into the whole-image buffer, fed IDAT by IDAT (no concatenation needed).
fn miniz_oxide_whole(img: &ImageData, buf: &mut [u8]) -> usize {
    let parts = img.parts.iter().map(|&(at, len)| &img.idat[at..at + len]);
    miniz_oxide::inflate::decompress_slice_iter_to_slice(buf, parts, true, false)
        .expect("sound data")
}

/// miniz_oxide streaming through a 64 KiB wrapping buffer (no whole-image buffer).
fn miniz_oxide_streaming(img: &ImageData, buf: &mut [u8]) -> usize {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags::*};
    let window = &mut buf[..64 * 1024];
    let mut d = DecompressorOxide::new();
    let (mut pos, mut total) = (0usize, 0usize);
    for (i, &(at, len)) in img.parts.iter().enumerate() {
        let mut part = &img.idat[at..at + len];
        let more = if i + 1 < img.parts.len() {
            TINFL_FLAG_HAS_MORE_INPUT
        } else {
            0
        };
        loop {
            let flags = TINFL_FLAG_PARSE_ZLIB_HEADER | TINFL_FLAG_COMPUTE_ADLER32 | more;
            let (status, read, written) = decompress(&mut d, part, window, pos, flags);
            part = &part[read..];
            total += written;
            pos = (pos + written) & (window.len() - 1);
            match status {
                TINFLStatus::HasMoreOutput => continue,
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done => break,
                e => panic!("{e:?}"),
            }
        }
    }
    total
}

/// libdeflate (C, through `libdeflater`): one call on the concatenated stream.
fn libdeflate_whole(img: &ImageData, buf: &mut [u8]) -> usize {
    libdeflater::Decompressor::new()
        .zlib_decompress(&img.idat, buf)
        .expect("sound data")
}

/// libdeflate through `libdeflate-exact` (the validator's whole-buffer path): a fresh,
/// uninitialised buffer per call, the input used reported.
fn libdeflate_exact(img: &ImageData, _buf: &mut [u8]) -> usize {
    let mut out = Vec::<u8>::with_capacity(img.decoded);
    let inflated = libdeflate_exact::Inflater::new()
        .zlib(&img.idat, &mut out.spare_capacity_mut()[..img.decoded])
        .expect("sound data");
    assert_eq!(inflated.consumed, img.idat.len());
    inflated.output.len()
}

/// zune-inflate (safe Rust): one call on the concatenated stream, allocating its own output.
fn zune_inflate_whole(img: &ImageData, _buf: &mut [u8]) -> usize {
    let options = zune_inflate::DeflateOptions::default()
        .set_size_hint(img.decoded)
        .set_limit(img.decoded)
        .set_confirm_checksum(true);
    zune_inflate::DeflateDecoder::new_with_options(&img.idat, options)
        .decode_zlib()
        .expect("sound data")
        .len()
}

/// The validator's own streaming decoder (`document_validate::inflate`): the whole stream, its
/// output through a window that stays in cache, no whole-image buffer.
fn window_in_cache(img: &ImageData, _buf: &mut [u8]) -> usize {
    let mut total = 0;
    let used = document_validate::inflate::zlib(&img.idat, |piece| {
        total += black_box(piece).len();
        Ok::<(), ()>(())
    })
    .expect("sound data");
    assert_eq!(used, img.idat.len());
    total
}

const INFLATERS: [(&str, Inflater); 8] = [
    ("zlib-rs 64K", zlib_rs_streaming),
    ("zlib-rs whole", zlib_rs_whole),
    ("miniz_oxide", miniz_oxide_whole),
    ("miniz_oxide 64K", miniz_oxide_streaming),
    ("zune-inflate", zune_inflate_whole),
    ("libdeflate", libdeflate_whole),
    ("libdeflate-exact", libdeflate_exact),
    ("window in cache", window_in_cache),
];

/// Grey noise at the whole-buffer cap: rows of 4096 pixels, each 0 or 1 at random, so nearly
/// every decoded byte is a literal (about one bit of input each): the slowest data per decoded
/// byte, so the longest one uninterruptible libdeflate call takes.
fn noise_at_the_cap() -> (String, Vec<u8>) {
    let row = 1 + 4096u64;
    let rows = WHOLE_MAX / row;
    let mut raw = Vec::with_capacity((row * rows) as usize);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut line = vec![0u8; row as usize]; // filter type 0, then the pixels
    for _ in 0..rows {
        for pixel in &mut line[1..] {
            // xorshift64: cheap, reproducible noise.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *pixel = (state & 1) as u8;
        }
        raw.extend_from_slice(&line);
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &raw).expect("vec write");
    let idat = encoder.finish().expect("vec write");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 4096u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&u32::try_from(rows).expect("small").to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    dummy_pdf_or_png::documents::png_chunk(&mut png, b"IHDR", &ihdr);
    dummy_pdf_or_png::documents::png_chunk(&mut png, b"IDAT", &idat);
    dummy_pdf_or_png::documents::png_chunk(&mut png, b"IEND", &[]);
    (format!("noise 4096x{rows} grey (cap)"), png)
}

/// Pillow's document-sized PNGs, in a fresh temporary folder; empty (with a note) without Pillow.
fn pillow_pngs() -> Vec<(String, Vec<u8>)> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/corpus/png-producers.py");
    let dir = std::env::temp_dir().join(format!("document-validate-bench-{}", std::process::id()));
    let ok = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .arg("--large")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "note: {} failed (Pillow missing?): Pillow images skipped",
            script.display()
        );
    }
    let docs = read_pngs(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    docs
}

fn read_pngs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(&p).ok()?,
            ))
        })
        .collect()
}

/// The largest PNGs under /usr/share that the validator accepts (Debian packages ship thousands).
fn system_pngs(count: usize) -> Vec<(String, Vec<u8>)> {
    let out = Command::new("find")
        .args(["/usr/share", "-name", "*.png", "-size", "+100k"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut docs: Vec<(String, Vec<u8>)> = out
        .lines()
        .filter_map(|p| Some((p.to_owned(), std::fs::read(p).ok()?)))
        .filter(|(_, d)| document_validate::validate(d).is_ok())
        .collect();
    docs.sort_by_key(|(_, d)| std::cmp::Reverse(d.len()));
    docs.truncate(count);
    docs
}

/// The PNGs named in `BENCH_PNGS` (paths separated by `:`); one that cannot be read stops the
/// benchmark with its path.
fn named_pngs() -> Vec<(String, Vec<u8>)> {
    let Some(paths) = std::env::var_os("BENCH_PNGS") else {
        return Vec::new();
    };
    std::env::split_paths(&paths)
        .filter(|path| !path.as_os_str().is_empty())
        .map(|path| match std::fs::read(&path) {
            Ok(doc) => (path.display().to_string(), doc),
            Err(error) => {
                eprintln!("BENCH_PNGS: cannot read {}: {error}", path.display());
                std::process::exit(2);
            }
        })
        .collect()
}

fn main() {
    let png = sample_png();
    let mut docs = vec![
        ("stand-in png".to_owned(), png.clone()),
        (
            "stand-in png distinct #7".to_owned(),
            distinct(&png, Kind::Png, 7),
        ),
    ];
    docs.extend(pillow_pngs());
    docs.extend(system_pngs(3));
    docs.push(noise_at_the_cap());
    docs.extend(named_pngs());

    println!("## inflate: µs per image (whole IDAT stream, checksum verified)");
    print!("{:<40} {:>9} {:>10}", "image", "zlib KB", "decoded KB");
    for (name, _) in INFLATERS {
        print!(" {name:>13}");
    }
    println!();
    for (name, doc) in &docs {
        let img = image_data(doc);
        let mut buf = vec![0u8; img.decoded];
        print!(
            "{name:<40} {:>9} {:>10}",
            img.idat.len() / 1000,
            img.decoded / 1000
        );
        for (_, inflate) in INFLATERS {
            assert_eq!(inflate(&img, &mut buf), img.decoded, "{name}");
            let t = mean(|| {
                black_box(inflate(black_box(&img), &mut buf));
            });
            print!(" {:>13.0}", t.as_secs_f64() * 1e6);
        }
        println!();
    }

    println!("\n## validation (default limits): µs per document");
    println!(
        "{:<40} {:>12} {:>12} {:>12}  verdict",
        "document", "streaming", "whole", "validate"
    );
    let pdf = sample_pdf();
    docs.push(("stand-in pdf".to_owned(), pdf.clone()));
    docs.push((
        "stand-in pdf distinct #7".to_owned(),
        distinct(&pdf, Kind::Pdf, 7),
    ));
    let limits = Limits::default();
    for (name, doc) in &docs {
        let verdict = validate_within(doc, &limits, &Never);
        print!("{name:<40}");
        if doc.starts_with(b"\x89PNG") {
            for inflate in [Inflate::Streaming, Inflate::Whole] {
                assert_eq!(
                    validate_inflating(doc, &limits, &Never, inflate).is_ok(),
                    verdict.is_ok()
                );
                let t = mean(|| {
                    black_box(validate_inflating(black_box(doc), &limits, &Never, inflate).is_ok());
                });
                print!(" {:>12.0}", t.as_secs_f64() * 1e6);
            }
        } else {
            print!(" {:>12} {:>12}", "-", "-");
        }
        let t = mean(|| {
            black_box(validate_within(black_box(doc), &limits, &Never).is_ok());
        });
        println!(" {:>12.0}  {verdict:?}", t.as_secs_f64() * 1e6);
    }
}

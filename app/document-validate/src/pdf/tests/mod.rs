//! The PDF validator against the generated sample, its corrupt twin, truncations, targeted and
//! random byte flips, an incremental update, an xref-stream document, and arbitrary input.

mod filters;
mod fixtures;

use super::lexer::{Lexer, Value};
use super::*;
use dummy_pdf_or_png::documents::{Kind, corrupt, distinct};
use fixtures::{Break, find, inflated, regions, rfind, same_syntax, sample, xref_stream_pdf};
use proptest::prelude::*;

/// The module's validator with the default limits and no interruption.
fn validate(data: &[u8]) -> Result<(), Rejection> {
    super::validate(data, &crate::Limits::default(), &crate::Never)
}

#[test]
fn sample_is_sound() {
    assert_eq!(validate(sample()), Ok(()));
    let r = regions(sample());
    assert_eq!(r.headers.len(), 10);
    assert_eq!(r.streams.len(), 3, "content, font-ish and metadata streams");
    let text = String::from_utf8_lossy(sample());
    assert!(text.contains("/Length 5 0 R"), "indirect /Length");
    assert!(text.contains("/Length1 "));
    assert!(text.contains("/Info 10 0 R"));
}

#[test]
fn corrupt_sample_is_rejected() {
    let bad = corrupt(sample());
    assert!(bad.starts_with(b"%PDF-1.4"));
    assert!(bad.ends_with(b"%%EOF\r\n"));
    let err = validate(&bad).expect_err("corrupt PDF accepted");
    assert_eq!(err.reason(), "pdf_xref", "{err}");
}

#[test]
fn lossy_text_round_trip_alone_is_rejected() {
    let lossy = String::from_utf8_lossy(sample()).into_owned().into_bytes();
    assert_ne!(lossy, sample());
    assert!(validate(&lossy).is_err());
    let crlf = corrupt(b"%PDF-1.4\n"); // CRLF alone also moves every offset
    assert_eq!(crlf, b"%PDF-1.4\r\n");
}

#[test]
fn distinct_variants_are_sound_and_differ() {
    let variants: Vec<Vec<u8>> = (0..20).map(|n| distinct(sample(), Kind::Pdf, n)).collect();
    for (i, v) in variants.iter().enumerate() {
        assert_eq!(validate(v), Ok(()), "variant {i}");
        assert_eq!(v.len(), sample().len());
        for w in &variants[..i] {
            assert_ne!(v, w);
        }
    }
    let big = distinct(sample(), Kind::Pdf, u64::MAX);
    assert_eq!(validate(&big), Ok(()));
}

#[test]
fn every_truncation_is_rejected() {
    let pdf = sample();
    // Dropping only the final EOL after %%EOF leaves a complete document, so stop there.
    let eof_end = rfind(pdf, b"%%EOF") + 5;
    for len in 0..eof_end {
        assert!(validate(&pdf[..len]).is_err(), "prefix {len} accepted");
    }
    assert_eq!(validate(&pdf[..eof_end]), Ok(()));
}

#[test]
fn structural_regions_reject_every_position() {
    let pdf = sample();
    let r = regions(pdf);
    let mut positions: Vec<usize> = r.startxref_number.clone().collect();
    positions.extend(r.xref_table.clone());
    for h in &r.headers {
        positions.extend(h.clone());
    }
    let mut copy = pdf.to_vec();
    // Single bits, whole bytes, and the flips that turn one legal character into another
    // (' ' <-> '\r', 'n' <-> 'f', '\n' <-> '\r', digit <-> digit).
    let xors = [1u8, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x2D, 0x07, 0x03];
    for at in positions {
        for x in xors {
            copy[at] ^= x;
            assert!(
                validate(&copy).is_err() || same_syntax(pdf, at, copy[at]),
                "flip {x:#x} at {at} ({:?}) accepted",
                pdf[at] as char
            );
            copy[at] ^= x;
        }
    }
}

#[test]
fn free_text_is_not_checked() {
    // A flip inside the /Info title string cannot be detected structurally: honest baseline.
    let mut pdf = sample().to_vec();
    let at = find(&pdf, b"(Dummy PDF file)/Author", 0) + 1;
    pdf[at] ^= 0x20;
    assert_eq!(validate(&pdf), Ok(()));
}

#[test]
fn stream_length_must_be_exact() {
    let pdf = sample();
    let at = find(pdf, b"/Length 2", 0); // the metadata stream's direct length
    let mut longer = pdf.to_vec();
    longer[at + 9] += 1;
    assert!(validate(&longer).is_err());
}

#[test]
fn incremental_update_and_prev_loops() {
    let base = sample();
    let old_xref = &base[regions(base).startxref_number.clone()];
    let old_xref = std::str::from_utf8(old_xref).expect("ascii");
    let mut pdf = base.to_vec();
    let obj = pdf.len();
    pdf.extend_from_slice(b"11 0 obj\n<</Title(Updated)>>\nendobj\n");
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n11 1\n{obj:010} 00000 n \n\
trailer\n<</Size 12/Root 1 0 R/Info 11 0 R/Prev {old_xref}>>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    assert_eq!(validate(&pdf), Ok(()));
    // Same-length rewrite of /Prev so it points back at this very section.
    let mut looped = pdf.clone();
    let at = rfind(&pdf, b"/Prev ") + 6;
    let own = format!("{xref:0w$}", w = old_xref.len());
    looped[at..at + own.len()].copy_from_slice(own.as_bytes());
    assert!(matches!(validate(&looped), Err(Rejection::PdfXref { .. })));
}

#[test]
fn xref_stream_document() {
    let good = xref_stream_pdf(Break::None);
    assert_eq!(validate(&good), Ok(()));
    assert!(matches!(
        validate(&xref_stream_pdf(Break::Offset)),
        Err(Rejection::PdfObjectHeader { object: 3, .. })
    ));
    assert!(matches!(
        validate(&xref_stream_pdf(Break::Member)),
        Err(Rejection::PdfObjectStream { .. })
    ));
    assert!(matches!(
        validate(&xref_stream_pdf(Break::RootType)),
        Err(Rejection::PdfRoot(_))
    ));
    assert!(validate(&corrupt(&good)).is_err());
    // Any flip inside the xref stream's compressed data.
    let data_start = rfind(&good, b"stream\n") + 7;
    let data_end = rfind(&good, b"\nendstream");
    for at in data_start..data_end {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert!(validate(&bad).is_err(), "flip at {at} accepted");
    }
}

/// Found by the property test below in CI: 0x78 0xDA -> 0x78 0x01 keeps the zlib header valid
/// (FLEVEL is informational) and the decoded content identical, so the document stays sound.
#[test]
fn a_flip_of_the_zlib_level_bits_alone_changes_nothing() {
    let r = regions(sample());
    let metadata = r.streams[2].clone();
    let mut pdf = sample().to_vec();
    assert_eq!(&pdf[metadata.start..metadata.start + 2], &[0x78, 0xDA]);
    pdf[metadata.start + 1] ^= 0xDB;
    assert_eq!(validate(&pdf), Ok(()));
    assert_eq!(
        inflated(&pdf[metadata.clone()]),
        inflated(&sample()[metadata.clone()])
    );
    pdf[metadata.start + 1] ^= 0x01; // 0x78 0x00 fails the header check
    assert!(validate(&pdf).is_err());
}

#[test]
fn lexer_basics() {
    let mut lx = Lexer {
        data: b"<</A [1 0 R 2 -3.5 (a(b)\\)c) <0A> /N true null] /B<</C 7>>>>",
        pos: 0,
    };
    let Ok(Value::Dict(d)) = lx.value(0) else {
        panic!("not a dict");
    };
    let Some(Value::Array(a)) = d.get(b"A") else {
        panic!("no array");
    };
    assert_eq!(a[0], Value::Ref(1, 0));
    assert_eq!(a[1], Value::Int(2));
    assert_eq!(a.len(), 8);
    let deep = vec![b'['; MAX_DEPTH + 10];
    assert!(
        Lexer {
            data: &deep,
            pos: 0
        }
        .value(0)
        .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(512) })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = validate(&bytes);
        let mut prefixed = b"%PDF-1.4\n".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = validate(&prefixed);
        // Point startxref at the arbitrary bytes so the xref and object parsers see them.
        let mut framed = b"%PDF-1.4\n".to_vec();
        framed.extend_from_slice(&bytes);
        framed.extend_from_slice(b"\nstartxref\n9\n%%EOF\n");
        let _ = validate(&framed);
    }

    #[test]
    fn pdf_like_tokens_never_panic(
        parts in proptest::collection::vec(prop::sample::select(vec![
            "xref\n", "0 3\n", "0000000000 65535 f \n", "0000000009 00000 n \n", "trailer\n",
            "<<", ">>", "/Size 3", "/Root 1 0 R", "/Prev 9", "1 0 obj\n", "endobj\n", "stream\n",
            "endstream\n", "/Length 5", "/Length 2 0 R", "/Type/XRef", "/W[1 2 1]", "/Filter/FlateDecode",
            "/Type/ObjStm", "/N 1", "/First 4", "[", "]", "(", ")", "\n", " ",
        ]), 0..40)
    ) {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        for p in &parts {
            pdf.extend_from_slice(p.as_bytes());
        }
        pdf.extend_from_slice(b"\nstartxref\n9\n%%EOF\n");
        let _ = validate(&pdf);
    }

    #[test]
    fn any_flip_in_stream_data_is_rejected(which in any::<prop::sample::Index>(),
                                           at in any::<prop::sample::Index>(),
                                           x in 1..=255u8) {
        let r = regions(sample());
        let range = which.get(&r.streams).clone();
        let at = range.start + at.index(range.len());
        let mut pdf = sample().to_vec();
        pdf[at] ^= x;
        // A few flips change no decoded byte (the zlib header's informational FLEVEL bits, the
        // padding bits of the last deflate byte); those documents are sound, not corrupt.
        prop_assert!(
            validate(&pdf).is_err() || inflated(&pdf[range.clone()]) == inflated(&sample()[range]),
            "flip {:#x} at {} accepted and changed the content", x, at
        );
    }

    #[test]
    fn any_flip_in_structure_is_rejected(at in any::<prop::sample::Index>(), x in 1..=255u8) {
        let r = regions(sample());
        let mut positions: Vec<usize> = r.startxref_number.clone().collect();
        positions.extend(r.xref_table.clone());
        for h in &r.headers {
            positions.extend(h.clone());
        }
        let at = *at.get(&positions);
        let mut pdf = sample().to_vec();
        pdf[at] ^= x;
        prop_assert!(validate(&pdf).is_err() || same_syntax(sample(), at, pdf[at]), "flip {:#x} at {} accepted", x, at);
    }

    #[test]
    fn random_flips_anywhere_never_panic(at in any::<prop::sample::Index>(), x in 1..=255u8) {
        let mut pdf = sample().to_vec();
        let at = at.index(pdf.len());
        pdf[at] ^= x;
        let _ = validate(&pdf);
    }
}

#[test]
fn header_may_start_in_the_first_1024_bytes_and_offsets_count_from_it() {
    for junk in [&b"\xef\xbb\xbf"[..], b"garbage\r\n", &[b' '; 1019]] {
        let mut pdf = junk.to_vec();
        pdf.extend_from_slice(sample());
        assert_eq!(
            validate(&pdf),
            Ok(()),
            "{} bytes before the header",
            junk.len()
        );
        assert_eq!(crate::validate(&pdf), Ok(crate::DocumentType::Pdf));
    }
    let mut late = vec![b' '; 1025];
    late.extend_from_slice(sample());
    assert!(validate(&late).is_err());
    assert_eq!(crate::validate(&late), Err(Rejection::UnknownFormat));
}

/// An incremental update written as a hybrid file: a classic table for old readers whose
/// trailer's /XRefStm names an xref stream with a compressed object (ISO 32000-2, 7.5.8.4).
#[test]
fn hybrid_update_with_xrefstm() {
    let base = sample();
    let old_xref =
        std::str::from_utf8(&base[regions(base).startxref_number.clone()]).expect("ascii");
    let mut pdf = base.to_vec();
    let members = b"11 0 <</Title(Hybrid)>>";
    let objstm = pdf.len();
    pdf.extend_from_slice(
        format!(
            "12 0 obj\n<</Type/ObjStm/N 1/First 5/Length {}>>\nstream\n",
            members.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(members);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    let xrefstm = pdf.len();
    let mut rows = Vec::new();
    for (kind, field2, field3) in [
        (2u8, 12u32, 0u16),
        (1, objstm as u32, 0),
        (1, xrefstm as u32, 0),
    ] {
        rows.push(kind);
        rows.extend_from_slice(&field2.to_be_bytes());
        rows.extend_from_slice(&field3.to_be_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "13 0 obj\n<</Type/XRef/Size 14/W[1 4 2]/Index[11 3]/Length {}>>\nstream\n",
            rows.len()
        )
        .as_bytes(),
    );
    pdf.extend_from_slice(&rows);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    let table = pdf.len();
    pdf.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n12 2\n{objstm:010} 00000 n \n{xrefstm:010} 00000 n \n\
             trailer\n<</Size 14/Root 1 0 R/Info 11 0 R/Prev {old_xref}/XRefStm {xrefstm}>>\n\
             startxref\n{table}\n%%EOF\n"
        )
        .as_bytes(),
    );
    assert_eq!(validate(&pdf), Ok(()));
    // The compressed /Info exists only through /XRefStm: without it, /Info resolves to nothing.
    let at = rfind(&pdf, b"/XRefStm ");
    let mut without = pdf.clone();
    without[at + 1..at + 8].copy_from_slice(b"XRefStX");
    assert!(validate(&without).is_err());
    let mut moved = pdf.clone();
    moved[at + 9] = if moved[at + 9] == b'9' { b'8' } else { b'9' };
    assert!(validate(&moved).is_err());
}

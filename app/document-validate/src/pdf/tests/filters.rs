//! Filter chains, predictors, the inflate cap and interruption, on one-stream documents.

use super::fixtures::zlib;
use super::validate;
use crate::{Interrupt, Limits, Rejection};
use std::cell::Cell;

/// A catalog, an empty page tree and one stream object with `dict` entries and `data`, with an
/// exact xref table.
fn with_stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut pdf = b"%PDF-1.7\n".to_vec();
    let catalog = pdf.len();
    pdf.extend_from_slice(b"1 0 obj\n<</Type/Catalog/Pages 3 0 R>>\nendobj\n");
    let stream = pdf.len();
    pdf.extend_from_slice(
        format!("2 0 obj\n<<{dict}/Length {}>>\nstream\n", data.len()).as_bytes(),
    );
    pdf.extend_from_slice(data);
    pdf.extend_from_slice(b"\nendstream\nendobj\n");
    let pages = pdf.len();
    pdf.extend_from_slice(b"3 0 obj\n<</Type/Pages/Kids[]/Count 0>>\nendobj\n");
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!(
            "xref\n0 4\n0000000000 65535 f \n{catalog:010} 00000 n \n{stream:010} 00000 n \n\
             {pages:010} 00000 n \ntrailer\n<</Size 4/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    pdf
}

fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(4) {
        let mut group = [0u8; 4];
        group[..chunk.len()].copy_from_slice(chunk);
        let mut v = u32::from_be_bytes(group);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = (v % 85) as u8 + b'!';
            v /= 85;
        }
        out.extend_from_slice(&digits[..chunk.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

fn lzw(data: &[u8], early_change: bool) -> Vec<u8> {
    use weezl::{BitOrder, encode::Encoder};
    let mut encoder = if early_change {
        Encoder::with_tiff_size_switch(BitOrder::Msb, 8)
    } else {
        Encoder::new(BitOrder::Msb, 8)
    };
    encoder.encode(data).expect("lzw encodes")
}

fn content() -> Vec<u8> {
    (0..20_000u32)
        .flat_map(|i| format!("{} 0 0 1 {} {} cm ", i % 7, i % 13, i % 101).into_bytes())
        .collect()
}

#[test]
fn ascii85_over_flate_is_decoded_and_damage_behind_it_is_refused() {
    let deflated = zlib(&content());
    let good = with_stream("/Filter[/ASCII85Decode/FlateDecode]", &ascii85(&deflated));
    assert_eq!(validate(&good), Ok(()));
    // Damaged deflate data, re-encoded as valid ASCII85: only decoding the chain finds it.
    let mut damaged = deflated.clone();
    damaged[deflated.len() / 2] ^= 0x10;
    let bad = with_stream("/Filter[/ASCII85Decode/FlateDecode]", &ascii85(&damaged));
    assert!(matches!(
        validate(&bad),
        Err(Rejection::PdfFlate { object: 2, .. })
    ));
    let invalid = with_stream("/Filter/ASCII85Decode", b"9jqo^v~>");
    assert!(matches!(
        validate(&invalid),
        Err(Rejection::PdfSyntax { object: 2, .. })
    ));
    let unterminated = with_stream("/Filter/ASCII85Decode", b"9jqo^");
    assert!(validate(&unterminated).is_err());
    assert_eq!(validate(&with_stream("/Filter/A85", b"z9jqo^~>")), Ok(()));
}

#[test]
fn ascii_hex_run_length_and_lzw_are_decoded() {
    assert_eq!(
        validate(&with_stream("/Filter/ASCIIHexDecode", b"48 65 6c6C 6f 7>")),
        Ok(())
    );
    assert!(validate(&with_stream("/Filter/ASCIIHexDecode", b"48 6g>")).is_err());
    assert!(validate(&with_stream("/Filter/ASCIIHexDecode", b"4865")).is_err());
    let hex_over_flate: String = zlib(b"q 1 0 0 1 0 0 cm Q")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let chain = "/Filter[/AHx/Fl]";
    assert_eq!(
        validate(&with_stream(chain, format!("{hex_over_flate}>").as_bytes())),
        Ok(())
    );
    // Run length: 3 literal bytes, then `x` repeated 100 times, then end of data.
    let rl = [2, b'a', b'b', b'c', 157, b'x', 128];
    assert_eq!(
        validate(&with_stream("/Filter/RunLengthDecode", &rl)),
        Ok(())
    );
    assert!(validate(&with_stream("/Filter/RunLengthDecode", &rl[..2])).is_err());
    let data = content();
    for early in [true, false] {
        let parms = if early {
            ""
        } else {
            "/DecodeParms<</EarlyChange 0>>"
        };
        let dict = format!("/Filter/LZWDecode{parms}");
        let mut encoded = lzw(&data, early);
        assert_eq!(
            validate(&with_stream(&dict, &encoded)),
            Ok(()),
            "early change {early}"
        );
        let n = encoded.len();
        encoded[n / 2] ^= 0xFF;
        encoded[n / 2 + 1] ^= 0xFF;
        // A flipped code decodes to other text or an invalid code; the latter must be refused.
        let _ = validate(&with_stream(&dict, &encoded));
    }
    let mut truncated = lzw(&data, true);
    truncated.truncate(truncated.len() / 2);
    truncated.push(0xFF);
    assert!(validate(&with_stream("/Filter/LZWDecode", &truncated)).is_err());
}

#[test]
fn png_predictor_rows_are_checked_and_unknown_filters_refused() {
    let rows: Vec<u8> = (0..50u8).flat_map(|r| [r % 5, r, r, r, r]).collect();
    let parms = "/DecodeParms<</Predictor 12/Columns 4>>";
    let dict = format!("/Filter/FlateDecode{parms}");
    assert_eq!(validate(&with_stream(&dict, &zlib(&rows))), Ok(()));
    let mut bad_tag = rows.clone();
    bad_tag[5 * 30] = 7;
    assert!(matches!(
        validate(&with_stream(&dict, &zlib(&bad_tag))),
        Err(Rejection::PdfSyntax { .. })
    ));
    let bad_parms = "/Filter/FlateDecode/DecodeParms<</Predictor 12/Colors 0>>";
    assert!(validate(&with_stream(bad_parms, &zlib(&rows))).is_err());
    assert!(validate(&with_stream("/Filter/FlateDecodf", &zlib(&rows))).is_err());
    // Image codecs pass unchecked, but a checked filter before them is still decoded.
    assert_eq!(
        validate(&with_stream("/Filter/DCTDecode", b"not a JPEG")),
        Ok(())
    );
    let mut jpeg_in_flate = zlib(b"\xff\xd8 not a JPEG");
    assert_eq!(
        validate(&with_stream(
            "/Filter[/FlateDecode/DCTDecode]",
            &jpeg_in_flate
        )),
        Ok(())
    );
    jpeg_in_flate[4] ^= 0x55;
    assert!(
        validate(&with_stream(
            "/Filter[/FlateDecode/DCTDecode]",
            &jpeg_in_flate
        ))
        .is_err()
    );
}

/// Counts polls and answers `true` from poll number `stop_at` on.
struct CountingInterrupt {
    polls: Cell<u64>,
    stop_at: u64,
}

impl Interrupt for CountingInterrupt {
    fn interrupted(&self) -> bool {
        self.polls.set(self.polls.get() + 1);
        self.polls.get() >= self.stop_at
    }
}

/// Zeros as the samples of a greyscale image 4096 pixels wide: what a blank scan looks like.
fn bomb(inflated: usize) -> Vec<u8> {
    let image = format!(
        "/Type/XObject/Subtype/Image/Width 4096/Height {}/ColorSpace/DeviceGray\
         /BitsPerComponent 8/Filter/FlateDecode",
        inflated / 4096
    );
    with_stream(&image, &zlib(&vec![0u8; inflated]))
}

#[test]
fn a_stream_that_is_not_image_data_stops_inflating_at_its_ratio() {
    let content = with_stream("/Filter/FlateDecode", &zlib(&vec![0u8; 64 << 20]));
    let counter = CountingInterrupt {
        polls: Cell::new(0),
        stop_at: u64::MAX,
    };
    assert_eq!(
        super::super::validate(&content, &Limits::default(), &counter),
        Err(Rejection::PdfStreamInflateLimit {
            object: 2,
            ratio: 100
        })
    );
    // One poll per 256 KiB decoded: stopped after about 1 MiB, not at the document's cap.
    let inflated = counter.polls.get() * 256 * 1024;
    assert!(inflated <= 2 << 20, "inflated about {inflated} bytes");
    // Text that packs less than 100-fold is decoded in full, however long.
    let text: Vec<u8> = (0..400_000u32)
        .flat_map(|i| format!("BT /F1 12 Tf 72 {} Td ({i}) Tj ET\n", i % 700).into_bytes())
        .collect();
    assert!(text.len() > 8 << 20);
    assert_eq!(
        validate(&with_stream("/Filter/FlateDecode", &zlib(&text))),
        Ok(())
    );
    // The same bound holds behind another filter and for LZW's output.
    let hex: Vec<u8> = zlib(&vec![0u8; 8 << 20])
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .chain(*b">")
        .collect();
    assert!(matches!(
        validate(&with_stream("/Filter[/ASCIIHexDecode/FlateDecode]", &hex)),
        Err(Rejection::PdfStreamInflateLimit { .. })
    ));
    let lzw_zeros = lzw(&vec![0u8; 8 << 20], true);
    assert!(matches!(
        validate(&with_stream("/Filter/LZWDecode", &lzw_zeros)),
        Err(Rejection::PdfStreamInflateLimit { .. })
    ));
}

#[test]
fn a_flate_bomb_is_refused_at_the_cap_not_after_inflating() {
    let pdf = bomb(64 << 20);
    assert!(pdf.len() < 100_000, "a bomb: {} bytes", pdf.len());
    let limits = Limits::default();
    let counter = CountingInterrupt {
        polls: Cell::new(0),
        stop_at: u64::MAX,
    };
    let floor = 16 << 20; // the file is small: the floor is the cap
    assert_eq!(
        super::super::validate(&pdf, &limits, &counter),
        Err(Rejection::PdfInflateLimit { limit: floor })
    );
    // One poll per 256 KiB decoded: the inflater stopped at the cap, not at 64 MiB.
    let inflated = counter.polls.get() * 256 * 1024;
    assert!(
        inflated <= floor + (1 << 20),
        "inflated about {inflated} bytes"
    );
    // The cap grows with the ratio: 2000 x the file's length admits the same stream.
    let generous = Limits {
        pdf_max_inflate_ratio: 2000,
        ..limits
    };
    assert_eq!(
        super::super::validate(&pdf, &generous, &crate::Never),
        Ok(())
    );
    let below_floor = bomb(8 << 20);
    assert_eq!(validate(&below_floor), Ok(()));
}

#[test]
fn an_interrupted_validation_stops_within_one_poll() {
    let pdf = bomb(12 << 20);
    let interrupt = CountingInterrupt {
        polls: Cell::new(0),
        stop_at: 3,
    };
    let limits = Limits::default();
    assert_eq!(
        super::super::validate(&pdf, &limits, &interrupt),
        Err(Rejection::Interrupted)
    );
    assert_eq!(interrupt.polls.get(), 3, "kept polling after the interrupt");
    let at_once = CountingInterrupt {
        polls: Cell::new(0),
        stop_at: 1,
    };
    assert_eq!(
        super::super::validate(super::fixtures::sample(), &limits, &at_once),
        Err(Rejection::Interrupted)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::with_cases(512)
    })]

    /// Any bytes under any chain of the decoded filters, with or without a predictor.
    #[test]
    fn arbitrary_data_under_any_chain_never_panics(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        chain in proptest::collection::vec(proptest::sample::select(vec![
            "/AHx", "/A85", "/RL", "/LZW", "/Fl", "/DCT",
        ]), 0..4),
        predictor in proptest::sample::select(vec![1, 2, 10, 15]),
    ) {
        let parms = vec![format!("<</Predictor {predictor}/Columns 3/Colors 2>>"); chain.len()];
        let dict = format!("/Filter[{}]/DecodeParms[{}]", chain.concat(), parms.concat());
        let _ = validate(&with_stream(&dict, &data));
    }
}

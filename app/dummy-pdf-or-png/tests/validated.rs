//! The stand-in's documents, judged by the validator the service uses: every sound one it serves
//! (the fixed files and every `distinct` variant) is accepted as its own type, and the corrupt one
//! is refused, so a change to a generator that broke a document fails here, not in a benchmark.

use document_validate::{DocumentType, validate};
use dummy_pdf_or_png::documents::{Kind, Library, corrupt, distinct};

#[test]
fn the_fixed_documents_are_judged_as_the_real_ones_would_be() {
    let library = Library::get();
    assert_eq!(validate(&library.png.body), Ok(DocumentType::Png));
    assert_eq!(validate(&library.pdf.body), Ok(DocumentType::Pdf));
    assert!(validate(&library.corrupt_pdf.body).is_err());
}

#[test]
fn every_distinct_variant_is_sound_and_its_corruption_is_not() {
    let library = Library::get();
    for (doc, kind, mime) in [
        (&library.png.body, Kind::Png, DocumentType::Png),
        (&library.pdf.body, Kind::Pdf, DocumentType::Pdf),
    ] {
        for n in [0, 1, 2, 7, 1_000, u64::MAX] {
            let variant = distinct(doc, kind, n);
            assert_eq!(validate(&variant), Ok(mime), "{kind:?} variant {n}");
            assert!(
                validate(&corrupt(&variant)).is_err(),
                "{kind:?} variant {n} corrupted"
            );
        }
    }
}

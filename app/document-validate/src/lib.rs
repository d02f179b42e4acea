//! Structural validation of upstream documents, so a corrupt one is never passed on.
//!
//! The upstream's corrupt PDF keeps its `%PDF-1.4` header and `startxref … %%EOF` trailer, so
//! magic-number sniffing is not enough: the validators check every offset, length, checksum and
//! compressed stream, without repairing anything. All work is bounded by the input length and
//! [`Limits`], and stops early when an [`Interrupt`] says so.

pub mod inflate;
pub mod pdf;
pub mod png;

/// The document types the proxy serves, decided from the bytes rather than the upstream's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentType {
    Pdf,
    Png,
}

impl DocumentType {
    /// The Content-Type to serve, whatever the upstream claimed.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
        }
    }

    /// File extension without the dot, for Content-Disposition file names.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Png => "png",
        }
    }

    /// Bounded metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Png => "png",
        }
    }
}

/// Why a body was refused: one variant per failure class, so `reason()` stays a bounded set of
/// codes for logs and metrics while the message carries the detail for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(
        "neither a PDF nor a PNG (no PNG signature at offset 0, no %PDF- in the first 1024 bytes)"
    )]
    UnknownFormat,

    #[error("PDF header: {0}")]
    PdfHeader(&'static str),
    #[error("PDF trailer: {0}")]
    PdfTrailer(&'static str),
    #[error("PDF startxref: {0}")]
    PdfStartxref(&'static str),
    #[error("PDF cross-reference section at offset {offset}: {detail}")]
    PdfXref { offset: usize, detail: &'static str },
    #[error("PDF object {object}: xref offset {offset} does not point at `{object} <gen> obj`")]
    PdfObjectHeader { object: u32, offset: usize },
    #[error("PDF object {object}: {detail}")]
    PdfSyntax { object: u32, detail: &'static str },
    #[error("PDF object {object}: stream data is not exactly /Length bytes followed by endstream")]
    PdfStreamLength { object: u32 },
    #[error("PDF object {object}: FlateDecode stream does not inflate completely: {detail}")]
    PdfFlate { object: u32, detail: &'static str },
    #[error("PDF object stream {object}: {detail}")]
    PdfObjectStream { object: u32, detail: &'static str },
    #[error("PDF /Root: {0}")]
    PdfRoot(&'static str),
    #[error("PDF exceeds a validation limit: {0}")]
    PdfLimits(&'static str),

    #[error("PNG truncated: {0}")]
    PngTruncated(&'static str),
    #[error("PNG chunk at offset {offset}: invalid chunk type or length")]
    PngChunk { offset: usize },
    #[error("PNG chunk at offset {offset}: CRC-32 mismatch")]
    PngCrc { offset: usize },
    #[error("PNG IHDR: {0}")]
    PngIhdr(&'static str),
    #[error("PNG chunk order: {0}")]
    PngChunkOrder(&'static str),
    #[error("PNG PLTE: {0}")]
    PngPalette(&'static str),
    #[error("PNG chunk at offset {offset}: unknown critical chunk")]
    PngUnknownCritical { offset: usize },
    #[error("PNG IEND chunk has data")]
    PngIend,
    #[error("PNG has {0} bytes after IEND")]
    PngTrailingData(usize),
    #[error("PNG image data does not inflate completely: {0}")]
    PngZlib(&'static str),
    #[error("PNG image data inflates to {actual} bytes, IHDR implies {expected}")]
    PngImageSize { expected: u64, actual: u64 },
    #[error("PNG image data inflates to more than the {expected} bytes IHDR implies")]
    PngImageTooLong { expected: u64 },
    #[error("PNG scanline filter type {0} is not 0..=4")]
    PngFilter(u8),
    #[error("PNG IHDR implies {implied} decoded bytes, above the limit of {limit}")]
    PngDecodedLimit { implied: u64, limit: u64 },
    #[error("PDF streams inflate past the limit of {limit} bytes")]
    PdfInflateLimit { limit: u64 },
    #[error(
        "PDF object {object}: not image data, yet it inflates past {ratio} times the bytes read"
    )]
    PdfStreamInflateLimit { object: u32, ratio: u64 },
    #[error("validation interrupted: the request is gone or past its deadline")]
    Interrupted,
}

impl Rejection {
    /// Short snake_case code, one per variant: safe as a log field or metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownFormat => "unknown_format",
            Self::PdfHeader(_) => "pdf_header",
            Self::PdfTrailer(_) => "pdf_trailer",
            Self::PdfStartxref(_) => "pdf_startxref",
            Self::PdfXref { .. } => "pdf_xref",
            Self::PdfObjectHeader { .. } => "pdf_object_header",
            Self::PdfSyntax { .. } => "pdf_syntax",
            Self::PdfStreamLength { .. } => "pdf_stream_length",
            Self::PdfFlate { .. } => "pdf_flate",
            Self::PdfObjectStream { .. } => "pdf_object_stream",
            Self::PdfRoot(_) => "pdf_root",
            Self::PdfLimits(_) => "pdf_limits",
            Self::PngTruncated(_) => "png_truncated",
            Self::PngChunk { .. } => "png_chunk",
            Self::PngCrc { .. } => "png_crc",
            Self::PngIhdr(_) => "png_ihdr",
            Self::PngChunkOrder(_) => "png_chunk_order",
            Self::PngPalette(_) => "png_plte",
            Self::PngUnknownCritical { .. } => "png_unknown_critical",
            Self::PngIend => "png_iend",
            Self::PngTrailingData(_) => "png_trailing_data",
            Self::PngZlib(_) => "png_zlib",
            Self::PngImageSize { .. } | Self::PngImageTooLong { .. } => "png_image_size",
            Self::PngFilter(_) => "png_filter",
            Self::PngDecodedLimit { .. } => "png_decoded_limit",
            Self::PdfInflateLimit { .. } | Self::PdfStreamInflateLimit { .. } => {
                "pdf_inflate_limit"
            }
            Self::Interrupted => "interrupted",
        }
    }

    /// Every code `reason()` can return, for pre-registering metric series.
    pub const REASONS: &'static [&'static str] = &[
        "unknown_format",
        "pdf_header",
        "pdf_trailer",
        "pdf_startxref",
        "pdf_xref",
        "pdf_object_header",
        "pdf_syntax",
        "pdf_stream_length",
        "pdf_flate",
        "pdf_object_stream",
        "pdf_root",
        "pdf_limits",
        "png_truncated",
        "png_chunk",
        "png_crc",
        "png_ihdr",
        "png_chunk_order",
        "png_plte",
        "png_unknown_critical",
        "png_iend",
        "png_trailing_data",
        "png_zlib",
        "png_image_size",
        "png_filter",
        "png_decoded_limit",
        "pdf_inflate_limit",
        "interrupted",
    ];
}

/// What one validation may spend, decided before the work it bounds is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A PNG whose IHDR implies more decoded bytes than this is refused before inflating. The
    /// default, 64 MiB, admits an A4 page at 300 dpi in RGBA (35 MB) or a 3840 x 2160 RGBA screen
    /// (33 MB); inflating that much takes tens of milliseconds of CPU, in 64 KiB of memory.
    pub png_max_decoded_bytes: u64,
    /// A PDF's streams may inflate to at most this many times the file's own length, in total.
    pub pdf_max_inflate_ratio: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            png_max_decoded_bytes: 64 * 1024 * 1024,
            pdf_max_inflate_ratio: 20,
        }
    }
}

/// Cooperative cancellation: the validator asks between bounded pieces of work and stops with
/// [`Rejection::Interrupted`] once this says so. A PNG's pieces are 64 KiB of inflated output.
pub trait Interrupt {
    fn interrupted(&self) -> bool;
}

/// Never interrupts: for callers with no deadline (tests, the stand-in, benches).
#[derive(Debug, Clone, Copy, Default)]
pub struct Never;

impl Interrupt for Never {
    fn interrupted(&self) -> bool {
        false
    }
}

/// Decides the type from the magic bytes, then validates that type strictly, with the default
/// limits and no interruption.
pub fn validate(body: &[u8]) -> Result<DocumentType, Rejection> {
    validate_within(body, &Limits::default(), &Never)
}

/// [`validate`] within `limits`, stopping early when `interrupt` says the result is no longer wanted.
pub fn validate_within(
    body: &[u8],
    limits: &Limits,
    interrupt: &dyn Interrupt,
) -> Result<DocumentType, Rejection> {
    if body.starts_with(png::SIGNATURE) {
        png::validate(body, limits, interrupt).map(|()| DocumentType::Png)
    } else if pdf::header_offset(body).is_some() {
        pdf::validate(body, limits, interrupt).map(|()| DocumentType::Pdf)
    } else {
        Err(Rejection::UnknownFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dummy_pdf_or_png::documents::{Kind, corrupt, distinct, sample_pdf};

    #[test]
    fn reasons_are_listed_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Rejection::REASONS {
            assert!(seen.insert(*r), "duplicate {r}");
        }
        let samples = [
            Rejection::UnknownFormat,
            Rejection::PdfXref {
                offset: 0,
                detail: "",
            },
            Rejection::PngFilter(9),
            Rejection::PngImageSize {
                expected: 1,
                actual: 2,
            },
        ];
        for s in samples {
            assert!(Rejection::REASONS.contains(&s.reason()));
            assert!(!s.to_string().is_empty());
        }
    }

    #[test]
    fn type_is_decided_from_bytes() {
        assert_eq!(validate(&sample_pdf()), Ok(DocumentType::Pdf));
        assert_eq!(validate(png::tests::sample()), Ok(DocumentType::Png));
        assert_eq!(validate(b""), Err(Rejection::UnknownFormat));
        assert_eq!(validate(b"GIF89a"), Err(Rejection::UnknownFormat));
        assert!(validate(&corrupt(&sample_pdf())).is_err());
        assert_eq!(
            validate(&distinct(&sample_pdf(), Kind::Pdf, 3)),
            Ok(DocumentType::Pdf)
        );
        assert_eq!(DocumentType::Pdf.mime(), "application/pdf");
        assert_eq!(DocumentType::Png.mime(), "image/png");
        assert_eq!(DocumentType::Png.extension(), "png");
        assert_eq!(DocumentType::Pdf.label(), "pdf");
    }
}

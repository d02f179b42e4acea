//! Stream data: exact `/Length` (direct or indirect), then the filter chain decoded completely
//! (see `filters`), either streamed through checks (content, images, fonts) or kept (xref and
//! object streams, which are parsed afterwards).

use super::codecs::Density;
use super::filters::{self, Chain, Predictor, Sink};
use super::lexer::{Dict, Value};
use super::{Pdf, Rejection, codecs};

impl Pdf<'_> {
    pub(super) fn stream_length(
        &mut self,
        dict: &Dict<'_>,
        num: u32,
        depth: usize,
    ) -> Result<usize, Rejection> {
        let bad = Rejection::PdfStreamLength { object: num };
        let value = match dict.get(b"Length") {
            Some(Value::Int(i)) => *i,
            Some(Value::Ref(n, g)) => match self.resolve(*n, *g, depth + 1) {
                Ok(Value::Int(i)) => i,
                Ok(_) => return Err(bad),
                Err(
                    e @ (Rejection::PdfLimits(_)
                    | Rejection::PdfInflateLimit { .. }
                    | Rejection::PdfStreamInflateLimit { .. }
                    | Rejection::Interrupted),
                ) => return Err(e),
                Err(_) => return Err(bad),
            },
            _ => return Err(bad),
        };
        usize::try_from(value).map_err(|_| bad)
    }

    /// Decodes a stream that must be kept (xref or object stream): every filter must be one this
    /// validator decodes, and the whole output fits what is left of the retained-bytes budget.
    pub(super) fn decode_retained(
        &mut self,
        dict: &Dict<'_>,
        range: std::ops::Range<usize>,
        num: u32,
        xref: bool,
    ) -> Result<Vec<u8>, Rejection> {
        let at = range.start;
        let unsupported = |detail| {
            if xref {
                Rejection::PdfXref { offset: at, detail }
            } else {
                Rejection::PdfObjectStream {
                    object: num,
                    detail,
                }
            }
        };
        let chain = filters::chain(dict).map_err(unsupported)?;
        if chain.opaque_tail {
            return Err(unsupported("a filter this validator does not decode"));
        }
        let last = chain.stages.last().map_or(Predictor::None, |s| s.predictor);
        let mut out = Vec::new();
        let data = self.data;
        let mut retain_left = self.retain_left;
        self.decode(&data[range], &chain, num, Density::Bounded, &mut |piece| {
            retain(
                &mut retain_left,
                &mut out,
                piece,
                "xref/object streams inflate too large",
            )
        })?;
        self.retain_left = retain_left;
        filters::unpredict(out, last).map_err(unsupported)
    }

    /// Decodes a stream's checked filters to the end, keeping nothing. Encrypted documents'
    /// streams are not decoded: their data is ciphertext (see `crypt`). Image samples may
    /// inflate without the per-stream ratio bound (see `codecs::Density`).
    pub(super) fn check_stream(
        &mut self,
        dict: &Dict<'_>,
        range: std::ops::Range<usize>,
        num: u32,
    ) -> Result<(), Rejection> {
        if self.encrypted {
            return Ok(());
        }
        let chain = filters::chain(dict).map_err(|detail| Rejection::PdfSyntax {
            object: num,
            detail,
        })?;
        let density = if dict.name_is(b"Subtype", b"Image") {
            Density::Unbounded
        } else {
            Density::Bounded
        };
        let data = self.data;
        self.decode(&data[range], &chain, num, density, &mut |_| Ok(()))
    }

    /// Runs `raw` through the chain's stages. Earlier stages' output is held (charged to the
    /// retained-bytes budget), undoing its predictor; the last stage's output goes to `sink`
    /// in pieces, its PNG predictor row tags checked on the way.
    fn decode(
        &mut self,
        raw: &[u8],
        chain: &Chain,
        num: u32,
        density: Density,
        sink: Sink<'_>,
    ) -> Result<(), Rejection> {
        let syntax = |detail| Rejection::PdfSyntax {
            object: num,
            detail,
        };
        if chain.stages.is_empty() {
            return sink(raw);
        }
        let stream = codecs::Stream {
            object: num,
            density,
        };
        let mut held: Option<Vec<u8>> = None;
        for (i, stage) in chain.stages.iter().enumerate() {
            let input: &[u8] = held.as_deref().unwrap_or(raw);
            if i + 1 == chain.stages.len() {
                let Predictor::Png { row, .. } = stage.predictor else {
                    return codecs::run(stage.codec, input, &mut self.budget, stream, sink);
                };
                let mut seen = 0usize;
                return codecs::run(stage.codec, input, &mut self.budget, stream, &mut |piece| {
                    filters::check_png_rows(row + 1, &mut seen, piece).map_err(syntax)?;
                    sink(piece)
                });
            }
            let mut next = Vec::new();
            let mut retain_left = self.retain_left;
            codecs::run(stage.codec, input, &mut self.budget, stream, &mut |piece| {
                let detail = "a filter chain's intermediate data is too large";
                retain(&mut retain_left, &mut next, piece, detail)
            })?;
            self.retain_left = retain_left;
            held = Some(filters::unpredict(next, stage.predictor).map_err(syntax)?);
        }
        Ok(())
    }
}

/// Appends `piece` to `kept`, charged to the retained-bytes budget `left`; `detail` says what
/// outgrew it.
fn retain(
    left: &mut usize,
    kept: &mut Vec<u8>,
    piece: &[u8],
    detail: &'static str,
) -> Result<(), Rejection> {
    *left = left
        .checked_sub(piece.len())
        .ok_or(Rejection::PdfLimits(detail))?;
    kept.extend_from_slice(piece);
    Ok(())
}

//! The decoders of the checked filters. Each decodes its whole input, requires its end of data
//! (zlib's Adler-32, LZW's EOD code, `>` for ASCIIHex, `~>` for ASCII85, 128
//! or the end of input at a run boundary for RunLength), charges every decoded byte to the
//! [`Budget`] and hands the output on in pieces of about [`PIECE`] bytes.
//!
//! Flate and LZW, the two codecs that can expand more than 64-fold, also bound a stream's output
//! by what it has read so far ([`Density`], [`STREAM_RATIO_MIN`]).
//!
//! Flate and LZW come from maintained crates (flate2 on zlib-rs, weezl); the three text and
//! run-length codecs are a few lines each, with no crate that implements exactly PDF's rules.

use super::Rejection;
use super::filters::{Budget, Codec, PIECE, Sink};
use super::lexer::is_ws;
use flate2::{Decompress, FlushDecompress, Status};

/// A stream that is not image samples may inflate to at most this many times the compressed
/// bytes read so far (or `Limits::pdf_max_inflate_ratio` times, if higher), plus
/// [`STREAM_SLACK`]. Text, vector drawing, fonts, xref and object streams compress well below
/// it; a decompression bomb (Flate packs zeros about 1000-fold) is stopped after about
/// `STREAM_SLACK` of output instead of at the document's cap.
pub(super) const STREAM_RATIO_MIN: u64 = 100;
/// Output any stream may produce beyond that ratio times its input (a locally dense start).
const STREAM_SLACK: u64 = 1 << 20;

/// Whether a stream's output is bounded by what it has read ([`STREAM_RATIO_MIN`]). Image samples
/// are not: a blank scanned page packs 8.7 MB of white into a few KB, and only the document's
/// cap ([`Budget`]) bounds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Density {
    Bounded,
    Unbounded,
}

/// The stream being decoded: the object errors name, and how far it may inflate.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stream {
    pub(super) object: u32,
    pub(super) density: Density,
}

/// Decodes `input` with `codec`.
pub(super) fn run(
    codec: Codec,
    input: &[u8],
    budget: &mut Budget<'_>,
    stream: Stream,
    sink: Sink<'_>,
) -> Result<(), Rejection> {
    let num = stream.object;
    let mut out = Out {
        piece: Vec::with_capacity(PIECE),
        budget,
        sink,
        stream,
        produced: 0,
    };
    let result = match codec {
        Codec::Flate => inflate(input, &mut out),
        Codec::Lzw { early_change } => lzw(input, early_change, &mut out),
        Codec::AsciiHex => ascii_hex(input, &mut out),
        Codec::Ascii85 => ascii85(input, &mut out),
        Codec::RunLength => run_length(input, &mut out),
    };
    result.map_err(|fail| match fail {
        Fail::Data(detail) if codec == Codec::Flate => Rejection::PdfFlate {
            object: num,
            detail,
        },
        Fail::Data(detail) => Rejection::PdfSyntax {
            object: num,
            detail,
        },
        Fail::Stop(r) => r,
    })
}

/// A decode error in the data, or a stop from the budget, the interrupt or the sink.
enum Fail {
    Data(&'static str),
    Stop(Rejection),
}

impl From<Rejection> for Fail {
    fn from(r: Rejection) -> Self {
        Self::Stop(r)
    }
}

/// Collects output into pieces, charging and handing on each full piece.
struct Out<'b, 'i, 's> {
    piece: Vec<u8>,
    budget: &'b mut Budget<'i>,
    sink: Sink<'s>,
    stream: Stream,
    /// Bytes handed on so far by [`Out::emit_read`].
    produced: u64,
}

impl Out<'_, '_, '_> {
    fn push(&mut self, b: u8) -> Result<(), Fail> {
        self.piece.push(b);
        if self.piece.len() == PIECE {
            self.flush()?;
        }
        Ok(())
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        self.piece.extend_from_slice(bytes);
        if self.piece.len() >= PIECE {
            self.flush()?;
        }
        Ok(())
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), Fail> {
        self.budget.charge(bytes.len())?;
        (self.sink)(bytes)?;
        Ok(())
    }

    /// [`Out::emit`] for a codec that has read `read` input bytes in all so far.
    fn emit_read(&mut self, bytes: &[u8], read: usize) -> Result<(), Fail> {
        self.produced += bytes.len() as u64;
        let ratio = self.budget.stream_ratio();
        let allowed = ratio.saturating_mul(read as u64) + STREAM_SLACK;
        if self.stream.density == Density::Bounded && self.produced > allowed {
            return Err(Fail::Stop(Rejection::PdfStreamInflateLimit {
                object: self.stream.object,
                ratio,
            }));
        }
        self.emit(bytes)
    }

    fn flush(&mut self) -> Result<(), Fail> {
        let piece = std::mem::take(&mut self.piece);
        self.emit(&piece)?;
        self.piece = piece;
        self.piece.clear();
        Ok(())
    }
}

fn only_ws(rest: &[u8], detail: &'static str) -> Result<(), Fail> {
    if rest.iter().all(|b| is_ws(*b)) {
        Ok(())
    } else {
        Err(Fail::Data(detail))
    }
}

/// A complete zlib stream (Adler-32 verified by the inflater); only whitespace may follow it.
fn inflate(raw: &[u8], out: &mut Out<'_, '_, '_>) -> Result<(), Fail> {
    let mut inflater = Decompress::new(true);
    let mut buf = std::mem::take(&mut out.piece);
    buf.resize(PIECE, 0);
    let mut at = 0usize;
    loop {
        let (in0, out0) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(&raw[at..], &mut buf, FlushDecompress::None)
            .map_err(|_| Fail::Data("invalid deflate data or Adler-32 mismatch"))?;
        let consumed = (inflater.total_in() - in0) as usize;
        let produced = (inflater.total_out() - out0) as usize;
        at += consumed;
        out.emit_read(&buf[..produced], at)?;
        if status == Status::StreamEnd {
            break;
        }
        if consumed == 0 && produced == 0 {
            return Err(Fail::Data("zlib stream is truncated"));
        }
    }
    only_ws(&raw[at..], "data after the end of the zlib stream")
}

/// PDF's LZW: MSB-first codes from 9 bits, 256 clears, 257 ends; EarlyChange 1 (the default)
/// widens codes one code early, as TIFF does. The EOD code is required: it is how a truncated
/// stream is told from a complete one.
fn lzw(raw: &[u8], early_change: bool, out: &mut Out<'_, '_, '_>) -> Result<(), Fail> {
    use weezl::{BitOrder, LzwStatus, decode::Decoder};
    let mut decoder = if early_change {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    } else {
        Decoder::new(BitOrder::Msb, 8)
    };
    let mut buf = vec![0u8; PIECE];
    let mut at = 0usize;
    loop {
        let r = decoder.decode_bytes(&raw[at..], &mut buf);
        at += r.consumed_in;
        out.emit_read(&buf[..r.consumed_out], at)?;
        match r.status {
            Ok(LzwStatus::Done) => return only_ws(&raw[at..], "data after LZW end of data"),
            Ok(LzwStatus::NoProgress) => return Err(Fail::Data("LZWDecode: no end of data code")),
            Ok(LzwStatus::Ok) if r.consumed_in == 0 && r.consumed_out == 0 => {
                return Err(Fail::Data("LZWDecode: no end of data code"));
            }
            Ok(LzwStatus::Ok) => {}
            Err(_) => return Err(Fail::Data("LZWDecode: invalid code")),
        }
    }
}

/// Hex digit pairs and whitespace up to `>`; an odd last digit is followed by an implied 0.
fn ascii_hex(raw: &[u8], out: &mut Out<'_, '_, '_>) -> Result<(), Fail> {
    let mut high: Option<u8> = None;
    for (i, b) in raw.iter().enumerate() {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            b'>' => {
                if let Some(h) = high {
                    out.push(h << 4)?;
                }
                out.flush()?;
                return only_ws(&raw[i + 1..], "data after ASCIIHexDecode's `>`");
            }
            _ if is_ws(*b) => continue,
            _ => return Err(Fail::Data("ASCIIHexDecode: not a hex digit")),
        };
        match high.take() {
            Some(h) => out.push(h << 4 | nibble)?,
            None => high = Some(nibble),
        }
    }
    Err(Fail::Data("ASCIIHexDecode: no `>` at the end"))
}

/// Groups of five characters `!`..`u` (base 85, at most 2^32 - 1), `z` for four zeros,
/// whitespace anywhere, `~>` at the end; a last group of n characters gives n - 1 bytes.
fn ascii85(raw: &[u8], out: &mut Out<'_, '_, '_>) -> Result<(), Fail> {
    let mut group = [0u8; 5];
    let mut n = 0usize;
    let mut i = 0usize;
    while let Some(&b) = raw.get(i) {
        i += 1;
        match b {
            b'!'..=b'u' => {
                group[n] = b - b'!';
                n += 1;
                if n == 5 {
                    out.extend(&base85(&group)?.to_be_bytes())?;
                    n = 0;
                }
            }
            b'z' if n == 0 => out.extend(&[0; 4])?,
            b'~' => {
                if raw.get(i) != Some(&b'>') {
                    return Err(Fail::Data("ASCII85Decode: `~` not followed by `>`"));
                }
                if n == 1 {
                    return Err(Fail::Data("ASCII85Decode: a last group of one character"));
                }
                if n > 1 {
                    group[n..].fill(84);
                    out.extend(&base85(&group)?.to_be_bytes()[..n - 1])?;
                }
                out.flush()?;
                return only_ws(&raw[i + 1..], "data after ASCII85Decode's `~>`");
            }
            _ if is_ws(b) => {}
            _ => return Err(Fail::Data("ASCII85Decode: invalid character")),
        }
    }
    Err(Fail::Data("ASCII85Decode: no `~>` at the end"))
}

fn base85(group: &[u8; 5]) -> Result<u32, Fail> {
    let v = group.iter().fold(0u64, |acc, d| acc * 85 + u64::from(*d));
    u32::try_from(v).map_err(|_| Fail::Data("ASCII85Decode: group above 2^32 - 1"))
}

/// Length byte 0..=127: copy the next n + 1 bytes; 129..=255: repeat the next byte 257 - n
/// times; 128: end of data.
fn run_length(raw: &[u8], out: &mut Out<'_, '_, '_>) -> Result<(), Fail> {
    let mut i = 0usize;
    while let Some(&len) = raw.get(i) {
        i += 1;
        match len {
            0..=127 => {
                let run = raw
                    .get(i..i + usize::from(len) + 1)
                    .ok_or(Fail::Data("RunLengthDecode: literal run past the end"))?;
                out.extend(run)?;
                i += run.len();
            }
            128 => {
                out.flush()?;
                return only_ws(&raw[i..], "data after RunLengthDecode's end of data");
            }
            _ => {
                let b = *raw
                    .get(i)
                    .ok_or(Fail::Data("RunLengthDecode: repeat run past the end"))?;
                i += 1;
                out.extend(&[b; 128][..257 - usize::from(len)])?;
            }
        }
    }
    out.flush()
}

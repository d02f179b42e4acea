//! Strict PDF structure validation: no repair, no guessing.
//!
//! Checks: the header; the last `startxref` before the final `%%EOF` points exactly at an xref
//! table or an xref stream; the `/Prev` (and hybrid `/XRefStm`) chain; every in-use entry's offset
//! points exactly at `N G obj` with matching numbers and the object parses up to `endobj`; every
//! stream is exactly `/Length` bytes (direct or indirect) then `endstream`; every stream whose first
//! filter is FlateDecode inflates completely (Adler-32 checked); compressed (type 2) entries exist in
//! their object stream; `/Root` resolves to a `/Type/Catalog` dictionary.
//!
//! What cannot be checked: bytes inside free text (string literals such as `/Info` values, names,
//! numbers that nothing cross-checks) and streams with filters other than FlateDecode (only their
//! length is checked). A flip there can leave a structurally sound file.
//!
//! Work is bounded: nesting depth, xref sections, resolution depth, and inflated bytes (total and
//! retained) are capped, and nothing is allocated from a declared size without checking it against
//! the input length first.

use super::Rejection;
use flate2::{Decompress, FlushDecompress, Status};
use std::collections::{HashMap, HashSet};

/// Deepest nesting of arrays/dictionaries accepted (real files stay below 10).
const MAX_DEPTH: usize = 64;
/// Most xref sections followed through `/Prev` and `/XRefStm`.
const MAX_SECTIONS: usize = 1024;
/// Deepest chain of resolutions (indirect /Length inside an object stream whose /Length is ...).
const MAX_RESOLVE_DEPTH: usize = 4;
/// Inflated bytes checked per document (streamed, not kept): caps the CPU cost of flate bombs.
const MAX_INFLATE_TOTAL: u64 = 256 * 1024 * 1024;
/// Inflated bytes kept in memory (xref and object streams), as a multiple of the input length.
const RETAIN_FACTOR: usize = 16;
const RETAIN_FLOOR: usize = 1024 * 1024;
const INFLATE_BUF: usize = 32 * 1024;

/// Validates a whole PDF file: `Ok(())` only if it is structurally sound.
pub fn validate(data: &[u8]) -> Result<(), Rejection> {
    check_header(data)?;
    let startxref = find_startxref(data)?;
    let mut pdf = Pdf {
        data,
        xref: HashMap::new(),
        objstms: HashMap::new(),
        inflate_left: MAX_INFLATE_TOTAL,
        retain_left: data.len().saturating_mul(RETAIN_FACTOR).max(RETAIN_FLOOR),
        buf: vec![0u8; INFLATE_BUF],
    };
    let root = pdf.load_xref(startxref)?;
    pdf.check_objects()?;
    pdf.check_root(root)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

fn check_header(data: &[u8]) -> Result<(), Rejection> {
    let version_ok = match data.get(..8) {
        Some([b'%', b'P', b'D', b'F', b'-', b'1', b'.', minor]) => (b'0'..=b'7').contains(minor),
        Some(b"%PDF-2.0") => true,
        _ => false,
    };
    if !version_ok {
        return Err(Rejection::PdfHeader(
            "no %PDF-1.0..1.7 or %PDF-2.0 at offset 0",
        ));
    }
    match data.get(8) {
        Some(b) if is_ws(*b) => Ok(()),
        _ => Err(Rejection::PdfHeader(
            "version not followed by an end of line",
        )),
    }
}

/// `startxref` EOL digits EOL `%%EOF`, then only whitespace to the end of the file.
fn find_startxref(data: &[u8]) -> Result<usize, Rejection> {
    let end = data.len() - data.iter().rev().take_while(|b| is_ws(**b)).count();
    let body = &data[..end];
    if !body.ends_with(b"%%EOF") {
        return Err(Rejection::PdfTrailer("file does not end with %%EOF"));
    }
    let before_eof = &body[..body.len() - 5];
    // Walk back over: EOL, digits, EOL, "startxref".
    let trim_eol = |s: &[u8]| -> Option<usize> {
        let n = s
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        (1..=2).contains(&n).then_some(s.len() - n)
    };
    let digits_end =
        trim_eol(before_eof).ok_or(Rejection::PdfStartxref("no end of line before %%EOF"))?;
    let digits_start = before_eof[..digits_end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = &before_eof[digits_start..digits_end];
    let keyword_end = trim_eol(&before_eof[..digits_start]).ok_or(Rejection::PdfStartxref(
        "the offset is not a line of digits",
    ))?;
    if !before_eof[..keyword_end].ends_with(b"startxref") {
        return Err(Rejection::PdfTrailer("no startxref line before %%EOF"));
    }
    let offset = parse_usize(digits).ok_or(Rejection::PdfStartxref("not a number"))?;
    if offset >= data.len() {
        return Err(Rejection::PdfStartxref("offset past the end of the file"));
    }
    Ok(offset)
}

fn parse_usize(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0usize, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + usize::from(d - b'0'))
    })
}

// ---------------------------------------------------------------------------------------------
// Objects

#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Null,
    Bool,
    Int(i64),
    Real,
    Name(&'a [u8]),
    Str,
    Array(Vec<Value<'a>>),
    Dict(Dict<'a>),
    Ref(u32, u16),
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Dict<'a>(Vec<(&'a [u8], Value<'a>)>);

impl<'a> Dict<'a> {
    fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    fn name_is(&self, key: &[u8], name: &[u8]) -> bool {
        matches!(self.get(key), Some(Value::Name(n)) if *n == name)
    }
}

/// Why the lexer stopped; the caller knows which object it was reading.
type Lex<T> = Result<T, &'static str>;

struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\r' || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Consumes `kw` if it is next and is followed by a non-regular byte (or the end).
    fn keyword(&mut self, kw: &[u8]) -> bool {
        let rest = self.rest();
        if rest.starts_with(kw) && rest.get(kw.len()).is_none_or(|b| !is_regular(*b)) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn unsigned(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.pos += 1;
        }
        (self.pos > start).then_some(v)
    }

    fn value(&mut self, depth: usize) -> Lex<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err("nesting too deep");
        }
        self.skip_ws();
        let Some(b) = self.peek() else {
            return Err("unexpected end of file");
        };
        match b {
            b'<' if self.rest().starts_with(b"<<") => {
                self.pos += 2;
                let mut dict = Dict::default();
                loop {
                    self.skip_ws();
                    if self.rest().starts_with(b">>") {
                        self.pos += 2;
                        return Ok(Value::Dict(dict));
                    }
                    let Value::Name(key) = self.value(depth + 1)? else {
                        return Err("dictionary key is not a name");
                    };
                    let value = self.value(depth + 1)?;
                    dict.0.push((key, value));
                }
            }
            b'<' => {
                self.pos += 1;
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    if c == b'>' {
                        return Ok(Value::Str);
                    }
                    if !c.is_ascii_hexdigit() && !is_ws(c) {
                        return Err("bad hex string");
                    }
                }
                Err("unterminated hex string")
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                }
            }
            b'(' => {
                self.pos += 1;
                let mut open = 1usize;
                while let Some(c) = self.peek() {
                    self.pos += 1;
                    match c {
                        b'\\' => self.pos += 1,
                        b'(' => open += 1,
                        b')' => {
                            open -= 1;
                            if open == 0 {
                                return Ok(Value::Str);
                            }
                        }
                        _ => {}
                    }
                }
                Err("unterminated string")
            }
            b'/' => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(is_regular) {
                    self.pos += 1;
                }
                Ok(Value::Name(&self.data[start..self.pos]))
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
            _ if self.keyword(b"true") || self.keyword(b"false") => Ok(Value::Bool),
            _ if self.keyword(b"null") => Ok(Value::Null),
            _ => Err("unexpected token"),
        }
    }

    /// A number, or `N G R` when two unsigned integers are followed by `R`.
    fn number(&mut self) -> Lex<Value<'a>> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let int_digits = self.pos - digits_start;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            if int_digits == 0 && self.pos == frac_start {
                return Err("bad number");
            }
            return self.end_of_token().map(|()| Value::Real);
        }
        if int_digits == 0 {
            return Err("bad number");
        }
        let text = std::str::from_utf8(&self.data[start..self.pos]).map_err(|_| "bad number")?;
        let n: i64 = text.parse().map_err(|_| "integer out of range")?;
        self.end_of_token()?;
        // Look ahead for `G R`.
        if self.data[start].is_ascii_digit() {
            let save = self.pos;
            self.skip_ws();
            if self.pos > save
                && let Some(generation) = self.unsigned()
            {
                let after_gen = self.pos;
                self.skip_ws();
                if self.pos > after_gen && self.keyword(b"R") {
                    let num = u32::try_from(n).map_err(|_| "object number out of range")?;
                    let generation =
                        u16::try_from(generation).map_err(|_| "generation out of range")?;
                    return Ok(Value::Ref(num, generation));
                }
            }
            self.pos = save;
        }
        Ok(Value::Int(n))
    }

    fn end_of_token(&self) -> Lex<()> {
        match self.peek() {
            Some(b) if is_regular(b) => Err("garbage after a number"),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cross-reference

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Free,
    InUse { offset: usize, generation: u16 },
    Compressed { stream: u32, index: u32 },
}

/// A parsed `N G obj ... endobj`.
struct Object<'a> {
    value: Value<'a>,
    /// Byte range of the stream data, if the object is a stream.
    stream: Option<std::ops::Range<usize>>,
}

/// A decoded object stream: where each member object's text is.
struct ObjStm {
    data: Vec<u8>,
    first: usize,
    members: Vec<(u32, usize)>,
}

struct Pdf<'a> {
    data: &'a [u8],
    xref: HashMap<u32, Entry>,
    objstms: HashMap<u32, ObjStm>,
    inflate_left: u64,
    retain_left: usize,
    buf: Vec<u8>,
}

impl<'a> Pdf<'a> {
    /// Follows the xref chain from `startxref`; newer sections win. Returns the /Root reference.
    fn load_xref(&mut self, startxref: usize) -> Result<(u32, u16), Rejection> {
        let mut pending = vec![startxref];
        let mut seen = HashSet::new();
        let mut root = None;
        while let Some(offset) = pending.pop() {
            if !seen.insert(offset) {
                return Err(Rejection::PdfXref {
                    offset,
                    detail: "/Prev chain loops",
                });
            }
            if seen.len() > MAX_SECTIONS {
                return Err(Rejection::PdfLimits("too many xref sections"));
            }
            let is_first = root.is_none();
            let at_keyword = self.data[offset..].starts_with(b"xref")
                && offset > 0
                && is_ws(self.data[offset - 1]);
            let trailer = if at_keyword {
                let trailer = self.xref_table(offset)?;
                // Hybrid files: the table wins over its /XRefStm, which wins over /Prev.
                if let Some(prev) = trailer.get(b"Prev") {
                    pending.push(self.section_offset(prev, offset)?);
                }
                if let Some(stm) = trailer.get(b"XRefStm") {
                    pending.push(self.section_offset(stm, offset)?);
                }
                trailer
            } else {
                let trailer = self.xref_stream(offset)?;
                if let Some(prev) = trailer.get(b"Prev") {
                    pending.push(self.section_offset(prev, offset)?);
                }
                trailer
            };
            if is_first {
                root = Some(match trailer.get(b"Root") {
                    Some(Value::Ref(n, g)) => (*n, *g),
                    Some(_) => return Err(Rejection::PdfRoot("not an indirect reference")),
                    None => return Err(Rejection::PdfRoot("missing from the trailer")),
                });
            }
        }
        root.ok_or(Rejection::PdfRoot("missing from the trailer"))
    }

    fn section_offset(&self, value: &Value<'_>, from: usize) -> Result<usize, Rejection> {
        match value {
            Value::Int(i) => usize::try_from(*i)
                .ok()
                .filter(|o| *o < self.data.len())
                .ok_or(Rejection::PdfXref {
                    offset: from,
                    detail: "/Prev or /XRefStm outside the file",
                }),
            _ => Err(Rejection::PdfXref {
                offset: from,
                detail: "/Prev or /XRefStm is not an integer",
            }),
        }
    }

    fn add_entry(&mut self, num: u32, entry: Entry) {
        self.xref.entry(num).or_insert(entry);
    }

    /// `xref` EOL, then subsections `start count` EOL and 20-byte entries, then `trailer` dict.
    fn xref_table(&mut self, offset: usize) -> Result<Dict<'a>, Rejection> {
        let err = |detail| Rejection::PdfXref { offset, detail };
        let data = self.data;
        let mut pos = offset + 4;
        let line_eol = eol(data, pos).ok_or(err("no end of line after `xref`"))?;
        pos += line_eol.len();
        let mut entry_eol: Option<&[u8]> = None;
        let mut entries: Vec<(u32, Entry)> = Vec::new();
        let mut free_next: Vec<u64> = Vec::new();
        loop {
            if data[pos..].starts_with(b"trailer") {
                break;
            }
            // Subsection header: `start count` with single spaces and the same EOL as `xref`.
            let mut lx = Lexer { data, pos };
            let start = lx.unsigned().ok_or(err("bad subsection header"))?;
            if lx.peek() != Some(b' ') {
                return Err(err("bad subsection header"));
            }
            lx.pos += 1;
            let count = lx.unsigned().ok_or(err("bad subsection header"))?;
            if !data[lx.pos..].starts_with(line_eol) || eol(data, lx.pos) != Some(line_eol) {
                return Err(err(
                    "subsection header line ending differs from `xref` line",
                ));
            }
            pos = lx.pos + line_eol.len();
            let count = usize::try_from(count).map_err(|_| err("subsection too long"))?;
            let bytes = count
                .checked_mul(20)
                .filter(|b| *b <= data.len() - pos)
                .ok_or(err("subsection runs past the end of the file"))?;
            let start = u32::try_from(start).map_err(|_| err("object number out of range"))?;
            for (i, raw) in data[pos..pos + bytes].chunks_exact(20).enumerate() {
                let num = u32::try_from(i)
                    .ok()
                    .and_then(|i| start.checked_add(i))
                    .ok_or(err("object number out of range"))?;
                let (offset_digits, rest) = raw.split_at(10);
                let (field2, rest) = rest.split_at(6);
                let (kind, end) = rest.split_at(2);
                if field2[0] != b' ' || kind[0] != b' ' {
                    return Err(err("malformed entry"));
                }
                // Every entry of one table uses the same two-byte ending, as generators write it;
                // a mixed table is damage that would otherwise go unnoticed.
                if !matches!(end, b" \r" | b" \n" | b"\r\n") || *entry_eol.get_or_insert(end) != end
                {
                    return Err(err("malformed or inconsistent entry line ending"));
                }
                let first = parse_usize(offset_digits).ok_or(err("malformed entry offset"))?;
                let generation = parse_usize(&field2[1..])
                    .and_then(|g| u16::try_from(g).ok())
                    .ok_or(err("malformed entry generation"))?;
                let entry = match kind[1] {
                    b'n' => Entry::InUse {
                        offset: first,
                        generation,
                    },
                    b'f' => {
                        // Object 0 heads the free list and always has generation 65535.
                        if num == 0 && generation != u16::MAX {
                            return Err(err("object 0 is not free with generation 65535"));
                        }
                        free_next.push(first as u64);
                        Entry::Free
                    }
                    _ => return Err(err("entry type is neither n nor f")),
                };
                entries.push((num, entry));
            }
            pos += bytes;
        }
        let mut lx = Lexer {
            data,
            pos: pos + b"trailer".len(),
        };
        let Value::Dict(trailer) = lx.value(0).map_err(err)? else {
            return Err(err("trailer is not a dictionary"));
        };
        let size = trailer
            .int(b"Size")
            .and_then(|s| u64::try_from(s).ok())
            .ok_or(err("trailer /Size missing"))?;
        if entries.iter().any(|(n, _)| u64::from(*n) >= size) {
            return Err(err("entry beyond the trailer's /Size"));
        }
        if entries.iter().any(|(n, e)| *n == 0 && *e != Entry::Free) {
            return Err(err("object 0 is not free"));
        }
        // A free entry's first field links to the next free object (0 ends the list): it must
        // name a free entry of this section, so a damaged link does not go unnoticed.
        let free: HashSet<u64> = entries
            .iter()
            .filter(|(_, e)| *e == Entry::Free)
            .map(|(n, _)| u64::from(*n))
            .collect();
        if free_next
            .iter()
            .any(|n| *n >= size || (*n != 0 && !free.contains(n)))
        {
            return Err(err("free entry links to an object that is not free"));
        }
        for (num, entry) in entries {
            self.add_entry(num, entry);
        }
        Ok(trailer)
    }

    /// An xref stream section at `offset`: `N G obj <</Type/XRef ...>> stream`.
    fn xref_stream(&mut self, offset: usize) -> Result<Dict<'a>, Rejection> {
        let err = |detail| Rejection::PdfXref { offset, detail };
        let (num, generation) = object_header(self.data, offset)
            .ok_or(err("startxref/Prev points at neither `xref` nor `N G obj`"))?;
        let object = self.parse_object(offset, num, generation, 0)?;
        let (Value::Dict(dict), Some(range)) = (object.value, object.stream) else {
            return Err(err("not a stream"));
        };
        if !dict.name_is(b"Type", b"XRef") {
            return Err(err("stream is not /Type/XRef"));
        }
        let size = dict
            .int(b"Size")
            .and_then(|s| u64::try_from(s).ok())
            .ok_or(err("/Size missing"))?;
        let widths: Vec<usize> = match dict.get(b"W") {
            Some(Value::Array(w)) if w.len() == 3 => w
                .iter()
                .map(|v| match v {
                    Value::Int(i) => usize::try_from(*i).ok().filter(|i| *i <= 8),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or(err("bad /W"))?,
            _ => return Err(err("bad /W")),
        };
        let row: usize = widths.iter().sum();
        if row == 0 || widths[1] == 0 {
            return Err(err("bad /W"));
        }
        let index: Vec<(u64, u64)> = match dict.get(b"Index") {
            None => vec![(0, size)],
            Some(Value::Array(items)) if items.len().is_multiple_of(2) => items
                .chunks_exact(2)
                .map(|p| match p {
                    [Value::Int(a), Value::Int(b)] => {
                        Some((u64::try_from(*a).ok()?, u64::try_from(*b).ok()?))
                    }
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or(err("bad /Index"))?,
            _ => return Err(err("bad /Index")),
        };
        let decoded = self.decode_retained(&dict, range, num, true)?;
        let rows = decoded.len() / row;
        let declared = index
            .iter()
            .try_fold(0u64, |acc, (_, n)| acc.checked_add(*n))
            .ok_or(err("bad /Index"))?;
        if !decoded.len().is_multiple_of(row) || rows as u64 != declared {
            return Err(err("stream length does not match /W and /Index"));
        }
        let mut fields = decoded.chunks_exact(row);
        for (start, count) in index {
            for i in 0..count {
                let n = start.checked_add(i).filter(|n| *n < size);
                let n = n
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(err("entry beyond /Size"))?;
                let raw = fields.next().ok_or(err("stream too short"))?;
                let (t, rest) = raw.split_at(widths[0]);
                let (f2, f3) = rest.split_at(widths[1]);
                let kind = if widths[0] == 0 { 1 } else { be(t) };
                let entry = match kind {
                    0 => Entry::Free,
                    1 => Entry::InUse {
                        offset: usize::try_from(be(f2))
                            .ok()
                            .filter(|o| *o < self.data.len())
                            .ok_or(err("entry offset outside the file"))?,
                        generation: u16::try_from(be(f3)).map_err(|_| err("bad generation"))?,
                    },
                    2 => Entry::Compressed {
                        stream: u32::try_from(be(f2)).map_err(|_| err("bad object stream"))?,
                        index: u32::try_from(be(f3)).map_err(|_| err("bad index"))?,
                    },
                    _ => return Err(err("unknown entry type")),
                };
                self.add_entry(n, entry);
            }
        }
        Ok(dict)
    }

    // -----------------------------------------------------------------------------------------

    /// Parses `num generation obj` at `offset` through `endobj`, checking stream framing.
    fn parse_object(
        &mut self,
        offset: usize,
        num: u32,
        generation: u16,
        depth: usize,
    ) -> Result<Object<'a>, Rejection> {
        let data = self.data;
        let syntax = |detail| Rejection::PdfSyntax {
            object: num,
            detail,
        };
        if object_header(data, offset) != Some((num, generation)) {
            return Err(Rejection::PdfObjectHeader {
                object: num,
                offset,
            });
        }
        let mut lx = Lexer { data, pos: offset };
        lx.unsigned();
        lx.pos += 1;
        lx.unsigned();
        lx.pos += 4; // " obj"
        let value = lx.value(0).map_err(syntax)?;
        lx.skip_ws();
        let mut stream = None;
        if lx.keyword(b"stream") {
            let Value::Dict(dict) = &value else {
                return Err(syntax("stream keyword after a non-dictionary"));
            };
            // `stream` is followed by CRLF or LF, never CR alone.
            let start = match lx.rest() {
                [b'\r', b'\n', ..] => lx.pos + 2,
                [b'\n', ..] => lx.pos + 1,
                _ => return Err(syntax("`stream` not followed by CRLF or LF")),
            };
            let length = self.stream_length(dict, num, depth)?;
            let end = start
                .checked_add(length)
                .filter(|e| *e <= data.len())
                .ok_or(Rejection::PdfStreamLength { object: num })?;
            let mut after = end;
            if let Some(e) = eol(data, end) {
                after += e.len();
            }
            if !data[after..].starts_with(b"endstream") {
                return Err(Rejection::PdfStreamLength { object: num });
            }
            lx.pos = after + b"endstream".len();
            lx.skip_ws();
            stream = Some(start..end);
        }
        if !lx.keyword(b"endobj") {
            return Err(syntax("missing endobj"));
        }
        Ok(Object { value, stream })
    }

    fn stream_length(
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
                Err(Rejection::PdfLimits(l)) => return Err(Rejection::PdfLimits(l)),
                Err(_) => return Err(bad),
            },
            _ => return Err(bad),
        };
        usize::try_from(value).map_err(|_| bad)
    }

    /// The value of object `num` (for a stream, its dictionary).
    fn resolve(&mut self, num: u32, generation: u16, depth: usize) -> Result<Value<'a>, Rejection> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(Rejection::PdfLimits("indirect references nest too deep"));
        }
        match self.xref.get(&num).copied() {
            Some(Entry::InUse {
                offset,
                generation: g,
            }) if g == generation => Ok(self.parse_object(offset, num, g, depth)?.value),
            Some(Entry::Compressed { stream, index }) if generation == 0 => {
                self.compressed(num, stream, index, depth)
            }
            _ => Err(Rejection::PdfSyntax {
                object: num,
                detail: "reference to a missing or free object",
            }),
        }
    }

    /// Object `num` from object stream `stream` at member `index`.
    fn compressed(
        &mut self,
        num: u32,
        stream: u32,
        index: u32,
        depth: usize,
    ) -> Result<Value<'a>, Rejection> {
        self.load_objstm(stream, depth)?;
        let err = |detail| Rejection::PdfObjectStream {
            object: stream,
            detail,
        };
        let objstm = self.objstms.get(&stream).ok_or(err("not loaded"))?;
        let (member, rel) = *objstm
            .members
            .get(index as usize)
            .ok_or(err("index beyond /N"))?;
        if member != num {
            return Err(err("member number differs from the xref entry"));
        }
        let pos = objstm
            .first
            .checked_add(rel)
            .filter(|p| *p < objstm.data.len())
            .ok_or(err("member offset outside the stream"))?;
        // Values borrow from the input, not from the decoded stream: only the few facts needed
        // (is it an integer? a catalog?) are lifted out, rebuilt with input-independent data.
        let mut lx = Lexer {
            data: &objstm.data,
            pos,
        };
        let value = lx.value(0).map_err(err)?;
        Ok(detach(&value))
    }

    fn load_objstm(&mut self, stream: u32, depth: usize) -> Result<(), Rejection> {
        if self.objstms.contains_key(&stream) {
            return Ok(());
        }
        if depth > MAX_RESOLVE_DEPTH {
            return Err(Rejection::PdfLimits("object streams nest too deep"));
        }
        let err = |detail| Rejection::PdfObjectStream {
            object: stream,
            detail,
        };
        let Some(Entry::InUse {
            offset,
            generation: 0,
        }) = self.xref.get(&stream).copied()
        else {
            return Err(err("not an in-use object with generation 0"));
        };
        let object = self.parse_object(offset, stream, 0, depth + 1)?;
        let (Value::Dict(dict), Some(range)) = (object.value, object.stream) else {
            return Err(err("not a stream"));
        };
        if !dict.name_is(b"Type", b"ObjStm") {
            return Err(err("not /Type/ObjStm"));
        }
        let n = dict
            .int(b"N")
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(err("bad /N"))?;
        let first = dict
            .int(b"First")
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(err("bad /First"))?;
        let data = self.decode_retained(&dict, range, stream, false)?;
        if first > data.len() || n > first / 2 + 1 {
            return Err(err("/N or /First inconsistent with the data"));
        }
        let mut lx = Lexer {
            data: &data[..first],
            pos: 0,
        };
        let mut members = Vec::with_capacity(n);
        for _ in 0..n {
            lx.skip_ws();
            let num = lx.unsigned().and_then(|v| u32::try_from(v).ok());
            lx.skip_ws();
            let rel = lx.unsigned().and_then(|v| usize::try_from(v).ok());
            match (num, rel) {
                (Some(num), Some(rel)) => members.push((num, rel)),
                _ => return Err(err("bad member table")),
            }
        }
        self.objstms.insert(
            stream,
            ObjStm {
                data,
                first,
                members,
            },
        );
        Ok(())
    }

    /// Decodes a stream that must be kept (xref or object stream): no filter or FlateDecode,
    /// optional PNG predictor for xref streams.
    fn decode_retained(
        &mut self,
        dict: &Dict<'_>,
        range: std::ops::Range<usize>,
        num: u32,
        xref: bool,
    ) -> Result<Vec<u8>, Rejection> {
        let data = self.data;
        let at = range.start;
        let raw = &data[range];
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
        let flate = match first_filter(dict) {
            Ok(None) => false,
            Ok(Some(f)) if f == b"FlateDecode" => true,
            _ => return Err(unsupported("filter other than FlateDecode")),
        };
        if flate && matches!(dict.get(b"Filter"), Some(Value::Array(a)) if a.len() > 1) {
            return Err(unsupported("filter chain"));
        }
        let mut out = Vec::new();
        if flate {
            let mut retain_left = self.retain_left;
            inflate(raw, &mut self.buf, &mut self.inflate_left, num, |chunk| {
                if chunk.len() > retain_left {
                    return Err(Rejection::PdfLimits(
                        "xref/object streams inflate too large",
                    ));
                }
                retain_left -= chunk.len();
                out.extend_from_slice(chunk);
                Ok(())
            })?;
            self.retain_left = retain_left;
        } else {
            out.extend_from_slice(raw);
        }
        if !xref {
            return Ok(out);
        }
        let predictor = match dict.get(b"DecodeParms") {
            None => None,
            Some(Value::Dict(p)) => Some(p),
            Some(_) => return Err(unsupported("bad /DecodeParms")),
        };
        match predictor.and_then(|p| p.int(b"Predictor")).unwrap_or(1) {
            1 => Ok(out),
            10..=15 => {
                let p = predictor.ok_or(unsupported("bad /DecodeParms"))?;
                let columns = p.int(b"Columns").unwrap_or(1);
                let colors = p.int(b"Colors").unwrap_or(1);
                let bpc = p.int(b"BitsPerComponent").unwrap_or(8);
                if !(1..=1 << 20).contains(&columns)
                    || !(1..=32).contains(&colors)
                    || ![1, 2, 4, 8, 16].contains(&bpc)
                {
                    return Err(unsupported("bad predictor parameters"));
                }
                let bits = (columns * colors * bpc) as usize;
                let bpp = ((colors * bpc) as usize).div_ceil(8);
                unpredict_png(&out, bits.div_ceil(8), bpp)
                    .ok_or(unsupported("bad PNG predictor data"))
            }
            _ => Err(unsupported("unsupported predictor")),
        }
    }

    // -----------------------------------------------------------------------------------------

    /// Every in-use object: header, syntax, stream framing, FlateDecode integrity; every
    /// compressed entry: present in its object stream.
    fn check_objects(&mut self) -> Result<(), Rejection> {
        let mut entries: Vec<(u32, Entry)> = self.xref.iter().map(|(n, e)| (*n, *e)).collect();
        entries.sort_unstable_by_key(|(n, _)| *n);
        for (num, entry) in entries {
            match entry {
                Entry::Free => {}
                Entry::InUse { offset, generation } => {
                    let object = self.parse_object(offset, num, generation, 0)?;
                    if let (Value::Dict(dict), Some(range)) = (&object.value, object.stream) {
                        self.check_stream(dict, range, num)?;
                    }
                }
                Entry::Compressed { stream, index } => {
                    self.compressed(num, stream, index, 0)?;
                }
            }
        }
        Ok(())
    }

    fn check_stream(
        &mut self,
        dict: &Dict<'_>,
        range: std::ops::Range<usize>,
        num: u32,
    ) -> Result<(), Rejection> {
        match first_filter(dict) {
            Ok(Some(f)) if f == b"FlateDecode" => {
                let data = self.data;
                let raw = &data[range];
                inflate(raw, &mut self.buf, &mut self.inflate_left, num, |_| Ok(())).map(|_| ())
            }
            Ok(_) => Ok(()), // other filters: the length check is all that can be done here
            Err(detail) => Err(Rejection::PdfSyntax {
                object: num,
                detail,
            }),
        }
    }

    fn check_root(&mut self, (num, generation): (u32, u16)) -> Result<(), Rejection> {
        let value = match self.resolve(num, generation, 0) {
            Ok(v) => v,
            Err(Rejection::PdfSyntax { .. }) => {
                return Err(Rejection::PdfRoot("does not resolve to an in-use object"));
            }
            Err(other) => return Err(other),
        };
        match value {
            Value::Dict(d) if d.name_is(b"Type", b"Catalog") => Ok(()),
            _ => Err(Rejection::PdfRoot("is not a /Type/Catalog dictionary")),
        }
    }
}

/// The first filter applied when decoding, if any.
fn first_filter<'v>(dict: &'v Dict<'_>) -> Result<Option<&'v [u8]>, &'static str> {
    match dict.get(b"Filter") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Name(n)) => Ok(Some(n)),
        Some(Value::Array(a)) => match a.first() {
            None => Ok(None),
            Some(Value::Name(n)) => Ok(Some(n)),
            Some(_) => Err("/Filter array holds a non-name"),
        },
        Some(_) => Err("/Filter is neither a name nor an array"),
    }
}

/// Values parsed out of a decoded object stream cannot borrow from it; keep only what the
/// validator inspects (integers, `/Type` names compared against constants).
fn detach(value: &Value<'_>) -> Value<'static> {
    match value {
        Value::Int(i) => Value::Int(*i),
        Value::Dict(d) => {
            let is_catalog = d.name_is(b"Type", b"Catalog");
            Value::Dict(Dict(if is_catalog {
                vec![(&b"Type"[..], Value::Name(b"Catalog"))]
            } else {
                Vec::new()
            }))
        }
        Value::Ref(n, g) => Value::Ref(*n, *g),
        _ => Value::Null,
    }
}

/// An EOL (CRLF, LF or CR) at `pos`.
fn eol(data: &[u8], pos: usize) -> Option<&'static [u8]> {
    match data.get(pos..)? {
        [b'\r', b'\n', ..] => Some(b"\r\n"),
        [b'\n', ..] => Some(b"\n"),
        [b'\r', ..] => Some(b"\r"),
        _ => None,
    }
}

/// Exactly `N G obj` at `pos` (single spaces, no sign), preceded by whitespace and followed by a
/// non-regular byte, so an offset that lands inside `12 0 obj` on `2 0 obj` is not accepted.
fn object_header(data: &[u8], pos: usize) -> Option<(u32, u16)> {
    if pos == 0 || !is_ws(*data.get(pos - 1)?) {
        return None;
    }
    let mut lx = Lexer { data, pos };
    let num = u32::try_from(lx.unsigned()?).ok()?;
    if lx.peek()? != b' ' {
        return None;
    }
    lx.pos += 1;
    let generation = u16::try_from(lx.unsigned()?).ok()?;
    if lx.peek()? != b' ' {
        return None;
    }
    lx.pos += 1;
    lx.keyword(b"obj").then_some((num, generation))
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Undoes PNG row predictors (types 0-4 per row, as xref streams use with /Predictor 10-15).
fn unpredict_png(data: &[u8], row: usize, bpp: usize) -> Option<Vec<u8>> {
    if row == 0 || !data.len().is_multiple_of(row + 1) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / (row + 1) * row);
    let mut prev = vec![0u8; row];
    let mut cur = vec![0u8; row];
    for line in data.chunks_exact(row + 1) {
        let (filter, src) = (line[0], &line[1..]);
        for i in 0..row {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => return None,
            };
            cur[i] = src[i].wrapping_add(predicted);
        }
        out.extend_from_slice(&cur);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(out)
}

/// Inflates a zlib stream completely into `buf` chunks handed to `sink`. The stream must end
/// (Adler-32 verified by the inflater) within `raw`; only whitespace may follow it.
fn inflate(
    raw: &[u8],
    buf: &mut [u8],
    budget: &mut u64,
    num: u32,
    mut sink: impl FnMut(&[u8]) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    let fail = |detail| Rejection::PdfFlate {
        object: num,
        detail,
    };
    let mut inflater = Decompress::new(true);
    let mut at = 0usize;
    loop {
        let (in0, out0) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(&raw[at..], buf, FlushDecompress::None)
            .map_err(|_| fail("invalid deflate data or Adler-32 mismatch"))?;
        let consumed = (inflater.total_in() - in0) as usize;
        let produced = inflater.total_out() - out0;
        at += consumed;
        *budget = budget
            .checked_sub(produced)
            .ok_or(Rejection::PdfLimits("too many inflated bytes"))?;
        sink(&buf[..produced as usize])?;
        if status == Status::StreamEnd {
            break;
        }
        if consumed == 0 && produced == 0 {
            return Err(fail("zlib stream is truncated"));
        }
    }
    if raw[at..].iter().all(|b| is_ws(*b)) {
        Ok(())
    } else {
        Err(fail("data after the end of the zlib stream"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dummy_pdf_or_png::documents::{Kind, corrupt, distinct, sample_pdf};
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use proptest::prelude::*;
    use std::io::Write;
    use std::ops::Range;
    use std::sync::OnceLock;

    fn sample() -> &'static [u8] {
        static SAMPLE: OnceLock<Vec<u8>> = OnceLock::new();
        SAMPLE.get_or_init(sample_pdf)
    }

    fn find(hay: &[u8], needle: &[u8], from: usize) -> usize {
        from + hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle present in the sample")
    }

    fn rfind(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .rposition(|w| w == needle)
            .expect("needle present in the sample")
    }

    /// Regions of the sample located by plain text search, independently of the validator.
    struct Regions {
        startxref_number: Range<usize>,
        xref_table: Range<usize>,
        headers: Vec<Range<usize>>,
        streams: Vec<Range<usize>>,
    }

    fn regions(pdf: &[u8]) -> Regions {
        let sx = rfind(pdf, b"startxref\n") + b"startxref\n".len();
        let startxref_number = sx..find(pdf, b"\n", sx);
        let xref = rfind(pdf, b"\nxref\n") + 1;
        let xref_table = xref..find(pdf, b"trailer", xref);
        let table = &pdf[xref_table.clone()];
        let mut headers = Vec::new();
        let mut streams = Vec::new();
        for line in table.split(|b| *b == b'\n').filter(|l| l.ends_with(b" n ")) {
            let offset: usize = std::str::from_utf8(&line[..10])
                .expect("ascii")
                .parse()
                .expect("digits");
            let header_end = find(pdf, b" obj", offset) + 4;
            headers.push(offset..header_end);
            let endobj = find(pdf, b"endobj", offset);
            if let Some(p) = pdf[offset..endobj]
                .windows(7)
                .position(|w| w == b"stream\n")
            {
                let start = offset + p + 7;
                streams.push(start..rfind(&pdf[..endobj], b"\nendstream"));
            }
        }
        Regions {
            startxref_number,
            xref_table,
            headers,
            streams,
        }
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("vec write");
        e.finish().expect("vec write")
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
                    validate(&copy).is_err(),
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

    #[derive(Clone, Copy, PartialEq)]
    enum Break {
        None,
        Offset,
        Member,
        RootType,
    }

    /// PDF-1.5 with the catalog and pages in an object stream, indexed by a FlateDecode xref
    /// stream with the PNG Up predictor (/Predictor 12), like modern writers produce.
    fn xref_stream_pdf(brk: Break) -> Vec<u8> {
        let mut out = b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = [0usize; 8];
        let catalog: &[u8] = if brk == Break::RootType {
            b"<</Type/Pages/Pages 2 0 R>>"
        } else {
            b"<</Type/Catalog/Pages 2 0 R>>"
        };
        let pages: &[u8] = b"<</Type/Pages/Kids[3 0 R]/Count 1>>";
        let header = format!("1 0 2 {} ", catalog.len() + 1);
        let mut members = header.clone().into_bytes();
        members.extend_from_slice(catalog);
        members.push(b' ');
        members.extend_from_slice(pages);
        let packed = zlib(&members);
        offsets[6] = out.len();
        out.extend_from_slice(
            format!(
                "6 0 obj\n<</Type/ObjStm/N 2/First {}/Length {}/Filter/FlateDecode>>\nstream\n",
                header.len(),
                packed.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&packed);
        out.extend_from_slice(b"\nendstream\nendobj\n");
        offsets[3] = out.len();
        out.extend_from_slice(
            b"3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>\nendobj\n",
        );
        let content = zlib(b"BT /F1 12 Tf 72 720 Td (xref stream) Tj ET");
        offsets[4] = out.len();
        out.extend_from_slice(b"4 0 obj\n<</Length 5 0 R/Filter/FlateDecode>>\nstream\r\n");
        out.extend_from_slice(&content);
        out.extend_from_slice(b"endstream\nendobj\n");
        offsets[5] = out.len();
        out.extend_from_slice(format!("5 0 obj\n{}\nendobj\n", content.len()).as_bytes());
        offsets[7] = out.len();
        if brk == Break::Offset {
            offsets[3] += 1;
        }
        let member_index = if brk == Break::Member { 1 } else { 0 };
        let rows: Vec<[u8; 4]> = (0..8)
            .map(|n| match n {
                0 => [0, 0, 0, 255],
                1 => [2, 0, 6, member_index],
                2 => [2, 0, 6, 1],
                _ => {
                    let o = u16::try_from(offsets[n]).expect("small test file");
                    let [hi, lo] = o.to_be_bytes();
                    [1, hi, lo, 0]
                }
            })
            .collect();
        let mut predicted = Vec::new();
        let mut prev = [0u8; 4];
        for row in &rows {
            predicted.push(2);
            predicted.extend(row.iter().zip(prev).map(|(a, b)| a.wrapping_sub(b)));
            prev = *row;
        }
        let packed = zlib(&predicted);
        out.extend_from_slice(
            format!(
                "7 0 obj\n<</Type/XRef/Size 8/W[1 2 1]/Root 1 0 R/Length {}/Filter/FlateDecode\
/DecodeParms<</Columns 4/Predictor 12>>>>\nstream\n",
                packed.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&packed);
        out.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{}\n%%EOF\n", offsets[7]).as_bytes(),
        );
        out
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
            let _ = super::super::validate(&bytes);
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
            prop_assert!(validate(&pdf).is_err(), "flip {:#x} at {} accepted", x, at);
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
            prop_assert!(validate(&pdf).is_err(), "flip {:#x} at {} accepted", x, at);
        }

        #[test]
        fn random_flips_anywhere_never_panic(at in any::<prop::sample::Index>(), x in 1..=255u8) {
            let mut pdf = sample().to_vec();
            let at = at.index(pdf.len());
            pdf[at] ^= x;
            let _ = validate(&pdf);
        }
    }
}

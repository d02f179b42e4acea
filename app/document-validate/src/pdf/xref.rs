//! Cross-reference sections: classic `xref` tables with their trailers, xref streams, and the
//! `/Prev` / `/XRefStm` chain between them. Fills `Pdf::xref`; entries from newer sections win.

use super::lexer::{Dict, Lexer, Value, eol, is_ws, object_header};
use super::{Entry, MAX_SECTIONS, Pdf, Rejection, Trailer, parse_usize};
use std::collections::HashSet;

impl<'a> Pdf<'a> {
    /// Follows the xref chain from `startxref`; newer sections win. Returns the newest trailer's
    /// /Root reference, /Encrypt, /Info and /ID values.
    pub(super) fn load_xref(&mut self, startxref: usize) -> Result<Trailer<'a>, Rejection> {
        let mut pending = vec![startxref];
        let mut seen = HashSet::new();
        let mut root = None;
        let mut encrypt = None;
        let mut info = None;
        let mut id = None;
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
                encrypt = trailer.get(b"Encrypt").cloned();
                info = trailer.get(b"Info").cloned();
                id = trailer.get(b"ID").cloned();
                root = Some(match trailer.get(b"Root") {
                    Some(Value::Ref(n, g)) => (*n, *g),
                    Some(_) => return Err(Rejection::PdfRoot("not an indirect reference")),
                    None => return Err(Rejection::PdfRoot("missing from the trailer")),
                });
            }
        }
        let root = root.ok_or(Rejection::PdfRoot("missing from the trailer"))?;
        Ok(Trailer {
            root,
            encrypt,
            info,
            id,
        })
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
        if !data.get(pos).copied().is_some_and(is_ws) {
            return Err(err("no end of line after `xref`"));
        }
        let mut entry_eol: Option<&[u8]> = None;
        let mut entries: Vec<(u32, Entry)> = Vec::new();
        let mut free_next: Vec<u64> = Vec::new();
        loop {
            // Producers differ in the whitespace around subsection headers and before `trailer`
            // (PyMuPDF writes an empty line): any is accepted, the 20-byte entries are exact.
            let mut lx = Lexer { data, pos };
            lx.skip_ws();
            if lx.rest().starts_with(b"trailer") {
                pos = lx.pos;
                break;
            }
            // Subsection header: `start count`, then spaces and an end of line.
            let start = lx.unsigned().ok_or(err("bad subsection header"))?;
            let spaces = lx.rest().iter().take_while(|b| **b == b' ').count();
            lx.pos += spaces;
            let count = lx.unsigned().filter(|_| spaces > 0);
            let count = count.ok_or(err("bad subsection header"))?;
            lx.pos += lx.rest().iter().take_while(|b| **b == b' ').count();
            let line_eol = eol(data, lx.pos).ok_or(err("bad subsection header"))?;
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
                let generation =
                    parse_usize(&field2[1..]).ok_or(err("malformed entry generation"))?;
                let entry = match kind[1] {
                    b'n' => Entry::InUse {
                        offset: first,
                        generation: u16::try_from(generation)
                            .map_err(|_| err("in-use entry generation above 65535"))?,
                    },
                    // A free entry's generation is the next one to use: MuPDF writes 65536 for
                    // object 0, and object 0 heads the free list with any generation.
                    b'f' => {
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
            .int_as::<u64>(b"Size")
            .ok_or(err("trailer /Size missing"))?;
        if entries.iter().any(|(n, _)| u64::from(*n) >= size) {
            return Err(err("entry beyond the trailer's /Size"));
        }
        if entries.iter().any(|(n, e)| *n == 0 && *e != Entry::Free) {
            return Err(err("object 0 is not free"));
        }
        // A free entry's first field links to the next free object (0 ends the list). The list
        // may run through older sections (incremental updates free objects), so a link is only
        // refused when it names an object this very section says is in use, or lies past /Size.
        let in_use: HashSet<u64> = entries
            .iter()
            .filter(|(_, e)| *e != Entry::Free)
            .map(|(n, _)| u64::from(*n))
            .collect();
        if free_next.iter().any(|n| *n >= size || in_use.contains(n)) {
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
        let size = dict.int_as::<u64>(b"Size").ok_or(err("/Size missing"))?;
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
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

//! Indirect objects: `N G obj ... endobj` parsing with stream framing, reference resolution
//! through the xref, and members of object streams (loaded once, kept decoded).

use super::lexer::{Dict, Lexer, Value, eol, object_header};
use super::{Entry, MAX_RESOLVE_DEPTH, ObjStm, Object, Pdf, Rejection};

impl<'a> Pdf<'a> {
    /// Parses `num generation obj` at `offset` through `endobj`, checking stream framing.
    pub(super) fn parse_object(
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

    /// The value of object `num` (for a stream, its dictionary).
    pub(super) fn resolve(
        &mut self,
        num: u32,
        generation: u16,
        depth: usize,
    ) -> Result<Value<'a>, Rejection> {
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
    pub(super) fn compressed(
        &mut self,
        num: u32,
        stream: u32,
        index: u32,
        depth: usize,
    ) -> Result<Value<'a>, Rejection> {
        if self.encrypted {
            return self.encrypted_member(stream);
        }
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

    /// Where object stream `stream` starts: it must be an in-use object of generation 0.
    pub(super) fn objstm_offset(&self, stream: u32) -> Result<usize, Rejection> {
        match self.xref.get(&stream).copied() {
            Some(Entry::InUse {
                offset,
                generation: 0,
            }) => Ok(offset),
            _ => Err(Rejection::PdfObjectStream {
                object: stream,
                detail: "not an in-use object with generation 0",
            }),
        }
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
        let offset = self.objstm_offset(stream)?;
        let object = self.parse_object(offset, stream, 0, depth + 1)?;
        let (Value::Dict(dict), Some(range)) = (object.value, object.stream) else {
            return Err(err("not a stream"));
        };
        if !dict.name_is(b"Type", b"ObjStm") {
            return Err(err("not /Type/ObjStm"));
        }
        let n = dict.int_as::<usize>(b"N").ok_or(err("bad /N"))?;
        let first = dict.int_as::<usize>(b"First").ok_or(err("bad /First"))?;
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
}

/// Values parsed out of a decoded object stream cannot borrow from it; keep only what the
/// validator inspects (integers, references, the `/Type`, `/Pages` and `/Kids` of the catalog
/// and page tree).
fn detach(value: &Value<'_>) -> Value<'static> {
    match value {
        Value::Int(i) => Value::Int(*i),
        Value::Dict(d) => {
            let mut kept = Vec::new();
            for name in [&b"Catalog"[..], b"Pages", b"Page"] {
                if d.name_is(b"Type", name) {
                    kept.push((&b"Type"[..], Value::Name(name)));
                }
            }
            if let Some(Value::Ref(n, g)) = d.get(b"Pages") {
                kept.push((&b"Pages"[..], Value::Ref(*n, *g)));
            }
            if let Some(Value::Array(kids)) = d.get(b"Kids") {
                kept.push((
                    &b"Kids"[..],
                    Value::Array(kids.iter().map(detach).collect()),
                ));
            }
            Value::Dict(Dict(kept))
        }
        Value::Ref(n, g) => Value::Ref(*n, *g),
        _ => Value::Null,
    }
}

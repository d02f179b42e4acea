//! Tokens and direct objects: the PDF lexer, the [`Value`]/[`Dict`] model it produces, and the
//! byte-level helpers (whitespace, line endings, `N G obj` headers) the other passes share.

use super::MAX_DEPTH;

pub(super) fn is_ws(b: u8) -> bool {
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

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value<'a> {
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
pub(super) struct Dict<'a>(pub(super) Vec<(&'a [u8], Value<'a>)>);

impl<'a> Dict<'a> {
    pub(super) fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub(super) fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// An integer entry that fits `T` (negative counts and sizes do not).
    pub(super) fn int_as<T: TryFrom<i64>>(&self, key: &[u8]) -> Option<T> {
        self.int(key).and_then(|i| T::try_from(i).ok())
    }

    pub(super) fn name_is(&self, key: &[u8], name: &[u8]) -> bool {
        matches!(self.get(key), Some(Value::Name(n)) if *n == name)
    }
}

/// Why the lexer stopped; the caller knows which object it was reading.
pub(super) type Lex<T> = Result<T, &'static str>;

pub(super) struct Lexer<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    pub(super) fn skip_ws(&mut self) {
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

    pub(super) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Consumes `kw` if it is next and is followed by a non-regular byte (or the end).
    pub(super) fn keyword(&mut self, kw: &[u8]) -> bool {
        let rest = self.rest();
        if rest.starts_with(kw) && rest.get(kw.len()).is_none_or(|b| !is_regular(*b)) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    pub(super) fn unsigned(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.pos += 1;
        }
        (self.pos > start).then_some(v)
    }

    pub(super) fn value(&mut self, depth: usize) -> Lex<Value<'a>> {
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
                // Control characters are not written raw in names, and `#` introduces two hex
                // digits (ISO 32000-2, 7.3.5); bytes above 0x7E are accepted (UTF-8 font names).
                let start = self.pos;
                while let Some(b) = self.peek().filter(|b| is_regular(*b)) {
                    if b < 0x21 || b == 0x7F {
                        return Err("control character in a name");
                    }
                    if b == b'#' {
                        let hex = self.data.get(self.pos + 1..self.pos + 3);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return Err("`#` in a name not followed by two hex digits");
                        }
                        self.pos += 2;
                    }
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

/// An EOL (CRLF, LF or CR) at `pos`.
pub(super) fn eol(data: &[u8], pos: usize) -> Option<&'static [u8]> {
    match data.get(pos..)? {
        [b'\r', b'\n', ..] => Some(b"\r\n"),
        [b'\n', ..] => Some(b"\n"),
        [b'\r', ..] => Some(b"\r"),
        _ => None,
    }
}

/// Exactly `N G obj` at `pos` (single spaces, no sign), preceded by whitespace and followed by a
/// non-regular byte, so an offset that lands inside `12 0 obj` on `2 0 obj` is not accepted.
pub(super) fn object_header(data: &[u8], pos: usize) -> Option<(u32, u16)> {
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

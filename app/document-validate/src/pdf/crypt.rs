//! Encrypted documents (ISO 32000-2, 7.6): the service serves them.
//!
//! A document encrypted with an empty user password (RC4 or AES, as qpdf, pikepdf and office
//! suites write them for "no copy/print" restrictions) opens in every reader without a prompt:
//! it is a sound document the client can open. Its streams and strings are ciphertext, so this
//! validator checks what encryption leaves in the clear and does not decrypt:
//! - checked: the header, the whole cross-reference chain (xref streams are never encrypted),
//!   every in-use object's header, syntax and stream framing (`/Length` then `endstream`), the
//!   object stream of every compressed entry (framing, `/Type/ObjStm`), `/Root` and its
//!   `/Pages` where they are readable, and an `/Encrypt` dictionary naming a security handler
//!   and only crypt filters it defines;
//! - not checked: the decoded content of streams, the members of object streams (their text is
//!   ciphertext until decrypted), and whether the empty password opens the document (damage to
//!   `/O`, `/U` or the first `/ID` string makes readers ask for a password).
//!
//! Decrypting would check those too, at the cost of the standard security handler's key
//! derivation (MD5 and RC4 for revisions 2-4, SHA-2 and AES for 6) and four more crates; damage
//! in those places of an encrypted document is served, as a plain proxy would serve it.

use super::lexer::{Dict, Value};
use super::{Pdf, Rejection};

impl<'a> Pdf<'a> {
    /// Records whether the newest trailer's `/Encrypt` is present and checks its shape: a
    /// dictionary, direct or indirect, naming a standard security handler.
    pub(super) fn check_encryption(&mut self, encrypt: Option<Value<'a>>) -> Result<(), Rejection> {
        let bad = Rejection::PdfTrailer(
            "/Encrypt is not a dictionary naming a standard security handler",
        );
        let dict = match encrypt {
            None => return Ok(()),
            Some(Value::Dict(d)) => d,
            Some(Value::Ref(n, g)) => match self.resolve(n, g, 0)? {
                Value::Dict(d) => d,
                _ => return Err(bad),
            },
            Some(_) => return Err(bad),
        };
        // The two security handlers ISO 32000-2 (7.6.4, 7.6.5) defines.
        if !matches!(
            dict.get(b"Filter"),
            Some(Value::Name(b"Standard" | b"Adobe.PubSec"))
        ) {
            return Err(bad);
        }
        if dict.name_is(b"Filter", b"Standard") {
            check_standard(&dict)?;
        }
        // Crypt filters (V 4 and 5): /StmF, /StrF and /EFF name /Identity or an entry of /CF,
        // each of which names a method of ISO 32000-2, table 25.
        let mut filters = Vec::new();
        if let Some(Value::Dict(cf)) = dict.get(b"CF") {
            for (name, filter) in &cf.0 {
                let method_ok = match filter {
                    Value::Dict(f) => matches!(
                        f.get(b"CFM"),
                        None | Some(Value::Name(b"None" | b"V2" | b"AESV2" | b"AESV3"))
                    ),
                    _ => false,
                };
                if !method_ok {
                    return Err(Rejection::PdfTrailer(
                        "/Encrypt /CF entry with an unknown /CFM",
                    ));
                }
                filters.push(*name);
            }
        }
        for key in [&b"StmF"[..], b"StrF", b"EFF"] {
            match dict.get(key) {
                None => {}
                Some(Value::Name(n)) if *n == b"Identity" || filters.contains(n) => {}
                Some(_) => {
                    return Err(Rejection::PdfTrailer(
                        "/Encrypt names a crypt filter its /CF does not define",
                    ));
                }
            }
        }
        self.encrypted = true;
        Ok(())
    }

    /// An encrypted document's trailer has an /ID of two strings (revisions 2-4 derive the key
    /// from the first); any document's /ID, where present, is such an array.
    pub(super) fn check_id(&self, id: Option<Value<'_>>) -> Result<(), Rejection> {
        match id {
            None if !self.encrypted => Ok(()),
            Some(Value::Array(a)) if matches!(a[..], [Value::Str, Value::Str]) => Ok(()),
            _ => Err(Rejection::PdfTrailer("/ID is not an array of two strings")),
        }
    }

    /// A compressed entry of an encrypted document: its object stream is an in-use stream
    /// with `/Type/ObjStm` whose framing holds; the member itself is ciphertext.
    pub(super) fn encrypted_member(&mut self, stream: u32) -> Result<Value<'static>, Rejection> {
        let err = |detail| Rejection::PdfObjectStream {
            object: stream,
            detail,
        };
        let offset = self.objstm_offset(stream)?;
        let object = self.parse_object(offset, stream, 0, 1)?;
        match (object.value, object.stream) {
            (Value::Dict(d), Some(_)) if d.name_is(b"Type", b"ObjStm") => {
                // Stands for the member: a catalog, since /Root is the one member inspected.
                Ok(Value::Dict(Dict(vec![(
                    &b"Type"[..],
                    Value::Name(b"Catalog"),
                )])))
            }
            _ => Err(err("not a /Type/ObjStm stream")),
        }
    }
}

/// The standard security handler's entries (ISO 32000-2, table 21): /V 1, 2, 4 or 5, /R, /P,
/// the /O and /U strings, and for /V 5 also /OE, /UE and /Perms.
fn check_standard(dict: &Dict<'_>) -> Result<(), Rejection> {
    let v = dict.int(b"V").unwrap_or(0);
    let strings: &[&[u8]] = if v == 5 {
        &[b"O", b"U", b"OE", b"UE", b"Perms"]
    } else {
        &[b"O", b"U"]
    };
    let ok = [1, 2, 4, 5].contains(&v)
        && dict.int(b"R").is_some_and(|r| (2..=6).contains(&r))
        && dict.int(b"P").is_some()
        && strings
            .iter()
            .all(|k| matches!(dict.get(k), Some(Value::Str)));
    if ok {
        Ok(())
    } else {
        Err(Rejection::PdfTrailer(
            "/Encrypt lacks or mistypes a standard security handler entry",
        ))
    }
}

//! Encrypted documents (ISO 32000-2, 7.6): the service serves them.
//!
//! A document encrypted with an empty user password (RC4 or AES, as qpdf, pikepdf and office
//! suites write them for "no copy/print" restrictions) opens in every reader without a prompt:
//! it is a sound document the client can open. Its streams and strings are ciphertext, so this
//! validator checks what encryption leaves in the clear and does not decrypt:
//! - checked: the header, the whole cross-reference chain (xref streams are never encrypted),
//!   every in-use object's header, syntax and stream framing (`/Length` then `endstream`), the
//!   object stream of every compressed entry (framing, `/Type/ObjStm`), `/Root`, and an
//!   `/Encrypt` dictionary naming a security handler;
//! - not checked: the decoded content of streams, and the members of object streams (their
//!   text is ciphertext until decrypted).
//!
//! Decrypting would check those too, at the cost of the standard security handler's key
//! derivation (MD5/RC4 for revisions 2-4, SHA-2 and AES-256 for 6) for every document; a damaged
//! stream inside an encrypted document is therefore served, as qpdf-free proxies would.

use super::lexer::{Dict, Value};
use super::{Entry, Pdf, Rejection};

impl<'a> Pdf<'a> {
    /// Records whether the newest trailer's `/Encrypt` is present and checks its shape: a
    /// dictionary, direct or indirect, with a `/Filter` name.
    pub(super) fn check_encryption(&mut self, encrypt: Option<Value<'a>>) -> Result<(), Rejection> {
        let bad = Rejection::PdfTrailer("/Encrypt is not a dictionary naming a security handler");
        let dict = match encrypt {
            None => return Ok(()),
            Some(Value::Dict(d)) => d,
            Some(Value::Ref(n, g)) => match self.resolve(n, g, 0)? {
                Value::Dict(d) => d,
                _ => return Err(bad),
            },
            Some(_) => return Err(bad),
        };
        if !matches!(dict.get(b"Filter"), Some(Value::Name(_))) {
            return Err(bad);
        }
        self.encrypted = true;
        Ok(())
    }

    /// A compressed entry of an encrypted document: its object stream is an in-use stream
    /// with `/Type/ObjStm` whose framing holds; the member itself is ciphertext.
    pub(super) fn encrypted_member(&mut self, stream: u32) -> Result<Value<'static>, Rejection> {
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

//! The document catalog and what hangs from it: `/Root` is a `/Type/Catalog` whose `/Pages` is
//! a page tree of `/Type/Pages` nodes (with `/Kids` references, no loops) and `/Type/Page`
//! leaves; `/Info` is a reference to a dictionary. Objects that cannot be read (members of an
//! encrypted object stream, see `crypt`) are skipped.

use super::lexer::Value;
use super::{POLL_OBJECTS, Pdf, Rejection};
use std::collections::HashSet;

impl Pdf<'_> {
    pub(super) fn check_root(&mut self, (num, generation): (u32, u16)) -> Result<(), Rejection> {
        let catalog = match self.resolve(num, generation, 0) {
            Ok(Value::Dict(d)) if d.name_is(b"Type", b"Catalog") => d,
            Ok(_) => return Err(Rejection::PdfRoot("is not a /Type/Catalog dictionary")),
            Err(Rejection::PdfSyntax { .. }) => {
                return Err(Rejection::PdfRoot("does not resolve to an in-use object"));
            }
            Err(other) => return Err(other),
        };
        if !self.readable(num) {
            return Ok(());
        }
        match catalog.get(b"Pages") {
            Some(Value::Ref(n, g)) => self.check_page_tree((*n, *g)),
            _ => Err(Rejection::PdfRoot("/Pages is not a reference")),
        }
    }

    /// Walks the page tree from its root node, each node once.
    fn check_page_tree(&mut self, root: (u32, u16)) -> Result<(), Rejection> {
        let mut pending = vec![(root, true)];
        let mut seen = HashSet::new();
        while let Some(((num, generation), must_be_pages)) = pending.pop() {
            if !seen.insert(num) {
                return Err(Rejection::PdfRoot("the page tree has a loop"));
            }
            if seen.len() % POLL_OBJECTS == 0 {
                self.budget.poll()?;
            }
            if !self.readable(num) {
                continue;
            }
            let node = match self.resolve(num, generation, 0) {
                Ok(Value::Dict(d)) => d,
                Ok(_) | Err(Rejection::PdfSyntax { .. }) => {
                    return Err(Rejection::PdfRoot("a page tree node is not a dictionary"));
                }
                Err(other) => return Err(other),
            };
            if node.name_is(b"Type", b"Pages") {
                let Some(Value::Array(kids)) = node.get(b"Kids") else {
                    return Err(Rejection::PdfRoot("a /Pages node has no /Kids array"));
                };
                for kid in kids {
                    let Value::Ref(n, g) = kid else {
                        return Err(Rejection::PdfRoot("/Kids holds a non-reference"));
                    };
                    pending.push(((*n, *g), false));
                }
            } else if must_be_pages || !node.name_is(b"Type", b"Page") {
                return Err(Rejection::PdfRoot(
                    "a page tree node is neither /Type/Pages nor /Type/Page",
                ));
            }
        }
        Ok(())
    }

    /// `/Info`, where present, is a reference to a dictionary (ISO 32000-2, 7.5.5).
    pub(super) fn check_info(&mut self, info: Option<Value<'_>>) -> Result<(), Rejection> {
        let bad = Rejection::PdfTrailer("/Info is not a reference to a dictionary");
        match info {
            None => Ok(()),
            Some(Value::Ref(n, g)) => match self.resolve(n, g, 0) {
                Ok(Value::Dict(_)) => Ok(()),
                Ok(_) | Err(Rejection::PdfSyntax { .. }) => Err(bad),
                Err(other) => Err(other),
            },
            Some(_) => Err(bad),
        }
    }
}

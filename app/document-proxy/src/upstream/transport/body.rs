//! An upstream body as it streams in, kept as the chunks it arrived in: views into the
//! connection's read buffer, never joined just to be compared with the verdict cache's copy.

use bytes::{Bytes, BytesMut};

/// A body as it arrives.
#[derive(Debug, Default)]
pub enum Received {
    #[default]
    Nothing,
    /// Most bodies: kept without a `Vec`.
    One(Bytes),
    Several(Vec<Bytes>),
}

impl Received {
    pub fn len(&self) -> usize {
        self.chunks().iter().map(Bytes::len).sum()
    }

    /// The body's chunks, in order.
    pub fn chunks(&self) -> &[Bytes] {
        match self {
            Self::Nothing => &[],
            Self::One(chunk) => std::slice::from_ref(chunk),
            Self::Several(chunks) => chunks,
        }
    }

    pub fn push(&mut self, chunk: Bytes) {
        *self = match std::mem::take(self) {
            Self::Nothing => Self::One(chunk),
            Self::One(first) => Self::Several(vec![first, chunk]),
            Self::Several(mut chunks) => {
                chunks.push(chunk);
                Self::Several(chunks)
            }
        };
    }
}

/// A copy of a body given as pieces, owning its memory exactly (one allocation of the body's
/// length), whatever buffers the pieces point into.
pub fn joined<P: AsRef<[u8]>>(pieces: &[P]) -> Bytes {
    match pieces {
        [one] => Bytes::copy_from_slice(one.as_ref()),
        pieces => {
            let len = pieces.iter().map(|piece| piece.as_ref().len()).sum();
            let mut joined = BytesMut::with_capacity(len);
            for piece in pieces {
                joined.extend_from_slice(piece.as_ref());
            }
            joined.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Received, joined};
    use bytes::Bytes;

    #[test]
    fn chunks_are_kept_in_order_and_the_copy_joins_them() {
        let whole = Bytes::from_static(b"%PDF-1.7 whole");
        let mut one = Received::default();
        one.push(whole.clone());
        assert_eq!(one.chunks()[0].as_ptr(), whole.as_ptr(), "the chunk itself");
        assert_eq!(joined(one.chunks()), whole);
        assert_ne!(joined(one.chunks()).as_ptr(), whole.as_ptr(), "a copy");

        let mut several = Received::default();
        for part in [&b"%PDF"[..], b"-1.7", b" whole"] {
            several.push(Bytes::copy_from_slice(part));
        }
        assert_eq!(several.len(), 14);
        assert_eq!(several.chunks().len(), 3);
        assert_eq!(joined(several.chunks()), whole);
        assert!(joined(Received::default().chunks()).is_empty());
    }
}

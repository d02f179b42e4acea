//! An upstream body as it streams in, copied only when it arrives in more than one piece.

use bytes::{Bytes, BytesMut};

/// A body as it arrives. Most arrive in one chunk, which is kept as it is (a view into the
/// connection's read buffer); only a body in several chunks is copied into one buffer.
#[derive(Debug, Default)]
pub enum Received {
    #[default]
    Nothing,
    One(Bytes),
    Gathered(BytesMut),
}

impl Received {
    pub fn len(&self) -> usize {
        match self {
            Self::Nothing => 0,
            Self::One(chunk) => chunk.len(),
            Self::Gathered(buffer) => buffer.len(),
        }
    }

    /// Adds a chunk; `expected` (the declared length, 0 if unknown) sizes a gathering buffer.
    pub fn push(&mut self, chunk: Bytes, expected: u64) {
        *self = match std::mem::take(self) {
            Self::Nothing => Self::One(chunk),
            Self::One(first) => {
                let capacity = usize::try_from(expected).unwrap_or(0);
                let mut buffer = BytesMut::with_capacity(capacity.max(first.len() + chunk.len()));
                buffer.extend_from_slice(&first);
                buffer.extend_from_slice(&chunk);
                Self::Gathered(buffer)
            }
            Self::Gathered(mut buffer) => {
                buffer.extend_from_slice(&chunk);
                Self::Gathered(buffer)
            }
        };
    }

    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Nothing => Bytes::new(),
            Self::One(chunk) => chunk,
            Self::Gathered(buffer) => buffer.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Received;
    use bytes::Bytes;

    #[test]
    fn one_chunk_is_kept_without_a_copy_and_several_are_joined_in_order() {
        let chunk = Bytes::from_static(b"%PDF-1.7 whole");
        let mut one = Received::default();
        one.push(chunk.clone(), 14);
        let kept = one.into_bytes();
        assert_eq!(
            kept.as_ptr(),
            chunk.as_ptr(),
            "the chunk itself, not a copy"
        );

        let mut several = Received::default();
        for part in [&b"%PDF"[..], b"-1.7", b" whole"] {
            several.push(Bytes::copy_from_slice(part), 0);
        }
        assert_eq!(several.len(), 14);
        assert_eq!(several.into_bytes(), chunk);
        assert!(Received::default().into_bytes().is_empty());
    }
}

//! Remembers the verdict on byte-identical upstream bodies. The upstream serves a few fixed
//! documents, and validating its PNG means inflating 8.7 MB: doing that for every request would
//! cap throughput far below a plain proxy. A hit requires an exact byte-for-byte match (the
//! fingerprint is only the index), so no collision can ever let an unvalidated body through.
//! Memory is bounded by `capacity` bytes of bodies, evicted oldest first.
//!
//! A hit hands back the remembered copy of the body, so the caller sends that and drops the bytes
//! it read at once: the connection's read buffer is then free for the next response instead of
//! every request allocating and copying a body of its own.

use bytes::Bytes;
use document_validate::{DocumentType, Interrupt, Limits, Rejection};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How many bytes of each end of a body the fingerprint covers: enough to tell the upstream's
/// documents apart (the stand-in's distinct variants differ in their last few hundred bytes), and
/// far cheaper than hashing the whole body, which the full compare reads anyway.
const FINGERPRINT_HEAD: usize = 64;
const FINGERPRINT_TAIL: usize = 512;

/// Why a body was refused: a short code for metrics and logs, and the validator's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: &'static str,
    pub detail: Arc<str>,
}

pub type Verdict = Result<DocumentType, Rejected>;

type Key = (usize, u32);

/// A body seen before: its remembered copy, its CRC-32 (the ETag), and the verdict on it.
#[derive(Debug, Clone)]
pub struct Known {
    pub body: Bytes,
    pub crc32: u32,
    pub verdict: Verdict,
}

/// The index of a body, given as the pieces it arrived in: its length and a CRC-32 of its two
/// ends (CRC for speed: SipHash over the same bytes was visible in profiles).
fn key<P: AsRef<[u8]>>(pieces: &[P]) -> Key {
    let len: usize = pieces.iter().map(|piece| piece.as_ref().len()).sum();
    let mut hasher = crc32fast::Hasher::new();
    for range in [
        0..len.min(FINGERPRINT_HEAD),
        len.saturating_sub(FINGERPRINT_TAIL)..len,
    ] {
        let mut offset = 0;
        for piece in pieces {
            let piece = piece.as_ref();
            let (start, end) = (range.start.max(offset), range.end.min(offset + piece.len()));
            if start < end {
                hasher.update(&piece[start - offset..end - offset]);
            }
            offset += piece.len();
        }
    }
    (len, hasher.finalize())
}

/// Whether `pieces`, one after the other, are exactly `body`.
fn same<P: AsRef<[u8]>>(body: &[u8], pieces: &[P]) -> bool {
    let mut rest = body;
    pieces.iter().all(|piece| {
        let piece = piece.as_ref();
        match (rest.get(..piece.len()), rest.get(piece.len()..)) {
            (Some(head), Some(tail)) if head == piece => {
                rest = tail;
                true
            }
            _ => false,
        }
    }) && rest.is_empty()
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Known>,
    order: VecDeque<Key>,
    used: usize,
}

#[derive(Debug)]
pub struct ValidationCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Known {
    /// Whether validation was cut short: no verdict on these bytes was reached.
    pub fn interrupted(&self) -> bool {
        matches!(&self.verdict, Err(rejected) if rejected.reason == Rejection::Interrupted.reason())
    }
}

impl ValidationCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What is remembered about exactly these bytes (a body given as the pieces it arrived in),
    /// if anything. Cheap: a map lookup by a fingerprint of the body's ends, then a full compare,
    /// piece by piece, so a body that arrived in several chunks is never joined just for this.
    pub fn lookup<P: AsRef<[u8]>>(&self, pieces: &[P]) -> Option<Known> {
        if self.capacity == 0 {
            return None;
        }
        let inner = self.lock();
        let known = inner.entries.get(&key(pieces))?;
        same(&known.body, pieces).then(|| known.clone())
    }

    /// Remembers a verdict reached by [`judge`] (see `Verdicts`, the one caller). `body` should own its memory exactly (not be a
    /// view into a larger buffer), or the capacity would undercount what is kept alive.
    pub fn remember(&self, known: Known) {
        if known.body.len() <= self.capacity {
            self.insert(key(&[&known.body]), known);
        }
    }

    fn insert(&self, key: Key, known: Known) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&key) {
            // Same index, different bytes (a collision) or a racing insert: keep the newest.
            inner.used -= old.body.len();
            inner.order.retain(|k| *k != key);
        }
        while inner.used + known.body.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.used -= evicted.body.len();
            }
        }
        inner.used += known.body.len();
        inner.order.push_back(key);
        inner.entries.insert(key, known);
    }
}

/// Validates a body within `limits`, unless `interrupt` says nobody wants the verdict any more:
/// milliseconds of CPU for a large PNG, so callers run it off the async threads.
pub fn judge(body: &[u8], limits: &Limits, interrupt: &dyn Interrupt) -> Verdict {
    let rejection = if interrupt.interrupted() {
        Rejection::Interrupted
    } else {
        match document_validate::validate_within(body, limits, interrupt) {
            Ok(kind) => return Ok(kind),
            Err(rejection) => rejection,
        }
    };
    Err(Rejected {
        reason: rejection.reason(),
        detail: rejection.to_string().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dummy_pdf_or_png::documents::{Kind, corrupt, distinct, sample_pdf, sample_png};

    /// The storage side of `Verdicts::verdict`, without its scheduling.
    fn verdict(cache: &ValidationCache, body: Vec<u8>) -> (Verdict, bool) {
        if let Some(known) = cache.lookup(&[&body]) {
            return (known.verdict, true);
        }
        let verdict = judge(&body, &Limits::default(), &document_validate::Never);
        cache.remember(Known {
            crc32: crc32fast::hash(&body),
            body: Bytes::from(body),
            verdict: verdict.clone(),
        });
        (verdict, false)
    }

    #[test]
    fn identical_bodies_hit_and_verdicts_are_kept() {
        let cache = ValidationCache::new(1 << 20);
        let png = sample_png();
        let bad = corrupt(&sample_pdf());
        assert_eq!(verdict(&cache, png.clone()), (Ok(DocumentType::Png), false));
        assert_eq!(verdict(&cache, png), (Ok(DocumentType::Png), true));
        assert!(verdict(&cache, bad.clone()).0.is_err());
        let (rejected, hit) = verdict(&cache, bad);
        assert!(rejected.is_err() && hit);
    }

    #[test]
    fn only_an_exact_match_hits() {
        let pdf = sample_pdf();
        // Near the end the fingerprint differs; in the middle only the full compare can tell.
        for position in [pdf.len() - 20, pdf.len() / 2] {
            let cache = ValidationCache::new(1 << 20);
            let _ = verdict(&cache, pdf.clone());
            let mut flipped = pdf.clone();
            flipped[position] ^= 1;
            assert_eq!(key(&[&flipped]) == key(&[&pdf]), position == pdf.len() / 2);
            let (_, hit) = verdict(&cache, flipped);
            assert!(!hit, "a body differing at {position} must not hit");
        }
    }

    #[test]
    fn a_body_in_pieces_hits_exactly_when_its_bytes_match() {
        let cache = ValidationCache::new(1 << 20);
        let png = sample_png();
        let _ = verdict(&cache, png.clone());
        // Cuts inside the fingerprinted ends, between them, and empty pieces.
        for cuts in [
            vec![1],
            vec![63, 64, 65],
            vec![png.len() / 2],
            vec![png.len() - 300, png.len() - 1],
            vec![0, 0, 10],
        ] {
            let mut pieces = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([png.len()]) {
                pieces.push(&png[start..cut]);
                start = cut;
            }
            assert_eq!(key(&pieces), key(&[&png]));
            let known = cache.lookup(&pieces).expect("the same bytes in pieces hit");
            assert_eq!(known.verdict, Ok(DocumentType::Png));
            let mut changed: Vec<Vec<u8>> = pieces.iter().map(|piece| piece.to_vec()).collect();
            let last = changed
                .iter_mut()
                .rev()
                .find(|piece| !piece.is_empty())
                .expect("bytes");
            last[0] ^= 1;
            assert!(cache.lookup(&changed).is_none(), "one byte differs");
        }
        assert!(cache.lookup(&[&png[..png.len() - 1]]).is_none(), "shorter");
    }

    #[test]
    fn capacity_zero_never_remembers() {
        let cache = ValidationCache::new(0);
        let (_, hit) = verdict(&cache, sample_pdf());
        assert!(!hit);
        assert!(cache.lookup(&[sample_pdf()]).is_none());
    }

    #[test]
    fn memory_stays_within_capacity() {
        let pdf = sample_pdf();
        let cache = ValidationCache::new(pdf.len() * 3);
        for n in 0..20 {
            let (found, hit) = verdict(&cache, distinct(&pdf, Kind::Pdf, n));
            assert_eq!(found, Ok(DocumentType::Pdf));
            assert!(!hit);
        }
        let inner = cache.lock();
        assert!(inner.used <= pdf.len() * 3 + 1024, "{}", inner.used);
        assert_eq!(inner.entries.len(), inner.order.len());
    }
}

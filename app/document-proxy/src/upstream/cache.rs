//! Remembers the verdict on byte-identical upstream bodies. The upstream serves a few fixed
//! documents, and validating its PNG means inflating 8.7 MB: doing that for every request would
//! cap throughput far below a plain proxy. A hit requires an exact byte-for-byte match (the
//! fingerprint is only the index), so no collision can ever let an unvalidated body through.
//! Memory is bounded by `capacity` bytes of bodies, evicted oldest first.
//!
//! A hit hands back the remembered copy of the body, so the caller sends that and drops the bytes
//! it read at once: the connection's read buffer is then free for the next response instead of
//! every request allocating and copying a body of its own.

use crate::validate::{self, DocumentType};
use bytes::Bytes;
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

/// The index of a body: its length and a CRC-32 of its two ends (CRC for speed: SipHash over
/// the same bytes was visible in profiles).
fn key(body: &[u8]) -> Key {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&body[..body.len().min(FINGERPRINT_HEAD)]);
    hasher.update(&body[body.len().saturating_sub(FINGERPRINT_TAIL)..]);
    (body.len(), hasher.finalize())
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

    /// What is remembered about exactly these bytes, if anything. Cheap: a map lookup by a
    /// fingerprint of the body's ends, then a full compare.
    pub fn lookup(&self, body: &[u8]) -> Option<Known> {
        if self.capacity == 0 {
            return None;
        }
        let inner = self.lock();
        let known = inner.entries.get(&key(body))?;
        (known.body == body).then(|| known.clone())
    }

    /// Remembers a verdict reached by [`judge`]. `body` should own its memory exactly (not be a
    /// view into a larger buffer), or the capacity would undercount what is kept alive.
    pub fn remember(&self, known: Known) {
        if known.body.len() <= self.capacity {
            self.insert(key(&known.body), known);
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

/// Validates a body: milliseconds of CPU for a large PNG, so callers run it off the async threads.
pub fn judge(body: &[u8]) -> Verdict {
    validate::validate(body).map_err(|rejection| Rejected {
        reason: rejection.reason(),
        detail: rejection.to_string().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dummy_pdf_or_png::documents::{Kind, corrupt, distinct, sample_pdf, sample_png};

    /// What the upstream client does: look up, else judge and remember.
    fn verdict(cache: &ValidationCache, body: Vec<u8>) -> (Verdict, bool) {
        if let Some(known) = cache.lookup(&body) {
            return (known.verdict, true);
        }
        let verdict = judge(&body);
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
            assert_eq!(key(&flipped) == key(&pdf), position == pdf.len() / 2);
            let (_, hit) = verdict(&cache, flipped);
            assert!(!hit, "a body differing at {position} must not hit");
        }
    }

    #[test]
    fn capacity_zero_never_remembers() {
        let cache = ValidationCache::new(0);
        let (_, hit) = verdict(&cache, sample_pdf());
        assert!(!hit);
        assert!(cache.lookup(&sample_pdf()).is_none());
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

//! Remembers the verdict on byte-identical upstream bodies. The upstream serves a few fixed
//! documents, and validating its PNG means inflating 8.7 MB: doing that for every request would
//! cap throughput far below a plain proxy. A hit requires an exact byte-for-byte match (the CRC is
//! only the index), so no collision can ever let an unvalidated body through. Memory is bounded
//! by `capacity` bytes of bodies, evicted oldest first.

use crate::validate::{self, DocumentType};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Why a body was refused: a short code for metrics and logs, and the validator's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: &'static str,
    pub detail: Arc<str>,
}

pub type Verdict = Result<DocumentType, Rejected>;

type Key = (usize, u32);

#[derive(Debug)]
struct Entry {
    body: Bytes,
    verdict: Verdict,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
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

    /// The remembered verdict for exactly these bytes, if any. Cheap: a map lookup by `crc`
    /// (the body's CRC-32, which the caller also uses for the ETag) and a full compare.
    pub fn lookup(&self, body: &[u8], crc: u32) -> Option<Verdict> {
        if self.capacity == 0 {
            return None;
        }
        let key = (body.len(), crc);
        let inner = self.lock();
        let entry = inner.entries.get(&key)?;
        (entry.body == body).then(|| entry.verdict.clone())
    }

    /// Remembers a verdict reached by [`judge`] for a body with CRC-32 `crc`.
    pub fn remember(&self, body: Bytes, crc: u32, verdict: Verdict) {
        if body.len() <= self.capacity {
            self.insert((body.len(), crc), body, verdict);
        }
    }

    fn insert(&self, key: Key, body: Bytes, verdict: Verdict) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&key) {
            // Same index, different bytes (a CRC collision) or a racing insert: keep the newest.
            inner.used -= old.body.len();
            inner.order.retain(|k| *k != key);
        }
        while inner.used + body.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.used -= evicted.body.len();
            }
        }
        inner.used += body.len();
        inner.order.push_back(key);
        inner.entries.insert(key, Entry { body, verdict });
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
        let crc = crc32fast::hash(&body);
        if let Some(verdict) = cache.lookup(&body, crc) {
            return (verdict, true);
        }
        let verdict = judge(&body);
        cache.remember(Bytes::from(body), crc, verdict.clone());
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
        let cache = ValidationCache::new(1 << 20);
        let pdf = sample_pdf();
        let _ = verdict(&cache, pdf.clone());
        let mut flipped = pdf;
        let last = flipped.len() - 20;
        flipped[last] ^= 1;
        let (_, hit) = verdict(&cache, flipped);
        assert!(!hit);
    }

    #[test]
    fn capacity_zero_never_remembers() {
        let cache = ValidationCache::new(0);
        let (_, hit) = verdict(&cache, sample_pdf());
        assert!(!hit);
        let pdf = sample_pdf();
        assert!(cache.lookup(&pdf, crc32fast::hash(&pdf)).is_none());
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

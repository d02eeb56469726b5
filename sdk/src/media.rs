//! Captured media waiting for upload, and the S3 key layout (SPEC §5.2).
//!
//! The bytes live in IndexedDB (the JS side writes them before telling the
//! engine); this queue holds what the engine needs to decide: which object
//! next, how big the backlog is, and what to drop when it is too big.
//! Screenshots go first, then face photos (never the base truth), audio
//! last — audio cannot be captured again, a screenshot soon will be.

use invigil_schemas::event::CaptureKind;
use invigil_schemas::ids::Uuid;
use serde::{Deserialize, Serialize};

/// One stored capture. `key` is relative to the candidate prefix
/// (`camera/…`), which is only known once credentials are: a capture taken
/// offline before midnight is uploaded under the prefix of the day it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    pub key: String,
    pub kind: CaptureKind,
    pub session_id: Uuid,
    pub capture_seq: u64,
    /// Capture time, Unix ms.
    pub ts: i64,
    pub bytes: u64,
    /// Upload attempts so far.
    #[serde(default)]
    pub attempts: u32,
}

impl MediaItem {
    fn is_base_truth(&self) -> bool {
        self.key.starts_with("camera/base_truth_")
    }

    /// Lower drops first.
    fn keep_rank(&self) -> u8 {
        match self.kind {
            CaptureKind::Screen => 0,
            CaptureKind::Face if !self.is_base_truth() => 1,
            CaptureKind::Audio => 2,
            CaptureKind::Face => 3,
        }
    }
}

/// The relative key of a capture.
pub fn object_key(kind: CaptureKind, ts: i64, capture_seq: u64, session_start: i64, unique: Uuid) -> String {
    match kind {
        CaptureKind::Face if capture_seq == 0 => format!("camera/base_truth_{ts}.jpg"),
        CaptureKind::Face => format!("camera/{ts}_{unique}.jpg"),
        CaptureKind::Screen => format!("screen/{ts}_{unique}.jpg"),
        CaptureKind::Audio => format!("audio/audio_{session_start}/chunk_{capture_seq:05}.webm"),
    }
}

/// Uploads waiting, in capture order (sorted by `(ts, key)`).
#[derive(Debug, Default)]
pub struct MediaQueue {
    items: Vec<MediaItem>,
    bytes: u64,
}

impl MediaQueue {
    /// Adds a stored capture; returns the items dropped to stay under
    /// `max_bytes` (the new one included, if it is the least worth keeping).
    pub fn push(&mut self, item: MediaItem, max_bytes: u64) -> Vec<MediaItem> {
        self.bytes += item.bytes;
        match self.position(item.ts, &item.key) {
            Ok(same) => self.bytes -= std::mem::replace(&mut self.items[same], item).bytes,
            Err(place) => self.items.insert(place, item),
        }
        let mut dropped = Vec::new();
        while self.bytes > max_bytes && self.items.len() > 1 {
            let victim = (0..self.items.len())
                .min_by_key(|&i| (self.items[i].keep_rank(), self.items[i].ts))
                .expect("non-empty");
            dropped.push(self.take(victim));
        }
        dropped
    }

    /// The oldest waiting item.
    pub fn next(&self) -> Option<&MediaItem> {
        self.items.first()
    }

    pub fn get_mut(&mut self, ts: i64, key: &str) -> Option<&mut MediaItem> {
        let at = self.position(ts, key).ok()?;
        Some(&mut self.items[at])
    }

    /// Removes an item (uploaded, or failed for good).
    pub fn remove(&mut self, ts: i64, key: &str) -> Option<MediaItem> {
        let at = self.position(ts, key).ok()?;
        Some(self.take(at))
    }

    /// Removes every item of a session.
    pub fn discard_session(&mut self, session_id: Uuid) -> Vec<MediaItem> {
        let (gone, kept) = std::mem::take(&mut self.items).into_iter().partition(|item| item.session_id == session_id);
        self.items = kept;
        self.bytes = self.items.iter().map(|item| item.bytes).sum();
        gone
    }

    pub fn has_session(&self, session_id: Uuid) -> bool {
        self.items.iter().any(|item| item.session_id == session_id)
    }

    fn position(&self, ts: i64, key: &str) -> Result<usize, usize> {
        self.items.binary_search_by(|item| (item.ts, item.key.as_str()).cmp(&(ts, key)))
    }

    fn take(&mut self, at: usize) -> MediaItem {
        let item = self.items.remove(at);
        self.bytes -= item.bytes;
        item
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: CaptureKind, capture_seq: u64, ts: i64, bytes: u64) -> MediaItem {
        let key = object_key(kind, ts, capture_seq, 1_000, Uuid::from_u128(ts as u128));
        MediaItem { key, kind, session_id: Uuid::from_u128(9), capture_seq, ts, bytes, attempts: 0 }
    }

    #[test]
    fn keys_follow_the_spec_layout() {
        let id = Uuid::from_u128(0xabc);
        assert_eq!(object_key(CaptureKind::Face, 5, 0, 1, id), "camera/base_truth_5.jpg");
        assert_eq!(object_key(CaptureKind::Face, 5, 1, 1, id), format!("camera/5_{id}.jpg"));
        assert_eq!(object_key(CaptureKind::Screen, 5, 0, 1, id), format!("screen/5_{id}.jpg"));
        assert_eq!(object_key(CaptureKind::Audio, 5, 42, 1_700, id), "audio/audio_1700/chunk_00042.webm");
    }

    #[test]
    fn over_the_cap_screens_go_first_then_faces_and_base_truth_stays() {
        let mut queue = MediaQueue::default();
        let cap = 100;
        assert!(queue.push(item(CaptureKind::Face, 0, 1, 30), cap).is_empty());
        assert!(queue.push(item(CaptureKind::Screen, 0, 2, 30), cap).is_empty());
        assert!(queue.push(item(CaptureKind::Audio, 0, 3, 30), cap).is_empty());
        let dropped = queue.push(item(CaptureKind::Face, 1, 4, 30), cap);
        assert_eq!(dropped.iter().map(|i| (i.kind, i.ts)).collect::<Vec<_>>(), [(CaptureKind::Screen, 2)]);
        let dropped = queue.push(item(CaptureKind::Screen, 1, 5, 30), cap);
        assert_eq!(dropped.iter().map(|i| (i.kind, i.ts)).collect::<Vec<_>>(), [(CaptureKind::Screen, 5)]);
        let dropped = queue.push(item(CaptureKind::Audio, 1, 6, 30), cap);
        assert_eq!(dropped.iter().map(|i| (i.kind, i.ts)).collect::<Vec<_>>(), [(CaptureKind::Face, 4)]);
        assert_eq!(queue.bytes(), 90);
        assert_eq!(queue.next().unwrap().key, "camera/base_truth_1.jpg");
        assert_eq!(queue.discard_session(Uuid::from_u128(9)).len(), 3);
        assert!(queue.is_empty() && queue.bytes() == 0);
    }
}

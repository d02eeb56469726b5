//! Captured media waiting for upload (keys: `invigil_schemas::media_key`).
//!
//! The bytes live in IndexedDB (the JS side writes them before telling the
//! engine); this queue holds what the engine needs to decide: which object
//! next, how big the backlog is, and what to drop when it is too big.
//! Screenshots go first, then face photos (never the base truth), audio
//! and video segments last — a recording cannot be made again, a
//! screenshot soon will be.

use invigil_schemas::event::{CaptureKind, RecordingTrack};
use invigil_schemas::ids::Uuid;
use serde::{Deserialize, Serialize};

/// What a stored object holds: one capture, or one segment of a track's
/// continuous recording. The names are the glue's and IndexedDB's, so
/// items stored by an SDK without video read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Face,
    Screen,
    Audio,
    CameraVideo,
    ScreenVideo,
}

invigil_schemas::wire_names!(MediaKind {
    Face => "face",
    Screen => "screen",
    Audio => "audio",
    CameraVideo => "camera_video",
    ScreenVideo => "screen_video",
});

impl MediaKind {
    /// The capture kind, for a photo, screenshot or audio chunk.
    pub fn capture(self) -> Option<CaptureKind> {
        match self {
            MediaKind::Face => Some(CaptureKind::Face),
            MediaKind::Screen => Some(CaptureKind::Screen),
            MediaKind::Audio => Some(CaptureKind::Audio),
            MediaKind::CameraVideo | MediaKind::ScreenVideo => None,
        }
    }

    /// The recorded track, for a video segment.
    pub fn track(self) -> Option<RecordingTrack> {
        match self {
            MediaKind::CameraVideo => Some(RecordingTrack::Camera),
            MediaKind::ScreenVideo => Some(RecordingTrack::Screen),
            _ => None,
        }
    }
}

impl From<CaptureKind> for MediaKind {
    fn from(kind: CaptureKind) -> Self {
        match kind {
            CaptureKind::Face => MediaKind::Face,
            CaptureKind::Screen => MediaKind::Screen,
            CaptureKind::Audio => MediaKind::Audio,
        }
    }
}

impl From<RecordingTrack> for MediaKind {
    fn from(track: RecordingTrack) -> Self {
        match track {
            RecordingTrack::Camera => MediaKind::CameraVideo,
            RecordingTrack::Screen => MediaKind::ScreenVideo,
        }
    }
}

use crate::json::{Error, FromJson, Node};

/// One stored capture. `key` is relative to the candidate prefix
/// (`camera/…`), which is only known once credentials are: a capture taken
/// offline before midnight is uploaded under the prefix of the day it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaItem {
    pub key: String,
    pub kind: MediaKind,
    pub session_id: Uuid,
    /// The capture's `capture_seq`, or a segment's `segment_seq`.
    pub capture_seq: u64,
    /// Capture time (a segment's start), Unix ms.
    pub ts: i64,
    pub bytes: u64,
    /// How much time a video segment covers (absent, for captures: 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub duration_ms: u32,
    /// Upload attempts so far (absent: 0).
    pub attempts: u32,
    /// A bundle's captures, in the order their bytes were joined (empty for
    /// a single capture; absent: empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// One capture inside a bundle object. On the wire and in IndexedDB it is
/// the array `[key, kind, capture_seq, ts, offset, bytes]`: a tuple costs
/// the wasm bundle far less to decode than a map with field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "PartTuple")]
pub struct Part {
    /// The capture's own key, as it was stored before bundling.
    pub key: String,
    pub kind: CaptureKind,
    pub capture_seq: u64,
    pub ts: i64,
    /// Where its bytes start in the bundle, and how many there are.
    pub offset: u64,
    pub bytes: u64,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[derive(Clone, Serialize)]
struct PartTuple(String, CaptureKind, u64, i64, u64, u64);

impl FromJson for MediaItem {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self {
            key: node.read("key")?,
            kind: node.field("kind")?.variant()?,
            session_id: node.field("session_id")?.uuid()?,
            capture_seq: node.read("capture_seq")?,
            ts: node.field("ts")?.i64()?,
            bytes: node.read("bytes")?,
            duration_ms: node.or("duration_ms", 0, Node::u32)?,
            attempts: node.or("attempts", 0, Node::u32)?,
            parts: node.field_or_default("parts")?,
        })
    }
}

impl FromJson for Part {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        let [key, kind, capture_seq, ts, offset, bytes] = node.tuple()?;
        Ok(Self {
            key: key.string()?,
            kind: kind.variant()?,
            capture_seq: capture_seq.u64()?,
            ts: ts.i64()?,
            offset: offset.u64()?,
            bytes: bytes.u64()?,
        })
    }
}

impl From<Part> for PartTuple {
    fn from(part: Part) -> Self {
        PartTuple(part.key, part.kind, part.capture_seq, part.ts, part.offset, part.bytes)
    }
}

/// Largest bundle the SDK assembles: at the reference cadence a 15-minute
/// bundle is ~4 MB, so this only bites after a long offline spell.
pub const MAX_BUNDLE_BYTES: u64 = 8 << 20;

impl MediaItem {
    fn is_base_truth(&self) -> bool {
        self.key.starts_with(invigil_schemas::media_key::BASE_TRUTH_PREFIX)
    }

    pub fn is_bundle(&self) -> bool {
        !self.parts.is_empty()
    }

    /// A video segment: its own object, never part of a bundle (a segment
    /// is already the size of many captures).
    pub fn is_segment(&self) -> bool {
        self.kind.track().is_some()
    }

    /// Sent on its own in bundled mode: a bundle, or a video segment.
    pub fn travels_alone(&self) -> bool {
        self.is_bundle() || self.is_segment()
    }

    /// Joins `items` (one session's captures, in queue order) into a bundle
    /// stored under `key`: the parts keep their sizes and get consecutive
    /// offsets. `None` if there are none, or one is a video segment.
    pub fn bundle(key: String, items: &[MediaItem]) -> Option<MediaItem> {
        let first = items.first()?;
        let mut offset = 0;
        let mut parts = Vec::with_capacity(items.len());
        for item in items {
            parts.push(Part {
                key: item.key.clone(),
                kind: item.kind.capture()?,
                capture_seq: item.capture_seq,
                ts: item.ts,
                offset,
                bytes: item.bytes,
            });
            offset += item.bytes;
        }
        Some(MediaItem {
            key,
            kind: first.kind,
            session_id: first.session_id,
            capture_seq: 0,
            ts: first.ts,
            bytes: offset,
            duration_ms: 0,
            attempts: 0,
            parts,
        })
    }

    /// Lower drops first. A bundle holds audio (nothing can capture it
    /// again) and many captures: it goes last, with the base truth.
    fn keep_rank(&self) -> u8 {
        if self.is_bundle() {
            return 3;
        }
        match self.kind {
            MediaKind::Screen => 0,
            MediaKind::Face if !self.is_base_truth() => 1,
            MediaKind::Audio | MediaKind::CameraVideo | MediaKind::ScreenVideo => 2,
            MediaKind::Face => 3,
        }
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

    /// The oldest waiting item that `wanted` accepts.
    pub fn next_where(&self, wanted: impl Fn(&MediaItem) -> bool) -> Option<&MediaItem> {
        self.items.iter().find(|item| wanted(item))
    }

    /// Single captures of `session_id` waiting to be bundled, oldest first,
    /// as many as fit in `max_bytes` (at least one).
    pub fn unbundled(&self, session_id: Uuid, max_bytes: u64) -> Vec<MediaItem> {
        let mut total = 0;
        let mut out = Vec::new();
        for item in self.items.iter().filter(|item| item.session_id == session_id && !item.travels_alone()) {
            if !out.is_empty() && total + item.bytes > max_bytes {
                break;
            }
            total += item.bytes;
            out.push(item.clone());
        }
        out
    }

    /// The oldest single capture waiting to be bundled.
    pub fn oldest_unbundled(&self) -> Option<&MediaItem> {
        self.next_where(|item| !item.travels_alone())
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
        let key = invigil_schemas::media_key::capture_key(kind, ts, capture_seq, 1_000, Uuid::from_u128(ts as u128));
        MediaItem {
            key,
            kind: kind.into(),
            session_id: Uuid::from_u128(9),
            capture_seq,
            ts,
            bytes,
            duration_ms: 0,
            attempts: 0,
            parts: Vec::new(),
        }
    }

    fn segment(track: RecordingTrack, segment_seq: u64, ts: i64, bytes: u64) -> MediaItem {
        let key = invigil_schemas::media_key::recording_key(track, 1_000, segment_seq);
        MediaItem { duration_ms: 10_000, key, kind: track.into(), ..item(CaptureKind::Face, segment_seq, ts, bytes) }
    }

    #[test]
    fn video_segments_are_never_bundled_and_kept_like_audio() {
        let mut queue = MediaQueue::default();
        for stored in [
            segment(RecordingTrack::Camera, 0, 10, 50),
            item(CaptureKind::Screen, 1, 11, 40),
            segment(RecordingTrack::Screen, 0, 12, 50),
            item(CaptureKind::Face, 1, 13, 30),
        ] {
            assert!(queue.push(stored, 1_000).is_empty());
        }
        let waiting = queue.unbundled(Uuid::from_u128(9), 1_000);
        assert_eq!(waiting.iter().map(|i| i.ts).collect::<Vec<_>>(), [11, 13], "captures only");
        assert_eq!(queue.oldest_unbundled().unwrap().ts, 11);
        assert!(MediaItem::bundle("bundle/x.bin".into(), &[segment(RecordingTrack::Camera, 1, 1, 1)]).is_none());
        assert_eq!(queue.next_where(MediaItem::travels_alone).unwrap().ts, 10, "a segment goes on its own");
        // Over the cap: the screenshot, then the face photo, then the oldest segment.
        let dropped = queue.push(segment(RecordingTrack::Camera, 1, 14, 900), 990);
        assert_eq!(dropped.iter().map(|i| i.ts).collect::<Vec<_>>(), [11, 13, 10]);
    }

    #[test]
    fn a_bundle_lays_its_parts_end_to_end_and_is_kept_longest() {
        let mut queue = MediaQueue::default();
        for captured in [
            item(CaptureKind::Face, 1, 10, 30),
            item(CaptureKind::Screen, 1, 11, 40),
            item(CaptureKind::Audio, 1, 12, 50),
        ] {
            assert!(queue.push(captured, 1_000).is_empty());
        }
        let waiting = queue.unbundled(Uuid::from_u128(9), 75);
        assert_eq!(waiting.len(), 2, "stops before the cap");
        let bundle = MediaItem::bundle("bundle/10_x.bin".into(), &waiting).unwrap();
        assert_eq!(bundle.bytes, 70);
        assert_eq!(bundle.parts.iter().map(|p| (p.offset, p.bytes)).collect::<Vec<_>>(), [(0, 30), (30, 40)]);
        assert_eq!(bundle.parts[1].kind, CaptureKind::Screen);
        for part in &waiting {
            queue.remove(part.ts, &part.key).unwrap();
        }
        assert!(queue.push(bundle, 1_000).is_empty());
        assert_eq!(queue.oldest_unbundled().unwrap().kind, MediaKind::Audio);
        assert_eq!(queue.next_where(MediaItem::is_bundle).unwrap().key, "bundle/10_x.bin");
        // Over the cap, the single audio chunk goes before the bundle.
        let dropped = queue.push(item(CaptureKind::Audio, 2, 13, 900), 1_000);
        assert_eq!(dropped.iter().map(|i| i.ts).collect::<Vec<_>>(), [12]);
        assert_eq!(queue.unbundled(Uuid::from_u128(9), 0).len(), 1, "at least one, whatever the cap");
    }

    #[test]
    fn over_the_cap_screens_go_first_then_faces_and_base_truth_stays() {
        let mut queue = MediaQueue::default();
        let cap = 100;
        assert!(queue.push(item(CaptureKind::Face, 0, 1, 30), cap).is_empty());
        assert!(queue.push(item(CaptureKind::Screen, 0, 2, 30), cap).is_empty());
        assert!(queue.push(item(CaptureKind::Audio, 0, 3, 30), cap).is_empty());
        let dropped = queue.push(item(CaptureKind::Face, 1, 4, 30), cap);
        assert_eq!(dropped.iter().map(|i| (i.kind, i.ts)).collect::<Vec<_>>(), [(MediaKind::Screen, 2)]);
        let dropped = queue.push(item(CaptureKind::Screen, 1, 5, 30), cap);
        assert_eq!(dropped.iter().map(|i| (i.kind, i.ts)).collect::<Vec<_>>(), [(MediaKind::Screen, 5)]);
        let dropped = queue.push(item(CaptureKind::Audio, 1, 6, 30), cap);
        assert_eq!(dropped.iter().map(|i| (i.kind, i.ts)).collect::<Vec<_>>(), [(MediaKind::Face, 4)]);
        assert_eq!(queue.bytes(), 90);
        assert_eq!(queue.next().unwrap().key, "camera/base_truth_1.jpg");
        assert_eq!(queue.discard_session(Uuid::from_u128(9)).len(), 3);
        assert!(queue.is_empty() && queue.bytes() == 0);
    }
}

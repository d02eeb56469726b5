//! What the pipeline knows about one SDK session: a compact, deduplicated
//! digest of its events, from which every window is recomputed.
//!
//! Windows are a pure function of this digest ([`crate::scoring::compute`]).
//! That is what makes the pipeline exact under re-delivery, late events and
//! restarts: adding an event twice changes nothing (dedup by `seq`), adding a
//! late event changes exactly the windows it touches, and a digest rebuilt
//! from the store after a crash equals the one the dead process held, because
//! both are built from the same [`EventRow`]s through [`Fact::from_row`].
//!
//! Memory per session stays small because only what windows need is kept:
//! additive counts per minute, the on/off transitions that durations are made
//! of, capture upload times, key counts and batch receipt times (for network
//! gaps) — about 3,000 small entries for a 3-hour session at the reference
//! cadence.

use std::collections::{BTreeMap, HashMap, HashSet};

use invigil_schemas::environment::Hint;
use invigil_schemas::event::{Display, Environment, EventKind, OtherTabs};
use invigil_schemas::ids::{CandidateId, TestId, Uuid};
use serde::{Deserialize, Serialize};

use crate::rows::EventRow;

/// Length of the tumbling windows.
pub const WINDOW_MS: i64 = 60_000;

/// The window containing `ts`: its start, in Unix ms.
pub fn window_start(ts: i64) -> i64 {
    ts.div_euclid(WINDOW_MS) * WINDOW_MS
}

/// An event is late when ingest received it after its window closed, i.e.
/// after the window's end plus the allowed lateness. Decided from the data
/// alone (client `ts`, server `received_at`), so a replay after a crash
/// classifies every event the same way.
pub fn is_late(ts: i64, received_at: i64, allowed_lateness_ms: i64) -> bool {
    received_at > window_start(ts) + WINDOW_MS + allowed_lateness_ms
}

/// Which session a digest belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionKey {
    pub test_id: TestId,
    pub candidate_id: CandidateId,
    pub session_id: Uuid,
}

impl SessionKey {
    pub fn of_row(row: &EventRow) -> Result<Self, String> {
        Ok(Self {
            test_id: TestId::try_from(row.test_id.clone()).map_err(|e| e.to_string())?,
            candidate_id: CandidateId::try_from(row.candidate_id.clone()).map_err(|e| e.to_string())?,
            session_id: row.session_id,
        })
    }
}

/// Something whose duration is measured: events switch it on and off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    /// The page is hidden (tab switched away, window minimised).
    Hidden,
    /// The window lost focus.
    Blurred,
    /// The SDK's overlay is up for this reason (wire name interned as a tag).
    Blocked(u8),
}

/// What one event contributes to the windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum What {
    Started {
        sdk_version: String,
    },
    Ended {
        reason: String,
    },
    Toggle(Dimension, bool),
    FullscreenExit,
    /// A copy, cut or paste; a paste's characters when they went into a
    /// field of the page (an answer, a text field, an editor), and whether
    /// that field was a marked answer.
    Clipboard {
        pasted: u32,
        into_answer: bool,
    },
    PermissionRevoked,
    /// A `key_activity` interval: its keys and its burst seconds.
    Keys(u32, u16),
    /// The screens the page is shown on (a `display` report).
    Display(u8),
    /// The environment hints an `environment` report's evidence supports,
    /// as bits in `Hint::ALL`'s order.
    Hints(u8),
    /// Other tabs of this browser running the candidate's test.
    OtherTabs(u16),
    /// An uploaded capture of kind 0 = face, 1 = screen, 2 = audio, and
    /// its object key.
    Uploaded(u8, String),
    UploadFailed,
    /// A delivered video segment of track 0 = camera, 1 = screen, and the
    /// milliseconds it covers from the fact's time.
    Recorded(u8, u32),
    /// A face check: faces found, the frame's brightness in thousandths,
    /// and in identity mode the similarity to the reference face in
    /// thousandths (None: not compared) or that it took the reference.
    Face {
        faces: u8,
        light: u16,
        similarity: Option<u16>,
        reference: bool,
    },
    /// Stored and counted as an event, no window column of its own.
    Other,
}

/// One event, reduced to what windows need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub seq: u64,
    pub ts: i64,
    pub what: What,
}

/// The facts of one Kafka record (one batch), sharing its session and
/// receipt. This is what the dataflow exchanges by candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactBatch {
    pub key: SessionKey,
    pub received_at: i64,
    pub batch_seq: u64,
    pub user_agent: String,
    /// Where the batch came from: its address's and network's keyed hashes.
    pub client: Client,
    pub facts: Vec<Fact>,
}

/// The keyed hashes of a client's address and network (as ingest wrote
/// them): the review tells a second session from the same place from one
/// elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub ip_hash: u64,
    pub net_hash: u64,
}

/// Capture kinds in the order of [`Session::uploads`].
pub const CAPTURE_KINDS: [&str; 3] = ["face", "screen", "audio"];

/// The tag of the `fullscreen_exited` block reason in [`Dimension::Blocked`].
pub const FULLSCREEN_BLOCK: u8 = 3;

const BLOCK_REASONS: [&str; 7] = [
    "camera_permission",
    "microphone_permission",
    "screen_permission",
    "fullscreen_exited",
    "screen_share_stopped",
    "unsupported_browser",
    "second_screen",
];

impl Fact {
    /// The one mapping from a stored event row to its contribution. Records
    /// are turned into rows first (the rows the event sink writes), so live
    /// processing and a rebuild from the store cannot disagree.
    pub fn from_row(row: &EventRow) -> Fact {
        let kind = u8::try_from(row.kind).ok().and_then(|tag| EventKind::ALL.get(usize::from(tag)).copied());
        let what = match kind {
            Some(EventKind::SessionStarted) => What::Started { sdk_version: sdk_version_of(&row.payload) },
            Some(EventKind::SessionEnded) => What::Ended { reason: row.reason.clone() },
            Some(EventKind::Visibility) => What::Toggle(Dimension::Hidden, row.state == "hidden"),
            Some(EventKind::Focus) => What::Toggle(Dimension::Blurred, row.state == "blur"),
            Some(kind @ (EventKind::Blocked | EventKind::Unblocked)) => {
                let tag = BLOCK_REASONS.iter().position(|r| *r == row.reason).unwrap_or(BLOCK_REASONS.len());
                What::Toggle(Dimension::Blocked(tag as u8), kind == EventKind::Blocked)
            }
            Some(EventKind::Fullscreen) if row.state == "exited" => What::FullscreenExit,
            Some(EventKind::Clipboard) => {
                let (pasted, into_answer) = match (row.action.as_str(), row.paste_target.as_str()) {
                    // '' is a paste from an SDK that did not say where: its text went somewhere.
                    ("paste", "answer") => (row.chars, true),
                    ("paste", "text" | "editor" | "") => (row.chars, false),
                    _ => (0, false),
                };
                What::Clipboard { pasted, into_answer }
            }
            Some(EventKind::Permission) if row.state == "revoked" => What::PermissionRevoked,
            Some(EventKind::KeyActivity) => What::Keys(row.keys, row.burst_s),
            Some(EventKind::Display) => {
                What::Display(payload_of::<Display>(&row.payload).map_or(1, |d| d.count.min(255) as u8))
            }
            Some(EventKind::Environment) => {
                What::Hints(payload_of::<Environment>(&row.payload).map_or(0, |e| hint_bits(&e)))
            }
            Some(EventKind::OtherTabs) => What::OtherTabs(
                payload_of::<OtherTabs>(&row.payload).map_or(0, |t| t.tabs.min(u32::from(u16::MAX)) as u16),
            ),
            Some(EventKind::Capture) => match row.capture_status.as_str() {
                "uploaded" => match CAPTURE_KINDS.iter().position(|k| *k == row.capture_kind) {
                    Some(index) => What::Uploaded(index as u8, row.capture_key.clone()),
                    None => What::Other,
                },
                "failed" => What::UploadFailed,
                _ => What::Other,
            },
            Some(EventKind::Recording) => match (row.capture_status.as_str(), row.capture_kind.as_str()) {
                ("uploaded", "camera") => What::Recorded(0, row.duration_ms),
                ("uploaded", "screen") => What::Recorded(1, row.duration_ms),
                ("failed", _) => What::UploadFailed,
                _ => What::Other,
            },
            Some(EventKind::Face) => What::Face {
                faces: row.faces,
                light: thousandths(row.light),
                similarity: (row.face_similarity >= 0.0).then(|| thousandths(row.face_similarity)),
                reference: row.face_reference != 0,
            },
            _ => What::Other,
        };
        Fact { seq: row.seq, ts: row.ts, what }
    }
}

/// A 0..1 column as the thousandths the SDK sent.
fn thousandths(value: f32) -> u16 {
    (f64::from(value) * 1000.0).round().clamp(0.0, 1000.0) as u16
}

/// The body of an event kept whole in `payload` (the row's JSON is the
/// event as the SDK sent it; its head fields are skipped).
fn payload_of<T: serde::de::DeserializeOwned>(payload: &str) -> Option<T> {
    let mut event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(payload).ok()?;
    for head in invigil_schemas::event::HEAD_FIELDS {
        event.remove(head);
    }
    serde_json::from_value(serde_json::Value::Object(event)).ok()
}

/// The hints of one `environment` report, as bits in `Hint::ALL`'s order.
pub fn hint_bits(environment: &Environment) -> u8 {
    let hints = invigil_schemas::environment::hints(environment);
    Hint::ALL.iter().enumerate().filter(|(_, h)| hints.contains(h)).fold(0, |bits, (i, _)| bits | 1 << i)
}

fn sdk_version_of(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("sdk_version").and_then(|s| s.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

impl FactBatch {
    /// The facts of one record's rows (all rows of a record share the session).
    pub fn from_rows(rows: &[EventRow]) -> Option<FactBatch> {
        let first = rows.first()?;
        Some(FactBatch {
            key: SessionKey::of_row(first).ok()?,
            received_at: first.received_at,
            batch_seq: first.batch_seq,
            user_agent: first.user_agent.clone(),
            client: Client { ip_hash: first.client_ip_hash, net_hash: first.client_net_hash },
            facts: rows.iter().map(Fact::from_row).collect(),
        })
    }
}

/// Keeps `reports` sorted by `(ts, seq)`.
fn insert_report<T: Copy>(reports: &mut Vec<(i64, u64, T)>, fact: &Fact, value: T) {
    let at = reports.partition_point(|(ts, seq, _)| (*ts, *seq) < (fact.ts, fact.seq));
    reports.insert(at, (fact.ts, fact.seq, value));
}

/// One on/off transition, ordered by client time then `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Transition {
    pub ts: i64,
    pub seq: u64,
    pub dimension: Dimension,
    pub on: bool,
}

/// One face check as windows need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FaceCheck {
    pub ts: i64,
    pub faces: u8,
    /// Mean brightness of the frame, 0..1000.
    pub light: u16,
    /// Identity mode: similarity to the reference face, 0..1000, if compared.
    pub similarity: Option<u16>,
    /// Identity mode: this check took the reference face.
    pub reference: bool,
}

// Sessions keep every check (`Session::face_checks`): keep them 16 bytes.
const _: () = assert!(std::mem::size_of::<FaceCheck>() == 16);

/// Additive counts of one minute (by event time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteCounts {
    pub tab_switches: u32,
    pub blur_count: u32,
    pub fullscreen_exits: u32,
    pub clipboard_actions: u32,
    pub permission_revocations: u32,
    pub uploads_failed: u32,
    /// Events that arrived after their window had closed (see [`is_late`]).
    pub late_events: u32,
    /// Key counts of the minute's `key_activity` events; bursts are counted
    /// against the test's threshold when windows are computed, so a config
    /// change applies to recomputed windows without re-reading events.
    pub key_counts: Vec<u32>,
    /// Seconds of typing far above the candidate's own rate (the SDK's
    /// `burst_s`).
    pub burst_s: u32,
    /// Characters pasted into the page's fields, and of them into answers.
    pub paste_chars: u64,
    pub answer_paste_chars: u64,
}

/// A `HashMap` with foldhash instead of SipHash: hashing was a quarter of
/// the dataflow's CPU. Still seeded per process, so keys a candidate
/// chooses cannot be aimed at one bucket.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A `HashSet` with foldhash; see [`FastMap`].
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The `seq`s of one session seen so far: all of `0..below`, plus those
/// seen beyond a gap, sorted. The SDK numbers events from 0 and sends them
/// in order, so this is nearly always a counter instead of a hash set of
/// every event of a three-hour exam; a gap that never fills (a batch the
/// server refused) leaves later seqs in `ahead`, appended in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    below: u64,
    ahead: Vec<u64>,
}

impl SeqSet {
    /// Adds `seq`; `false` if it was seen before.
    pub fn insert(&mut self, seq: u64) -> bool {
        if seq < self.below {
            return false;
        }
        if seq == self.below {
            self.below += 1;
            let filled = self.ahead.iter().zip(self.below..).take_while(|(s, want)| **s == *want).count();
            self.below += filled as u64;
            self.ahead.drain(..filled);
            return true;
        }
        match self.ahead.last() {
            Some(&last) if seq <= last => match self.ahead.binary_search(&seq) {
                Ok(_) => false,
                Err(at) => {
                    self.ahead.insert(at, seq);
                    true
                }
            },
            _ => {
                self.ahead.push(seq);
                true
            }
        }
    }
}

/// The digest of one session.
#[derive(Debug, Clone)]
pub struct Session {
    pub key: SessionKey,
    seen: SeqSet,
    /// Earliest and latest client time of any event: the session is open
    /// between them.
    pub first_ts: i64,
    pub last_ts: i64,
    /// `Some(reason)` once `session_ended` arrived.
    pub ended: Option<String>,
    pub sdk_version: String,
    pub user_agent: String,
    /// The first batch's client (address and network hashes).
    pub client: Client,
    pub events: u64,
    /// Batch number → its first (earliest) receipt; a retried batch counts
    /// once. The store keeps the same receipt (see [`EventRow::new`]).
    pub batches: FastMap<u64, i64>,
    /// Server receipt times of those batches, sorted.
    pub receipts: Vec<i64>,
    /// Receipt time of the batch that carried `session_ended`: gaps after it
    /// are not gaps of an open session.
    pub ended_receipt: Option<i64>,
    /// Sorted by (ts, seq).
    pub transitions: Vec<Transition>,
    pub minutes: BTreeMap<i64, MinuteCounts>,
    /// Client times of uploaded captures, per kind (see [`CAPTURE_KINDS`]).
    pub uploads: [Vec<i64>; 3],
    /// Delivered video segments per track (camera, screen) as `[from, to)`
    /// client times, sorted by start.
    pub segments: [Vec<(i64, i64)>; 2],
    /// Client times of fullscreen exits, sorted: the score tells those a
    /// tab switch caused from those on their own.
    pub fullscreen_exits: Vec<i64>,
    /// The newest uploaded face photo and screenshot by client time, as
    /// `(ts, object key)`: the proctor wall's thumbnails.
    pub latest_images: [Option<(i64, String)>; 2],
    /// Face checks, sorted by time: 16 bytes each, ~2,200 for a 3-hour
    /// session at one every 5 s (a run needs its neighbours, so they are
    /// kept rather than counted).
    pub face_checks: Vec<FaceCheck>,
    /// Environment reports as `(ts, seq, value)`, sorted: screens
    /// attached, hint bits, other tabs. Rare (at start and on change), and
    /// each holds until the next, so they are kept rather than counted.
    pub displays: Vec<(i64, u64, u8)>,
    pub hint_reports: Vec<(i64, u64, u8)>,
    pub other_tabs: Vec<(i64, u64, u16)>,
    /// The client-time spans `[first_ts, last_ts]` of the candidate's other
    /// sessions of this test in memory, each cut to this session's own
    /// span (none empty), sorted: not from this session's events but set
    /// by the windows operator, which holds every session of a candidate
    /// ([`crate::emit::Tracked::set_siblings`]).
    pub siblings: Vec<(i64, i64)>,
}

impl Session {
    pub fn new(key: SessionKey) -> Self {
        Self {
            key,
            seen: SeqSet::default(),
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            ended: None,
            sdk_version: String::new(),
            user_agent: String::new(),
            client: Client::default(),
            events: 0,
            batches: FastMap::default(),
            receipts: Vec::new(),
            ended_receipt: None,
            transitions: Vec::new(),
            minutes: BTreeMap::new(),
            uploads: Default::default(),
            segments: Default::default(),
            fullscreen_exits: Vec::new(),
            latest_images: Default::default(),
            face_checks: Vec::new(),
            displays: Vec::new(),
            hint_reports: Vec::new(),
            other_tabs: Vec::new(),
            siblings: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Adds the facts of one record. Returns the start of the earliest window
    /// whose value may have changed, or `None` when every fact was a duplicate.
    pub fn add_batch(&mut self, batch: &FactBatch, allowed_lateness_ms: i64) -> Option<i64> {
        let mut earliest: Option<i64> = None;
        for fact in &batch.facts {
            if let Some(start) = self.add_fact(fact, batch.received_at, allowed_lateness_ms) {
                earliest = Some(earliest.map_or(start, |e| e.min(start)));
            }
        }
        let previous = self.batches.get(&batch.batch_seq).copied();
        if previous.is_none_or(|first| batch.received_at < first) {
            if let Some(first) = previous {
                // A copy that was received earlier but reached us later.
                if let Ok(at) = self.receipts.binary_search(&first) {
                    self.receipts.remove(at);
                }
            }
            self.batches.insert(batch.batch_seq, batch.received_at);
            // A new receipt may open or close a network gap that began at
            // the previous receipt.
            let at = self.receipts.partition_point(|r| *r < batch.received_at);
            let previous_receipt = at.checked_sub(1).map(|i| self.receipts[i]);
            let start = window_start(previous_receipt.unwrap_or(batch.received_at));
            earliest = Some(earliest.map_or(start, |e| e.min(start)));
            self.receipts.insert(at, batch.received_at);
            if self.user_agent.is_empty() {
                self.user_agent = batch.user_agent.clone();
                self.client = batch.client;
            }
        }
        if self.ended_receipt.is_none() && batch.facts.iter().any(|f| matches!(f.what, What::Ended { .. })) {
            self.ended_receipt = Some(batch.received_at);
        }
        earliest
    }

    fn add_fact(&mut self, fact: &Fact, received_at: i64, allowed_lateness_ms: i64) -> Option<i64> {
        if !self.seen.insert(fact.seq) {
            return None;
        }
        self.events += 1;
        let minute = window_start(fact.ts);
        // Opening the session earlier or extending it later changes the
        // windows at the edges (expected captures, open durations).
        let mut earliest = minute;
        if fact.ts < self.first_ts {
            self.first_ts = fact.ts;
        }
        if fact.ts > self.last_ts {
            if self.last_ts != i64::MIN {
                earliest = earliest.min(window_start(self.last_ts));
            }
            self.last_ts = fact.ts;
        }
        let counts = self.minutes.entry(minute).or_default();
        if is_late(fact.ts, received_at, allowed_lateness_ms) {
            counts.late_events += 1;
        }
        match &fact.what {
            What::Started { sdk_version } => self.sdk_version.clone_from(sdk_version),
            What::Ended { reason } => self.ended = Some(reason.clone()),
            What::Toggle(dimension, on) => {
                match dimension {
                    Dimension::Hidden if *on => counts.tab_switches += 1,
                    Dimension::Blurred if *on => counts.blur_count += 1,
                    _ => {}
                }
                let transition = Transition { ts: fact.ts, seq: fact.seq, dimension: *dimension, on: *on };
                let at = self.transitions.partition_point(|t| *t < transition);
                self.transitions.insert(at, transition);
            }
            What::FullscreenExit => {
                counts.fullscreen_exits += 1;
                let at = self.fullscreen_exits.partition_point(|t| *t < fact.ts);
                self.fullscreen_exits.insert(at, fact.ts);
            }
            What::Clipboard { pasted, into_answer } => {
                counts.clipboard_actions += 1;
                counts.paste_chars += u64::from(*pasted);
                if *into_answer {
                    counts.answer_paste_chars += u64::from(*pasted);
                }
            }
            What::PermissionRevoked => counts.permission_revocations += 1,
            What::Keys(keys, burst_s) => {
                counts.key_counts.push(*keys);
                counts.burst_s += u32::from(*burst_s);
            }
            What::Display(count) => insert_report(&mut self.displays, fact, *count),
            What::Hints(bits) => insert_report(&mut self.hint_reports, fact, *bits),
            What::OtherTabs(tabs) => insert_report(&mut self.other_tabs, fact, *tabs),
            What::Uploaded(kind, key) => {
                let times = &mut self.uploads[usize::from(*kind).min(2)];
                let at = times.partition_point(|t| *t < fact.ts);
                times.insert(at, fact.ts);
                if let Some(latest) = self.latest_images.get_mut(usize::from(*kind)) {
                    if latest.as_ref().is_none_or(|(ts, _)| *ts <= fact.ts) {
                        *latest = Some((fact.ts, key.clone()));
                    }
                }
            }
            What::UploadFailed => counts.uploads_failed += 1,
            What::Recorded(track, duration_ms) => {
                let segment = (fact.ts, fact.ts.saturating_add(i64::from(*duration_ms)));
                let segments = &mut self.segments[usize::from(*track).min(1)];
                let at = segments.partition_point(|s| *s < segment);
                segments.insert(at, segment);
            }
            What::Face { faces, light, similarity, reference } => {
                let check = FaceCheck {
                    ts: fact.ts,
                    faces: *faces,
                    light: *light,
                    similarity: *similarity,
                    reference: *reference,
                };
                let at = self.face_checks.partition_point(|c| *c < check);
                self.face_checks.insert(at, check);
            }
            What::Other => {}
        }
        Some(earliest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_sets_agree_with_a_hash_set_in_any_order() {
        // In order, shuffled, with duplicates and with a gap that never fills.
        let mut orders: Vec<Vec<u64>> = vec![(0..50).collect(), (0..50).rev().collect()];
        let mut state = 7u64;
        for _ in 0..50 {
            let mut seqs: Vec<u64> = (0..40).chain(10..20).chain(45..60).collect();
            for i in (1..seqs.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                seqs.swap(i, (state >> 33) as usize % (i + 1));
            }
            orders.push(seqs);
        }
        for seqs in orders {
            let (mut ours, mut reference) = (SeqSet::default(), HashSet::new());
            for seq in &seqs {
                assert_eq!(ours.insert(*seq), reference.insert(*seq), "seq {seq} of {seqs:?}");
            }
        }
        let mut gap = SeqSet::default();
        assert!(gap.insert(0) && gap.insert(2) && gap.insert(3) && !gap.insert(2));
        assert_eq!((gap.below, gap.ahead.clone()), (1, vec![2, 3]));
        assert!(gap.insert(1));
        assert_eq!((gap.below, gap.ahead.len()), (4, 0), "the gap filled: a counter again");
    }

    #[test]
    fn windows_are_aligned_minutes_even_before_1970() {
        assert_eq!(window_start(125_000), 120_000);
        assert_eq!(window_start(120_000), 120_000);
        assert_eq!(window_start(-1), -60_000);
    }

    #[test]
    fn the_newest_face_and_screenshot_by_client_time_are_kept_for_thumbnails() {
        let key = SessionKey {
            test_id: TestId::new("t").unwrap(),
            candidate_id: CandidateId::new("c").unwrap(),
            session_id: Uuid::nil(),
        };
        let mut session = Session::new(key.clone());
        let fact = |seq, ts, kind, name: &str| Fact { seq, ts, what: What::Uploaded(kind, name.into()) };
        let batch = FactBatch {
            key,
            received_at: 100_000,
            batch_seq: 0,
            user_agent: String::new(),
            client: Client::default(),
            // The older face arrives after the newer one (a retried upload).
            facts: vec![fact(0, 30_000, 0, "face-30"), fact(1, 10_000, 0, "face-10"), fact(2, 20_000, 2, "audio-20")],
        };
        session.add_batch(&batch, 15_000);
        assert_eq!(session.latest_images[0], Some((30_000, "face-30".to_owned())));
        assert_eq!(session.latest_images[1], None, "no screenshot yet; audio is not an image");
        assert_eq!(session.uploads[0], vec![10_000, 30_000]);
    }

    #[test]
    fn lateness_is_decided_by_receipt_against_window_end() {
        // Window [60 000, 120 000), lateness 15 s: on time up to 135 000.
        assert!(!is_late(61_000, 135_000, 15_000));
        assert!(is_late(61_000, 135_001, 15_000));
    }
}

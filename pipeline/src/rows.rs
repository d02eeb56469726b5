//! ClickHouse row types, one per table of `schemas/clickhouse`, and how
//! records become rows.
//!
//! Column types map to RowBinary as: `DateTime64(3)` → `i64` milliseconds,
//! `Enum8` → `i8` (the event kind's tag, which the DDL's enum values match),
//! `LowCardinality(String)` → `String`, `UUID` → `uuid::Uuid`. The same
//! struct therefore writes to a modern server and to 18.16 twins.

use clickhouse::Row;
use invigil_schemas::event::{Event, EventBody};
use invigil_schemas::ids::Uuid;
use invigil_schemas::names::WireName;
use invigil_schemas::record::KafkaRecord;
use serde::{Deserialize, Serialize};

/// One row of `proctor_events`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct EventRow {
    pub test_id: String,
    pub candidate_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub session_id: Uuid,
    pub seq: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub ts: i64,
    pub received_at: i64,
    pub batch_seq: u64,
    /// `Enum8` tag: [`invigil_schemas::event::EventKind`] as `u8`.
    #[serde(rename = "type")]
    pub kind: i8,
    pub state: String,
    pub device: String,
    pub action: String,
    pub reason: String,
    pub chars: u32,
    /// Where a paste landed (`''` for other actions and older SDKs).
    pub paste_target: String,
    pub keys: u32,
    pub interval_ms: u32,
    /// A key interval's busiest second and its burst seconds.
    pub peak_keys: u16,
    pub burst_s: u16,
    pub capture_kind: String,
    pub capture_status: String,
    pub capture_key: String,
    pub capture_bytes: u64,
    pub capture_seq: u64,
    pub attempts: u32,
    /// A recording segment's length (its track in `capture_kind`, its
    /// `segment_seq` in `capture_seq`).
    pub duration_ms: u32,
    /// A face check: faces found, the best score, the largest face's width
    /// over the frame's, the frame's brightness (its time in `duration_ms`).
    pub faces: u8,
    pub face_confidence: f32,
    pub face_size: f32,
    pub light: f32,
    /// Identity mode: the cosine to the reference face (-1: not compared),
    /// and 1 when this check took the reference.
    pub face_similarity: f32,
    pub face_reference: u8,
    pub name: String,
    pub payload: String,
    pub ingest_node: String,
    pub client_ip_hash: u64,
    pub client_net_hash: u64,
    pub user_agent: String,
    pub version: u64,
}

/// `version` of an event row received at `received_at`: earlier wins.
pub fn version_of_receipt(received_at: i64) -> u64 {
    u64::MAX - u64::try_from(received_at).unwrap_or(0)
}

/// The wire name of a unit enum value (`"hidden"`), as the SDK sent it.
fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The `payload` column of `event`: the whole event as JSON when a typed
/// column cannot hold part of it (a session's start, an SDK error's message,
/// custom data, a failed capture's error), and `''` when the typed columns
/// already say everything. Most events are the latter, and encoding every
/// one as JSON again was a third of the event sink's time.
/// Which events those are is `event_columns::needs_payload`, beside its
/// inverse that rebuilds an event from the columns for the review timeline.
pub fn payload_of(event: &Event) -> String {
    if invigil_schemas::event_columns::needs_payload(event) {
        serde_json::to_string(event).unwrap_or_default()
    } else {
        String::new()
    }
}

impl EventRow {
    /// The row for one event of an accepted record. `version` orders copies
    /// of the same `(session_id, seq)` in the replacing table: a batch that
    /// reached us twice (an SDK retry through another replica) keeps its
    /// *first* receipt, `u64::MAX − received_at`, which is also the receipt
    /// the pipeline's session digest keeps.
    pub fn new(record: &KafkaRecord, event: &Event) -> Self {
        let mut row = EventRow {
            test_id: record.test_id.to_string(),
            candidate_id: record.candidate_id.to_string(),
            session_id: record.batch.session_id,
            seq: event.seq,
            event_id: event.id,
            ts: event.ts,
            received_at: record.received_at,
            batch_seq: record.batch.batch_seq,
            kind: event.body.kind() as i8,
            state: String::new(),
            device: String::new(),
            action: String::new(),
            reason: String::new(),
            chars: 0,
            paste_target: String::new(),
            keys: 0,
            interval_ms: 0,
            peak_keys: 0,
            burst_s: 0,
            capture_kind: String::new(),
            capture_status: String::new(),
            capture_key: String::new(),
            capture_bytes: 0,
            capture_seq: 0,
            attempts: 0,
            duration_ms: 0,
            faces: 0,
            face_confidence: 0.0,
            face_size: 0.0,
            light: 0.0,
            face_similarity: -1.0,
            face_reference: 0,
            name: String::new(),
            payload: payload_of(event),
            ingest_node: record.ingest_node.clone(),
            client_ip_hash: record.client_ip_hash,
            client_net_hash: record.client_net_hash,
            user_agent: record.user_agent.clone(),
            version: version_of_receipt(record.received_at),
        };
        match &event.body {
            EventBody::Permission(b) => {
                row.device = wire_name(&b.device);
                row.state = wire_name(&b.state);
            }
            EventBody::Visibility(b) => row.state = wire_name(&b.state),
            EventBody::Focus(b) => row.state = wire_name(&b.state),
            EventBody::Fullscreen(b) => row.state = wire_name(&b.state),
            EventBody::Network(b) => row.state = wire_name(&b.state),
            EventBody::Clipboard(b) => {
                row.action = wire_name(&b.action);
                row.chars = b.chars;
                row.paste_target = b.target.map(|t| t.as_str().to_owned()).unwrap_or_default();
            }
            EventBody::KeyActivity(b) => {
                row.keys = b.keys;
                row.interval_ms = b.interval_ms;
                row.peak_keys = u16::try_from(b.peak_per_s).unwrap_or(u16::MAX);
                row.burst_s = u16::try_from(b.burst_s).unwrap_or(u16::MAX);
            }
            EventBody::Capture(b) => {
                row.capture_kind = wire_name(&b.kind);
                row.capture_status = wire_name(&b.status);
                row.capture_key = b.key.clone().unwrap_or_default();
                row.capture_bytes = b.bytes.unwrap_or(0);
                row.capture_seq = b.capture_seq;
                row.attempts = b.attempts;
            }
            EventBody::Recording(b) => {
                row.capture_kind = b.track.as_str().to_owned();
                row.capture_status = wire_name(&b.status);
                row.capture_key = b.key.clone().unwrap_or_default();
                row.capture_bytes = b.bytes.unwrap_or(0);
                row.capture_seq = b.segment_seq;
                row.attempts = b.attempts;
                row.duration_ms = b.duration_ms;
            }
            EventBody::Face(b) => {
                row.faces = u8::try_from(b.faces).unwrap_or(u8::MAX);
                row.face_confidence = b.confidence.as_f64() as f32;
                row.face_size = b.face_size.as_f64() as f32;
                row.light = b.light.as_f64() as f32;
                row.face_similarity = b.similarity.map_or(-1.0, |s| s.as_f64() as f32);
                row.face_reference = u8::from(b.reference);
                row.duration_ms = b.ms;
            }
            EventBody::Blocked(b) => row.reason = wire_name(&b.reason),
            EventBody::Unblocked(b) => row.reason = wire_name(&b.reason),
            EventBody::SessionEnded(b) => row.reason = wire_name(&b.reason),
            EventBody::Custom(b) => row.name = b.name.clone(),
            EventBody::SdkError(b) => row.name = b.code.clone(),
            EventBody::SessionStarted(_)
            | EventBody::ScreenShareEnded(_)
            | EventBody::ContextMenu(_)
            | EventBody::Display(_)
            | EventBody::Environment(_)
            | EventBody::OtherTabs(_) => {}
        }
        row
    }
}

/// How a column is read back from chDB as JSON: most as they are, some
/// converted to the integer the Rust field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Plain,
    /// `DateTime64(3)` → Unix ms.
    Millis,
    /// `Enum8` → its tag.
    Tag,
}

/// A row type bound to its table.
pub trait TableRow:
    clickhouse::RowOwned + clickhouse::RowRead + clickhouse::RowWrite + Serialize + Send + Sync + Clone
{
    const TABLE: &'static str;
    /// Every column, in struct order, with how to read it back as JSON.
    const COLUMNS: &'static [(&'static str, Read)];

    /// The columns in struct order, quoted, for an `INSERT INTO t (…)`.
    fn column_list() -> String {
        Self::COLUMNS.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", ")
    }

    /// The select list that reads this row back in JSON with the Rust
    /// field types (`toUnixTimestamp64Milli(ts) AS ts`, …).
    fn json_select_list() -> String {
        Self::COLUMNS
            .iter()
            .map(|(name, read)| match read {
                Read::Plain => format!("`{name}`"),
                Read::Millis => format!("toUnixTimestamp64Milli(`{name}`) AS `{name}`"),
                Read::Tag => format!("CAST(`{name}`, 'Int8') AS `{name}`"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use Read::{Millis, Plain, Tag};

/// Rows of one table already encoded as RowBinary, the form both stores
/// take. The event sink buffers events this way from the moment a record is
/// decoded: ~180 bytes a row in one growing buffer, where a `Vec` of row
/// structs held a dozen heap strings per row, grew by copying ~300-byte
/// structs and was encoded once more on the store's thread.
pub struct RowBlock<R> {
    bytes: Vec<u8>,
    rows: usize,
    table: std::marker::PhantomData<fn() -> R>,
}

impl<R> Default for RowBlock<R> {
    fn default() -> Self {
        Self { bytes: Vec::new(), rows: 0, table: std::marker::PhantomData }
    }
}

impl<R> std::fmt::Debug for RowBlock<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBlock").field("rows", &self.rows).field("bytes", &self.bytes.len()).finish()
    }
}

impl<R> Clone for RowBlock<R> {
    fn clone(&self) -> Self {
        Self { bytes: self.bytes.clone(), rows: self.rows, table: std::marker::PhantomData }
    }
}

impl<R: TableRow> RowBlock<R> {
    /// The block of `rows`, in order.
    pub fn of_rows(rows: &[R]) -> Result<Self, crate::store::rowbinary::Error> {
        let mut block = Self::default();
        block.bytes.reserve(rows.len() * 192);
        for row in rows {
            block.push(row)?;
        }
        Ok(block)
    }

    /// Appends one row.
    pub fn push(&mut self, row: &R) -> Result<(), crate::store::rowbinary::Error> {
        crate::store::rowbinary::write_row(&mut self.bytes, row)?;
        self.rows += 1;
        Ok(())
    }

    /// Moves every row of `later` to the end of this block.
    pub fn append(&mut self, later: &mut Self) {
        if self.bytes.is_empty() {
            std::mem::swap(&mut self.bytes, &mut later.bytes);
        } else {
            self.bytes.extend_from_slice(&later.bytes);
            later.bytes.clear();
        }
        self.rows += std::mem::take(&mut later.rows);
    }

    /// Rows in the block.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The RowBinary bytes, columns in [`TableRow::COLUMNS`] order.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl TableRow for EventRow {
    const TABLE: &'static str = "proctor_events";
    const COLUMNS: &'static [(&'static str, Read)] = &[
        ("test_id", Plain),
        ("candidate_id", Plain),
        ("session_id", Plain),
        ("seq", Plain),
        ("event_id", Plain),
        ("ts", Millis),
        ("received_at", Millis),
        ("batch_seq", Plain),
        ("type", Tag),
        ("state", Plain),
        ("device", Plain),
        ("action", Plain),
        ("reason", Plain),
        ("chars", Plain),
        ("paste_target", Plain),
        ("keys", Plain),
        ("interval_ms", Plain),
        ("peak_keys", Plain),
        ("burst_s", Plain),
        ("capture_kind", Plain),
        ("capture_status", Plain),
        ("capture_key", Plain),
        ("capture_bytes", Plain),
        ("capture_seq", Plain),
        ("attempts", Plain),
        ("duration_ms", Plain),
        ("faces", Plain),
        ("face_confidence", Plain),
        ("face_size", Plain),
        ("light", Plain),
        ("face_similarity", Plain),
        ("face_reference", Plain),
        ("name", Plain),
        ("payload", Plain),
        ("ingest_node", Plain),
        ("client_ip_hash", Plain),
        ("client_net_hash", Plain),
        ("user_agent", Plain),
        ("version", Plain),
    ];
}

/// `window_kind` values of `candidate_windows`.
pub const WINDOW_MINUTE: i8 = 1;
pub const WINDOW_SESSION: i8 = 2;

/// One row of `candidate_windows`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct WindowRow {
    pub test_id: String,
    pub candidate_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub session_id: Uuid,
    pub window_kind: i8,
    pub window_start: i64,
    pub window_end: i64,
    pub tab_switches: u32,
    pub hidden_ms: u64,
    pub blur_count: u32,
    pub blur_ms: u64,
    pub fullscreen_exits: u32,
    pub clipboard_actions: u32,
    pub key_bursts: u32,
    pub permission_revocations: u32,
    pub blocked_ms: u64,
    pub uploads_failed: u32,
    pub expected_face: u32,
    pub uploaded_face: u32,
    pub expected_screen: u32,
    pub uploaded_screen: u32,
    pub expected_audio: u32,
    pub uploaded_audio: u32,
    /// Milliseconds a video recording was expected in the window, and
    /// those covered by each track's delivered segments.
    pub recording_expected_ms: u64,
    pub camera_recorded_ms: u64,
    pub screen_recorded_ms: u64,
    /// Face checks by what they saw (one face is the rest of
    /// `face_checks`), milliseconds of flagged runs, flags begun here.
    pub face_checks: u32,
    pub no_face_checks: u32,
    pub several_faces_checks: u32,
    pub dark_checks: u32,
    pub unscored_face_checks: u32,
    pub no_face_ms: u64,
    pub several_faces_ms: u64,
    pub face_flags: u32,
    /// Identity comparisons made, those under `min_similarity`, the
    /// milliseconds of their flagged runs, and reference faces taken.
    pub identity_checks: u32,
    pub different_person_checks: u32,
    pub different_person_ms: u64,
    pub face_references: u32,
    /// Characters pasted into the page's fields, and of them into answers;
    /// seconds of typing far above the candidate's own rate.
    pub paste_chars: u64,
    pub answer_paste_chars: u64,
    pub burst_s: u32,
    /// Screens plugged in during the exam, milliseconds with more than one
    /// screen, milliseconds with another tab of the test open.
    pub screens_added: u32,
    pub extra_screen_ms: u64,
    pub other_tab_ms: u64,
    /// Environment hints first seen in the window (minute rows) or in the
    /// session (session rows), as bits in `Hint::ALL`'s order: 1
    /// virtual_gpu, 2 software_renderer, 4 vm_screen_size, 8
    /// small_machine, 16 share_other_screen, 32 no_hover.
    pub hints: u8,
    /// Milliseconds another session of the candidate ran at the same time,
    /// and the most such sessions at once.
    pub concurrent_ms: u64,
    pub concurrent_sessions: u32,
    pub network_gaps: u32,
    pub network_gap_ms: u64,
    pub late_events: u32,
    pub score: f64,
    pub component_names: Vec<String>,
    pub component_values: Vec<f64>,
    pub computed_at: i64,
    pub version: u64,
}

impl TableRow for WindowRow {
    const TABLE: &'static str = "candidate_windows";
    const COLUMNS: &'static [(&'static str, Read)] = &[
        ("test_id", Plain),
        ("candidate_id", Plain),
        ("session_id", Plain),
        ("window_kind", Tag),
        ("window_start", Millis),
        ("window_end", Millis),
        ("tab_switches", Plain),
        ("hidden_ms", Plain),
        ("blur_count", Plain),
        ("blur_ms", Plain),
        ("fullscreen_exits", Plain),
        ("clipboard_actions", Plain),
        ("key_bursts", Plain),
        ("permission_revocations", Plain),
        ("blocked_ms", Plain),
        ("uploads_failed", Plain),
        ("expected_face", Plain),
        ("uploaded_face", Plain),
        ("expected_screen", Plain),
        ("uploaded_screen", Plain),
        ("expected_audio", Plain),
        ("uploaded_audio", Plain),
        ("recording_expected_ms", Plain),
        ("camera_recorded_ms", Plain),
        ("screen_recorded_ms", Plain),
        ("face_checks", Plain),
        ("no_face_checks", Plain),
        ("several_faces_checks", Plain),
        ("dark_checks", Plain),
        ("unscored_face_checks", Plain),
        ("no_face_ms", Plain),
        ("several_faces_ms", Plain),
        ("face_flags", Plain),
        ("identity_checks", Plain),
        ("different_person_checks", Plain),
        ("different_person_ms", Plain),
        ("face_references", Plain),
        ("paste_chars", Plain),
        ("answer_paste_chars", Plain),
        ("burst_s", Plain),
        ("screens_added", Plain),
        ("extra_screen_ms", Plain),
        ("other_tab_ms", Plain),
        ("hints", Plain),
        ("concurrent_ms", Plain),
        ("concurrent_sessions", Plain),
        ("network_gaps", Plain),
        ("network_gap_ms", Plain),
        ("late_events", Plain),
        ("score", Plain),
        ("component_names", Plain),
        ("component_values", Plain),
        ("computed_at", Millis),
        ("version", Plain),
    ];
}

/// `severity` values of `anomalies`.
pub const SEVERITY_WARNING: i8 = 1;
pub const SEVERITY_CRITICAL: i8 = 2;

/// One row of `anomalies`: a minute window that crossed the test's alert
/// score. A later correction that brings the score back under the threshold
/// re-emits the row with the lower score; queries keep `score >= threshold`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct AnomalyRow {
    pub test_id: String,
    pub candidate_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub session_id: Uuid,
    pub window_start: i64,
    pub window_end: i64,
    pub severity: i8,
    pub score: f64,
    pub threshold: f64,
    pub component_names: Vec<String>,
    pub component_values: Vec<f64>,
    pub detected_at: i64,
    pub version: u64,
}

impl TableRow for AnomalyRow {
    const TABLE: &'static str = "anomalies";
    const COLUMNS: &'static [(&'static str, Read)] = &[
        ("test_id", Plain),
        ("candidate_id", Plain),
        ("session_id", Plain),
        ("window_start", Millis),
        ("window_end", Millis),
        ("severity", Tag),
        ("score", Plain),
        ("threshold", Plain),
        ("component_names", Plain),
        ("component_values", Plain),
        ("detected_at", Millis),
        ("version", Plain),
    ];
}

/// One row of `sessions`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct SessionRow {
    pub test_id: String,
    pub candidate_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub session_id: Uuid,
    pub started_at: i64,
    pub last_seen_at: i64,
    pub ended: u8,
    pub end_reason: String,
    pub sdk_version: String,
    pub user_agent: String,
    /// The first batch's address and network, keyed-hashed (see
    /// `KafkaRecord::client_net_hash`).
    pub client_ip_hash: u64,
    pub client_net_hash: u64,
    pub events: u64,
    pub batches: u64,
    /// Capture slots expected, and those filled with a delivered capture.
    pub expected_captures: u32,
    pub uploaded_captures: u32,
    pub completeness_pct: f32,
    /// Capture objects delivered (a slot may get more than one).
    pub delivered_captures: u32,
    /// Video recording: expected milliseconds (per track), delivered ones
    /// (both tracks), and their ratio to twice the expected, 0..100.
    pub recording_expected_ms: u64,
    pub recorded_ms: u64,
    pub recording_pct: f32,
    /// Face checks made, flagged runs and their milliseconds.
    pub face_checks: u32,
    pub face_flags: u32,
    pub no_face_ms: u64,
    pub several_faces_ms: u64,
    pub different_person_ms: u64,
    pub face_references: u32,
    /// The session's environment signals: characters pasted (into
    /// answers), burst seconds, screens added, milliseconds with several
    /// screens and with another tab, and every hint seen (bits as in
    /// [`WindowRow::hints`]).
    pub paste_chars: u64,
    pub answer_paste_chars: u64,
    pub burst_s: u32,
    pub screens_added: u32,
    pub extra_screen_ms: u64,
    pub other_tab_ms: u64,
    pub hints: u8,
    /// Milliseconds another session of the candidate ran at the same time,
    /// and the most such sessions at once.
    pub concurrent_ms: u64,
    pub concurrent_sessions: u32,
    pub network_gaps: u32,
    pub network_gap_ms: u64,
    pub max_window_score: f64,
    pub version: u64,
}

impl TableRow for SessionRow {
    const TABLE: &'static str = "sessions";
    const COLUMNS: &'static [(&'static str, Read)] = &[
        ("test_id", Plain),
        ("candidate_id", Plain),
        ("session_id", Plain),
        ("started_at", Millis),
        ("last_seen_at", Millis),
        ("ended", Plain),
        ("end_reason", Plain),
        ("sdk_version", Plain),
        ("user_agent", Plain),
        ("client_ip_hash", Plain),
        ("client_net_hash", Plain),
        ("events", Plain),
        ("batches", Plain),
        ("expected_captures", Plain),
        ("uploaded_captures", Plain),
        ("completeness_pct", Plain),
        ("delivered_captures", Plain),
        ("recording_expected_ms", Plain),
        ("recorded_ms", Plain),
        ("recording_pct", Plain),
        ("face_checks", Plain),
        ("face_flags", Plain),
        ("no_face_ms", Plain),
        ("several_faces_ms", Plain),
        ("different_person_ms", Plain),
        ("face_references", Plain),
        ("paste_chars", Plain),
        ("answer_paste_chars", Plain),
        ("burst_s", Plain),
        ("screens_added", Plain),
        ("extra_screen_ms", Plain),
        ("other_tab_ms", Plain),
        ("hints", Plain),
        ("concurrent_ms", Plain),
        ("concurrent_sessions", Plain),
        ("network_gaps", Plain),
        ("network_gap_ms", Plain),
        ("max_window_score", Plain),
        ("version", Plain),
    ];
}

/// One row of `staff_actions`: a [`StaffAction`] as stored.
///
/// [`StaffAction`]: invigil_schemas::staff::StaffAction
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct StaffActionRow {
    pub test_id: String,
    pub candidate_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub action_id: Uuid,
    pub at: i64,
    pub staff: String,
    pub role: String,
    pub action: String,
    pub outcome: String,
    pub detail: String,
    pub ingest_node: String,
    pub client_ip_hash: u64,
    pub version: u64,
}

impl From<&invigil_schemas::staff::StaffAction> for StaffActionRow {
    fn from(action: &invigil_schemas::staff::StaffAction) -> Self {
        Self {
            test_id: action.test_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            candidate_id: action.candidate_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            action_id: action.id,
            at: action.at,
            staff: action.staff.clone(),
            role: action.role.clone(),
            action: action.action.clone(),
            outcome: action.outcome.as_str().to_owned(),
            detail: serde_json::Value::Object(action.detail.clone()).to_string(),
            ingest_node: action.node.clone(),
            client_ip_hash: action.client_ip_hash,
            version: action.at.max(0) as u64,
        }
    }
}

impl TableRow for StaffActionRow {
    const TABLE: &'static str = "staff_actions";
    const COLUMNS: &'static [(&'static str, Read)] = &[
        ("test_id", Plain),
        ("candidate_id", Plain),
        ("action_id", Plain),
        ("at", Millis),
        ("staff", Plain),
        ("role", Plain),
        ("action", Plain),
        ("outcome", Plain),
        ("detail", Plain),
        ("ingest_node", Plain),
        ("client_ip_hash", Plain),
        ("version", Plain),
    ];
}

/// One row of `webhook_deliveries`: one attempt to deliver a notice.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct WebhookDeliveryRow {
    pub test_id: String,
    pub candidate_id: String,
    pub endpoint: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub notice_id: Uuid,
    pub event_type: String,
    pub attempt: u32,
    pub at: i64,
    pub outcome: String,
    pub status: u16,
    pub duration_ms: u32,
    pub error: String,
    pub next_attempt_at: i64,
    pub redelivery: u8,
    pub payload: String,
    pub version: u64,
}

impl TableRow for WebhookDeliveryRow {
    const TABLE: &'static str = "webhook_deliveries";
    const COLUMNS: &'static [(&'static str, Read)] = &[
        ("test_id", Plain),
        ("candidate_id", Plain),
        ("endpoint", Plain),
        ("notice_id", Plain),
        ("event_type", Plain),
        ("attempt", Plain),
        ("at", Millis),
        ("outcome", Plain),
        ("status", Plain),
        ("duration_ms", Plain),
        ("error", Plain),
        ("next_attempt_at", Millis),
        ("redelivery", Plain),
        ("payload", Plain),
        ("version", Plain),
    ];
}

#[cfg(test)]
mod tests {
    use invigil_schemas::event::EventKind;
    use invigil_schemas::migrations::MIGRATIONS;

    /// Each row type lists exactly its table's columns, in DDL order.
    #[test]
    fn row_columns_match_the_ddl() {
        use super::*;
        fn ddl_columns(table: &str) -> Vec<String> {
            let ddl = MIGRATIONS.iter().find(|m| m.name == table).unwrap().sql;
            let body = &ddl[ddl.find("\n(").unwrap() + 2..ddl.find("ENGINE").unwrap()];
            let mut columns: Vec<String> = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('\'') && !l.starts_with(')'))
                .map(|l| l.split_whitespace().next().unwrap().to_owned())
                .collect();
            // Later migrations' `ADD COLUMN IF NOT EXISTS c … AFTER p`, in order.
            let prefix = format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS ");
            for migration in MIGRATIONS {
                for line in migration.sql.lines().filter_map(|l| l.strip_prefix(&prefix)) {
                    let words: Vec<&str> = line.trim_end_matches(';').split_whitespace().collect();
                    let after = words.iter().position(|w| *w == "AFTER").expect("new columns say where");
                    let at = columns.iter().position(|c| c == words[after + 1]).unwrap() + 1;
                    columns.insert(at, words[0].to_owned());
                }
            }
            columns
        }
        fn names<R: TableRow>() -> Vec<String> {
            R::COLUMNS.iter().map(|(n, _)| n.to_string()).collect()
        }
        assert_eq!(names::<EventRow>(), ddl_columns("proctor_events"));
        assert_eq!(names::<WindowRow>(), ddl_columns("candidate_windows"));
        assert_eq!(names::<AnomalyRow>(), ddl_columns("anomalies"));
        assert_eq!(names::<SessionRow>(), ddl_columns("sessions"));
        assert_eq!(names::<StaffActionRow>(), ddl_columns("staff_actions"));
        assert_eq!(names::<WebhookDeliveryRow>(), ddl_columns("webhook_deliveries"));
        assert_eq!(
            names::<EventRow>(),
            <EventRow as clickhouse::Row>::COLUMN_NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(
            names::<WindowRow>(),
            <WindowRow as clickhouse::Row>::COLUMN_NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>()
        );
    }

    /// Events whose typed columns hold all they say store no JSON copy;
    /// the rest keep the whole event, and it reads back as the same event.
    #[test]
    fn only_events_the_columns_cannot_hold_keep_a_json_payload() {
        use invigil_schemas::event::*;
        use invigil_schemas::ids::Uuid;
        let event = |body| Event { id: Uuid::from_u128(7), seq: 3, ts: 1_700_000_000_000, body };
        let capture = |error: Option<&str>| Capture {
            kind: CaptureKind::Face,
            status: if error.is_some() { CaptureStatus::Failed } else { CaptureStatus::Uploaded },
            key: error.is_none().then(|| "t/c/camera/1.jpg".to_owned()),
            bytes: error.is_none().then_some(25_000),
            capture_seq: 4,
            attempts: 1,
            error: error.map(str::to_owned),
        };
        let typed = [
            event(EventBody::Visibility(Visibility { state: VisibilityState::Hidden })),
            event(EventBody::KeyActivity(KeyActivity { keys: 12, interval_ms: 5_000, peak_per_s: 4, burst_s: 0 })),
            event(EventBody::Capture(capture(None))),
        ];
        for event in &typed {
            assert_eq!(super::payload_of(event), "", "{:?}", event.body.kind());
        }
        let untyped = [
            event(EventBody::SdkError(SdkError { code: "worker".into(), message: "worker crashed".into() })),
            event(EventBody::Capture(capture(Some("timeout")))),
        ];
        for event in &untyped {
            let payload = super::payload_of(event);
            assert_eq!(&serde_json::from_str::<Event>(&payload).unwrap(), event, "{payload}");
        }
    }

    /// A block built row by row, by appending blocks or in one go holds the
    /// same bytes: the RowBinary of the rows in order.
    #[test]
    fn row_blocks_append_in_order() {
        use super::*;
        let exam = crate::scripted::records_of_candidate(crate::scripted::recent_t0(60), 1);
        let rows: Vec<EventRow> =
            exam.iter().flat_map(|r| r.batch.events.iter().map(move |e| EventRow::new(r, e))).collect();
        let mut expected = Vec::new();
        for row in &rows {
            crate::store::rowbinary::write_row(&mut expected, row).unwrap();
        }
        let whole = RowBlock::of_rows(&rows).unwrap();
        assert_eq!((whole.len(), whole.bytes()), (rows.len(), &expected[..]));
        let mut joined = RowBlock::default();
        for chunk in rows.chunks(7) {
            let mut block = RowBlock::of_rows(chunk).unwrap();
            joined.append(&mut block);
            assert!(block.is_empty() && block.bytes().is_empty());
        }
        assert_eq!((joined.len(), joined.bytes()), (rows.len(), &expected[..]));
    }

    /// The DDL's `Enum8` must list the kinds with their tags as values, or
    /// rows would land under the wrong type.
    #[test]
    fn event_type_enum_matches_kind_tags() {
        // The newest definition of the column: the table's own, or a later
        // migration's MODIFY COLUMN.
        let ddl = MIGRATIONS
            .iter()
            .rev()
            .find(|m| m.name == "proctor_events" || m.sql.contains("ALTER TABLE proctor_events MODIFY COLUMN type"))
            .unwrap()
            .sql;
        for kind in EventKind::ALL {
            let entry = format!("'{}' = {}", kind.as_str(), *kind as u8);
            assert!(ddl.contains(&entry), "proctor_events.type lacks {entry}");
        }
    }
}

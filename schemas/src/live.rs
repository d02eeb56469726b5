//! Live counters: what the pipeline publishes per candidate to the compacted
//! topic `proctor_live` (key [`crate::record::record_key`]) and ingest relays
//! to proctors over SSE. The latest message per key is the candidate's state.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The candidate's running state in their current session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCounters {
    pub v: u16,
    pub test_id: String,
    pub candidate_id: String,
    pub session_id: Uuid,
    /// Server receipt time of the newest batch folded in, Unix ms; with
    /// `published_at` it gives the event → proctor latency.
    pub received_at: i64,
    /// When the pipeline published this message, Unix ms.
    pub published_at: i64,
    /// Client time of the newest event.
    pub last_event_ts: i64,
    pub status: LiveStatus,
    pub counters: LiveTotals,
    /// Session score and the score of the newest minute window.
    pub score: f64,
    pub window_score: f64,
    /// Components of the session score, `(weight name, contribution)`.
    pub components: Vec<(String, f64)>,
    /// Object keys of the newest uploaded face photo and screenshot, for the
    /// wall's thumbnails (absent until the first upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_key: Option<String>,
}

/// `gap` is not here: a missing update is a gap, which only the reader can
/// tell (no message for more than 3 event intervals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    Active,
    Blocked,
    Ended,
}

/// Session totals so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTotals {
    pub events: u64,
    pub tab_switches: u32,
    pub hidden_ms: u64,
    pub blur_count: u32,
    /// Time the page was blurred (focus elsewhere) in the session, ms.
    /// Defaulted: messages published before it existed still decode.
    #[serde(default)]
    pub blur_ms: u64,
    pub fullscreen_exits: u32,
    pub clipboard_actions: u32,
    pub key_bursts: u32,
    pub permission_revocations: u32,
    pub blocked_ms: u64,
    pub missing_captures: u32,
    pub uploads_failed: u32,
    pub network_gaps: u32,
    pub late_events: u32,
    /// Flagged runs of face checks (no face, several faces). Defaulted:
    /// messages published before it existed still decode.
    #[serde(default)]
    pub face_flags: u32,
    /// Environment signals (defaulted, like `face_flags`): screens attached
    /// and other tabs of this test open now (as last reported), screens
    /// plugged in during the exam, characters pasted into the page's
    /// fields, seconds of typing far above the candidate's own rate.
    #[serde(default)]
    pub screens: u32,
    #[serde(default)]
    pub other_tabs: u32,
    #[serde(default)]
    pub screens_added: u32,
    #[serde(default)]
    pub paste_chars: u64,
    #[serde(default)]
    pub burst_s: u32,
    /// Other sessions of this candidate in this test running alongside
    /// this one in its newest minute (another tab, browser or device), and
    /// the milliseconds shared with them so far.
    #[serde(default)]
    pub concurrent_sessions: u32,
    #[serde(default)]
    pub concurrent_ms: u64,
    /// Environment hints seen in the session (their number; the review
    /// page names them, with their evidence).
    #[serde(default)]
    pub hints: u32,
}

//! Deciding which rows to write, and with which version.
//!
//! A [`Tracked`] session holds its digest, the window values last computed
//! and, per row, a fingerprint of what the store holds with its version.
//! [`Tracked::emit`] writes a row only when its content differs from what
//! the store has, with a version strictly above the stored one, so in every
//! replacing table the latest emission wins:
//!
//! - a minute window is written once closed (its end is behind the
//!   watermark), and again whenever a late event changes it;
//! - the session-total window, the `sessions` row and anomalies follow every
//!   change, at each emission round.
//!
//! After a restart the fingerprints are reloaded from the store
//! ([`Tracked::restore`]), so what a dead process had written is neither
//! lost track of nor needlessly rewritten.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use invigil_schemas::clock::rfc3339_ms;
use invigil_schemas::config::{ProctorConfig, CAPTURE_MISSING_MIN_SLOTS};
use invigil_schemas::ids::v7_unix_ms;
use invigil_schemas::webhook::{notice_id, Notice, NoticeKind};
use serde_json::{json, Map, Value};

use crate::rows::{
    AnomalyRow, SessionRow, WindowRow, SEVERITY_CRITICAL, SEVERITY_WARNING, WINDOW_MINUTE, WINDOW_SESSION,
};
use crate::scoring::{self, WindowValue};
use crate::session::{FactBatch, Session, SessionKey};

/// What the store holds for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    fingerprint: u64,
    version: u64,
}

/// Rows produced by one emission round.
#[derive(Debug, Default)]
pub struct Emission {
    pub windows: Vec<WindowRow>,
    pub anomalies: Vec<AnomalyRow>,
    pub sessions: Vec<SessionRow>,
    /// What these rows are news of, for webhooks (see [`Announced`]).
    pub notices: Vec<Notice>,
}

impl Emission {
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.anomalies.is_empty() && self.sessions.is_empty() && self.notices.is_empty()
    }

    pub fn len(&self) -> usize {
        self.windows.len() + self.anomalies.len() + self.sessions.len() + self.notices.len()
    }

    pub fn append(&mut self, other: &mut Emission) {
        self.windows.append(&mut other.windows);
        self.anomalies.append(&mut other.anomalies);
        self.sessions.append(&mut other.sessions);
        self.notices.append(&mut other.notices);
    }
}

/// Which once-per-session notices went out. A notice is announced in the
/// same emission as the rows it is news of, and the sinks send notices
/// before they write rows, so whatever the store holds was announced:
/// [`Tracked::restore`] rebuilds this from the stored rows, and a replay
/// announces again only what was never written (with the same id, which a
/// receiver deduplicates). A flag is announced with its anomaly row, so the
/// stored anomalies say which windows were announced.
#[derive(Debug, Default, Clone, Copy)]
struct Announced {
    started: bool,
    ended: bool,
    capture_missing: bool,
    /// Capture slots due and filled in the stored closed windows, read back
    /// at a restart: `capture_missing` is decided from them (with the
    /// test's threshold) at the next emission.
    restored_captures: Option<(u64, u64)>,
}

/// Whether `uploaded` of `expected` slots is below `below_pct`.
fn captures_missing(expected: u64, uploaded: u64, below_pct: f64) -> bool {
    below_pct > 0.0
        && expected >= u64::from(CAPTURE_MISSING_MIN_SLOTS)
        && (uploaded as f64) * 100.0 < below_pct * expected as f64
}

/// A session's digest with its computed windows and what was written.
#[derive(Debug)]
pub struct Tracked {
    pub session: Session,
    windows: BTreeMap<i64, WindowValue>,
    /// Earliest window start whose value may be stale.
    dirty_from: Option<i64>,
    /// Whether the session-level rows may be stale.
    dirty_totals: bool,
    /// Earliest minute window not yet compared with the store since it last
    /// changed (or that is still open).
    unchecked_from: Option<i64>,
    minutes: BTreeMap<i64, Stored>,
    anomalies: BTreeMap<i64, Stored>,
    total: Option<Stored>,
    row: Option<Stored>,
    announced: Announced,
}

/// A version strictly above `previous`, normally the wall clock in ms.
fn next_version(previous: Option<Stored>, now_ms: i64) -> u64 {
    let clock = u64::try_from(now_ms).unwrap_or(0);
    previous.map_or(clock, |p| clock.max(p.version + 1))
}

fn hash_of(parts: impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// Fingerprints cover the content of a row, not when or with which version
/// it was written; floats by their bits.
fn window_fingerprint(r: &WindowRow) -> u64 {
    hash_of((
        (r.window_kind, r.window_start, r.window_end),
        (r.tab_switches, r.hidden_ms, r.blur_count, r.blur_ms, r.fullscreen_exits, r.clipboard_actions),
        (r.key_bursts, r.permission_revocations, r.blocked_ms, r.uploads_failed),
        (r.expected_face, r.uploaded_face, r.expected_screen, r.uploaded_screen, r.expected_audio, r.uploaded_audio),
        (r.recording_expected_ms, r.camera_recorded_ms, r.screen_recorded_ms),
        (r.face_checks, r.no_face_checks, r.several_faces_checks, r.dark_checks, r.unscored_face_checks),
        (r.no_face_ms, r.several_faces_ms, r.face_flags),
        (r.identity_checks, r.different_person_checks, r.different_person_ms, r.face_references),
        (r.paste_chars, r.answer_paste_chars, r.burst_s, r.screens_added, r.extra_screen_ms, r.other_tab_ms, r.hints),
        (r.concurrent_ms, r.concurrent_sessions),
        (r.network_gaps, r.network_gap_ms, r.late_events, r.score.to_bits()),
        (&r.component_names, r.component_values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()),
    ))
}

fn anomaly_fingerprint(r: &AnomalyRow) -> u64 {
    hash_of((
        (r.window_start, r.window_end, r.severity, r.score.to_bits(), r.threshold.to_bits()),
        (&r.component_names, r.component_values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()),
    ))
}

fn session_fingerprint(r: &SessionRow) -> u64 {
    hash_of((
        (r.started_at, r.last_seen_at, r.ended, &r.end_reason, &r.sdk_version, &r.user_agent),
        (r.client_ip_hash, r.client_net_hash),
        (r.events, r.batches, r.expected_captures, r.uploaded_captures, r.completeness_pct.to_bits()),
        r.delivered_captures,
        (r.recording_expected_ms, r.recorded_ms, r.recording_pct.to_bits()),
        (r.face_checks, r.face_flags, r.no_face_ms, r.several_faces_ms, r.different_person_ms, r.face_references),
        (r.paste_chars, r.answer_paste_chars, r.burst_s, r.screens_added, r.extra_screen_ms, r.other_tab_ms, r.hints),
        (r.concurrent_ms, r.concurrent_sessions),
        (r.network_gaps, r.network_gap_ms, r.max_window_score.to_bits()),
    ))
}

/// The stable key of a session's total row: the time in its UUIDv7 id (our
/// SDK's ids are v7), else its first event. Stable matters because
/// `window_start` is part of the replacing key.
fn session_anchor(session: &Session) -> i64 {
    v7_unix_ms(&session.key.session_id).and_then(|ms| i64::try_from(ms).ok()).unwrap_or(session.first_ts)
}

impl Tracked {
    pub fn new(key: SessionKey) -> Self {
        Self {
            session: Session::new(key),
            windows: BTreeMap::new(),
            dirty_from: None,
            dirty_totals: false,
            unchecked_from: None,
            minutes: BTreeMap::new(),
            anomalies: BTreeMap::new(),
            total: None,
            row: None,
            announced: Announced::default(),
        }
    }

    /// Adds a record's facts; returns whether anything was new.
    pub fn add(&mut self, batch: &FactBatch, allowed_lateness_ms: i64) -> bool {
        match self.session.add_batch(batch, allowed_lateness_ms) {
            Some(from) => {
                self.dirty_from = Some(self.dirty_from.map_or(from, |d| d.min(from)));
                self.unchecked_from = Some(self.unchecked_from.map_or(from, |d| d.min(from)));
                self.dirty_totals = true;
                true
            }
            None => false,
        }
    }

    /// The candidate's other sessions' spans (see [`Session::siblings`]),
    /// kept as far as they overlap this session's own; says whether that
    /// changed, in which case every window is recomputed (only a candidate
    /// with two sessions at once pays for it). A sibling that goes on after
    /// this session ended changes nothing here.
    pub fn set_siblings(&mut self, spans: Vec<(i64, i64)>) -> bool {
        let (first, last) = (self.session.first_ts, self.session.last_ts);
        let mut spans: Vec<(i64, i64)> = spans
            .into_iter()
            .map(|(from, to)| (from.max(first), to.min(last)))
            .filter(|(from, to)| to > from)
            .collect();
        spans.sort_unstable();
        if spans == self.session.siblings {
            return false;
        }
        self.session.siblings = spans;
        self.invalidate();
        true
    }

    /// Marks every row as possibly stale (after a config change).
    pub fn invalidate(&mut self) {
        self.dirty_from = Some(i64::MIN);
        self.unchecked_from = Some(i64::MIN);
        self.dirty_totals = true;
    }

    /// Whether every row is written and nothing awaits recomputation: the
    /// session can leave memory and be rebuilt from the store if needed.
    pub fn settled(&self) -> bool {
        self.dirty_from.is_none() && self.unchecked_from.is_none() && !self.dirty_totals
    }

    /// Recomputes the windows that may have changed.
    pub fn refresh(&mut self, config: &ProctorConfig) {
        let Some(from) = self.dirty_from.take() else { return };
        // A new capture credits a slot up to an interval earlier, in the
        // minute before its own when it came just after a boundary: those
        // windows are recomputed and, if closed, checked again.
        let from = match from {
            i64::MIN => from, // everything already (a config change)
            _ => crate::session::window_start(from.saturating_sub(scoring::capture_reach_ms(config)).max(i64::MIN / 2)),
        };
        self.unchecked_from = Some(self.unchecked_from.map_or(from, |u| u.min(from)));
        let fresh = scoring::compute(&self.session, config, Some(from));
        let from = fresh.first().map_or(from, |w| w.start);
        self.windows.retain(|start, _| *start < from);
        self.windows.extend(fresh.into_iter().map(|w| (w.start, w)));
    }

    /// The running totals over every computed window (open ones included).
    pub fn totals(&self, config: &ProctorConfig) -> WindowValue {
        scoring::totals(self.windows.values(), &self.session, config)
    }

    pub fn windows(&self) -> impl Iterator<Item = &WindowValue> {
        self.windows.values()
    }

    fn window_row(&self, value: &WindowValue, kind: i8, start: i64, now_ms: i64) -> WindowRow {
        let key = &self.session.key;
        WindowRow {
            test_id: key.test_id.to_string(),
            candidate_id: key.candidate_id.to_string(),
            session_id: key.session_id,
            window_kind: kind,
            window_start: start,
            window_end: value.end,
            tab_switches: value.tab_switches,
            hidden_ms: value.hidden_ms,
            blur_count: value.blur_count,
            blur_ms: value.blur_ms,
            fullscreen_exits: value.fullscreen_exits,
            clipboard_actions: value.clipboard_actions,
            key_bursts: value.key_bursts,
            permission_revocations: value.permission_revocations,
            blocked_ms: value.blocked_ms,
            uploads_failed: value.uploads_failed,
            expected_face: value.expected[0],
            uploaded_face: value.uploaded[0],
            expected_screen: value.expected[1],
            uploaded_screen: value.uploaded[1],
            expected_audio: value.expected[2],
            uploaded_audio: value.uploaded[2],
            recording_expected_ms: value.recording_expected_ms,
            camera_recorded_ms: value.recorded_ms[0],
            screen_recorded_ms: value.recorded_ms[1],
            face_checks: value.face_checks,
            no_face_checks: value.no_face_checks,
            several_faces_checks: value.several_faces_checks,
            dark_checks: value.dark_checks,
            unscored_face_checks: value.unscored_face_checks,
            no_face_ms: value.no_face_ms,
            several_faces_ms: value.several_faces_ms,
            face_flags: value.face_flags,
            identity_checks: value.identity_checks,
            different_person_checks: value.different_person_checks,
            different_person_ms: value.different_person_ms,
            face_references: value.face_references,
            paste_chars: value.paste_chars,
            answer_paste_chars: value.answer_paste_chars,
            burst_s: value.burst_s,
            screens_added: value.screens_added,
            extra_screen_ms: value.extra_screen_ms,
            other_tab_ms: value.other_tab_ms,
            hints: value.new_hints,
            concurrent_ms: value.concurrent_ms,
            concurrent_sessions: value.concurrent_sessions,
            network_gaps: value.network_gaps,
            network_gap_ms: value.network_gap_ms,
            late_events: value.late_events,
            score: value.score,
            component_names: value.components.iter().map(|(n, _)| (*n).to_owned()).collect(),
            component_values: value.components.iter().map(|(_, v)| *v).collect(),
            computed_at: now_ms,
            version: 0,
        }
    }

    fn anomaly_row(&self, value: &WindowValue, threshold: f64, now_ms: i64) -> AnomalyRow {
        let key = &self.session.key;
        AnomalyRow {
            test_id: key.test_id.to_string(),
            candidate_id: key.candidate_id.to_string(),
            session_id: key.session_id,
            window_start: value.start,
            window_end: value.end,
            severity: if value.score >= 2.0 * threshold { SEVERITY_CRITICAL } else { SEVERITY_WARNING },
            score: value.score,
            threshold,
            component_names: value.components.iter().map(|(n, _)| (*n).to_owned()).collect(),
            component_values: value.components.iter().map(|(_, v)| *v).collect(),
            detected_at: now_ms,
            version: 0,
        }
    }

    fn session_row(&self, total: &WindowValue) -> SessionRow {
        let s = &self.session;
        let expected: u32 = total.expected.iter().sum();
        let uploaded: u32 = total.uploaded.iter().sum();
        let recorded: u64 = total.recorded_ms.iter().sum();
        SessionRow {
            test_id: s.key.test_id.to_string(),
            candidate_id: s.key.candidate_id.to_string(),
            session_id: s.key.session_id,
            started_at: s.first_ts,
            last_seen_at: s.last_ts,
            ended: u8::from(s.ended.is_some()),
            end_reason: s.ended.clone().unwrap_or_default(),
            sdk_version: s.sdk_version.clone(),
            user_agent: s.user_agent.clone(),
            client_ip_hash: s.client.ip_hash,
            client_net_hash: s.client.net_hash,
            events: s.events,
            batches: s.batches.len() as u64,
            expected_captures: expected,
            uploaded_captures: uploaded,
            completeness_pct: if expected == 0 {
                100.0
            } else {
                (f64::from(uploaded) * 100.0 / f64::from(expected)) as f32
            },
            delivered_captures: s.uploads.iter().map(|times| times.len() as u32).sum(),
            recording_expected_ms: total.recording_expected_ms,
            recorded_ms: recorded,
            // Both tracks against the expected time of each.
            recording_pct: if total.recording_expected_ms == 0 {
                100.0
            } else {
                (recorded as f64 * 100.0 / (2 * total.recording_expected_ms) as f64) as f32
            },
            face_checks: total.face_checks,
            face_flags: total.face_flags,
            no_face_ms: total.no_face_ms,
            several_faces_ms: total.several_faces_ms,
            different_person_ms: total.different_person_ms,
            face_references: total.face_references,
            paste_chars: total.paste_chars,
            answer_paste_chars: total.answer_paste_chars,
            burst_s: total.burst_s,
            screens_added: total.screens_added,
            extra_screen_ms: total.extra_screen_ms,
            other_tab_ms: total.other_tab_ms,
            hints: total.new_hints,
            concurrent_ms: total.concurrent_ms,
            concurrent_sessions: total.concurrent_sessions,
            network_gaps: total.network_gaps,
            network_gap_ms: total.network_gap_ms,
            max_window_score: self.windows.values().map(|w| w.score).fold(0.0, f64::max),
            version: 0,
        }
    }

    /// Appends to `out` every row whose content the store does not hold yet:
    /// minute windows ending at or before `watermark_ms`, and the session's
    /// own rows (total window and `sessions`).
    pub fn emit(&mut self, config: &ProctorConfig, watermark_ms: i64, now_ms: i64, out: &mut Emission) {
        self.refresh(config);
        if self.session.is_empty() {
            return;
        }
        let threshold = config.anomaly.alert_score;
        let Some(from) = self.unchecked_from else { return self.emit_totals(config, now_ms, out) };
        let closed: Vec<WindowValue> =
            self.windows.range(from..).map(|(_, w)| w).take_while(|w| w.end <= watermark_ms).cloned().collect();
        // Windows still open are checked again once they close.
        self.unchecked_from =
            self.windows.range(from..).map(|(s, _)| *s).find(|s| s + crate::session::WINDOW_MS > watermark_ms);
        for value in &closed {
            let mut row = self.window_row(value, WINDOW_MINUTE, value.start, now_ms);
            let fingerprint = window_fingerprint(&row);
            let stored = self.minutes.get(&value.start).copied();
            if stored.map(|s| s.fingerprint) != Some(fingerprint) {
                row.version = next_version(stored, now_ms);
                self.minutes.insert(value.start, Stored { fingerprint, version: row.version });
                out.windows.push(row);
            }
            // An anomaly is written when a window crosses the threshold, and
            // rewritten (with its new, possibly lower, score) on correction.
            let stored = self.anomalies.get(&value.start).copied();
            if value.score >= threshold || stored.is_some() {
                let mut row = self.anomaly_row(value, threshold, now_ms);
                let fingerprint = anomaly_fingerprint(&row);
                if stored.map(|s| s.fingerprint) != Some(fingerprint) {
                    row.version = next_version(stored, now_ms);
                    self.anomalies.insert(value.start, Stored { fingerprint, version: row.version });
                    if stored.is_none() {
                        out.notices.push(self.flagged(&row, now_ms));
                    }
                    out.anomalies.push(row);
                }
            }
        }
        self.check_captures(config, watermark_ms, now_ms, out);
        self.emit_totals(config, now_ms, out);
    }

    /// A notice about this session; its id from `kind` and `discriminator`.
    fn notice(&self, kind: NoticeKind, at: i64, discriminator: &str, data: Value, now_ms: i64) -> Notice {
        let key = &self.session.key;
        let Value::Object(data) = data else { unreachable!("notice data is always an object") };
        Notice {
            id: notice_id(kind, &key.session_id.to_string(), discriminator),
            kind,
            at,
            created_at: now_ms,
            test_id: key.test_id.to_string(),
            candidate_id: key.candidate_id.to_string(),
            session_id: Some(key.session_id),
            data,
            only_endpoint: None,
            sent_payload: None,
        }
    }

    fn flagged(&self, row: &AnomalyRow, now_ms: i64) -> Notice {
        let components: Map<String, Value> =
            row.component_names.iter().cloned().zip(row.component_values.iter().map(|v| json!(v))).collect();
        let data = json!({
            "window_start": rfc3339_ms(row.window_start),
            "window_end": rfc3339_ms(row.window_end),
            "score": row.score,
            "threshold": row.threshold,
            "severity": if row.severity == SEVERITY_CRITICAL { "critical" } else { "warning" },
            "components": components,
        });
        self.notice(NoticeKind::SessionFlagged, row.window_end, &row.window_start.to_string(), data, now_ms)
    }

    /// `capture.missing`, once, while the session runs: counted over the
    /// closed minute windows only, so a capture still on its way for the
    /// open minute is not missing yet.
    fn check_captures(&mut self, config: &ProctorConfig, watermark_ms: i64, now_ms: i64, out: &mut Emission) {
        let below = config.notify.capture_missing_below_pct;
        if let Some((expected, uploaded)) = self.announced.restored_captures.take() {
            self.announced.capture_missing |= captures_missing(expected, uploaded, below);
        }
        if self.announced.capture_missing || self.session.ended.is_some() {
            return;
        }
        let closed = self.windows.values().take_while(|w| w.end <= watermark_ms);
        let (expected, uploaded) = closed.fold((0u64, 0u64), |(e, u), w| {
            (
                e + w.expected.iter().map(|&n| u64::from(n)).sum::<u64>(),
                u + w.uploaded.iter().map(|&n| u64::from(n)).sum::<u64>(),
            )
        });
        if !captures_missing(expected, uploaded, below) {
            return;
        }
        self.announced.capture_missing = true;
        let data = json!({
            "completeness_pct": uploaded as f64 * 100.0 / expected as f64,
            "expected_captures": expected,
            "uploaded_captures": uploaded,
            "below_pct": below,
        });
        out.notices.push(self.notice(NoticeKind::CaptureMissing, watermark_ms, "", data, now_ms));
    }

    /// `session.started` with the first `sessions` row; `session.ended`
    /// (and `recording.completed` when the test recorded video) with the
    /// first that says it ended.
    fn announce_session(&mut self, row: &SessionRow, now_ms: i64, out: &mut Emission) {
        if !self.announced.started {
            self.announced.started = true;
            let data = json!({ "started_at": rfc3339_ms(row.started_at), "sdk_version": row.sdk_version });
            out.notices.push(self.notice(NoticeKind::SessionStarted, row.started_at, "", data, now_ms));
        }
        if row.ended == 0 || self.announced.ended {
            return;
        }
        self.announced.ended = true;
        let data = json!({
            "end_reason": row.end_reason,
            "started_at": rfc3339_ms(row.started_at),
            "ended_at": rfc3339_ms(row.last_seen_at),
            "events": row.events,
            "completeness_pct": row.completeness_pct,
            "max_window_score": row.max_window_score,
            "face_flags": row.face_flags,
        });
        out.notices.push(self.notice(NoticeKind::SessionEnded, row.last_seen_at, "", data, now_ms));
        if row.recording_expected_ms > 0 {
            let data = json!({
                "recording_pct": row.recording_pct,
                "recorded_ms": row.recorded_ms,
                "recording_expected_ms": row.recording_expected_ms,
            });
            out.notices.push(self.notice(NoticeKind::RecordingCompleted, row.last_seen_at, "", data, now_ms));
        }
    }

    fn emit_totals(&mut self, config: &ProctorConfig, now_ms: i64, out: &mut Emission) {
        if !std::mem::take(&mut self.dirty_totals) && self.total.is_some() && self.row.is_some() {
            return;
        }
        let total = self.totals(config);
        let mut row = self.window_row(&total, WINDOW_SESSION, session_anchor(&self.session), now_ms);
        let fingerprint = window_fingerprint(&row);
        if self.total.map(|s| s.fingerprint) != Some(fingerprint) {
            row.version = next_version(self.total, now_ms);
            self.total = Some(Stored { fingerprint, version: row.version });
            out.windows.push(row);
        }
        let mut row = self.session_row(&total);
        let fingerprint = session_fingerprint(&row);
        if self.row.map(|s| s.fingerprint) != Some(fingerprint) {
            row.version = next_version(self.row, now_ms);
            self.row = Some(Stored { fingerprint, version: row.version });
            self.announce_session(&row, now_ms, out);
            out.sessions.push(row);
        }
    }

    /// Records what the store already holds for this session (read back after
    /// a restart), so emission compares against it.
    pub fn restore(&mut self, windows: &[WindowRow], anomalies: &[AnomalyRow], sessions: &[SessionRow]) {
        for row in windows {
            let stored = Stored { fingerprint: window_fingerprint(row), version: row.version };
            if row.window_kind == WINDOW_SESSION {
                self.total = Some(stored);
            } else {
                self.minutes.insert(row.window_start, stored);
            }
        }
        for row in anomalies {
            self.anomalies
                .insert(row.window_start, Stored { fingerprint: anomaly_fingerprint(row), version: row.version });
        }
        if let Some(row) = sessions.last() {
            self.row = Some(Stored { fingerprint: session_fingerprint(row), version: row.version });
            self.announced.started = true;
            self.announced.ended = row.ended != 0;
        }
        let minutes = windows.iter().filter(|row| row.window_kind == WINDOW_MINUTE);
        self.announced.restored_captures = Some(minutes.fold((0, 0), |(e, u), r| {
            (
                e + u64::from(r.expected_face + r.expected_screen + r.expected_audio),
                u + u64::from(r.uploaded_face + r.uploaded_screen + r.uploaded_audio),
            )
        }));
        self.dirty_totals = true;
        self.unchecked_from = Some(i64::MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::EventRow;
    use crate::scripted::{self, T0};
    use invigil_schemas::event::{Event, EventBody};
    use invigil_schemas::record::KafkaRecord;

    const LATENESS: i64 = 15_000;

    fn batches() -> Vec<FactBatch> {
        scripted::records()
            .iter()
            .map(|r| {
                let rows: Vec<EventRow> = r.batch.events.iter().map(|e| EventRow::new(r, e)).collect();
                FactBatch::from_rows(&rows).unwrap()
            })
            .collect()
    }

    fn config() -> ProctorConfig {
        scripted::config().for_test(&scripted::TEST.to_owned().try_into().unwrap()).unwrap()
    }

    #[test]
    fn rows_are_written_once_closed_and_again_only_when_corrected() {
        let config = config();
        let mut batches = batches();
        let late = batches.pop().unwrap();
        let mut tracked = Tracked::new(batches[0].key.clone());
        for batch in &batches {
            tracked.add(batch, LATENESS);
        }
        // Watermark inside minute 5: minutes 0–4 are closed.
        let mut out = Emission::default();
        tracked.emit(&config, T0 + 5 * 60_000 + 10_000, 1_000, &mut out);
        assert_eq!(out.windows.iter().filter(|w| w.window_kind == WINDOW_MINUTE).count(), 5);
        assert_eq!(out.windows.iter().filter(|w| w.window_kind == WINDOW_SESSION).count(), 1);
        assert_eq!(out.sessions.len(), 1);
        let anomalous: Vec<i64> = out.anomalies.iter().map(|a| (a.window_start - T0) / 60_000).collect();
        assert_eq!(
            anomalous,
            [1, 2, 3, 4],
            "scores 2.75, 2.0, 1.5 and 2.99 (a different person for 59.8 s) reach the 1.5 threshold"
        );
        assert_eq!(
            out.anomalies[0].severity, SEVERITY_WARNING,
            "2.75 < 2 × 1.5 (the switch's blur is not scored again)"
        );

        // Nothing changed: nothing to write.
        let mut again = Emission::default();
        tracked.emit(&config, T0 + 5 * 60_000 + 10_000, 2_000, &mut again);
        assert!(again.is_empty(), "{again:?}");

        // Everything closes; then the late batch corrects minute 8.
        let mut rest = Emission::default();
        tracked.emit(&config, T0 + 11 * 60_000, 3_000, &mut rest);
        assert_eq!(rest.windows.iter().filter(|w| w.window_kind == WINDOW_MINUTE).count(), 5);
        let first_m8 = rest.windows.iter().find(|w| w.window_start == T0 + 8 * 60_000).unwrap().clone();
        assert!(tracked.add(&late, LATENESS));
        let mut corrected = Emission::default();
        tracked.emit(&config, T0 + 11 * 60_000, 3_000, &mut corrected);
        let minutes: Vec<&WindowRow> = corrected.windows.iter().filter(|w| w.window_kind == WINDOW_MINUTE).collect();
        assert_eq!(minutes.len(), 1, "only minute 8 changed");
        assert_eq!(minutes[0].window_start, first_m8.window_start);
        assert!(minutes[0].version > first_m8.version, "a correction outranks the row it replaces");
        assert_eq!((minutes[0].tab_switches, minutes[0].late_events), (1, 3));
        assert_eq!(corrected.anomalies.len(), 1, "minute 8 now scores 2.75");
        assert_eq!(corrected.sessions.len(), 1);
    }

    #[test]
    fn each_piece_of_news_is_announced_once_under_an_id_a_replay_repeats() {
        let config = config();
        let run = |watermarks: &[i64]| {
            let mut tracked = Tracked::new(batches()[0].key.clone());
            for batch in &batches() {
                tracked.add(batch, LATENESS);
            }
            watermarks
                .iter()
                .map(|w| {
                    let mut out = Emission::default();
                    tracked.emit(&config, *w, 1_000, &mut out);
                    out
                })
                .collect::<Vec<_>>()
        };
        let rounds = run(&[T0 + 5 * 60_000 + 10_000, T0 + 5 * 60_000 + 10_000, T0 + 11 * 60_000]);
        let kinds = |out: &Emission| out.notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>();
        assert_eq!(
            kinds(&rounds[0]),
            [
                "session.flagged",
                "session.flagged",
                "session.flagged",
                "session.flagged",
                "session.started",
                "session.ended"
            ]
        );
        let ended = &rounds[0].notices[5];
        assert_eq!(
            (ended.data["end_reason"].as_str(), ended.data["face_flags"].as_u64()),
            (Some("host_stopped"), Some(2))
        );
        let flag = &rounds[0].notices[0];
        let anomaly = &rounds[0].anomalies[0];
        assert_eq!(flag.data["score"], anomaly.score);
        assert_eq!(flag.data["threshold"], 1.5);
        let components = flag.data["components"].as_object().unwrap();
        assert_eq!(components.len(), anomaly.component_names.len());
        for (name, value) in anomaly.component_names.iter().zip(&anomaly.component_values) {
            assert_eq!(components[name], *value, "{name}");
        }
        assert!(kinds(&rounds[1]).is_empty(), "nothing new, nothing announced");
        assert!(!kinds(&rounds[2]).contains(&"session.started"));
        // A replay makes the same notices with the same ids.
        let again = run(&[T0 + 5 * 60_000 + 10_000]);
        let ids = |out: &Emission| out.notices.iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(&again[0]), ids(&rounds[0]));
        let unique: std::collections::HashSet<_> = ids(&rounds[0]).into_iter().collect();
        assert_eq!(unique.len(), rounds[0].notices.len());
        // The session rows' keys are in every notice.
        for notice in &rounds[0].notices {
            assert_eq!(notice.session_id, Some(rounds[0].sessions[0].session_id));
            assert_eq!(notice.test_id, rounds[0].sessions[0].test_id);
        }
    }

    #[test]
    fn missing_captures_are_announced_once_when_under_the_threshold_and_not_after_a_restart() {
        let mut config = config();
        // The session still running: its end left out.
        let running: Vec<FactBatch> = batches()
            .into_iter()
            .map(|mut b| {
                b.facts.retain(|f| !matches!(f.what, crate::session::What::Ended { .. }));
                b
            })
            .collect();
        let all = |config: &ProctorConfig| {
            let mut tracked = Tracked::new(running[0].key.clone());
            for batch in &running {
                tracked.add(batch, LATENESS);
            }
            let mut out = Emission::default();
            tracked.emit(config, T0 + 11 * 60_000, 1_000, &mut out);
            out
        };
        config.notify.capture_missing_below_pct = 0.0;
        assert!(all(&config).notices.iter().all(|n| n.kind != NoticeKind::CaptureMissing), "0: never");
        config.notify.capture_missing_below_pct = 100.0;
        let out = all(&config);
        let missing: Vec<&Notice> = out.notices.iter().filter(|n| n.kind == NoticeKind::CaptureMissing).collect();
        assert_eq!(missing.len(), 1, "{:?}", out.notices);
        let (expected, uploaded) = (
            missing[0].data["expected_captures"].as_u64().unwrap(),
            missing[0].data["uploaded_captures"].as_u64().unwrap(),
        );
        assert!(expected >= u64::from(CAPTURE_MISSING_MIN_SLOTS) && uploaded < expected, "{:?}", missing[0].data);
        // Restored from what was written, the same session says nothing again.
        let mut restored = Tracked::new(running[0].key.clone());
        for batch in &running {
            restored.add(batch, LATENESS);
        }
        restored.restore(&out.windows, &out.anomalies, &out.sessions);
        let mut again = Emission::default();
        restored.emit(&config, T0 + 11 * 60_000, 2_000, &mut again);
        assert!(again.notices.is_empty(), "{:?}", again.notices);
    }

    #[test]
    fn a_session_restored_from_its_stored_rows_writes_nothing_new() {
        let config = config();
        let mut first = Tracked::new(batches()[0].key.clone());
        for batch in &batches() {
            first.add(batch, LATENESS);
        }
        let mut written = Emission::default();
        first.emit(&config, T0 + 11 * 60_000, 5_000, &mut written);

        let mut second = Tracked::new(batches()[0].key.clone());
        for batch in &batches() {
            second.add(batch, LATENESS);
        }
        second.restore(&written.windows, &written.anomalies, &written.sessions);
        let mut out = Emission::default();
        second.emit(&config, T0 + 11 * 60_000, 6_000, &mut out);
        assert!(out.is_empty(), "{out:?}");

        // A restored session that lacks the late batch rewrites minute 8 and
        // the session rows, above the stored versions.
        let mut partial = Tracked::new(batches()[0].key.clone());
        let all = batches();
        for batch in &all[..all.len() - 1] {
            partial.add(batch, LATENESS);
        }
        partial.restore(&written.windows, &written.anomalies, &written.sessions);
        let mut out = Emission::default();
        partial.emit(&config, T0 + 11 * 60_000, 1, &mut out);
        let m8 = out.windows.iter().find(|w| w.window_start == T0 + 8 * 60_000).unwrap();
        let stored = written.windows.iter().find(|w| w.window_start == T0 + 8 * 60_000).unwrap();
        assert!(m8.version > stored.version, "clock went backwards, version still rises");
    }

    /// Video mode: windows recomputed batch by batch — segments reported 12 s
    /// after they start, those of an offline minute all at once later, a
    /// block in between — end equal to the windows computed once from the
    /// whole session.
    #[test]
    fn recorded_time_computed_batch_by_batch_equals_computed_at_once() {
        use crate::session::{Dimension, Fact, FactBatch, SessionKey, What};
        use invigil_schemas::config::RecordingMode;
        let mut config = config();
        config.recording.mode = RecordingMode::Video;
        config.recording.segment_ms = 10_000;
        config.events_interval_ms = 5_000;
        // (reported at, client time, what)
        let mut facts: Vec<(i64, i64, What)> = vec![(0, 0, What::Started { sdk_version: "t".into() })];
        for t in (5_000..300_000).step_by(5_000) {
            facts.push((t, t, What::Keys(1, 0)));
        }
        for (at, on) in [(130_000, true), (140_000, false)] {
            facts.push((at, at, What::Toggle(Dimension::Blocked(3), on)));
        }
        for start in (3_000..290_000).step_by(10_000) {
            let reported = if (100_000..160_000).contains(&start) { 170_000 } else { start + 12_000 };
            facts.push((reported, start, What::Recorded(0, 10_000)));
            if start != 203_000 {
                facts.push((reported, start, What::Recorded(1, 10_000)));
            }
        }
        facts.sort_by_key(|(reported, _, _)| *reported);
        let key = SessionKey {
            test_id: scripted::TEST.to_owned().try_into().unwrap(),
            candidate_id: "cand-video".to_owned().try_into().unwrap(),
            session_id: scripted::session_id(T0),
        };
        let mut tracked = Tracked::new(key.clone());
        let mut seq = 0;
        for k in 0..=61 {
            let (from, to) = ((k - 1) * 5_000, k * 5_000);
            let batch: Vec<Fact> = facts
                .iter()
                .filter(|(reported, _, _)| *reported > from && *reported <= to)
                .map(|(_, ts, what)| {
                    seq += 1;
                    Fact { seq, ts: T0 + ts, what: what.clone() }
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            let received_at = T0 + to + 100;
            let facts = FactBatch {
                key: key.clone(),
                received_at,
                batch_seq: k as u64,
                user_agent: String::new(),
                client: Default::default(),
                facts: batch,
            };
            tracked.add(&facts, LATENESS);
            tracked.refresh(&config);
        }
        let at_once = scoring::compute(&tracked.session, &config, None);
        let batch_by_batch: Vec<WindowValue> = tracked.windows.values().cloned().collect();
        assert_eq!(batch_by_batch, at_once);
        let total = scoring::totals(&at_once, &tracked.session, &config);
        assert!(total.recording_expected_ms > 200_000, "{total:?}");
        assert_eq!(total.recorded_ms[0], total.recording_expected_ms, "every camera second delivered");
        assert_eq!(total.recording_expected_ms - total.recorded_ms[1], 10_000, "one screen segment lost");
    }

    /// The held-out shape (issue 17): a candidate starts 5 s before a
    /// minute ends, so the first slot (55 s) is in minute 0 while its
    /// captures are taken 5–14 s later, in minute 1, after minute 0 closed.
    /// Audio chunks carry their start and restart after a block. Every
    /// delivered capture is credited, late corrections included.
    #[test]
    fn a_candidate_starting_late_in_a_minute_has_every_delivered_capture_credited() {
        let (timeline, delivered) = late_start_timeline();
        let fed = feed_in_5s_batches(timeline, &config());
        let written = &fed.minutes;
        assert!(fed.corrected_minute_0, "minute 0 was written before its first capture arrived, then corrected");
        let m0 = &written[&T0];
        assert_eq!((m0.expected_face, m0.uploaded_face), (1, 1), "slot 55 s is credited with the 63 s capture");
        assert_eq!((m0.expected_screen, m0.uploaded_screen), (1, 1));
        assert_eq!((m0.expected_audio, m0.uploaded_audio), (1, 1), "slot 55 s holds the chunk started at 60 s");
        let uploaded: u32 = written.values().map(|w| w.uploaded_face + w.uploaded_screen + w.uploaded_audio).sum();
        let expected: u32 = written.values().map(|w| w.expected_face + w.expected_screen + w.expected_audio).sum();
        let slots = delivered - 1;
        assert_eq!(uploaded, slots, "every delivered capture is credited, the second in a slot excepted");
        assert_eq!(expected, slots, "nothing is missing");
        let session = fed.session.as_ref().expect("a session row");
        assert_eq!((session.uploaded_captures, session.expected_captures), (slots, slots));
        assert_eq!(session.completeness_pct, 100.0);
        assert_eq!(session.delivered_captures, delivered, "every delivered capture is reported as delivered");
        assert!(written.values().all(|w| !w.component_names.iter().any(|c| c.contains("missing"))), "{written:?}");
    }

    const LATE_END: i64 = 400_000;

    /// The held-out session's events by offset from [`T0`], and how many
    /// captures it delivered: it starts at 55 s, setup ends at 63 s, a block
    /// runs 200–207 s, and it stops at 400 s.
    fn late_start_timeline() -> (Vec<(i64, EventBody)>, u32) {
        use invigil_schemas::event::*;
        let (start, setup_end, end) = (55_000, 63_000, LATE_END);
        let (block_from, block_to) = (200_000, 207_000);
        let started = SessionStarted {
            sdk_version: "held-out".into(),
            user_agent: "held-out".into(),
            screen_w: 1280,
            screen_h: 720,
            displays: 1,
        };
        let mut timeline: Vec<(i64, EventBody)> = vec![
            (start, EventBody::SessionStarted(started)),
            (block_from, EventBody::Blocked(Blocked { reason: BlockReason::FullscreenExited })),
            (block_to, EventBody::Unblocked(Unblocked { reason: BlockReason::FullscreenExited })),
            (end, EventBody::SessionEnded(SessionEnded { reason: SessionEndReason::HostStopped })),
        ];
        // Face 8 s and screen 11 s after their slots; audio chunks 30 s
        // long from setup end, cut at the block and restarted at its end.
        let mut captures: Vec<(i64, CaptureKind)> = Vec::new();
        for j in 0..11 {
            for (kind, ts) in [(CaptureKind::Face, setup_end + j * 30_000), (CaptureKind::Screen, 66_000 + j * 30_000)]
            {
                if !(block_from..block_to).contains(&ts) && ts < end {
                    captures.push((ts, kind));
                }
            }
        }
        let mut chunk = 60_000;
        while chunk < end {
            captures.push((chunk, CaptureKind::Audio));
            chunk = if chunk < block_from && chunk + 30_000 > block_from { block_to } else { chunk + 30_000 };
        }
        // A second face photo in a slot already filled (as the partial audio
        // chunk a stop uploads can be): delivered, but no second slot.
        captures.push((setup_end + 30_000, CaptureKind::Face));
        let delivered = captures.len() as u32;
        for (seq, (ts, kind)) in captures.into_iter().enumerate() {
            let capture = Capture {
                kind,
                status: CaptureStatus::Uploaded,
                key: Some(format!("{kind:?}/{ts}").to_lowercase()),
                bytes: Some(20_000),
                capture_seq: seq as u64,
                attempts: 1,
                error: None,
            };
            timeline.push((ts, EventBody::Capture(capture)));
        }
        timeline.sort_by_key(|(ts, _)| *ts);
        (timeline, delivered)
    }

    /// What a session fed batch by batch wrote.
    struct Fed {
        /// The last row of each minute window, by start.
        minutes: std::collections::BTreeMap<i64, WindowRow>,
        session: Option<SessionRow>,
        /// Whether a batch's step wrote minute 0 again after its first write.
        corrected_minute_0: bool,
    }

    /// Feeds `timeline` as batches every 5 s (a capture's event leaves 2 s
    /// after it was taken, when its upload finished, so it may land in the
    /// next minute's batch), emitting at each batch's time as the watermark:
    /// a minute closes as soon as it ends. Then closes everything.
    fn feed_in_5s_batches(timeline: Vec<(i64, EventBody)>, config: &ProctorConfig) -> Fed {
        let session_id = scripted::session_id(T0 + timeline[0].0);
        let events: Vec<(i64, Event)> = timeline
            .into_iter()
            .enumerate()
            .map(|(seq, (offset, body))| {
                let sent = offset + if matches!(body, EventBody::Capture(_)) { 2_000 } else { 0 };
                let id = invigil_schemas::ids::event_id_v7((T0 + offset) as u64, [seq as u8; 10]);
                (sent, Event { id, seq: seq as u64, ts: T0 + offset, body })
            })
            .collect();
        let mut tracked: Option<Tracked> = None;
        let mut fed = Fed { minutes: Default::default(), session: None, corrected_minute_0: false };
        // `during`: a batch's step (a correction counts), not the final flush.
        let take = |out: Emission, fed: &mut Fed, during: bool| {
            for row in out.windows.into_iter().filter(|w| w.window_kind == WINDOW_MINUTE) {
                fed.corrected_minute_0 |= during && row.window_start == T0 && fed.minutes.contains_key(&T0);
                fed.minutes.insert(row.window_start, row);
            }
            if let Some(session) = out.sessions.into_iter().last() {
                fed.session = Some(session);
            }
        };
        for k in 0..=(LATE_END / 5_000 + 1) {
            let (from, to) = ((k - 1) * 5_000, k * 5_000);
            let batch: Vec<Event> =
                events.iter().filter(|(sent, _)| *sent > from && *sent <= to).map(|(_, e)| e.clone()).collect();
            if batch.is_empty() {
                continue;
            }
            let record = held_out_record(session_id, k as u64, to, batch);
            let rows: Vec<EventRow> = record.batch.events.iter().map(|e| EventRow::new(&record, e)).collect();
            let facts = FactBatch::from_rows(&rows).unwrap();
            let tracked = tracked.get_or_insert_with(|| Tracked::new(facts.key.clone()));
            tracked.add(&facts, LATENESS);
            let mut out = Emission::default();
            tracked.emit(config, T0 + to, to, &mut out);
            take(out, &mut fed, true);
        }
        let mut out = Emission::default();
        tracked.unwrap().emit(config, i64::MAX, 1_000_000, &mut out);
        take(out, &mut fed, false);
        fed
    }

    /// The record ingest makes of the held-out candidate's batch `batch_seq`,
    /// sent `sent` ms after [`T0`].
    fn held_out_record(
        session_id: invigil_schemas::ids::Uuid,
        batch_seq: u64,
        sent: i64,
        events: Vec<Event>,
    ) -> KafkaRecord {
        KafkaRecord {
            received_at: T0 + sent + 100,
            test_id: scripted::TEST.to_owned().try_into().unwrap(),
            candidate_id: "cand-held-out".to_owned().try_into().unwrap(),
            ingest_node: "ingest-test".into(),
            client_ip_hash: 7,
            client_net_hash: 7,
            user_agent: "held-out".into(),
            batch: invigil_schemas::batch::EventBatch { v: 1, session_id, batch_seq, sent_at: T0 + sent, events },
        }
    }
}

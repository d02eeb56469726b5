//! What the store must hold after a chaos run, computed from loadgen's own
//! log (one JSON line per batch ingest answered 200), and the comparison
//! with what the store does hold.
//!
//! The totals are the window measures that depend only on the events
//! themselves (SPEC §6 counts by event time), so they are the same however
//! the run was interrupted. Network gaps and late-event counts depend on
//! when batches arrived — on the faults — and are not compared.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// Per-candidate sums over a session, as both the truth and the store's
/// windows express them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub tab_switches: u64,
    pub hidden_ms: u64,
    pub blur_count: u64,
    pub blur_ms: u64,
    pub fullscreen_exits: u64,
    pub clipboard_actions: u64,
    pub key_bursts: u64,
    pub uploads_failed: u64,
    /// Face, screen, audio.
    pub uploaded: [u64; 3],
}

impl Totals {
    /// Column order of [`Totals::from_columns`] (sums over `candidate_windows`).
    pub const SUMS: &'static str = "sum(tab_switches), sum(hidden_ms), sum(blur_count), sum(blur_ms), \
        sum(fullscreen_exits), sum(clipboard_actions), sum(key_bursts), sum(uploads_failed), \
        sum(uploaded_face), sum(uploaded_screen), sum(uploaded_audio)";

    pub fn from_columns(columns: &[&str]) -> anyhow::Result<Self> {
        anyhow::ensure!(columns.len() == 11, "expected 11 sums, got {}", columns.len());
        let n: Vec<u64> =
            columns.iter().map(|c| c.parse::<u64>().with_context(|| format!("sum {c:?}"))).collect::<Result<_, _>>()?;
        Ok(Self {
            tab_switches: n[0],
            hidden_ms: n[1],
            blur_count: n[2],
            blur_ms: n[3],
            fullscreen_exits: n[4],
            clipboard_actions: n[5],
            key_bursts: n[6],
            uploads_failed: n[7],
            uploaded: [n[8], n[9], n[10]],
        })
    }
}

/// Everything loadgen had accepted.
#[derive(Debug, Default)]
pub struct Truth {
    /// Event ids of accepted batches.
    pub ids: HashSet<String>,
    /// Ids that appeared in more than one accepted batch (loadgen never
    /// resends an accepted batch, so this must stay 0).
    pub logged_twice: u64,
    pub batches: u64,
    pub per_candidate: BTreeMap<String, Totals>,
    pub events_per_candidate: BTreeMap<String, u64>,
}

/// Reads loadgen's `--log` and computes the truth; `key_burst_keys` is the
/// config's threshold (a `key_activity` with more keys is a burst).
pub fn from_log(path: &Path, key_burst_keys: u64) -> anyhow::Result<Truth> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut truth = Truth::default();
    let mut events_by_candidate: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        let mut batch: Value =
            serde_json::from_str(&line).with_context(|| format!("{} line {}", path.display(), n + 1))?;
        let candidate = batch["candidate"].as_str().context("a log line without candidate")?.to_owned();
        truth.batches += 1;
        let events = match batch["events"].take() {
            Value::Array(events) => events,
            _ => anyhow::bail!("{} line {}: no events array", path.display(), n + 1),
        };
        let kept = events_by_candidate.entry(candidate).or_default();
        for event in events {
            let id = event["id"].as_str().context("an event without id")?.to_owned();
            if truth.ids.insert(id) {
                kept.push(event);
            } else {
                truth.logged_twice += 1;
            }
        }
    }
    for (candidate, events) in events_by_candidate {
        truth.events_per_candidate.insert(candidate.clone(), events.len() as u64);
        truth.per_candidate.insert(candidate, session_totals(events, key_burst_keys));
    }
    Ok(truth)
}

/// One dimension's "on" spells (hidden, blurred): how many began, and their
/// milliseconds once each is paired with the next "off".
#[derive(Default)]
struct Spells {
    since: Option<i64>,
    count: u64,
    ms: u64,
}

impl Spells {
    fn on(&mut self, ts: i64) {
        self.count += 1;
        self.since.get_or_insert(ts);
    }

    fn off(&mut self, ts: i64) {
        if let Some(since) = self.since.take() {
            self.ms += (ts - since) as u64;
        }
    }
}

/// One session's totals. Durations pair an "on" event with the next "off"
/// of its dimension in event-time order; one still on at the end closes at
/// the session's last event, as the pipeline closes open intervals.
pub fn session_totals(mut events: Vec<Value>, key_burst_keys: u64) -> Totals {
    let at = |e: &Value| (e["ts"].as_i64().unwrap_or(0), e["seq"].as_u64().unwrap_or(0));
    events.sort_by_key(at);
    let last_ts = events.last().map_or(0, |e| at(e).0);
    let mut totals = Totals::default();
    let (mut hidden, mut blurred) = (Spells::default(), Spells::default());
    for event in &events {
        let ts = at(event).0;
        let field = |name: &str| event[name].as_str().unwrap_or("");
        match field("type") {
            "visibility" if field("state") == "hidden" => hidden.on(ts),
            "visibility" => hidden.off(ts),
            "focus" if field("state") == "blur" => blurred.on(ts),
            "focus" => blurred.off(ts),
            "fullscreen" if field("state") == "exited" => totals.fullscreen_exits += 1,
            "clipboard" => totals.clipboard_actions += 1,
            "key_activity" if event["keys"].as_u64().unwrap_or(0) > key_burst_keys => totals.key_bursts += 1,
            "capture" if field("status") == "failed" => totals.uploads_failed += 1,
            "capture" if field("status") == "uploaded" => match field("kind") {
                "face" => totals.uploaded[0] += 1,
                "screen" => totals.uploaded[1] += 1,
                _ => totals.uploaded[2] += 1,
            },
            _ => {}
        }
    }
    hidden.off(last_ts);
    blurred.off(last_ts);
    (totals.tab_switches, totals.hidden_ms) = (hidden.count, hidden.ms);
    (totals.blur_count, totals.blur_ms) = (blurred.count, blurred.ms);
    totals
}

/// The store's side, read back after the run.
#[derive(Debug, Default)]
pub struct Stored {
    /// `(event_id, rows under FINAL)`.
    pub ids: BTreeMap<String, u64>,
    /// Rows before deduplication (retried batches written twice show here).
    pub raw_rows: u64,
    /// Sums over minute windows, and the session window, per candidate.
    pub minute_windows: BTreeMap<String, Totals>,
    pub session_windows: BTreeMap<String, Totals>,
}

/// Lost, duplicated and wrong, as the closing figures print them.
#[derive(Debug, Default)]
pub struct Verdict {
    pub expected: u64,
    pub stored: u64,
    pub lost: u64,
    /// Event ids with more than one row under `FINAL`.
    pub duplicated: u64,
    /// Stored ids loadgen never had accepted (a batch refused but written).
    pub unexpected: u64,
    /// Raw rows merged away by `FINAL` (retries written twice).
    pub rewritten: u64,
    /// Candidates in the truth.
    pub candidates: usize,
    /// Candidates whose minute-window sums or session row differ from the truth.
    pub wrong_candidates: Vec<String>,
    pub first_difference: Option<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.unexpected == 0 && self.wrong_candidates.is_empty()
    }
}

pub fn compare(truth: &Truth, stored: &Stored) -> Verdict {
    let mut verdict = Verdict {
        expected: truth.ids.len() as u64,
        stored: stored.ids.len() as u64,
        lost: truth.ids.iter().filter(|id| !stored.ids.contains_key(*id)).count() as u64,
        duplicated: stored.ids.values().filter(|&&rows| rows > 1).count() as u64,
        unexpected: stored.ids.keys().filter(|id| !truth.ids.contains(*id)).count() as u64,
        rewritten: stored.raw_rows.saturating_sub(stored.ids.values().sum()),
        candidates: truth.per_candidate.len(),
        ..Verdict::default()
    };
    for (candidate, expected) in &truth.per_candidate {
        let minutes = stored.minute_windows.get(candidate).copied().unwrap_or_default();
        let session = stored.session_windows.get(candidate).copied().unwrap_or_default();
        if minutes != *expected || session != *expected {
            if verdict.first_difference.is_none() {
                verdict.first_difference = Some(format!(
                    "{candidate}: truth {expected:?}\n  minute windows {minutes:?}\n  session window {session:?}"
                ));
            }
            verdict.wrong_candidates.push(candidate.clone());
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u64, ts: i64, body: Value) -> Value {
        let mut e = json!({"id": format!("e{seq}"), "seq": seq, "ts": ts});
        e.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        e
    }

    #[test]
    fn durations_pair_in_event_time_and_close_at_the_last_event() {
        let events = vec![
            event(0, 1_000, json!({"type": "session_started"})),
            // Out of seq order on purpose: event time decides.
            event(2, 9_000, json!({"type": "visibility", "state": "visible"})),
            event(1, 4_000, json!({"type": "visibility", "state": "hidden"})),
            event(3, 10_000, json!({"type": "focus", "state": "blur"})),
            event(4, 10_800, json!({"type": "focus", "state": "focus"})),
            event(5, 12_000, json!({"type": "visibility", "state": "hidden"})),
            event(6, 13_000, json!({"type": "key_activity", "keys": 41})),
            event(7, 13_500, json!({"type": "key_activity", "keys": 40})),
            event(8, 14_000, json!({"type": "capture", "kind": "face", "status": "uploaded"})),
            event(9, 14_000, json!({"type": "capture", "kind": "audio", "status": "uploaded"})),
            event(10, 14_000, json!({"type": "capture", "kind": "screen", "status": "failed"})),
            event(11, 20_000, json!({"type": "session_ended"})),
        ];
        let totals = session_totals(events, 40);
        assert_eq!(totals.tab_switches, 2);
        assert_eq!(totals.hidden_ms, 5_000 + 8_000, "the second hidden spell closes at the last event");
        assert_eq!((totals.blur_count, totals.blur_ms), (1, 800));
        assert_eq!(totals.key_bursts, 1, "more than the threshold, not equal to it");
        assert_eq!((totals.uploaded, totals.uploads_failed), ([1, 0, 1], 1));
    }

    #[test]
    fn compare_counts_lost_duplicated_unexpected_and_wrong_windows() {
        let mut truth = Truth::default();
        truth.ids.extend(["a", "b", "c"].map(String::from));
        let good = Totals { tab_switches: 2, ..Totals::default() };
        truth.per_candidate.insert("cand-1".into(), good);
        truth.per_candidate.insert("cand-2".into(), good);
        let mut stored = Stored { raw_rows: 5, ..Stored::default() };
        stored.ids.extend([("a".to_owned(), 1), ("b".to_owned(), 2), ("x".to_owned(), 1)]);
        stored.minute_windows.insert("cand-1".into(), good);
        stored.session_windows.insert("cand-1".into(), good);
        stored.minute_windows.insert("cand-2".into(), good);
        stored.session_windows.insert("cand-2".into(), Totals { tab_switches: 3, ..Totals::default() });
        let verdict = compare(&truth, &stored);
        assert_eq!((verdict.lost, verdict.duplicated, verdict.unexpected), (1, 1, 1));
        assert_eq!(verdict.rewritten, 1);
        assert_eq!(verdict.wrong_candidates, vec!["cand-2".to_owned()]);
        assert!(!verdict.passed());

        stored.ids = [("a".to_owned(), 1), ("b".to_owned(), 1), ("c".to_owned(), 1)].into();
        stored.session_windows.insert("cand-2".into(), good);
        assert!(compare(&truth, &stored).passed());
    }

    #[test]
    fn sums_parse_in_column_order() {
        let t = Totals::from_columns(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]).unwrap();
        assert_eq!((t.tab_switches, t.uploaded), (1, [9, 10, 11]));
        assert!(Totals::from_columns(&["1"]).is_err());
    }
}

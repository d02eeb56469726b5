//! Rebuilding sessions this process sees for the first time from what the
//! store holds, so a restart (or a candidate moving between workers)
//! continues where the written rows left off.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use invigil_schemas::ids::Uuid;
use invigil_schemas::sql::string_literal as quote;

use crate::emit::Tracked;
use crate::rows::{AnomalyRow, EventRow, SessionRow, WindowRow};
use crate::session::{FactBatch, SessionKey};
use crate::store::{SqlStore, Store, StoreError};

/// Rebuilds sessions first seen by this process from what the store holds:
/// their events (the digest) and their rows (what was written). Runs on the
/// store's runtime: the worker keeps folding batches of sessions it already
/// holds while the store answers (which, behind an insert in flight, can take
/// a second).
///
/// Most sessions seen for the first time are new (a test starting), and the
/// store holds nothing worth reading for them, so one small query asks first
/// which of them have window rows. A session without any has had no record
/// committed — a record is committable only once the windows it changed are
/// written — so every record of it is still ahead of the committed offsets and
/// reaches this process again: its stored events, if any, are copies of what
/// the dataflow is about to see, and there are no rows to compare against.
/// Only the others are read in full. (At the start of `invigil bench
/// pipeline`'s 8,000 candidates, reading every session in full held the
/// store's connection for ~5 s of a 5-s run.)
pub(super) async fn load_sessions(
    store: Store,
    keys: Vec<SessionKey>,
    lateness_ms: i64,
) -> Result<Vec<Tracked>, StoreError> {
    let started = Instant::now();
    let written = format!("SELECT DISTINCT session_id FROM candidate_windows WHERE {}", session_filter(&keys));
    let written: HashSet<Uuid> =
        store.query_text(&written, "TabSeparated").await?.lines().filter_map(|l| Uuid::parse_str(l).ok()).collect();
    let (known, fresh): (Vec<SessionKey>, Vec<SessionKey>) =
        keys.into_iter().partition(|k| written.contains(&k.session_id));
    let mut out: Vec<Tracked> = fresh
        .into_iter()
        .map(|key| {
            let mut tracked = Tracked::new(key);
            tracked.restore(&[], &[], &[]);
            tracked
        })
        .collect();
    if !known.is_empty() {
        out.extend(load_written_sessions(&store, known, lateness_ms).await?);
    }
    tracing::debug!(
        sessions = out.len(),
        with_rows = written.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "sessions loaded from the store"
    );
    Ok(out)
}

/// The `WHERE` condition that selects `keys`' rows: the sorting key's
/// columns, so the engine reads only their granules.
fn session_filter(keys: &[SessionKey]) -> String {
    let tests: HashSet<&str> = keys.iter().map(|k| k.test_id.as_str()).collect();
    let candidates: HashSet<&str> = keys.iter().map(|k| k.candidate_id.as_str()).collect();
    let list = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(", ");
    format!(
        "test_id IN ({}) AND candidate_id IN ({}) AND session_id IN ({})",
        list(&mut tests.iter().map(|t| quote(t))),
        list(&mut candidates.iter().map(|c| quote(c))),
        list(&mut keys.iter().map(|k| format!("toUUID('{}')", k.session_id))),
    )
}

/// Rebuilds sessions the store has rows of: their events, windows,
/// anomalies and session rows.
async fn load_written_sessions(
    store: &Store,
    keys: Vec<SessionKey>,
    lateness_ms: i64,
) -> Result<Vec<Tracked>, StoreError> {
    let filter = session_filter(&keys);
    let events: Vec<EventRow> = store.select_final(&filter).await?;
    let windows: Vec<WindowRow> = store.select_final(&filter).await?;
    let anomalies: Vec<AnomalyRow> = store.select_final(&filter).await?;
    let sessions: Vec<SessionRow> = store.select_final(&filter).await?;

    let mut by_session: HashMap<SessionKey, Tracked> = keys.into_iter().map(|k| (k.clone(), Tracked::new(k))).collect();
    let mut batches: BTreeMap<(SessionKey, u64), Vec<EventRow>> = BTreeMap::new();
    for row in events {
        if let Ok(key) = SessionKey::of_row(&row) {
            batches.entry((key, row.batch_seq)).or_default().push(row);
        }
    }
    for ((key, _), mut rows) in batches {
        // Copies of one batch share a receipt; rows from retried copies may
        // differ, and the earliest is the batch's receipt.
        let first = rows.iter().map(|r| r.received_at).min().unwrap_or_default();
        rows.iter_mut().for_each(|r| r.received_at = first);
        rows.sort_by_key(|r| r.seq);
        if let (Some(tracked), Some(batch)) = (by_session.get_mut(&key), FactBatch::from_rows(&rows)) {
            tracked.add(&batch, lateness_ms);
        }
    }
    // Stored rows, grouped by session once (a restart may load thousands).
    type Rows = (Vec<WindowRow>, Vec<AnomalyRow>, Vec<SessionRow>);
    let mut stored: HashMap<Uuid, Rows> = HashMap::new();
    for row in windows {
        stored.entry(row.session_id).or_default().0.push(row);
    }
    for row in anomalies {
        stored.entry(row.session_id).or_default().1.push(row);
    }
    for row in sessions {
        stored.entry(row.session_id).or_default().2.push(row);
    }
    let mut out = Vec::new();
    for (key, mut tracked) in by_session {
        if let Some((w, a, s)) = stored.get(&key.session_id) {
            let mine =
                |test: &str, candidate: &str| key.test_id.as_str() == test && key.candidate_id.as_str() == candidate;
            let w: Vec<WindowRow> = w.iter().filter(|r| mine(&r.test_id, &r.candidate_id)).cloned().collect();
            let a: Vec<AnomalyRow> = a.iter().filter(|r| mine(&r.test_id, &r.candidate_id)).cloned().collect();
            let s: Vec<SessionRow> = s.iter().filter(|r| mine(&r.test_id, &r.candidate_id)).cloned().collect();
            tracked.restore(&w, &a, &s);
        } else {
            tracked.restore(&[], &[], &[]);
        }
        out.push(tracked);
    }
    Ok(out)
}

#![allow(dead_code)]
//! Shared fixtures for store tests: a small realistic record and its rows.

use invigil_pipeline::rows::EventRow;
use invigil_schemas::batch::EventBatch;
use invigil_schemas::record::KafkaRecord;

/// The golden valid batch, as ingest would have enriched it.
///
/// Times are moved to the last minute: the tables' 30-day TTL would delete
/// rows with the fixture's original (old) times at the first merge.
pub fn sample_record() -> KafkaRecord {
    let mut batch: EventBatch = serde_json::from_str(include_str!("../../../schemas/fixtures/valid/mixed_batch.json"))
        .expect("golden batch parses");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let shift = now - 60_000 - batch.events.iter().map(|e| e.ts).min().unwrap_or(now);
    for event in &mut batch.events {
        event.ts += shift;
    }
    KafkaRecord {
        received_at: now,
        test_id: "exam-1".parse_id(),
        candidate_id: "cand-7".parse_id(),
        ingest_node: "ingest-0".into(),
        client_ip_hash: 0xdead_beef,
        user_agent: "Mozilla/5.0 test".into(),
        batch,
    }
}

pub fn rows_of(record: &KafkaRecord, version_bump: u64) -> Vec<EventRow> {
    record
        .batch
        .events
        .iter()
        .map(|event| {
            let mut row = EventRow::new(record, event);
            row.version += version_bump;
            row
        })
        .collect()
}

trait ParseId<T> {
    fn parse_id(self) -> T;
}

impl<T: TryFrom<String>> ParseId<T> for &str
where
    T::Error: std::fmt::Debug,
{
    fn parse_id(self) -> T {
        T::try_from(self.to_owned()).expect("valid id")
    }
}

/// The broker under test: the dev services' tansu unless told otherwise.
pub fn brokers() -> String {
    std::env::var("INVIGIL_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// How many records of `topic` the group has committed (-1 if unknown).
pub fn committed(topic: &str, group: &str) -> i64 {
    invigil_pipeline::topics::committed_total(&brokers(), topic, group).unwrap_or(-1)
}

/// Polls `check` every 100 ms until it holds, failing after `limit`;
/// returns how long it took.
pub fn wait_for(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    started.elapsed()
}

/// [`wait_for`], printing how long it took.
pub fn wait_for_and_print(what: &str, limit: std::time::Duration, check: impl FnMut() -> bool) {
    println!("{what}: {:.1} s", wait_for(what, limit, check).as_secs_f64());
}

/// The scripted exam's rows as a pipeline writes them, rendered for golden
/// comparison: sorted, times relative to `T0`, without versions and write
/// times (which differ run to run).
pub mod rendered {
    use invigil_pipeline::rows::{AnomalyRow, SessionRow, WindowRow};
    use serde_json::{json, Value};

    /// Renders rows of the exam that started at `t0`; times are relative to
    /// it and the session id (which embeds it) is left out.
    pub fn render(t0: i64, windows: &[WindowRow], anomalies: &[AnomalyRow], sessions: &[SessionRow]) -> String {
        let mut windows: Vec<&WindowRow> = windows.iter().collect();
        windows.sort_by_key(|w| (w.window_kind, w.window_start));
        let mut anomalies: Vec<&AnomalyRow> = anomalies.iter().collect();
        anomalies.sort_by_key(|a| a.window_start);
        let window = |w: &WindowRow| {
            let mut v = serde_json::to_value(w).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("computed_at");
            o.remove("version");
            o.remove("session_id");
            o.insert("window_start".into(), json!(w.window_start - t0));
            o.insert("window_end".into(), json!(w.window_end - t0));
            v
        };
        let anomaly = |a: &AnomalyRow| {
            let mut v = serde_json::to_value(a).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("detected_at");
            o.remove("version");
            o.remove("session_id");
            o.insert("window_start".into(), json!(a.window_start - t0));
            o.insert("window_end".into(), json!(a.window_end - t0));
            v
        };
        let session = |s: &SessionRow| {
            let mut v = serde_json::to_value(s).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("version");
            o.remove("session_id");
            o.insert("started_at".into(), json!(s.started_at - t0));
            o.insert("last_seen_at".into(), json!(s.last_seen_at - t0));
            v
        };
        let doc: Value = json!({
            "candidate_windows": windows.into_iter().map(window).collect::<Vec<_>>(),
            "anomalies": anomalies.into_iter().map(anomaly).collect::<Vec<_>>(),
            "sessions": sessions.iter().map(session).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    /// Compares with `tests/golden/<name>`; `INVIGIL_BLESS=1` rewrites it.
    pub fn check(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
        if std::env::var_os("INVIGIL_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with INVIGIL_BLESS=1 to create it)", path.display()));
        if actual != expected {
            let first = actual.lines().zip(expected.lines()).position(|(a, b)| a != b);
            panic!(
                "{name} differs from the golden file at line {:?}:\n actual:   {:?}\n expected: {:?}",
                first.map(|i| i + 1),
                first.and_then(|i| actual.lines().nth(i)),
                first.and_then(|i| expected.lines().nth(i)),
            );
        }
    }
}

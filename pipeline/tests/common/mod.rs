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
    let now = invigil_testkit::now_ms();
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
        client_net_hash: 0xdead_beef,
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

pub use invigil_testkit::services::brokers;

/// How many records of `topic` the group has committed (-1 if unknown).
pub fn committed(topic: &str, group: &str) -> i64 {
    invigil_pipeline::topics::committed_total(&brokers(), topic, group).unwrap_or(-1)
}

/// A pipeline of two worker threads in this process, until [`InProcess::stop`].
pub struct InProcess {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub metrics: std::sync::Arc<invigil_pipeline::metrics::Metrics>,
    thread: std::thread::JoinHandle<Result<(), invigil_pipeline::run::RunError>>,
}

impl InProcess {
    pub fn start(
        settings: invigil_pipeline::settings::PipelineSettings,
        store: invigil_pipeline::store::Store,
    ) -> Self {
        use invigil_pipeline::run::{run, Cluster};
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let metrics = std::sync::Arc::new(invigil_pipeline::metrics::Metrics::default());
        let thread = {
            let (stop, metrics) = (std::sync::Arc::clone(&stop), std::sync::Arc::clone(&metrics));
            std::thread::spawn(move || run(settings, store, &Cluster::single(2), stop, metrics))
        };
        Self { stop, metrics, thread }
    }

    /// Asks it to drain and commit, and waits until it did.
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap().expect("pipeline stopped cleanly");
    }
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
        let window =
            |w: &WindowRow| relative(w, &["computed_at", "version", "session_id"], &["window_start", "window_end"], t0);
        let anomaly = |a: &AnomalyRow| {
            relative(a, &["detected_at", "version", "session_id"], &["window_start", "window_end"], t0)
        };
        let session = |s: &SessionRow| relative(s, &["version", "session_id"], &["started_at", "last_seen_at"], t0);
        let doc: Value = json!({
            "candidate_windows": windows.into_iter().map(window).collect::<Vec<_>>(),
            "anomalies": anomalies.into_iter().map(anomaly).collect::<Vec<_>>(),
            "sessions": sessions.iter().map(session).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }

    /// A row as JSON without the fields that differ run to run (`drop`), with
    /// the times in `shift` made relative to `t0`.
    fn relative(row: &impl serde::Serialize, drop: &[&str], shift: &[&str], t0: i64) -> Value {
        let mut value = serde_json::to_value(row).unwrap();
        let object = value.as_object_mut().unwrap();
        for field in drop {
            object.remove(*field);
        }
        for field in shift {
            let at = object[*field].as_i64().unwrap_or_else(|| panic!("{field} is not a time"));
            object.insert((*field).into(), json!(at - t0));
        }
        round_floats(&mut value);
        value
    }

    /// Floats to nine decimals: a sum of weights read back from a store
    /// prints in that store's shortest form (13.12), the same sum in memory
    /// in Rust's (13.120000000000001).
    fn round_floats(value: &mut Value) {
        match value {
            Value::Number(n) if n.is_f64() => {
                let rounded = (n.as_f64().unwrap_or(0.0) * 1e9).round() / 1e9;
                *value = json!(rounded);
            }
            Value::Array(items) => items.iter_mut().for_each(round_floats),
            Value::Object(fields) => fields.values_mut().for_each(round_floats),
            _ => {}
        }
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

//! Process-wide counters of the pipeline, shared by all workers. Read by the
//! periodic progress log, tests and benchmarks.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub records_read: AtomicU64,
    pub events_read: AtomicU64,
    /// Records that could not be decoded: counted, logged, committed past.
    pub poison_records: AtomicU64,
    /// Events received after their window had closed (they still correct it).
    pub late_events: AtomicU64,
    pub event_rows_written: AtomicU64,
    pub window_rows_written: AtomicU64,
    pub anomaly_rows_written: AtomicU64,
    pub session_rows_written: AtomicU64,
    pub store_errors: AtomicU64,
    pub offsets_committed: AtomicU64,
    pub commit_errors: AtomicU64,
    pub live_published: AtomicU64,
    pub live_dropped: AtomicU64,
    /// Sessions rebuilt from the store (first sight after a restart, or a
    /// late event for an evicted session).
    pub sessions_loaded: AtomicU64,
    pub sessions_in_memory: AtomicI64,
    pub sessions_evicted: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One line for the progress log.
    pub fn summary(&self) -> serde_json::Value {
        let g = Self::get;
        serde_json::json!({
            "records_read": g(&self.records_read),
            "events_read": g(&self.events_read),
            "poison_records": g(&self.poison_records),
            "late_events": g(&self.late_events),
            "event_rows_written": g(&self.event_rows_written),
            "window_rows_written": g(&self.window_rows_written),
            "anomaly_rows_written": g(&self.anomaly_rows_written),
            "session_rows_written": g(&self.session_rows_written),
            "store_errors": g(&self.store_errors),
            "offsets_committed": g(&self.offsets_committed),
            "commit_errors": g(&self.commit_errors),
            "live_published": g(&self.live_published),
            "live_dropped": g(&self.live_dropped),
            "sessions_loaded": g(&self.sessions_loaded),
            "sessions_in_memory": self.sessions_in_memory.load(Ordering::Relaxed),
            "sessions_evicted": g(&self.sessions_evicted),
        })
    }
}

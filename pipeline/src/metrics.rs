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

    /// The counters in the Prometheus text format (prefix
    /// `invigil_pipeline_`), for `GET /metrics`.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        if let serde_json::Value::Object(fields) = self.summary() {
            for (name, value) in fields {
                let kind = if name == "sessions_in_memory" { "gauge" } else { "counter" };
                let suffix = if kind == "counter" { "_total" } else { "" };
                out.push_str(&format!(
                    "# TYPE invigil_pipeline_{name}{suffix} {kind}\ninvigil_pipeline_{name}{suffix} {value}\n"
                ));
            }
        }
        out
    }

    /// Serves `GET /metrics` (anything else: 404) on `listener` until the
    /// process ends; one thread, one short request at a time.
    pub fn serve(self: std::sync::Arc<Self>, listener: std::net::TcpListener) {
        use std::io::{Read, Write};
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut request = [0u8; 1024];
                let n = stream.read(&mut request).unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]);
                let (status, body) = if head.starts_with("GET /metrics ") {
                    ("200 OK", self.prometheus())
                } else {
                    ("404 Not Found", "not found\n".to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_every_counter_once() {
        let metrics = Metrics::default();
        Metrics::add(&metrics.late_events, 3);
        let text = metrics.prometheus();
        assert!(
            text.contains("# TYPE invigil_pipeline_late_events_total counter\ninvigil_pipeline_late_events_total 3\n")
        );
        assert!(text.contains("invigil_pipeline_sessions_in_memory 0\n"));
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, metrics.summary().as_object().unwrap().len());
    }

    #[test]
    fn metrics_are_served_over_http() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let metrics = std::sync::Arc::new(Metrics::default());
        Metrics::add(&metrics.records_read, 7);
        std::sync::Arc::clone(&metrics).serve(listener);
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.contains("invigil_pipeline_records_read_total 7"), "{response}");
    }
}

//! Process-wide counters of the pipeline, shared by all workers. Read by the
//! periodic progress log, tests and benchmarks.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// One partition of the events topic, as a metric label.
pub type PartitionLabel = Vec<(String, String)>;

/// Every metric the pipeline exports, in one registry (the library ingest
/// uses too). Counters are plain atomics underneath: counting costs what an
/// `AtomicU64` did.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub records_read: Counter,
    pub events_read: Counter,
    /// Records that could not be decoded: counted, logged, committed past.
    pub poison_records: Counter,
    /// Records of erased candidates, dropped before the dataflow (a replay
    /// of what an erasure removed from the store).
    pub erased_records: Counter,
    /// Events received after their window had closed (they still correct it).
    pub late_events: Counter,
    pub event_rows_written: Counter,
    pub window_rows_written: Counter,
    pub anomaly_rows_written: Counter,
    pub session_rows_written: Counter,
    pub store_errors: Counter,
    pub offsets_committed: Counter,
    pub commit_errors: Counter,
    pub live_published: Counter,
    pub live_dropped: Counter,
    /// Sessions rebuilt from the store (first sight after a restart, or a
    /// late event for an evicted session).
    pub sessions_loaded: Counter,
    pub sessions_in_memory: Gauge,
    pub sessions_evicted: Counter,
    /// Per partition of this process: records after the last committed
    /// offset (the log's end − committed), from librdkafka's statistics.
    pub lag_records: Family<PartitionLabel, Gauge>,
    /// Per partition of this process: records not read yet (the log's end −
    /// this consumer's position). Lag that is only unread records clears as
    /// fast as the pipeline reads; the rest waits for windows to close.
    pub unread_records: Family<PartitionLabel, Gauge>,
    /// What the probes answer from (not exported as metrics).
    pub health: Health,
}

/// Readiness and liveness of the process, set by the run and its workers.
#[derive(Debug, Default)]
pub struct Health {
    /// Worker threads of this process.
    pub workers: AtomicUsize,
    /// Workers that have their partitions assigned and are running.
    pub workers_running: AtomicUsize,
    /// When a worker last stepped its dataflow (ms since the epoch; 0: none yet).
    pub last_step_ms: AtomicI64,
    /// Raised once the process is stopping (draining what it read).
    pub stopping: AtomicBool,
}

/// A worker that has not stepped for this long is stuck: liveness fails.
pub const STUCK_AFTER_MS: i64 = 60_000;

impl Health {
    /// Ready: every worker of this process has its partitions and runs.
    pub fn ready(&self) -> Result<(), String> {
        let (running, workers) = (self.workers_running.load(Ordering::Relaxed), self.workers.load(Ordering::Relaxed));
        if self.stopping.load(Ordering::Relaxed) {
            Err("stopping".into())
        } else if workers == 0 || running < workers {
            Err(format!("{running} of {workers} workers running (waiting for the store, the config log, Kafka or the cluster's other processes)"))
        } else {
            Ok(())
        }
    }

    /// Alive unless the workers ran and then stopped stepping for
    /// [`STUCK_AFTER_MS`] (before they start, waiting is not being stuck).
    pub fn alive(&self, now_ms: i64) -> Result<(), String> {
        let last = self.last_step_ms.load(Ordering::Relaxed);
        if last > 0 && now_ms - last > STUCK_AFTER_MS && !self.stopping.load(Ordering::Relaxed) {
            Err(format!("no worker has stepped for {} s", (now_ms - last) / 1000))
        } else {
            Ok(())
        }
    }

    pub fn stepped(&self, now_ms: i64) {
        self.last_step_ms.store(now_ms, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("invigil_pipeline");
        let metrics = Self {
            records_read: Counter::default(),
            events_read: Counter::default(),
            poison_records: Counter::default(),
            erased_records: Counter::default(),
            late_events: Counter::default(),
            event_rows_written: Counter::default(),
            window_rows_written: Counter::default(),
            anomaly_rows_written: Counter::default(),
            session_rows_written: Counter::default(),
            store_errors: Counter::default(),
            offsets_committed: Counter::default(),
            commit_errors: Counter::default(),
            live_published: Counter::default(),
            live_dropped: Counter::default(),
            sessions_loaded: Counter::default(),
            sessions_evicted: Counter::default(),
            sessions_in_memory: Gauge::default(),
            lag_records: Family::default(),
            unread_records: Family::default(),
            health: Health::default(),
            registry: Registry::default(),
        };
        let counters: [(&str, &str, &Counter); 16] = [
            ("records_read", "Kafka records read", &metrics.records_read),
            ("events_read", "Events in the records read", &metrics.events_read),
            (
                "poison_records",
                "Records that could not be decoded (counted, logged, committed past)",
                &metrics.poison_records,
            ),
            (
                "erased_records",
                "Records of erased candidates dropped unread (received before their erasure)",
                &metrics.erased_records,
            ),
            ("late_events", "Events received after their window had closed", &metrics.late_events),
            ("event_rows_written", "proctor_events rows acknowledged by the store", &metrics.event_rows_written),
            ("window_rows_written", "candidate_windows rows acknowledged by the store", &metrics.window_rows_written),
            ("anomaly_rows_written", "anomalies rows acknowledged by the store", &metrics.anomaly_rows_written),
            ("session_rows_written", "sessions rows acknowledged by the store", &metrics.session_rows_written),
            ("store_errors", "Store writes or reads that failed (retried)", &metrics.store_errors),
            ("offsets_committed", "Offsets committed to Kafka", &metrics.offsets_committed),
            ("commit_errors", "Offset commits that failed", &metrics.commit_errors),
            ("live_published", "Live counters published to proctor_live", &metrics.live_published),
            ("live_dropped", "Live counters dropped (best effort)", &metrics.live_dropped),
            ("sessions_loaded", "Sessions rebuilt from the store", &metrics.sessions_loaded),
            ("sessions_evicted", "Ended sessions that left memory", &metrics.sessions_evicted),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register("sessions_in_memory", "Sessions held in memory", metrics.sessions_in_memory.clone());
        registry.register(
            "lag_records",
            "Records of the partition after the last committed offset (log end - committed)",
            metrics.lag_records.clone(),
        );
        registry.register(
            "unread_records",
            "Records of the partition not read yet (log end - position)",
            metrics.unread_records.clone(),
        );
        Self { registry, ..metrics }
    }
}

impl Metrics {
    pub fn add(counter: &Counter, n: u64) {
        counter.inc_by(n);
    }

    pub fn get(counter: &Counter) -> u64 {
        counter.get()
    }

    /// Every metric in the OpenMetrics text format (prefix
    /// `invigil_pipeline_`, counters with `_total`), for `GET /metrics`.
    pub fn prometheus(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// Records partition `partition`'s lag.
    pub fn set_lag(&self, partition: i32, records: i64) {
        self.lag_records.get_or_create(&vec![("partition".to_owned(), partition.to_string())]).set(records);
    }

    /// Records how many of partition `partition`'s records are not read yet.
    pub fn set_unread(&self, partition: i32, records: i64) {
        self.unread_records.get_or_create(&vec![("partition".to_owned(), partition.to_string())]).set(records);
    }

    /// Serves `GET /metrics`, `GET /readyz` and `GET /healthz` (anything
    /// else: 404) on `listener` until the process ends; one thread, one
    /// short request at a time.
    pub fn serve(self: std::sync::Arc<Self>, listener: std::net::TcpListener) {
        use std::io::{Read, Write};
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut request = [0u8; 1024];
                let n = stream.read(&mut request).unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]);
                let probe = |result: Result<(), String>| match result {
                    Ok(()) => ("200 OK", "ok\n".to_owned()),
                    Err(why) => ("503 Service Unavailable", format!("{why}\n")),
                };
                let text = "text/plain; charset=utf-8";
                let (status, content_type, body) = if head.starts_with("GET /metrics ") {
                    ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", self.prometheus())
                } else if head.starts_with("GET /readyz ") {
                    let (status, body) = probe(self.health.ready());
                    (status, text, body)
                } else if head.starts_with("GET /healthz ") {
                    let (status, body) = probe(self.health.alive(invigil_schemas::clock::now_ms()));
                    (status, text, body)
                } else {
                    ("404 Not Found", text, "not found\n".to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
            "erased_records": g(&self.erased_records),
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
            "sessions_in_memory": self.sessions_in_memory.get(),
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
        assert!(text.contains("# TYPE invigil_pipeline_late_events counter\n"), "{text}");
        assert!(text.contains("\ninvigil_pipeline_late_events_total 3\n"), "{text}");
        assert!(text.contains("\ninvigil_pipeline_sessions_in_memory 0\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, metrics.summary().as_object().unwrap().len());
    }

    fn get(address: std::net::SocketAddr, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn probes_follow_the_workers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let metrics = std::sync::Arc::new(Metrics::default());
        std::sync::Arc::clone(&metrics).serve(listener);
        let health = &metrics.health;
        health.workers.store(2, Ordering::Relaxed);
        assert!(get(address, "/readyz").starts_with("HTTP/1.1 503"), "no worker runs yet");
        assert!(get(address, "/healthz").starts_with("HTTP/1.1 200"), "waiting to start is not stuck");
        health.workers_running.store(2, Ordering::Relaxed);
        health.stepped(invigil_schemas::clock::now_ms());
        assert!(get(address, "/readyz").starts_with("HTTP/1.1 200"));
        assert!(get(address, "/healthz").starts_with("HTTP/1.1 200"));
        health.stepped(invigil_schemas::clock::now_ms() - STUCK_AFTER_MS - 1_000);
        let stuck = get(address, "/healthz");
        assert!(stuck.starts_with("HTTP/1.1 503") && stuck.contains("no worker has stepped for 61 s"), "{stuck}");
        health.stopping.store(true, Ordering::Relaxed);
        assert!(get(address, "/readyz").contains("stopping"));
        assert!(get(address, "/healthz").starts_with("HTTP/1.1 200"), "draining is not stuck");
        metrics.set_lag(3, 42);
        assert!(get(address, "/metrics").contains("invigil_pipeline_lag_records{partition=\"3\"} 42"));
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

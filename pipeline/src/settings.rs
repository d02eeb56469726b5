//! Pipeline settings: where to read, where to write, and the knobs of the
//! watermark and the sinks. Defaults suit one machine; every field can be
//! set from `invigil pipeline` flags.

use std::path::PathBuf;

use invigil_schemas::kafka_access::KafkaEndpoint;
use invigil_schemas::record::{EVENTS_TOPIC, LIVE_TOPIC};

use crate::store::http::HttpConfig;

/// Which analytics store rows go to.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// In-process chDB on this data directory (the embedded default).
    Chdb { path: PathBuf },
    /// A ClickHouse server over HTTP.
    Http(HttpConfig),
}

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// The brokers and how to reach them (TLS, SASL, librdkafka options).
    pub kafka: KafkaEndpoint,
    pub topic: String,
    pub live_topic: String,
    /// Consumer group under which offsets are committed. Partitions are
    /// assigned by the pipeline itself, not by the group protocol.
    pub group_id: String,
    pub store: StoreSettings,
    /// The config document (SPEC §7) for per-test intervals and weights;
    /// re-read when it changes. `None`: the defaults.
    pub config_file: Option<PathBuf>,
    /// The config log (a topic on `brokers`) that ingest's replicas write:
    /// followed instead of `config_file` when set, so the pipeline scores
    /// with the same version the candidates were given.
    pub config_topic: Option<String>,
    /// How far behind the newest event time the watermark trails.
    pub allowed_lateness_ms: i64,
    /// Event time granularity of dataflow timestamps (must divide the
    /// window length). Finer ticks let late records commit sooner; rows are
    /// written per closed window and, for session-level rows, per minute of
    /// event time whatever the tick.
    pub tick_ms: i64,
    /// A partition without records for this long advances its watermark on
    /// the wall clock.
    pub idle_partition_ms: i64,
    /// Client clocks ahead of the server by more than this are clamped, so
    /// one wrong clock cannot push the watermark into the future.
    pub max_clock_skew_ms: i64,
    /// Sinks write when this many rows are buffered …
    pub flush_rows: usize,
    /// … or when the oldest buffered row is this old.
    pub flush_interval_ms: u64,
    /// How often committable offsets are committed.
    pub commit_interval_ms: u64,
    /// Records read but not yet committed, per worker, above which reading
    /// pauses (bounds memory while the store is down).
    pub max_in_flight: usize,
    /// Live counters are published at most this often per candidate. Only
    /// changed candidates are published, and a candidate changes about once
    /// per batch (every 5 s), so a short interval adds few messages; it is
    /// the largest wait on the way to the proctor's wall.
    pub live_interval_ms: u64,
    /// Also hands every live message to this in-process taker.
    pub live_tap: Option<crate::live::LiveTap>,
    /// An ended session, fully written and untouched for this long, leaves
    /// memory; a late event reloads it from the store.
    pub evict_after_ms: i64,
    /// Webhook endpoints; empty: no notices are made or sent.
    pub webhooks: Vec<crate::webhooks::endpoint::Endpoint>,
}

impl PipelineSettings {
    /// Settings for plaintext `brokers` (replace `kafka` for TLS or SASL).
    pub fn new(brokers: impl Into<String>, store: StoreSettings) -> Self {
        Self {
            kafka: KafkaEndpoint::plaintext(brokers),
            topic: EVENTS_TOPIC.to_owned(),
            live_topic: LIVE_TOPIC.to_owned(),
            group_id: "invigil-pipeline".to_owned(),
            store,
            config_file: None,
            config_topic: None,
            allowed_lateness_ms: 15_000,
            tick_ms: 1_000,
            idle_partition_ms: 5_000,
            max_clock_skew_ms: 60_000,
            flush_rows: 20_000,
            flush_interval_ms: 250,
            commit_interval_ms: 1_000,
            max_in_flight: 200_000,
            live_interval_ms: 100,
            live_tap: None,
            evict_after_ms: 600_000,
            webhooks: Vec::new(),
        }
    }
}

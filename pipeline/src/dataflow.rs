//! The dataflow, per worker:
//!
//! ```text
//! Kafka partitions ─► source ─► event sink ─► (exchange by candidate) ─► windows ─► row sink ─► probe
//!   (this worker's)   decode     proctor_events   FactBatch                sessions    candidate_windows,
//!                     + times    rows, held        by test/candidate       + live      anomalies, sessions
//!                                until acked
//! ```
//!
//! Both sinks hold the capability of every buffered row until the store
//! acknowledged it, so the probe's frontier passing a time means all rows up
//! to it are durable; only then does the source commit the offsets of
//! records at earlier times ([`crate::source`]). A store outage therefore
//! stops commits (and, past `max_in_flight`, reading) without losing or
//! duplicating anything: the buffers are retried with backoff.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use invigil_schemas::config::{ConfigDocument, ProctorConfig};
use invigil_schemas::ids::{TestId, Uuid};
use invigil_schemas::sql::string_literal as quote;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, Probe};
use timely::dataflow::ProbeHandle;

use crate::emit::{Emission, Tracked};
use crate::live::{self, LivePublisher};
use crate::metrics::Metrics;
use crate::rows::{AnomalyRow, EventRow, RowBlock, SessionRow, WindowRow};
use crate::session::{FactBatch, FastMap, FastSet, SessionKey};
use crate::settings::PipelineSettings;
use crate::source::{now_ms, Decoded, DurableFrontier, PartitionReader, RecordSource, Time};
use crate::store::{SqlStore, Store, StoreError};

/// What every worker of a process shares.
#[derive(Clone)]
pub struct Shared {
    pub settings: Arc<PipelineSettings>,
    pub store: Store,
    pub runtime: Arc<tokio::runtime::Runtime>,
    pub metrics: Arc<Metrics>,
    pub live: Option<Arc<LivePublisher>>,
    /// Raised to stop: sources stop reading, everything read is written
    /// and committed, then the workers return.
    pub stop: Arc<AtomicBool>,
}

/// The config document, re-read when its file changes.
struct ConfigWatch {
    path: Option<PathBuf>,
    document: ConfigDocument,
    modified: Option<SystemTime>,
    checked: Instant,
    per_test: HashMap<TestId, ProctorConfig>,
}

impl ConfigWatch {
    fn new(path: Option<PathBuf>) -> Self {
        let mut watch = Self {
            path,
            document: ConfigDocument::default(),
            modified: None,
            checked: Instant::now(),
            per_test: HashMap::new(),
        };
        watch.reload();
        watch
    }

    /// Re-reads the file if it changed; returns whether the document did.
    fn reload(&mut self) -> bool {
        let Some(path) = &self.path else { return false };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.modified {
            return false;
        }
        self.modified = modified;
        match std::fs::read(path).map_err(|e| e.to_string()).and_then(|bytes| {
            ConfigDocument::from_json(&bytes).map_err(|problems| {
                problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
            })
        }) {
            Ok(document) if document != self.document => {
                self.document = document;
                self.per_test.clear();
                true
            }
            Ok(_) => false,
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "config file unusable; keeping the previous one");
                false
            }
        }
    }

    fn poll(&mut self) -> bool {
        if self.checked.elapsed() < Duration::from_secs(2) {
            return false;
        }
        self.checked = Instant::now();
        self.reload()
    }

    fn for_test(&mut self, test: &TestId) -> &ProctorConfig {
        let document = &self.document;
        self.per_test
            .entry(test.clone())
            .or_insert_with(|| document.for_test(test).unwrap_or_else(|_| document.defaults.clone()))
    }
}

/// Rows a sink has buffered, of one kind or another.
trait Payload: Default + Send + 'static {
    fn len(&self) -> usize;
    /// Puts rows whose write failed back before the ones buffered since.
    fn prepend(&mut self, earlier: Self);
    /// Counts acknowledged rows.
    fn count(&self, metrics: &Metrics);
    /// Writes the rows; hands them back with the outcome (for a retry).
    fn write(self, store: Store) -> impl std::future::Future<Output = (Self, Result<(), StoreError>)> + Send;
}

impl Payload for RowBlock<EventRow> {
    fn len(&self) -> usize {
        RowBlock::len(self)
    }

    fn prepend(&mut self, mut earlier: Self) {
        earlier.append(self);
        *self = earlier;
    }

    fn count(&self, metrics: &Metrics) {
        Metrics::add(&metrics.event_rows_written, self.len() as u64);
    }

    async fn write(self, store: Store) -> (Self, Result<(), StoreError>) {
        let result = store.insert_block(&self).await;
        (self, result)
    }
}

impl Payload for Emission {
    fn len(&self) -> usize {
        Emission::len(self)
    }

    fn prepend(&mut self, mut earlier: Self) {
        earlier.append(self);
        *self = earlier;
    }

    fn count(&self, metrics: &Metrics) {
        Metrics::add(&metrics.window_rows_written, self.windows.len() as u64);
        Metrics::add(&metrics.anomaly_rows_written, self.anomalies.len() as u64);
        Metrics::add(&metrics.session_rows_written, self.sessions.len() as u64);
    }

    async fn write(self, store: Store) -> (Self, Result<(), StoreError>) {
        let mut result = store.insert(&self.windows).await;
        if result.is_ok() {
            result = store.insert(&self.anomalies).await;
        }
        if result.is_ok() {
            result = store.insert(&self.sessions).await;
        }
        (self, result)
    }
}

/// The capabilities a sink holds for rows not yet acknowledged, by time.
type Held = BTreeMap<Time, Capability<Time>>;

/// A write running on the I/O runtime; it hands its rows back for a retry.
type WriteTask<P> = tokio::task::JoinHandle<(P, Result<(), StoreError>)>;

/// A sink's buffer and its one write in flight. Every buffered or in-flight
/// row keeps the capability it arrived with, so the probe (and so offset
/// commits) stays behind it until the store has acknowledged it. Writes run
/// on the I/O runtime: the worker keeps computing (and publishing live
/// counters) meanwhile.
struct Writer<P: Payload> {
    table: &'static str,
    /// Fault points around the write, for crash tests.
    before: &'static str,
    after: &'static str,
    pending: P,
    held: Held,
    since: Option<Instant>,
    in_flight: Option<(WriteTask<P>, Held)>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl<P: Payload> Writer<P> {
    fn new(table: &'static str, before: &'static str, after: &'static str) -> Self {
        Self {
            table,
            before,
            after,
            pending: P::default(),
            held: BTreeMap::new(),
            since: None,
            in_flight: None,
            retry_at: None,
            backoff: Duration::from_millis(100),
        }
    }

    fn hold(&mut self, capability: Capability<Time>) {
        self.held.entry(*capability.time()).or_insert(capability);
        self.since.get_or_insert_with(Instant::now);
    }

    /// Settles a finished write, starts the next one when due (enough rows,
    /// old enough, or `eager`), and says when to look again.
    fn poll(&mut self, shared: &Shared, eager: bool) -> Option<Duration> {
        if self.in_flight.as_ref().is_some_and(|(handle, _)| handle.is_finished()) {
            let (handle, caps) = self.in_flight.take().expect("checked above");
            match shared.runtime.block_on(handle) {
                Ok((rows, Ok(()))) => {
                    crate::faults::point(self.after);
                    rows.count(&shared.metrics);
                    drop(caps);
                    self.retry_at = None;
                    self.backoff = Duration::from_millis(100);
                }
                Ok((rows, Err(error))) => {
                    Metrics::add(&shared.metrics.store_errors, 1);
                    exit_if_fatal(&error);
                    tracing::warn!(%error, table = self.table, rows = rows.len(), retry_in_ms = self.backoff.as_millis() as u64, "store write failed; holding rows and offsets");
                    self.pending.prepend(rows);
                    self.held.extend(caps);
                    self.since.get_or_insert_with(Instant::now);
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                }
                Err(join) => {
                    // The write task panicked: its rows are lost from memory
                    // but not from Kafka (never committed). Restart to replay.
                    tracing::error!(error = %join, table = self.table, "store write task failed; exiting for a restart");
                    std::process::exit(70);
                }
            }
        }
        if self.in_flight.is_some() {
            return Some(Duration::from_millis(2));
        }
        if self.held.is_empty() {
            return None;
        }
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return Some(at - Instant::now());
            }
        }
        let interval = Duration::from_millis(shared.settings.flush_interval_ms);
        let due = eager
            || self.pending.len() >= shared.settings.flush_rows
            || self.since.is_some_and(|s| s.elapsed() >= interval);
        if !due {
            return Some(interval.saturating_sub(self.since.map_or(Duration::ZERO, |s| s.elapsed())));
        }
        crate::faults::point(self.before);
        let rows = std::mem::take(&mut self.pending);
        let caps = std::mem::take(&mut self.held);
        self.since = None;
        let handle = shared.runtime.spawn(rows.write(shared.store.clone()));
        self.in_flight = Some((handle, caps));
        Some(Duration::from_millis(2))
    }
}

/// A store that can never answer again ends the process (exit 70) so a
/// supervisor restarts it; nothing is lost, since offsets of unwritten rows
/// were never committed.
fn exit_if_fatal(error: &StoreError) {
    if error.is_fatal() {
        tracing::error!(%error, "the store engine failed fatally; exiting so the pipeline restarts");
        eprintln!("invigil pipeline: the store engine failed fatally ({error}); exiting for a restart");
        std::process::exit(70);
    }
}

/// The candidate a batch belongs to, as the exchange key. Stable across
/// processes, so a cluster agrees on where each candidate lives.
fn candidate_hash(batch: &FactBatch) -> u64 {
    stable_hash(format!("{}/{}", batch.key.test_id, batch.key.candidate_id).as_bytes())
}

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
async fn load_sessions(store: Store, keys: Vec<SessionKey>, lateness_ms: i64) -> Result<Vec<Tracked>, StoreError> {
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

/// Per-session bookkeeping of the windows operator beyond the digest.
struct Slot {
    tracked: Tracked,
    /// Newest receipt folded in, for live latency.
    received_at: i64,
    touched: Instant,
}

/// Builds the dataflow on `worker` and runs it until `shared.stop` is raised
/// and everything read has been written and committed.
pub fn run_worker(worker: &mut timely::worker::Worker, shared: Shared) -> Result<(), String> {
    let (index, peers) = (worker.index(), worker.peers());
    let reader = PartitionReader::connect(&shared.settings, index, peers, &shared.stop, Arc::clone(&shared.metrics))?;
    let Some(reader) = reader else { return Ok(()) };
    run_worker_with(worker, shared, reader)
}

/// Hashes bytes the same way in every process (std's default hasher is
/// randomly seeded per process, which would split one candidate over workers).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    // FNV-1a, 64 bit.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Builds the dataflow on `worker` over `reader` and runs it until the
/// source finishes (stop raised, or a finite source exhausted) and
/// everything read has been written and committed.
pub fn run_worker_with<S: RecordSource + 'static>(
    worker: &mut timely::worker::Worker,
    shared: Shared,
    reader: S,
) -> Result<(), String> {
    let settings = Arc::clone(&shared.settings);
    let reader = Rc::new(RefCell::new(reader));
    let probe: ProbeHandle<Time> = ProbeHandle::new();

    worker.dataflow::<Time, _, _>(|scope| {
        // ---- source ------------------------------------------------------
        let source_reader = Rc::clone(&reader);
        let source_shared = shared.clone();
        let decoded =
            source::<_, CapacityContainerBuilder<Vec<Decoded>>, _, _>(scope, "KafkaSource", |capability, info| {
                let activator = scope.activator_for(info.address);
                let mut capability = Some(capability);
                move |output| {
                    let Some(cap) = capability.as_mut() else { return };
                    let mut reader = source_reader.borrow_mut();
                    if source_shared.stop.load(Ordering::Relaxed) || !reader.has_partitions() {
                        capability = None;
                        return;
                    }
                    let in_flight = reader.ledger().in_flight();
                    let floor = *cap.time();
                    let mut read = 0;
                    if in_flight < source_shared.settings.max_in_flight {
                        let mut session_cap: Option<Capability<Time>> = None;
                        read = reader.read(2_000, floor, &mut |time, item| {
                            if session_cap.as_ref().is_none_or(|c| *c.time() != time) {
                                session_cap = Some(cap.delayed(&time));
                            }
                            output.session(session_cap.as_ref().expect("set above")).give(item);
                        });
                    }
                    // While paused for back-pressure, partitions look idle but
                    // are not: the watermark waits.
                    let paused = reader.ledger().in_flight() >= source_shared.settings.max_in_flight;
                    match reader.watermark() {
                        // A finite source is done: release the capability.
                        None => {
                            capability = None;
                            return;
                        }
                        Some(watermark) if !paused && watermark > *cap.time() => cap.downgrade(&watermark),
                        Some(_) => {}
                    }
                    if read > 0 {
                        activator.activate();
                    } else {
                        activator.activate_after(Duration::from_millis(10));
                    }
                }
            });

        // ---- event sink: proctor_events rows -----------------------------
        let sink_shared = shared.clone();
        let facts = decoded.unary_frontier::<CapacityContainerBuilder<Vec<FactBatch>>, _, _, _>(
            Pipeline,
            "EventSink",
            |_capability, info| {
                let activator = scope.activator_for(info.address);
                let mut writer: Writer<RowBlock<EventRow>> =
                    Writer::new("proctor_events", "event_sink_before_insert", "event_sink_after_ack");
                move |(input, frontier), output| {
                    input.for_each(|cap, data| {
                        let Some(cap) = cap.retain_least(output.output_index()) else { return };
                        let mut session = output.session(&cap);
                        for mut item in data.drain(..) {
                            writer.pending.append(&mut item.rows);
                            session.give(item.facts);
                        }
                        drop(session);
                        writer.hold(cap);
                    });
                    if let Some(again) = writer.poll(&sink_shared, frontier.is_empty()) {
                        activator.activate_after(again);
                    }
                }
            },
        );

        // ---- windows: per-candidate state, emission, live counters -------
        let win_shared = shared.clone();
        let emissions = facts.unary_frontier::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(
            Exchange::new(candidate_hash),
            "Windows",
            |capability, info| {
                let activator = scope.activator_for(info.address);
                let settings = Arc::clone(&win_shared.settings);
                let lateness = settings.allowed_lateness_ms;
                let ticks_per_window = (crate::session::WINDOW_MS / settings.tick_ms.max(1)).max(1) as Time;
                let mut config = ConfigWatch::new(settings.config_file.clone());
                let mut sessions: FastMap<SessionKey, Slot> = FastMap::default();
                // Batches of sessions not yet loaded from the store, by time.
                let mut waiting: Vec<(Time, FactBatch)> = Vec::new();
                let mut live_due: FastSet<SessionKey> = FastSet::default();
                // Sessions changed by a record stamped off a minute boundary
                // (a late one, at the source's current time, or one rebuilt
                // from the store): their rows are written at the next
                // frontier step, not the next minute, or that record's offset
                // could be committed before them.
                let mut urgent: FastSet<SessionKey> = FastSet::default();
                let mut last_live = Instant::now();
                let mut last_evict = Instant::now();
                let mut load_retry_at: Option<Instant> = None;
                let mut loading: Option<tokio::task::JoinHandle<Result<Vec<Tracked>, StoreError>>> = None;
                let mut emitted_through: Option<Time> = None;
                let mut counted_sessions: i64 = 0;
                let mut cap = Some(capability);
                move |(input, frontier), output| {
                    let now = now_ms();
                    input.for_each(|incoming, data| {
                        let time = incoming.least().copied().unwrap_or_default();
                        let off_boundary = time % ticks_per_window != 0;
                        let urgent = &mut urgent;
                        for batch in data.drain(..) {
                            match sessions.get_mut(&batch.key) {
                                Some(slot) => {
                                    if slot.tracked.add(&batch, lateness) {
                                        slot.received_at = slot.received_at.max(batch.received_at);
                                        slot.touched = Instant::now();
                                        if off_boundary {
                                            urgent.insert(batch.key.clone());
                                        }
                                        live_due.insert(batch.key.clone());
                                    }
                                }
                                None => waiting.push((time, batch)),
                            }
                        }
                    });

                    // First sight of a session in this process: rebuild it
                    // from the store before applying its new batches. One
                    // load at a time; batches of sessions not yet loaded
                    // (including ones arriving during a load) wait, and hold
                    // the frontier back, until their session is in memory.
                    if loading.as_ref().is_some_and(|handle| handle.is_finished()) {
                        let handle = loading.take().expect("checked above");
                        let outcome = win_shared
                            .runtime
                            .block_on(handle)
                            .unwrap_or_else(|e| Err(StoreError::Unavailable(format!("session load task: {e}"))));
                        match outcome {
                            Ok(loaded) => {
                                load_retry_at = None;
                                Metrics::add(&win_shared.metrics.sessions_loaded, loaded.len() as u64);
                                for tracked in loaded {
                                    let received_at = 0;
                                    sessions.insert(
                                        tracked.session.key.clone(),
                                        Slot { tracked, received_at, touched: Instant::now() },
                                    );
                                }
                                waiting.retain(|(_, batch)| {
                                    let Some(slot) = sessions.get_mut(&batch.key) else { return true };
                                    urgent.insert(batch.key.clone());
                                    slot.tracked.add(batch, lateness);
                                    slot.received_at = slot.received_at.max(batch.received_at);
                                    live_due.insert(batch.key.clone());
                                    false
                                });
                            }
                            Err(error) => {
                                Metrics::add(&win_shared.metrics.store_errors, 1);
                                exit_if_fatal(&error);
                                tracing::warn!(%error, "loading sessions from the store failed; retrying");
                                load_retry_at = Some(Instant::now() + Duration::from_secs(1));
                                activator.activate_after(Duration::from_secs(1));
                            }
                        }
                    }
                    if loading.is_none() && !waiting.is_empty() && load_retry_at.is_none_or(|at| Instant::now() >= at) {
                        let keys: Vec<SessionKey> =
                            waiting.iter().map(|(_, b)| b.key.clone()).collect::<HashSet<_>>().into_iter().collect();
                        loading =
                            Some(win_shared.runtime.spawn(load_sessions(win_shared.store.clone(), keys, lateness)));
                    }
                    if loading.is_some() {
                        activator.activate_after(Duration::from_millis(2));
                    }

                    if config.poll() {
                        for slot in sessions.values_mut() {
                            slot.tracked.invalidate();
                        }
                    }

                    // Live counters, at most every `live_interval_ms`.
                    if !live_due.is_empty() {
                        if last_live.elapsed() >= Duration::from_millis(settings.live_interval_ms) {
                            last_live = Instant::now();
                            for key in live_due.drain() {
                                let Some(slot) = sessions.get_mut(&key) else { continue };
                                let test_config = config.for_test(&key.test_id).clone();
                                let counters = live::counters(&mut slot.tracked, &test_config, slot.received_at, now);
                                if let Some(publisher) = &win_shared.live {
                                    publisher.publish(&counters);
                                }
                            }
                        } else {
                            activator.activate_after(Duration::from_millis(settings.live_interval_ms));
                        }
                    }

                    // Emission when the frontier moved: the watermark in ms is
                    // the frontier's time; an empty frontier closes everything.
                    let Some(capability) = cap.as_mut() else { return };
                    let held_back = waiting.iter().map(|(t, _)| *t).min();
                    let lower = frontier.frontier().iter().min().copied();
                    let target = match (lower, held_back) {
                        (Some(l), Some(h)) => Some(l.min(h)),
                        (l, h) => l.or(h),
                    };
                    if target.is_some() && target == emitted_through {
                        return;
                    }
                    let watermark_ms = target.map_or(i64::MAX, |t| (t as i64).saturating_mul(settings.tick_ms));
                    if let Some(t) = target {
                        if t > *capability.time() {
                            capability.downgrade(&t);
                        }
                    }
                    // Session-level rows follow every change but are written
                    // once per minute of event time: when the frontier passes
                    // a minute boundary — which is when records stamped on
                    // that boundary become committable — or at once for
                    // sessions changed by records stamped off a boundary.
                    let minute_of = |t: Time| t / ticks_per_window;
                    let crossed = match (emitted_through, target) {
                        (Some(before), Some(now)) => {
                            minute_of(now.saturating_sub(1)) != minute_of(before.saturating_sub(1))
                        }
                        _ => true,
                    };
                    // Minute windows close only at minute boundaries too, so a
                    // step within a minute visits the urgent sessions alone.
                    let mut emission = Emission::default();
                    if crossed {
                        urgent.clear();
                        for slot in sessions.values_mut() {
                            let test_config = config.for_test(&slot.tracked.session.key.test_id);
                            slot.tracked.emit(test_config, watermark_ms, now, &mut emission);
                        }
                    } else {
                        for key in urgent.drain() {
                            if let Some(slot) = sessions.get_mut(&key) {
                                let test_config = config.for_test(&key.test_id);
                                slot.tracked.emit(test_config, watermark_ms, now, &mut emission);
                            }
                        }
                    }
                    if !emission.is_empty() {
                        output.session(&*capability).give(emission);
                    }
                    emitted_through = target;

                    // Ended sessions, fully written and quiet, leave memory.
                    if last_evict.elapsed() >= Duration::from_secs(10) {
                        last_evict = Instant::now();
                        let quiet = Duration::from_millis(settings.evict_after_ms.max(0) as u64);
                        let before = sessions.len();
                        sessions.retain(|_, slot| {
                            !(slot.tracked.session.ended.is_some()
                                && slot.touched.elapsed() >= quiet
                                && slot.tracked.settled())
                        });
                        Metrics::add(&win_shared.metrics.sessions_evicted, (before - sessions.len()) as u64);
                    }
                    let size = sessions.len() as i64;
                    win_shared.metrics.sessions_in_memory.fetch_add(size - counted_sessions, Ordering::Relaxed);
                    counted_sessions = size;
                    if target.is_none() {
                        cap = None;
                    }
                }
            },
        );

        // ---- row sink: candidate_windows, anomalies, sessions ------------
        let rows_shared = shared.clone();
        emissions
            .unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "RowSink", |_capability, info| {
                let activator = scope.activator_for(info.address);
                let mut writer: Writer<Emission> =
                    Writer::new("candidate_windows", "row_sink_before_insert", "row_sink_after_ack");
                move |(input, _frontier), _output| {
                    input.for_each(|cap, data| {
                        let Some(cap) = cap.retain_least(0) else { return };
                        for mut emission in data.drain(..) {
                            writer.pending.append(&mut emission);
                        }
                        writer.hold(cap);
                    });
                    // Rows come in bursts, one per watermark step: written
                    // at once, so commits follow the watermark closely.
                    if let Some(again) = writer.poll(&rows_shared, true) {
                        activator.activate_after(again);
                    }
                }
            })
            .probe_with(&probe);
    });

    // ---- drive the worker and commit what is durable ----------------------
    let commit_every = Duration::from_millis(settings.commit_interval_ms);
    let mut last_commit = Instant::now();
    loop {
        worker.step_or_park(Some(Duration::from_millis(20)));
        let done = probe.done();
        if done || last_commit.elapsed() >= commit_every {
            last_commit = Instant::now();
            let mut reader = reader.borrow_mut();
            let durable = DurableFrontier::observe(&probe);
            let offsets = reader.ledger().release(&durable);
            if !offsets.is_empty() {
                crate::faults::point("before_commit");
                reader.commit(&offsets, done);
                crate::faults::point("after_commit");
            }
        }
        if done {
            break;
        }
    }
    Ok(())
}

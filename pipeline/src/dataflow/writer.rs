//! How both sinks write: a buffer of rows and one write in flight on the
//! I/O runtime, each row holding the capability it arrived with until the
//! store acknowledged it, with backoff while the store is away.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use timely::dataflow::operators::Capability;

use super::Shared;
use crate::emit::Emission;
use crate::metrics::Metrics;
use crate::rows::{EventRow, RowBlock};
use crate::source::Time;
use crate::store::{Store, StoreError};
use crate::webhooks::outbox::Outbox;
use invigil_schemas::webhook::Notice;
use std::sync::Arc;

/// Rows a sink has buffered, of one kind or another.
pub(super) trait Payload: Default + Send + 'static {
    fn len(&self) -> usize;
    /// Puts rows whose write failed back before the ones buffered since.
    fn prepend(&mut self, earlier: Self);
    /// Counts acknowledged rows.
    fn count(&self, metrics: &Metrics);
    /// Sends the rows' notices to `outbox` (when webhooks are on), then
    /// writes the rows; hands them back with the outcome (for a retry).
    fn write(
        self,
        store: Store,
        outbox: Option<Arc<Outbox>>,
    ) -> impl std::future::Future<Output = (Self, Result<(), StoreError>)> + Send;
}

/// The event sink's buffer: the records' rows, and the notices of the
/// recording segments among them.
#[derive(Default)]
pub(super) struct EventPayload {
    pub(super) block: RowBlock<EventRow>,
    pub(super) notices: Vec<Notice>,
}

/// Sends `notices` before the rows that are news of them are written (so
/// what the store holds was announced); a failure fails the write.
async fn announce(outbox: Option<&Outbox>, notices: &[Notice]) -> Result<(), StoreError> {
    match outbox {
        Some(outbox) if !notices.is_empty() => {
            outbox.send(notices).await.map_err(|e| StoreError::Transport(format!("webhook notices: {e}")))
        }
        _ => Ok(()),
    }
}

impl Payload for EventPayload {
    fn len(&self) -> usize {
        self.block.len()
    }

    fn prepend(&mut self, mut earlier: Self) {
        earlier.block.append(&mut self.block);
        earlier.notices.append(&mut self.notices);
        *self = earlier;
    }

    fn count(&self, metrics: &Metrics) {
        Metrics::add(&metrics.event_rows_written, self.block.len() as u64);
    }

    async fn write(self, store: Store, outbox: Option<Arc<Outbox>>) -> (Self, Result<(), StoreError>) {
        if let Err(error) = announce(outbox.as_deref(), &self.notices).await {
            return (self, Err(error));
        }
        let result = store.insert_block(&self.block).await;
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

    async fn write(self, store: Store, outbox: Option<Arc<Outbox>>) -> (Self, Result<(), StoreError>) {
        if let Err(error) = announce(outbox.as_deref(), &self.notices).await {
            return (self, Err(error));
        }
        let mut result = store.insert(&self.windows).await;
        if result.is_ok() {
            result = store.insert(&self.anomalies).await;
        }
        if result.is_ok() {
            crate::faults::pause("row_sink_before_sessions").await;
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
pub(super) struct Writer<P: Payload> {
    table: &'static str,
    /// Fault points around the write, for crash tests.
    before: &'static str,
    after: &'static str,
    pub(super) pending: P,
    held: Held,
    since: Option<Instant>,
    in_flight: Option<(WriteTask<P>, Held)>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl<P: Payload> Writer<P> {
    pub(super) fn new(table: &'static str, before: &'static str, after: &'static str) -> Self {
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

    pub(super) fn hold(&mut self, capability: Capability<Time>) {
        self.held.entry(*capability.time()).or_insert(capability);
        self.since.get_or_insert_with(Instant::now);
    }

    /// Settles a finished write, starts the next one when due (enough rows,
    /// old enough, or `eager`), and says when to look again.
    pub(super) fn poll(&mut self, shared: &Shared, eager: bool) -> Option<Duration> {
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
                    store_failed(&shared.metrics, &error);
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
        let handle = shared.runtime.spawn(rows.write(shared.store.clone(), shared.outbox.clone()));
        self.in_flight = Some((handle, caps));
        Some(Duration::from_millis(2))
    }
}

/// A store call that failed, counted in `store_errors`; the caller logs
/// what it does next (hold and retry).
pub(super) fn store_failed(metrics: &Metrics, error: &StoreError) {
    Metrics::add(&metrics.store_errors, 1);
    exit_if_fatal(error);
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

//! The dataflow, per worker:
//!
//! ```text
//! Kafka partitions ─► source ─► event sink ─► (exchange by ─► windows ─► live counters ─► row sink ─► probe
//!   (this worker's)   decode     proctor_events   candidate)    sessions   publishes to     candidate_windows,
//!                     + times    rows, held       FactBatch     scored     proctor_live,    anomalies, sessions,
//!                                until acked                               passes rows on   held until acked
//! ```
//!
//! Each operator is a module: [`kafka_source`], [`event_sink`],
//! [`windows`] (with [`restore`] and [`config_watch`]), [`live_counters`]
//! and [`row_sink`], the sinks sharing [`writer`]. This file only wires them
//! and drives the worker.
//!
//! Both sinks hold the capability of every buffered row until the store
//! acknowledged it, so the probe's frontier passing a time means all rows up
//! to it are durable; only then does the source commit the offsets of
//! records at earlier times ([`crate::source`]). A store outage therefore
//! stops commits (and, past `max_in_flight`, reading) without losing or
//! duplicating anything: the buffers are retried with backoff.

mod config_watch;
mod event_sink;
mod kafka_source;
mod live_counters;
mod restore;
mod row_sink;
mod windows;
mod writer;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::ProbeHandle;

pub use config_watch::ConfigSource;

use crate::hash::stable_hash;
use crate::live::LivePublisher;
use crate::metrics::Metrics;
use crate::session::FactBatch;
use crate::settings::PipelineSettings;
use crate::source::{DurableFrontier, PartitionReader, RecordSource, SourceError, Time};
use crate::store::Store;
use invigil_schemas::erasure::follow::ErasureFollower;

/// What every worker of a process shares.
#[derive(Clone)]
pub struct Shared {
    pub settings: Arc<PipelineSettings>,
    pub store: Store,
    pub runtime: Arc<tokio::runtime::Runtime>,
    pub metrics: Arc<Metrics>,
    pub live: Option<Arc<LivePublisher>>,
    /// Where the sinks send webhook notices; `None` with no endpoint.
    pub outbox: Option<Arc<crate::webhooks::outbox::Outbox>>,
    /// Where the workers read the config document from.
    pub config: ConfigSource,
    /// Every erasure made: records of an erased candidate received before
    /// it are dropped at the source (`None`: reading from memory).
    pub erasures: Option<ErasureFollower>,
    /// Raised to stop: sources stop reading, everything read is written
    /// and committed, then the workers return.
    pub stop: Arc<AtomicBool>,
}

/// The candidate a batch belongs to, as the exchange key. Stable across
/// processes, so a cluster agrees on where each candidate lives.
fn candidate_hash(batch: &FactBatch) -> u64 {
    stable_hash(format!("{}/{}", batch.key.test_id, batch.key.candidate_id).as_bytes())
}

/// Builds the dataflow on `worker` and runs it until `shared.stop` is raised
/// and everything read has been written and committed.
pub fn run_worker(worker: &mut timely::worker::Worker, shared: Shared) -> Result<(), SourceError> {
    let (index, peers) = (worker.index(), worker.peers());
    let reader = PartitionReader::connect(
        &shared.settings,
        index,
        peers,
        &shared.stop,
        Arc::clone(&shared.metrics),
        shared.erasures.clone(),
    )?;
    let Some(reader) = reader else { return Ok(()) };
    shared.metrics.health.workers_running.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    run_worker_with(worker, shared, reader)
}

/// Builds the dataflow on `worker` over `reader` and runs it until the
/// source finishes (stop raised, or a finite source exhausted) and
/// everything read has been written and committed.
pub fn run_worker_with<S: RecordSource + 'static>(
    worker: &mut timely::worker::Worker,
    shared: Shared,
    reader: S,
) -> Result<(), SourceError> {
    let commit_every = Duration::from_millis(shared.settings.commit_interval_ms);
    let reader = Rc::new(RefCell::new(reader));
    let probe: ProbeHandle<Time> = ProbeHandle::new();
    let (metrics, stop) = (Arc::clone(&shared.metrics), Arc::clone(&shared.stop));

    worker.dataflow::<Time, _, _>(|scope| {
        let decoded = kafka_source::kafka_source(scope, Rc::clone(&reader), shared.clone());
        let facts = event_sink::event_sink(scope, decoded, shared.clone());
        let updates = windows::windows(scope, facts, shared.clone());
        let rows = live_counters::live_counters(updates, shared.clone());
        row_sink::row_sink(scope, rows, shared, &probe);
    });

    // ---- drive the worker and commit what is durable ----------------------
    let mut last_commit = Instant::now();
    loop {
        worker.step_or_park(Some(Duration::from_millis(20)));
        metrics.health.stepped(invigil_schemas::clock::now_ms());
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            metrics.health.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        }
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

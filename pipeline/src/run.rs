//! Starting and stopping a pipeline process: the store, the live producer,
//! the timely workers (threads, or a cluster of processes) and a progress log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::dataflow::{run_worker, ConfigSource, Shared};
use crate::live::LivePublisher;
use crate::metrics::Metrics;
use crate::settings::{PipelineSettings, StoreSettings};
use crate::source::SourceError;
use crate::staff_log::StaffLog;
use crate::store::chdb::ChdbStore;
use crate::store::http::HttpStore;
use crate::store::migrate::{check_cluster, migrate, MigrateError, MigrationReport};
use crate::store::{SqlStore, Store, StoreError};
use crate::webhooks::dispatch::{DispatchSettings, Dispatcher};
use crate::webhooks::outbox::Outbox;
use invigil_schemas::erasure::follow::ErasureFollower;

/// Why a pipeline process could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading hostfile {path}: {source}")]
    Hostfile { path: PathBuf, source: std::io::Error },
    #[error("process index {index} but the hostfile lists {listed} processes")]
    NoSuchProcess { index: usize, listed: usize },
    #[error("opening chDB at {path}: {source}")]
    OpenStore { path: PathBuf, source: StoreError },
    #[error("ClickHouse at {url}: {source}")]
    OpenServer { url: String, source: StoreError },
    #[error("starting the I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the store rejected the schema: {error}{hint}")]
    SchemaRejected { error: StoreError, hint: &'static str },
    #[error("store not ready: {0}")]
    StoreNotReady(MigrateError),
    #[error("{0}")]
    Schema(MigrateError),
    #[error("starting timely workers: {0}")]
    Timely(String),
    #[error("webhooks: {0}")]
    Webhooks(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("worker panicked: {0}")]
    WorkerPanicked(String),
    #[error("erasures: {0}")]
    Erasures(String),
    #[error("{0}")]
    ConfigLog(#[from] invigil_schemas::config_log::kafka::FollowError),
}

/// How this process takes part in the timely computation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Worker threads in this process.
    pub workers: usize,
    /// This process's index and every process's `host:port`, in order (one
    /// line each in a hostfile). Empty: a single process.
    pub process: usize,
    pub addresses: Vec<String>,
}

impl Cluster {
    pub fn single(workers: usize) -> Self {
        Self { workers, process: 0, addresses: Vec::new() }
    }

    /// Reads a hostfile: one `host:port` per line, blank lines and `#`
    /// comments ignored.
    pub fn from_hostfile(workers: usize, process: usize, path: &Path) -> Result<Self, RunError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RunError::Hostfile { path: path.to_owned(), source })?;
        let addresses: Vec<String> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if process >= addresses.len() {
            return Err(RunError::NoSuchProcess { index: process, listed: addresses.len() });
        }
        Ok(Self { workers, process, addresses })
    }

    fn timely_config(&self) -> timely::Config {
        let communication = if self.addresses.len() > 1 {
            timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: self.addresses.clone(),
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            timely::CommunicationConfig::Process(self.workers)
        } else {
            timely::CommunicationConfig::Thread
        };
        timely::Config { communication, worker: timely::WorkerConfig::default() }
    }
}

/// Opens the configured store. chDB allows one per process.
pub fn open_store(settings: &StoreSettings) -> Result<Store, RunError> {
    match settings {
        StoreSettings::Chdb { path } => Ok(Store::Chdb(Arc::new(
            ChdbStore::open(path).map_err(|source| RunError::OpenStore { path: path.clone(), source })?,
        ))),
        StoreSettings::Http(config) => Ok(Store::Http(
            HttpStore::new(config)
                .map_err(|source| RunError::OpenServer { url: crate::store::http::redact_url(&config.url), source })?,
        )),
    }
}

/// Runs the pipeline until `stop` is raised, then writes and commits what
/// was read and returns. `store` must be the one `settings.store` names
/// (passed in so callers can keep using an in-process chDB).
pub fn run(
    settings: PipelineSettings,
    store: Store,
    cluster: &Cluster,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<(), RunError> {
    run_workers(settings, store, cluster, stop, metrics, true, run_worker)
}

/// Makes worker `index` of `peers` its source of records.
#[cfg(any(test, feature = "testing"))]
pub type SourceFactory = Arc<dyn Fn(&Shared, usize, usize) -> crate::source::MemorySource + Send + Sync>;

/// [`run`], reading from memory (the benchmark's recorded batch file)
/// instead of Kafka; the run ends once everything is read.
#[cfg(any(test, feature = "testing"))]
pub fn run_with(
    settings: PipelineSettings,
    store: Store,
    cluster: &Cluster,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    source: SourceFactory,
) -> Result<(), RunError> {
    run_workers(settings, store, cluster, stop, metrics, false, move |worker, shared| {
        let reader = source(&shared, worker.index(), worker.peers());
        crate::dataflow::run_worker_with(worker, shared, reader)
    })
}

/// The process around the workers: the schema, the live producer, the
/// staff actions' follower (`follow_staff`, reading from Kafka), the timely
/// workers each running `work`, and a progress line every 10 s.
fn run_workers<W>(
    settings: PipelineSettings,
    store: Store,
    cluster: &Cluster,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    follow_staff: bool,
    work: W,
) -> Result<(), RunError>
where
    W: Fn(&mut timely::worker::Worker, Shared) -> Result<(), SourceError> + Send + Sync + 'static,
{
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("invigil-store")
            .enable_all()
            .build()
            .map_err(RunError::Runtime)?,
    );
    migrate_when_ready(&runtime, &store, &stop)?;
    let config = config_source(&settings, &stop)?;
    // Read before any event: a replay must not write what was erased.
    let erasures = follow_staff.then(|| follow_erasures(&settings, &stop)).transpose()?;
    let tap = settings.live_tap.clone();
    let live = match LivePublisher::new(&settings.kafka, &settings.live_topic, Arc::clone(&metrics), tap) {
        Ok(publisher) => Some(Arc::new(publisher)),
        Err(error) => {
            tracing::error!(%error, "live counters disabled");
            None
        }
    };
    // Webhooks: every process announces to the outbox; the first one
    // delivers for all.
    let webhooks = follow_staff && !settings.webhooks.is_empty();
    let outbox = webhooks
        .then(|| Outbox::new(&settings.kafka, &settings.topic).map(Arc::new))
        .transpose()
        .map_err(RunError::Webhooks)?;
    let dispatcher = (webhooks && cluster.process == 0)
        .then(|| {
            let dispatch = DispatchSettings {
                kafka: settings.kafka.clone(),
                topic: invigil_schemas::webhook::outbox_topic(&settings.topic),
                group_prefix: settings.group_id.clone(),
                endpoints: settings.webhooks.clone(),
            };
            Dispatcher::start(dispatch, store.clone(), Arc::clone(&runtime), Arc::clone(&stop))
        })
        .transpose()
        .map_err(RunError::Runtime)?;
    // Staff actions are few: the first process follows them for all.
    let staff_log = (follow_staff && cluster.process == 0)
        .then(|| {
            let (store, outbox) = (store.clone(), outbox.clone());
            StaffLog::start(&settings, store, outbox, erasures.clone(), Arc::clone(&runtime), Arc::clone(&stop))
        })
        .transpose()
        .map_err(RunError::Runtime)?;
    let shared = Shared {
        settings: Arc::new(settings),
        store,
        runtime,
        metrics: Arc::clone(&metrics),
        live,
        outbox,
        config,
        erasures,
        stop: Arc::clone(&stop),
    };
    metrics.health.workers.store(cluster.workers, Ordering::Relaxed);
    let progress = Progress::start(Arc::clone(&metrics));
    let guards = timely::execute(cluster.timely_config(), move |worker| {
        let index = worker.index();
        if let Err(error) = work(worker, shared.clone()) {
            tracing::error!(worker = index, %error, "worker failed");
            shared.stop.store(true, Ordering::Relaxed);
            return Err(error);
        }
        Ok(())
    })
    .map_err(RunError::Timely)?;
    let results = guards.join();
    if let Some(staff_log) = staff_log {
        staff_log.join();
    }
    if let Some(dispatcher) = dispatcher {
        dispatcher.join();
    }
    progress.stop();
    tracing::info!(metrics = %metrics.summary(), "stopped");
    for result in results {
        result.map_err(RunError::WorkerPanicked)??;
    }
    Ok(())
}

/// The config the workers follow: the config log read to its end (waited
/// for, while the broker is away, until `stop`), else the file, else the
/// defaults.
fn config_source(settings: &PipelineSettings, stop: &AtomicBool) -> Result<ConfigSource, RunError> {
    use invigil_schemas::config_log::kafka::{ConfigFollower, LogSettings};
    let Some(topic) = &settings.config_topic else {
        return Ok(settings.config_file.clone().map_or(ConfigSource::Defaults, ConfigSource::File));
    };
    let log = LogSettings { kafka: settings.kafka.clone(), topic: topic.clone() };
    let follower = ConfigFollower::start(log, |_| {})?;
    until_caught_up("the config log", stop, || follower.wait_until_caught_up(Duration::from_secs(10)))?;
    Ok(ConfigSource::Log(follower))
}

/// Calls `wait` (one bounded wait for a log's end) until it succeeds, or
/// fails once `stop` is raised; says what it waits for every time.
fn until_caught_up<E: std::fmt::Display>(
    what: &str,
    stop: &AtomicBool,
    mut wait: impl FnMut() -> Result<(), E>,
) -> Result<(), E> {
    loop {
        match wait() {
            Ok(()) => return Ok(()),
            Err(error) if stop.load(Ordering::Relaxed) => return Err(error),
            Err(error) => tracing::warn!(%error, "waiting for {what}"),
        }
    }
}

/// Every erasure ever made, read to the end (waited for, while the broker
/// is away, until `stop`) and then followed.
fn follow_erasures(settings: &PipelineSettings, stop: &AtomicBool) -> Result<ErasureFollower, RunError> {
    let topic = invigil_schemas::erasure::erasure_topic(&settings.topic);
    let follower = ErasureFollower::start(&settings.kafka, &topic).map_err(RunError::Erasures)?;
    until_caught_up("the erasures topic", stop, || follower.wait_until_caught_up(Duration::from_secs(10)))
        .map_err(RunError::Erasures)?;
    tracing::info!(erased_candidates = follower.len(), "erasures read");
    Ok(follower)
}

/// Creates the tables. A store that is down at start is retried with
/// backoff (until `stop`), not fatal; one that refuses the schema is.
fn migrate_when_ready(runtime: &tokio::runtime::Runtime, store: &Store, stop: &AtomicBool) -> Result<(), RunError> {
    let mut wait = Duration::from_millis(250);
    loop {
        // A cluster's schema is `invigil migrate --cluster`'s to change:
        // here it is only checked.
        let outcome = match store.cluster_target() {
            Some(target) => runtime
                .block_on(check_cluster(store, target))
                .map(|already| MigrationReport { applied: Vec::new(), already_applied: already }),
            None => runtime.block_on(migrate(store)),
        };
        match outcome {
            Ok(report) => {
                tracing::info!(applied = report.applied.len(), already = report.already_applied, "store schema ready");
                return Ok(());
            }
            Err(
                error @ (MigrateError::ReplicaNeedsCluster { .. }
                | MigrateError::ClusterBehind { .. }
                | MigrateError::NotACluster { .. }
                | MigrateError::Plan(_)),
            ) => return Err(RunError::Schema(error)),
            Err(MigrateError::Store(error)) if !error.is_retryable() => {
                let hint = if store.dialect() == invigil_schemas::migrations::Dialect::Modern {
                    " (a ClickHouse older than 19.x needs --legacy)"
                } else {
                    ""
                };
                return Err(RunError::SchemaRejected { error, hint });
            }
            Err(error) if stop.load(Ordering::Relaxed) => return Err(RunError::StoreNotReady(error)),
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "store not ready; retrying");
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The thread that logs the metrics' summary every 10 s while running.
struct Progress {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start(metrics: Arc<Metrics>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            let mut ticks = 0u32;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                ticks += 1;
                if ticks % 20 == 0 {
                    tracing::info!(metrics = %metrics.summary(), "progress");
                }
            }
        });
        Self { done, thread }
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

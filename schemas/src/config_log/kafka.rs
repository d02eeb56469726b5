//! Following the config log on a real topic: a thread reads partition 0 from
//! the start and applies every record by [`ConfigLog::apply`]; a write is a
//! produced [`Proposal`] whose outcome the same thread reports back when it
//! reads the record. While the broker is away the last document read stays
//! in force — readers never stop over it — and writes fail with a clear
//! error.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::{Message, Offset, TopicPartitionList};
use uuid::Uuid;

use crate::kafka_access::{KafkaEndpoint, Polled};

use super::{ConfigLog, Outcome, Proposal, Version, RECORD_KEY};
use crate::config::ConfigDocument;

/// Where the log is.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The brokers and how to reach them (TLS, SASL).
    pub kafka: KafkaEndpoint,
    pub topic: String,
}

impl LogSettings {
    fn client(&self) -> ClientConfig {
        self.kafka.client_config()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("Kafka client for the config log: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("the config log {topic} at {brokers} could not be read to its end in {seconds} s")]
    NotCaughtUp { topic: String, brokers: String, seconds: u64 },
    #[error("the config log: {0}")]
    Create(crate::kafka_access::TopicError),
    #[error("starting the config log's reader: {0}")]
    Thread(std::io::Error),
}

/// Why a write's outcome is not known.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the config log did not take the write: {0}; nothing changed")]
    NotWritten(String),
    #[error(
        "the write reached the config log but was not read back within {0} s; read the current version before retrying"
    )]
    Unconfirmed(u64),
}

/// What readers share: the log read so far, the version in force (the
/// per-request fast path), outcomes of recent writes, and whether the log
/// has been read to the end it had at start.
struct Shared {
    log: Mutex<ConfigLog>,
    current: RwLock<Option<(u64, Arc<ConfigDocument>)>>,
    outcomes: Mutex<HashMap<Uuid, Outcome>>,
    caught_up: Mutex<bool>,
    /// One condition per mutex: the log read further, an outcome noted,
    /// the end at start reached.
    log_advanced: Condvar,
    outcome_noted: Condvar,
    caught_up_reached: Condvar,
    stop: std::sync::atomic::AtomicBool,
}

/// One process's reader (and writer) of the config log. Cheap to clone; the
/// reading thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct ConfigFollower {
    shared: Arc<Shared>,
    /// The reading thread's consumer, also asked for the log's end by [`Self::sync`].
    consumer: Arc<BaseConsumer>,
    settings: Arc<LogSettings>,
    producer: Arc<OnceLock<Polled<WriteAcks>>>,
    _reader: Arc<StopOnDrop>,
}

/// Hands a written version's acknowledgement to the writer waiting for it.
struct WriteAcks;

impl rdkafka::client::ClientContext for WriteAcks {}

impl ProducerContext for WriteAcks {
    type DeliveryOpaque = Box<std::sync::mpsc::Sender<Result<(), rdkafka::error::KafkaError>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiter: Self::DeliveryOpaque) {
        // The writer may have given up waiting: nobody to tell then.
        let _ = waiter.send(result.as_ref().map(|_| ()).map_err(|(error, _)| error.clone()));
    }
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ConfigFollower {
    /// Creates the topic if it is missing (one partition, kept forever) and
    /// starts reading it from the start. `on_install` is told each version
    /// installed after the log's end at start was reached.
    pub fn start(settings: LogSettings, on_install: impl Fn(u64) + Send + 'static) -> Result<Self, FollowError> {
        // A broker that is away now is not fatal: the reader keeps trying
        // (and creates the topic then) while the caller serves what it has.
        let created = match create_topic(&settings) {
            Ok(()) => true,
            Err(FollowError::Create(error)) if error.refused => return Err(FollowError::Create(error)),
            Err(error) => {
                tracing::warn!(%error, "config log not created yet; retrying while reading");
                false
            }
        };
        let consumer: BaseConsumer = settings
            .client()
            .set("group.id", "invigil-config-log")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // A writer waits to read its own record back: the broker may
            // hold an empty fetch this long (its default is half a second);
            // every idle replica asks this often, so not much less.
            .set("fetch.wait.max.ms", "100")
            .set("reconnect.backoff.max.ms", "2000")
            .create()?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&settings.topic, 0, Offset::Beginning)?;
        consumer.assign(&assignment)?;
        let shared = Arc::new(Shared {
            log: Mutex::default(),
            current: RwLock::default(),
            outcomes: Mutex::default(),
            caught_up: Mutex::new(false),
            log_advanced: Condvar::new(),
            outcome_noted: Condvar::new(),
            caught_up_reached: Condvar::new(),
            stop: Default::default(),
        });
        let reader = Arc::clone(&shared);
        let for_reader = settings.clone();
        let consumer = Arc::new(consumer);
        let reading = Arc::clone(&consumer);
        std::thread::Builder::new()
            .name("invigil-config-log".into())
            .spawn(move || read_forever(&reading, &for_reader, created, &reader, on_install))
            .map_err(FollowError::Thread)?;
        Ok(Self {
            _reader: Arc::new(StopOnDrop(Arc::clone(&shared))),
            consumer,
            shared,
            settings: Arc::new(settings),
            producer: Arc::default(),
        })
    }

    /// Waits until the log has been read to where it ended at start: before
    /// that, the version in force would be an older one than the other
    /// replicas serve.
    pub fn wait_until_caught_up(&self, timeout: Duration) -> Result<(), FollowError> {
        let caught_up = self.shared.caught_up.lock().unwrap_or_else(|p| p.into_inner());
        let (caught_up, _) = self
            .shared
            .caught_up_reached
            .wait_timeout_while(caught_up, timeout, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        if *caught_up {
            Ok(())
        } else {
            Err(FollowError::NotCaughtUp {
                topic: self.settings.topic.clone(),
                brokers: self.settings.kafka.brokers.clone(),
                seconds: timeout.as_secs(),
            })
        }
    }

    /// Waits until this reader has read everything the log held when it was
    /// called: afterwards [`Self::current`] is at least every version any
    /// replica had answered before. For reads that must see the latest
    /// write wherever it was made (an admin's); a candidate's read does not
    /// need it.
    pub fn sync(&self, timeout: Duration) -> Result<(), FollowError> {
        let not_synced = || FollowError::NotCaughtUp {
            topic: self.settings.topic.clone(),
            brokers: self.settings.kafka.brokers.clone(),
            seconds: timeout.as_secs(),
        };
        let (_, end) = self.consumer.fetch_watermarks(&self.settings.topic, 0, timeout).map_err(|_| not_synced())?;
        let log = self.shared.log.lock().unwrap_or_else(|p| p.into_inner());
        let (log, _) = self
            .shared
            .log_advanced
            .wait_timeout_while(log, timeout, |log| log.next_offset() < end)
            .unwrap_or_else(|p| p.into_inner());
        if log.next_offset() >= end {
            Ok(())
        } else {
            Err(not_synced())
        }
    }

    /// The version in force and its document (`None` while the log is empty).
    pub fn current(&self) -> Option<(u64, Arc<ConfigDocument>)> {
        self.shared.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `read` over the log as read so far (history, one version).
    pub fn with_log<R>(&self, read: impl FnOnce(&ConfigLog) -> R) -> R {
        read(&self.shared.log.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Writes `proposal` and waits until this reader has read it back:
    /// installed as a version, or stale (another write got there first).
    pub fn write(&self, proposal: &Proposal, timeout: Duration) -> Result<Outcome, WriteError> {
        let producer = match self.producer.get() {
            Some(producer) => producer,
            None => {
                let producer: BaseProducer<WriteAcks> = self
                    .settings
                    .client()
                    .set("acks", "all")
                    .set("linger.ms", "0")
                    .set("message.timeout.ms", timeout.as_millis().to_string())
                    .create_with_context(WriteAcks)
                    .map_err(|e| WriteError::NotWritten(e.to_string()))?;
                let producer = Polled::start("config-writes", producer)
                    .map_err(|e| WriteError::NotWritten(format!("starting the producer's thread: {e}")))?;
                self.producer.get_or_init(|| producer)
            }
        };
        let payload = proposal.encode();
        let (waiter, delivery) = std::sync::mpsc::channel();
        let record = BaseRecord::with_opaque_to(&self.settings.topic, Box::new(waiter))
            .partition(0)
            .key(RECORD_KEY)
            .payload(&payload);
        producer.producer().send(record).map_err(|(e, _)| WriteError::NotWritten(e.to_string()))?;
        match delivery.recv_timeout(timeout) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(WriteError::NotWritten(error.to_string())),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(WriteError::NotWritten("the producer was closed".into()))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(WriteError::Unconfirmed(timeout.as_secs())),
        }
        let outcomes = self.shared.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        let (mut outcomes, _) = self
            .shared
            .outcome_noted
            .wait_timeout_while(outcomes, timeout, |seen| !seen.contains_key(&proposal.write_id))
            .unwrap_or_else(|p| p.into_inner());
        outcomes.remove(&proposal.write_id).ok_or(WriteError::Unconfirmed(timeout.as_secs()))
    }
}

/// The reading thread: applies records in order, publishes the version in
/// force, notes outcomes for writers, and says when the log's end at start
/// has been reached.
fn read_forever(
    consumer: &BaseConsumer,
    settings: &LogSettings,
    mut created: bool,
    shared: &Shared,
    on_install: impl Fn(u64),
) {
    let topic = settings.topic.as_str();
    let mut end_at_start: Option<i64> = None;
    let mut last_error: Option<Instant> = None;
    let mut last_create = Instant::now();
    while !shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
        if !created && last_create.elapsed() > Duration::from_secs(5) {
            last_create = Instant::now();
            created = create_topic(settings).is_ok();
        }
        if end_at_start.is_none() {
            match consumer.fetch_watermarks(topic, 0, Duration::from_secs(2)) {
                Ok((_, high)) => end_at_start = Some(high),
                Err(error) => note_error(&mut last_error, &error),
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let mut log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
                let (write_id, outcome) = log.apply(message.offset(), message.payload().unwrap_or_default());
                if let Outcome::Installed(version) = outcome {
                    let newest = log.current().map(|v: &Version| Arc::clone(&v.document)).expect("just installed");
                    *shared.current.write().unwrap_or_else(|p| p.into_inner()) = Some((version, newest));
                    if *shared.caught_up.lock().unwrap_or_else(|p| p.into_inner()) {
                        on_install(version);
                    }
                }
                drop(log);
                shared.log_advanced.notify_all();
                if let Some(write_id) = write_id {
                    let mut outcomes = shared.outcomes.lock().unwrap_or_else(|p| p.into_inner());
                    // Only this process's writers collect outcomes; keep the
                    // map from growing with every other replica's writes.
                    if outcomes.len() > 1_000 {
                        outcomes.clear();
                    }
                    outcomes.insert(write_id, outcome);
                    drop(outcomes);
                    shared.outcome_noted.notify_all();
                }
            }
            Some(Err(error)) => note_error(&mut last_error, &error),
            None => {}
        }
        if let Some(end) = end_at_start {
            let mut caught_up = shared.caught_up.lock().unwrap_or_else(|p| p.into_inner());
            if !*caught_up && shared.log.lock().unwrap_or_else(|p| p.into_inner()).next_offset() >= end {
                *caught_up = true;
                shared.caught_up_reached.notify_all();
            }
        }
    }
}

/// Broker trouble is expected (the document read so far stays in force);
/// say so at most every 30 s.
fn note_error(last: &mut Option<Instant>, error: &dyn std::fmt::Display) {
    if last.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
        *last = Some(Instant::now());
        tracing::warn!(%error, "config log unreadable; the document read so far stays in force");
    }
}

/// One partition (the log's order is the rule's order), kept forever: the
/// largest finite retention rather than Kafka's `-1`, which tansu 0.6 reads
/// as "expired" and empties the topic at its next maintenance (the first
/// runs as it starts). Kafka treats both as "never".
fn create_topic(settings: &LogSettings) -> Result<(), FollowError> {
    let forever = i64::MAX.to_string();
    let configs = [("cleanup.policy", "delete"), ("retention.ms", forever.as_str())];
    settings.kafka.create_topic(&settings.topic, 1, &configs, Duration::from_secs(5)).map_err(FollowError::Create)
}

//! The Kafka producer, tuned for safety first: idempotent, `acks=all`, so an
//! acknowledged batch is on every in-sync replica exactly once and in order
//! per partition; lz4 and a few milliseconds of linger let one produce request
//! carry many batches (`invigil bench ingest` measures the effect).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use invigil_schemas::kafka_access::{AccessError, KafkaAccess, KafkaEndpoint, KafkaSasl, KafkaTls, Polled};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

/// Producer settings (`[kafka]` in the settings file).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// `host:port,…`
    pub brokers: String,
    pub topic: String,
    /// How long a request waits for Kafka's acknowledgement before it spools
    /// the batch instead and answers.
    pub ack_timeout_ms: u64,
    /// How long librdkafka keeps retrying one record in the background.
    pub message_timeout_ms: u64,
    /// How long the producer gathers records into one produce request. A
    /// broker's cost is mostly per request: in `invigil bench ingest`, p99
    /// passed 20 ms at 2,000 batches/s with 2 ms and held to ~6,000 with 5 ms
    /// (Kafka 4.0's producer default became 5 ms for the same reason).
    pub linger_ms: u32,
    /// `lz4`, `zstd`, `snappy`, `gzip` or `none`.
    pub compression: String,
    /// Kafka's idempotent producer (no broker-side duplicates from retries).
    /// Off, the producer keeps one request in flight per broker so retries
    /// still cannot reorder a partition, and duplicates are left to the
    /// pipeline's `session_id`+`seq` dedup. Turn it off for tansu 0.6: its
    /// idempotence check panics inside the broker after a crash restart
    /// (found by the chaos test) and the broker stops serving while its port
    /// stays open.
    pub idempotence: bool,
    /// `[kafka.tls]`: TLS to the brokers.
    pub tls: KafkaTls,
    /// `[kafka.sasl]`: SASL login (password from `INVIGIL_KAFKA_SASL_PASSWORD`
    /// or `password_file`).
    pub sasl: KafkaSasl,
    /// `[kafka.options]`: librdkafka properties set verbatim on every client.
    pub options: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// The brokers with TLS, SASL and options checked and resolved (the
    /// SASL password read from its file or the environment).
    pub fn endpoint(&self) -> Result<KafkaEndpoint, AccessError> {
        let access = KafkaAccess { tls: self.tls.clone(), sasl: self.sasl.clone(), options: self.options.clone() };
        access.resolve(&self.brokers, |name| std::env::var(name).ok())
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:19092".into(),
            topic: "proctor_events".into(),
            ack_timeout_ms: 1000,
            message_timeout_ms: 10_000,
            linger_ms: 5,
            compression: "lz4".into(),
            idempotence: true,
            tls: KafkaTls::default(),
            sasl: KafkaSasl::default(),
            options: BTreeMap::new(),
        }
    }
}

/// Notes librdkafka's "all brokers down" so requests spool at once instead
/// of each waiting out the acknowledgement timeout, and hands every
/// delivery report to the request waiting for it.
pub struct HealthContext {
    brokers_down: Arc<AtomicBool>,
}

impl ClientContext for HealthContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.brokers_down.store(true, Ordering::Relaxed);
        }
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ProducerContext for HealthContext {
    type DeliveryOpaque = Box<oneshot::Sender<Result<(), KafkaError>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiter: Self::DeliveryOpaque) {
        // The request may have timed out and gone: nobody to tell then.
        let _ = waiter.send(result.as_ref().map(|_| ()).map_err(|(error, _)| error.clone()));
    }
}

/// A record's acknowledgement to come: `Ok` once the broker has it.
pub type DeliveryFuture = oneshot::Receiver<Result<(), KafkaError>>;

/// Produces encoded records to the events topic.
#[derive(Clone)]
pub struct EventsProducer {
    producer: Polled<HealthContext>,
    topic: String,
    brokers_down: Arc<AtomicBool>,
}

impl EventsProducer {
    /// A producer for `settings`' topic at `endpoint` (from
    /// [`KafkaSettings::endpoint`]).
    pub fn new(settings: &KafkaSettings, endpoint: &KafkaEndpoint) -> Result<Self, KafkaError> {
        let brokers_down = Arc::new(AtomicBool::new(false));
        let mut config = endpoint.client_config();
        if settings.idempotence {
            config.set("enable.idempotence", "true");
        } else {
            config.set("enable.idempotence", "false").set("max.in.flight.requests.per.connection", "1");
        }
        let producer: BaseProducer<HealthContext> = config
            .set("acks", "all")
            .set("compression.type", &settings.compression)
            .set("linger.ms", settings.linger_ms.to_string())
            .set("message.timeout.ms", settings.message_timeout_ms.to_string())
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("reconnect.backoff.max.ms", "2000")
            .create_with_context(HealthContext { brokers_down: Arc::clone(&brokers_down) })?;
        let producer = Polled::start("kafka-deliveries", producer)
            .map_err(|e| KafkaError::ClientCreation(format!("starting the delivery thread: {e}")))?;
        Ok(Self { producer, topic: settings.topic.clone(), brokers_down })
    }

    /// Queues one record without waiting; `Err` when the local queue is full.
    pub fn enqueue(&self, key: &str, value: &[u8]) -> Result<DeliveryFuture, KafkaError> {
        self.enqueue_to(&self.topic, key, value)
    }

    /// [`Self::enqueue`] to another topic on the same brokers (the staff
    /// topic), with the same safety settings.
    pub fn enqueue_to(&self, topic: &str, key: &str, value: &[u8]) -> Result<DeliveryFuture, KafkaError> {
        let (waiter, delivery) = oneshot::channel();
        let record = BaseRecord::with_opaque_to(topic, Box::new(waiter)).key(key).payload(value);
        self.producer.producer().send(record).map_err(|(error, _)| error)?;
        Ok(delivery)
    }

    /// Queues a tombstone (a record with no value) for `key` on a compacted
    /// `topic`: compaction then forgets the key altogether.
    pub fn enqueue_tombstone_to(&self, topic: &str, key: &str) -> Result<DeliveryFuture, KafkaError> {
        let (waiter, delivery) = oneshot::channel();
        let record: BaseRecord<'_, str, [u8], _> = BaseRecord::with_opaque_to(topic, Box::new(waiter)).key(key);
        self.producer.producer().send(record).map_err(|(error, _)| error)?;
        Ok(delivery)
    }

    /// Whether librdkafka last reported every broker unreachable.
    pub fn brokers_down(&self) -> bool {
        self.brokers_down.load(Ordering::Relaxed)
    }

    /// Called on a successful delivery: the brokers are back.
    pub fn mark_up(&self) {
        self.brokers_down.store(false, Ordering::Relaxed);
    }

    /// Asks the cluster for the topic's metadata: a cheap reachability probe.
    /// Blocking; call from a blocking thread.
    pub fn probe(&self, timeout: Duration) -> bool {
        self.producer.producer().client().fetch_metadata(Some(&self.topic), timeout).is_ok()
    }

    /// Waits for every record in flight; called on shutdown.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.producer.producer().flush(Timeout::After(timeout)).is_ok()
    }
}

/// Awaits a delivery: `Ok` only when the broker acknowledged the record.
pub async fn delivered(future: DeliveryFuture) -> Result<(), KafkaError> {
    future.await.unwrap_or(Err(KafkaError::Canceled))
}

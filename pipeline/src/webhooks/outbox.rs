//! The outbox topic's producer: the sinks hand it the notices of what they
//! are about to write and wait until the broker has every one.

use std::time::Duration;

use invigil_schemas::kafka_access::{KafkaEndpoint, Polled};
use invigil_schemas::webhook::{outbox_topic, Notice};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use tokio::sync::oneshot;

/// How long the broker may take to acknowledge a notice before the sink's
/// write fails and is retried with its rows.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Hands each delivery report to the task waiting for it.
pub struct Acks;

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<oneshot::Sender<Result<(), KafkaError>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiter: Self::DeliveryOpaque) {
        let _ = waiter.send(result.as_ref().map(|_| ()).map_err(|(error, _)| error.clone()));
    }
}

/// Creates the outbox topic unless it exists: one partition (a few records
/// a session), kept a week (beyond the day of retries).
pub fn create(kafka: &KafkaEndpoint, topic: &str) -> Result<(), String> {
    kafka.create_topic(topic, 1, &[("retention.ms", "604800000")], Duration::from_secs(5)).map_err(|e| e.to_string())
}

/// Produces notices to the outbox topic, acknowledged by all replicas.
pub struct Outbox {
    producer: Polled<Acks>,
    topic: String,
}

impl Outbox {
    /// A producer for the outbox of `events_topic`. The topic is created
    /// here when the brokers answer, else by the dispatcher once they do
    /// (sends fail and are retried with their rows until then).
    pub fn new(kafka: &KafkaEndpoint, events_topic: &str) -> Result<Self, String> {
        let topic = outbox_topic(events_topic);
        if let Err(error) = create(kafka, &topic) {
            tracing::warn!(%error, "the outbox topic is not there yet");
        }
        let producer: BaseProducer<Acks> = kafka
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", ACK_TIMEOUT.as_millis().to_string())
            .set("reconnect.backoff.max.ms", "2000")
            .create_with_context(Acks)
            .map_err(|e| format!("creating the outbox producer: {e}"))?;
        let producer =
            Polled::start("outbox-deliveries", producer).map_err(|e| format!("starting the outbox thread: {e}"))?;
        Ok(Self { producer, topic })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces every notice and waits for all their acknowledgements.
    pub async fn send(&self, notices: &[Notice]) -> Result<(), String> {
        let mut waiting = Vec::with_capacity(notices.len());
        for notice in notices {
            let (waiter, acked) = oneshot::channel();
            let key = format!("{}/{}", notice.test_id, notice.candidate_id);
            let value = notice.encode();
            let record = BaseRecord::with_opaque_to(&self.topic, Box::new(waiter)).key(&key).payload(&value);
            self.producer.producer().send(record).map_err(|(error, _)| format!("outbox {}: {error}", self.topic))?;
            waiting.push(acked);
        }
        for acked in waiting {
            match tokio::time::timeout(ACK_TIMEOUT + Duration::from_secs(1), acked).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => return Err(format!("outbox {}: {error}", self.topic)),
                Ok(Err(_)) | Err(_) => return Err(format!("outbox {}: no acknowledgement", self.topic)),
            }
        }
        Ok(())
    }
}

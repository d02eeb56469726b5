//! Kafka chores shared by the CLI, benchmarks and tests: creating topics,
//! producing records, and reading how far a consumer group has committed.

use std::time::Duration;

use invigil_schemas::kafka_access::KafkaEndpoint;
use invigil_schemas::record::{encode, record_key, KafkaRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// Why a Kafka chore failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("Kafka client: {0}")]
    Client(#[from] KafkaError),
    #[error("starting a runtime for the admin client: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("Kafka at {brokers} did not answer in 20 s")]
    Timeout { brokers: String },
    #[error("creating {topic}: {code}")]
    Create { topic: String, code: RDKafkaErrorCode },
    #[error("producing to {topic}: {source}")]
    Produce { topic: String, source: KafkaError },
}

/// Creates topics (name, partitions) with replication 1; existing ones are
/// left as they are.
pub fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), TopicsError> {
    create_topics_at(&KafkaEndpoint::plaintext(brokers), topics)
}

/// [`create_topics`] on a cluster reached with TLS or SASL.
pub fn create_topics_at(kafka: &KafkaEndpoint, topics: &[(&str, i32)]) -> Result<(), TopicsError> {
    let brokers = &kafka.brokers;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let admin: AdminClient<_> = kafka.client_config().create()?;
    let new: Vec<NewTopic> = topics.iter().map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1))).collect();
    let results = runtime
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(20), admin.create_topics(&new, &AdminOptions::new())).await
        })
        .map_err(|_| TopicsError::Timeout { brokers: brokers.to_owned() })??;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(TopicsError::Create { topic, code }),
        }
    }
    Ok(())
}

/// Produces records (keyed by candidate, as ingest does) and waits until the
/// broker acknowledged all of them.
pub fn produce(brokers: &str, topic: &str, records: &[KafkaRecord]) -> Result<(), TopicsError> {
    RecordProducer::new(brokers)?.send(topic, records)
}

/// A producer kept across many sends (connecting and initialising an
/// idempotent producer costs about half a second on tansu).
pub struct RecordProducer {
    producer: BaseProducer,
}

impl RecordProducer {
    pub fn new(brokers: &str) -> Result<Self, TopicsError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("queue.buffering.max.messages", "1000000")
            .create()?;
        Ok(Self { producer })
    }

    /// Sends records keyed by candidate and waits for every acknowledgement.
    pub fn send(&self, topic: &str, records: &[KafkaRecord]) -> Result<(), TopicsError> {
        self.send_encoded(topic, records.iter().map(|r| (record_key(&r.test_id, &r.candidate_id), encode(r))))
    }

    /// Queues one record without waiting for its acknowledgement (delivery
    /// happens in the background, as `poll` is called on each enqueue).
    pub fn enqueue(&self, topic: &str, record: &KafkaRecord) -> Result<(), TopicsError> {
        let (key, value) = (record_key(&record.test_id, &record.candidate_id), encode(record));
        self.producer
            .send(BaseRecord::to(topic).key(&key).payload(&value))
            .map_err(|(source, _)| TopicsError::Produce { topic: topic.to_owned(), source })?;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Sends already encoded `(key, value)` records and waits for every
    /// acknowledgement.
    pub fn send_encoded(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<(), TopicsError> {
        let failed = |source| TopicsError::Produce { topic: topic.to_owned(), source };
        for (key, value) in records {
            let mut record = BaseRecord::to(topic).key(&key).payload(&value);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(failed(e)),
                }
            }
            self.producer.poll(Duration::ZERO);
        }
        self.producer.flush(Duration::from_secs(60)).map_err(failed)
    }
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<i32, TopicsError> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(metadata.topics().first().map_or(0, |t| t.partitions().len() as i32))
}

/// Sum over the topic's partitions of `group`'s committed offsets (records
/// the group has durably processed).
pub fn committed_total(brokers: &str, topic: &str, group: &str) -> Result<i64, TopicsError> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", group).create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions(&consumer, topic)? {
        list.add_partition(topic, p);
    }
    let list = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok(list
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(n) => n,
            _ => 0,
        })
        .sum())
}

/// Sum over the topic's partitions of the high watermarks: records the
/// broker holds (what a group has left to do is this minus
/// [`committed_total`]).
pub fn end_total(brokers: &str, topic: &str) -> Result<i64, TopicsError> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let mut total = 0;
    for p in 0..partitions(&consumer, topic)? {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += high;
    }
    Ok(total)
}

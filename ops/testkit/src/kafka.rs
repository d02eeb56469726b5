//! Kafka topics a test owns: made with a name no other test uses, and read
//! back from the beginning.

use std::time::{Duration, Instant};

use invigil_schemas::record::{self, KafkaRecord};
use invigil_schemas::staff::StaffAction;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// A topic name no other test (or run) uses.
pub fn unique_topic(tag: &str) -> String {
    format!("test-{tag}-{}-{}", std::process::id(), crate::now_ms() % 1_000_000_000)
}

pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        admin.create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new()),
    )
    .await
    .unwrap_or_else(|_| panic!("Kafka at {brokers} did not answer in 20 s; is `ops/dev/services.sh up` running?"))
    .unwrap_or_else(|e| panic!("Kafka at {brokers} unreachable: {e}"));
    for outcome in result {
        outcome.unwrap_or_else(|(name, e)| panic!("creating {name}: {e}"));
    }
}

/// Reads every record of `topic` from the beginning until `n` arrived or
/// `limit` passed; partitions are assigned, not joined as a group.
pub fn read_topic(brokers: &str, topic: &str, n: usize, limit: Duration) -> Vec<(String, KafkaRecord)> {
    read_topic_until(brokers, topic, limit, |records| records.len() >= n)
}

/// Reads `topic` from the beginning until `done` holds or `limit` passed.
pub fn read_topic_until(
    brokers: &str,
    topic: &str,
    limit: Duration,
    done: impl Fn(&[(String, KafkaRecord)]) -> bool,
) -> Vec<(String, KafkaRecord)> {
    read_until(brokers, topic, limit, |key, value| (key, record::decode(value).unwrap()), done)
}

/// Reads the staff actions of `events_topic`'s staff topic from the
/// beginning until `done` holds or `limit` passed.
pub fn read_staff_actions_until(
    brokers: &str,
    events_topic: &str,
    limit: Duration,
    done: impl Fn(&[StaffAction]) -> bool,
) -> Vec<StaffAction> {
    let topic = invigil_schemas::staff::staff_topic(events_topic);
    read_until(brokers, &topic, limit, |_, value| StaffAction::decode(value).unwrap(), done)
}

/// Reads every partition of `topic` from the beginning, each record made
/// into a `T` by `read` (its key and value), until `done` holds or `limit`
/// passed.
fn read_until<T>(
    brokers: &str,
    topic: &str,
    limit: Duration,
    read: impl Fn(String, &[u8]) -> T,
    done: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "invigil-tests-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions = metadata.topics()[0].partitions().len();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while !done(&out) && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
            out.push(read(key, message.payload().unwrap()));
        }
    }
    out
}

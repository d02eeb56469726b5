//! The Kafka-protocol broker (tansu) is real: rdkafka creates a topic,
//! produces with an idempotent producer, a consumer group commits its offset,
//! and a new member of the group resumes exactly after it.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

fn brokers() -> String {
    std::env::var("INVIGIL_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

fn base_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers()).set("socket.timeout.ms", "5000").set("reconnect.backoff.max.ms", "500");
    config
}

fn consumer(group: &str) -> StreamConsumer {
    base_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer config")
}

/// Receives `n` payloads, failing (not hanging) after `limit`.
async fn receive(consumer: &StreamConsumer, n: usize, limit: Duration) -> Vec<(i64, String)> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("received {} of {n} records within {limit:?}: {got:?}", got.len()))
            .expect("consume");
        got.push((message.offset(), String::from_utf8(message.payload().unwrap().to_vec()).unwrap()));
    }
    got
}

/// Leaves the group and destroys the consumer off the async runtime, waiting
/// at most 5 s: librdkafka's close can block indefinitely on a final
/// rebalance (rust-rdkafka issue #509), and a smoke test must fail, not hang.
fn close(consumer: StreamConsumer) {
    consumer.unsubscribe();
    let (done, closed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(consumer);
        let _ = done.send(());
    });
    if closed.recv_timeout(Duration::from_secs(5)).is_err() {
        eprintln!(
            "warning: consumer close did not finish within 5 s (tansu 0.6 with the last group member); abandoning it"
        );
    }
}

#[tokio::test]
async fn produce_group_consume_commit_and_resume_on_tansu() {
    let topic = format!(
        "smoke_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
    );

    let admin: AdminClient<DefaultClientContext> = base_config().create().expect("admin client");
    let created = tokio::time::timeout(
        Duration::from_secs(15),
        admin.create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(5))),
        ),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("broker at {} did not answer within 15 s; is `ops/dev/services.sh up` running?", brokers())
    })
    .unwrap_or_else(|e| panic!("broker at {} unreachable: {e}; is `ops/dev/services.sh up` running?", brokers()));
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let producer: FutureProducer = base_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer config");
    for i in 0..10 {
        let payload = format!("record-{i}");
        producer
            .send(
                FutureRecord::to(&topic).key("exam-1/cand-7").payload(&payload),
                Timeout::After(Duration::from_secs(10)),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {i}: {e}"));
    }

    let group = format!("{topic}_group");
    let first = consumer(&group);
    first.subscribe(&[&topic]).unwrap();
    let head = receive(&first, 5, Duration::from_secs(30)).await;
    assert_eq!(
        head.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        ["record-0", "record-1", "record-2", "record-3", "record-4"]
    );
    // Commit "next offset to read" = last consumed + 1, explicitly.
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(head[4].0 + 1)).unwrap();
    first.commit(&offsets, CommitMode::Sync).expect("commit");
    close(first);

    let second = consumer(&group);
    second.subscribe(&[&topic]).unwrap();
    let tail = receive(&second, 5, Duration::from_secs(30)).await;
    assert_eq!(
        tail.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        ["record-5", "record-6", "record-7", "record-8", "record-9"],
        "the new member resumes exactly at the committed offset"
    );
    let committed = second.committed(Duration::from_secs(5)).expect("committed offsets");
    assert_eq!(committed.find_partition(&topic, 0).unwrap().offset(), rdkafka::Offset::Offset(head[4].0 + 1));
    // The topic is left in place: deleting a topic while a consumer may still
    // fetch it makes tansu 0.6's storage panic (`down` wipes it anyway).
    close(second);
    drop(producer);
    drop(admin);
}

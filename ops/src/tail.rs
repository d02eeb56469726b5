//! `invigil tail`: the events in a Kafka topic as JSON lines, decoded from
//! the binary record format, for operators checking what reached Kafka (and
//! for the SDK's browser tests, which have no decoder of their own).
//!
//! One line per event: `{"key", "partition", "offset", "received_at",
//! "session_id", "batch_seq", "event": {…the event as the SDK sent it…}}`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use invigil_schemas::record::decode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

#[derive(clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "INVIGIL_KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    #[command(flatten)]
    kafka: crate::kafka_args::KafkaAccessArgs,
    /// Topic to read.
    #[arg(long, default_value = invigil_schemas::record::EVENTS_TOPIC)]
    topic: String,
    /// Only records with this key (`test_id/candidate_id`).
    #[arg(long)]
    key: Option<String>,
    /// Create the topic with this many partitions first if it does not exist
    /// (fresh local setups and tests), then read it.
    #[arg(long, value_name = "PARTITIONS")]
    create: Option<i32>,
    /// Read what the topic holds now, then exit (the end is taken when the
    /// command starts, so a busy producer does not keep it running).
    #[arg(long)]
    to_end: bool,
    /// Exit once no record arrived for this many milliseconds (0: follow forever).
    #[arg(long, default_value_t = 0)]
    idle_exit_ms: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let kafka = args.kafka.endpoint(&args.brokers, Duration::from_secs(10))?;
    if let Some(partitions) = args.create {
        invigil_pipeline::topics::create_topics_at(&kafka, &[(args.topic.as_str(), partitions)])
            .map_err(|e| anyhow::anyhow!("creating topic {}: {e}", args.topic))?;
        if args.idle_exit_ms == 0 {
            return Ok(());
        }
    }
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "invigil-tail")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let partitions = assign_from_the_beginning(&consumer, &args)?;
    // Per partition, the offset that ends the read (`--to-end`).
    let mut ends: Vec<Option<i64>> = vec![None; partitions];
    if args.to_end {
        ends = read_ends(&consumer, &args.topic, partitions)?;
        if ends.iter().all(Option::is_none) {
            return Ok(());
        }
    }
    let idle = (args.idle_exit_ms > 0).then(|| Duration::from_millis(args.idle_exit_ms));
    let mut last = Instant::now();
    loop {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            if idle.is_some_and(|idle| last.elapsed() >= idle) {
                return Ok(());
            }
            continue;
        };
        let message = message.context("reading from Kafka")?;
        last = Instant::now();
        if let Some(end) = ends.get_mut(message.partition() as usize) {
            if end.is_some_and(|end| message.offset() + 1 >= end) {
                *end = None;
            }
        }
        let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
        if args.key.as_ref().is_none_or(|wanted| *wanted == key) {
            print_events(&message, &key);
        }
        if args.to_end && ends.iter().all(Option::is_none) {
            return Ok(());
        }
    }
}

/// Reads every partition of the topic from its first offset; returns how
/// many there are.
fn assign_from_the_beginning(consumer: &BaseConsumer, args: &Args) -> anyhow::Result<usize> {
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), Duration::from_secs(10))
        .with_context(|| format!("reading metadata of {} from {}", args.topic, args.brokers))?;
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
    if partitions == 0 {
        bail!("topic {} has no partitions (does it exist?)", args.topic);
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(&args.topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    Ok(partitions)
}

/// Each partition's end now (`None` for an empty one): what `--to-end` reads up to.
fn read_ends(consumer: &BaseConsumer, topic: &str, partitions: usize) -> anyhow::Result<Vec<Option<i64>>> {
    (0..partitions)
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition as i32, Duration::from_secs(10))
                .with_context(|| format!("reading the end of partition {partition}"))?;
            Ok((high > low).then_some(high))
        })
        .collect()
}

/// One JSON line per event of the record, with where it sat in Kafka; a
/// record that does not decode is said on stderr.
fn print_events(message: &rdkafka::message::BorrowedMessage<'_>, key: &str) {
    let Some(value) = message.payload() else { return };
    let record = match decode(value) {
        Ok(record) => record,
        Err(error) => {
            eprintln!("offset {} of partition {}: {error}", message.offset(), message.partition());
            return;
        }
    };
    for event in &record.batch.events {
        let line = serde_json::json!({
            "key": key,
            "partition": message.partition(),
            "offset": message.offset(),
            "received_at": record.received_at,
            "session_id": record.batch.session_id,
            "batch_seq": record.batch.batch_seq,
            "event": event,
        });
        println!("{line}");
    }
}

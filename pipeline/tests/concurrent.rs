//! Two sessions of one candidate at once (a second tab, browser or device)
//! through the real broker and the two-worker pipeline into chDB: both
//! sessions are told of the time they shared, wherever their records were
//! read. One candidate's second session is produced into another
//! partition than the first (read by the other worker): the windows
//! operator's exchange by candidate brings them together. A reload, whose old page hands over to the new one within
//! seconds, is no concurrency.

mod common;

use common::{brokers, committed};

use std::time::Duration;

use invigil_pipeline::settings::{PipelineSettings, StoreSettings};
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::{SqlStore, Store};
use invigil_pipeline::topics;
use invigil_schemas::batch::EventBatch;
use invigil_schemas::event::{Event, EventBody, KeyActivity, SessionEndReason, SessionEnded};
use invigil_schemas::ids::event_id_v7;
use invigil_schemas::record::{self, KafkaRecord};
use invigil_testkit::kafka::unique_topic as unique;

const TEST: &str = "exam-concurrent";
const PARTITIONS: i32 = 4;

/// One session of `candidate`, from `from_s` to `to_s` seconds after `t0`: a
/// batch every 5 s with a `key_activity`, ended at the last one.
fn session(t0: i64, candidate: &str, n: u8, from_s: i64, to_s: i64) -> Vec<KafkaRecord> {
    let session_id = event_id_v7((t0 + from_s * 1000) as u64, [n; 10]);
    (0..)
        .map(|k| from_s + 5 * k)
        .take_while(|s| *s <= to_s)
        .enumerate()
        .map(|(k, s)| {
            let ts = t0 + s * 1000;
            let body: EventBody = if s + 5 > to_s {
                SessionEnded { reason: SessionEndReason::PageClosed }.into()
            } else {
                KeyActivity { keys: 5, interval_ms: 5_000, ..Default::default() }.into()
            };
            let event = Event { id: event_id_v7(ts as u64, [n; 10]), seq: k as u64, ts, body };
            KafkaRecord {
                received_at: ts + 100,
                test_id: TEST.to_owned().try_into().unwrap(),
                candidate_id: candidate.to_owned().try_into().unwrap(),
                ingest_node: "ingest-0".into(),
                client_ip_hash: u64::from(n),
                client_net_hash: u64::from(n),
                user_agent: format!("browser-{n}"),
                batch: EventBatch { v: 1, session_id, batch_seq: k as u64, sent_at: ts, events: vec![event] },
            }
        })
        .collect()
}

/// Produces `records` under their candidate's key into `partition`.
fn produce(topic: &str, partition: i32, records: &[KafkaRecord]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer =
        rdkafka::config::ClientConfig::new().set("bootstrap.servers", brokers()).create().unwrap();
    for record in records {
        let key = record::record_key(&record.test_id, &record.candidate_id);
        let value = record::encode(record);
        producer
            .send(BaseRecord::to(topic).key(&key).partition(partition).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn session_rows(store: &Store) -> Vec<(String, u64, u32)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let text = runtime
        .block_on(store.query_text(
            "SELECT candidate_id, user_agent, concurrent_ms, concurrent_sessions FROM sessions FINAL \
             ORDER BY candidate_id, user_agent",
            "TabSeparated",
        ))
        .unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (format!("{}/{}", f[0], f[1]), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn sessions_of_one_candidate_at_once_are_found_across_partitions_and_a_reload_is_not() {
    let (topic, group) = (unique("concurrent"), unique("group"));
    topics::create_topics(&brokers(), &[(&topic, PARTITIONS), (&format!("{topic}-live"), 1)]).unwrap();
    let t0 = invigil_pipeline::scripted::recent_t0(30);
    // cand-two: a laptop from 0 to 180 s, a phone from 60 to 150 s (90 s
    // shared), the phone's records under another key and partition.
    let laptop = session(t0, "cand-two", 1, 0, 180);
    let phone = session(t0, "cand-two", 2, 60, 150);
    // cand-reload: the page reloaded at 120 s; the old one's last batch
    // came 5 s after the new one's first (under 30 s together).
    let before = session(t0, "cand-reload", 3, 0, 125);
    let after = session(t0, "cand-reload", 4, 120, 240);
    // Partitions 0 and 1 go to the two workers.
    produce(&topic, 0, &laptop);
    produce(&topic, 1, &phone);
    produce(&topic, 2, &before);
    produce(&topic, 2, &after);
    let produced = (laptop.len() + phone.len() + before.len() + after.len()) as i64;

    let dir = tempfile::tempdir().unwrap();
    let store = Store::Chdb(std::sync::Arc::new(ChdbStore::open(dir.path()).expect("chDB (ops/dev/services.sh up)")));
    let mut settings = PipelineSettings::new(brokers(), StoreSettings::Chdb { path: dir.path().to_owned() });
    settings.topic = topic.clone();
    settings.live_topic = format!("{topic}-live");
    settings.group_id = group.clone();
    settings.idle_partition_ms = 1_000;
    settings.flush_interval_ms = 100;
    settings.commit_interval_ms = 200;
    let pipeline = common::InProcess::start(settings, store.clone());
    invigil_testkit::wait::wait_for_and_print("every record committed", Duration::from_secs(60), || {
        committed(&topic, &group) == produced
    });
    let rows = session_rows(&store);
    pipeline.stop();
    assert_eq!(
        rows,
        [
            ("cand-reload/browser-3".to_owned(), 0, 0),
            ("cand-reload/browser-4".to_owned(), 0, 0),
            ("cand-two/browser-1".to_owned(), 90_000, 1),
            ("cand-two/browser-2".to_owned(), 90_000, 1),
        ],
        "both sessions of cand-two know the 90 s they shared; the reload's 5 s are a handover"
    );
}

//! The scripted exam through real services: produced to tansu, consumed by
//! the timely pipeline (two workers), written to chDB or to ClickHouse 18.16
//! over HTTP. What `FINAL` returns must equal the hand-checked truth
//! (`tests/golden/scripted_rows.json`), including the correction made by the
//! batch that arrives after the others were written and committed.

mod common;

use common::{brokers, committed};

use std::sync::Arc;
use std::time::{Duration, Instant};

use invigil_pipeline::metrics::Metrics;
use invigil_pipeline::rows::{AnomalyRow, SessionRow, WindowRow};
use invigil_pipeline::scripted;
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::{SqlStore, Store};
use invigil_pipeline::topics;
use invigil_schemas::live::LiveCounters;
use invigil_schemas::migrations::Dialect;
use invigil_schemas::record::KafkaRecord;
use invigil_schemas::staff::{StaffAction, StaffOutcome};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use invigil_testkit::kafka::unique_topic as unique;

fn create_topics(topics: &[(&str, i32)]) {
    topics::create_topics(&brokers(), topics).unwrap_or_else(|e| panic!("{e}; is `ops/dev/services.sh up` running?"));
}

fn produce(topic: &str, records: &[KafkaRecord]) {
    topics::produce(&brokers(), topic, records).unwrap();
}

/// Produces raw values (staff actions, or anything) and waits for the acks.
fn produce_values(topic: &str, key: &str, values: &[Vec<u8>]) {
    use rdkafka::producer::{BaseRecord, Producer};
    let producer: rdkafka::producer::BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().unwrap();
    for value in values {
        producer.send(BaseRecord::to(topic).key(key).payload(value)).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// Two staff actions of the scripted candidate, as ingest writes them.
fn staff_actions(t0: i64) -> Vec<StaffAction> {
    let action = |n: u128, what: &str, outcome: StaffOutcome, detail: serde_json::Value| StaffAction {
        id: invigil_schemas::ids::Uuid::from_u128(n),
        at: t0 + n as i64 * 60_000,
        test_id: Some(invigil_schemas::ids::TestId::new(scripted::TEST).unwrap()),
        candidate_id: Some(invigil_schemas::ids::CandidateId::new(scripted::CANDIDATE).unwrap()),
        staff: "proctor-1".into(),
        role: "proctor".into(),
        action: what.into(),
        outcome,
        detail: detail.as_object().unwrap().clone(),
        node: "ingest-0".into(),
        client_ip_hash: 42,
    };
    vec![
        action(1, "lti.pause", StaffOutcome::Done, serde_json::json!({"status": "paused", "reason_msg": "two faces"})),
        action(2, "lti.flag", StaffOutcome::Failed, serde_json::json!({"error": "HTTP 503", "attempts": 3})),
    ]
}

fn last_live(topic: &str) -> Option<LiveCounters> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", "live-reader").create().unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&list).unwrap();
    let mut last = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => last = message.payload().and_then(|p| serde_json::from_slice(p).ok()),
            Some(Err(_)) | None => {
                if last.is_some() {
                    break;
                }
            }
        }
    }
    last
}

fn read_rows(store: &Store) -> (Vec<WindowRow>, Vec<AnomalyRow>, Vec<SessionRow>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        (
            store.select_final("1").await.unwrap(),
            store.select_final("1").await.unwrap(),
            store.select_final("1").await.unwrap(),
        )
    })
}

fn scalar(store: &Store, sql: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime
        .block_on(store.query_text(sql, "TabSeparated"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Runs the scripted exam through a pipeline writing to `store`.
/// Where the pipeline reads the scripted exam's config from.
#[derive(Clone, Copy)]
enum ConfigFrom {
    File,
    /// The config log, seeded as ingest seeds it: the same rows must come out.
    Log,
}

/// Points `settings` at the scripted config, in a file or on a fresh config log.
fn scripted_config(settings: &mut PipelineSettings, from: ConfigFrom, dir: &std::path::Path) {
    let document = scripted::config();
    match from {
        ConfigFrom::File => {
            let config_file = dir.join("config.json");
            std::fs::write(&config_file, serde_json::to_vec(&document).unwrap()).unwrap();
            settings.config_file = Some(config_file);
        }
        ConfigFrom::Log => {
            use invigil_schemas::config_log::kafka::{ConfigFollower, LogSettings};
            use invigil_schemas::config_log::{Outcome, Proposal};
            let topic = unique("config");
            let log = LogSettings {
                kafka: invigil_schemas::kafka_access::KafkaEndpoint::plaintext(brokers()),
                topic: topic.clone(),
            };
            let writer = ConfigFollower::start(log, |_| {}).unwrap();
            writer.wait_until_caught_up(Duration::from_secs(20)).unwrap();
            let proposal = Proposal {
                base: 0,
                write_id: invigil_schemas::ids::Uuid::from_u128(1),
                action: "seeded".into(),
                by: "test".into(),
                at_ms: 0,
                document,
            };
            assert_eq!(writer.write(&proposal, Duration::from_secs(10)).unwrap(), Outcome::Installed(1));
            settings.config_topic = Some(topic);
        }
    }
}

fn scripted_exam_equals_truth(store: Store, store_settings: StoreSettings, config_from: ConfigFrom) {
    let (topic, live_topic, group) = (unique("events"), unique("live"), unique("group"));
    let partitions = 4;
    create_topics(&[(&topic, partitions), (&live_topic, 1)]);
    // Recent, so the tables' 30-day TTL keeps the rows; the kept-back batch's
    // receipt (2 h after the end) is then in the future, which is harmless.
    let t0 = scripted::recent_t0(30);
    let mut records = scripted::records_at(t0);
    let kept_back = records.pop().unwrap();
    produce(&topic, &records);
    // Staff actions on their own topic: two, a record that is not one, and
    // the first again (a redelivery).
    let staff_topic = invigil_schemas::staff::staff_topic(&topic);
    create_topics(&[(&staff_topic, 1)]);
    let actions = staff_actions(t0);
    let key = format!("{}/{}", scripted::TEST, scripted::CANDIDATE);
    produce_values(
        &staff_topic,
        &key,
        &[actions[0].encode(), actions[1].encode(), b"not a staff action".to_vec(), actions[0].encode()],
    );

    let config_dir = tempfile::tempdir().unwrap();
    let mut settings = PipelineSettings::new(brokers(), store_settings);
    scripted_config(&mut settings, config_from, config_dir.path());
    settings.topic = topic.clone();
    settings.live_topic = live_topic.clone();
    settings.group_id = group.clone();
    settings.idle_partition_ms = 1_000;
    settings.flush_interval_ms = 100;
    settings.commit_interval_ms = 200;

    let pipeline = common::InProcess::start(settings, store.clone());
    let metrics = Arc::clone(&pipeline.metrics);

    let produced = records.len() as i64;
    invigil_testkit::wait::wait_for_and_print("first 121 records committed", Duration::from_secs(60), || {
        committed(&topic, &group) == produced
    });
    let minute8 = format!(
        "SELECT tab_switches FROM candidate_windows FINAL WHERE window_kind = 'minute' AND \
         toUnixTimestamp64Milli(window_start) = {}",
        t0 + 8 * 60_000
    );
    let minute8 = minute8.replace(
        "toUnixTimestamp64Milli(window_start)",
        match store.dialect() {
            Dialect::Modern => "toUnixTimestamp64Milli(window_start)",
            Dialect::Legacy => "window_start",
        },
    );
    assert_eq!(scalar(&store, &minute8), "0", "before the kept-back batch, minute 8 has no tab switch");

    // The staff actions are in their table once each, the record that was
    // not one skipped, and all four records committed.
    invigil_testkit::wait::wait_for_and_print("staff actions committed", Duration::from_secs(30), || {
        committed(&staff_topic, &format!("{group}-staff")) == 4
    });
    assert_eq!(
        scalar(&store, "SELECT action, outcome, staff, role, detail FROM staff_actions FINAL ORDER BY action_id"),
        "lti.pause\tdone\tproctor-1\tproctor\t{\"reason_msg\":\"two faces\",\"status\":\"paused\"}\n\
         lti.flag\tfailed\tproctor-1\tproctor\t{\"attempts\":3,\"error\":\"HTTP 503\"}"
    );

    // Two hours late (by its receipt time), after minute 8 was written. The
    // row sink now takes 1.5 s between an emission's windows and its session
    // rows: a commit that ran ahead of the rows it depends on would be seen
    // with the session row still stale.
    invigil_pipeline::faults::set_delay("row_sink_before_sessions", Duration::from_millis(1_500));
    produce(&topic, std::slice::from_ref(&kept_back));
    invigil_testkit::wait::wait_for_and_print("the late batch committed", Duration::from_secs(60), || {
        committed(&topic, &group) == produced + 1
    });
    assert_eq!(scalar(&store, &minute8), "1", "the late batch corrected minute 8");
    assert_eq!(
        scalar(&store, "SELECT batches FROM sessions FINAL"),
        (produced + 1).to_string(),
        "committed means every row the record changed is stored, the session row included"
    );

    let (windows, anomalies, sessions) = read_rows(&store);
    common::rendered::check("scripted_rows.json", &common::rendered::render(t0, &windows, &anomalies, &sessions));
    assert_eq!(scalar(&store, "SELECT count(), uniqExact(session_id, seq) FROM proctor_events FINAL"), "216\t216");

    let live = last_live(&live_topic).expect("live counters were published");
    assert_eq!((live.candidate_id.as_str(), live.counters.events), (scripted::CANDIDATE, 216));
    assert_eq!(live.counters.tab_switches, 3);
    assert_eq!(live.counters.face_flags, 2, "the no-face run of minute 2 and the different person of minutes 4-5");
    assert_eq!((live.counters.blur_count, live.counters.blur_ms), (1, 16_000), "blur time reaches the wall (SPEC §6)");
    let c = &live.counters;
    assert_eq!(
        (c.screens, c.other_tabs, c.screens_added, c.paste_chars, c.burst_s),
        (2, 0, 1, 115, 3),
        "the environment reaches the wall: two screens now, the second tab gone"
    );
    assert_eq!(c.hints, 1, "the software renderer, seen (unweighted)");
    assert_eq!(Metrics::get(&metrics.late_events), 43, "late events counted as they were read");

    // Everything committed: the probes say ready, and librdkafka's next
    // statistics (every 5 s) show no lag on any partition.
    assert_eq!(metrics.health.ready(), Ok(()));
    assert_eq!(metrics.health.alive(invigil_schemas::clock::now_ms()), Ok(()));
    let lag_zero = || {
        let text = metrics.prometheus();
        (0..partitions).all(|p| text.contains(&format!("invigil_pipeline_lag_records{{partition=\"{p}\"}} 0\n")))
    };
    let waited = std::time::Instant::now();
    while !lag_zero() && waited.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let lag: Vec<String> =
        metrics.prometheus().lines().filter(|l| l.contains("lag_records")).map(str::to_owned).collect();
    assert!(lag_zero(), "lag 0 on each of the 4 partitions within 15 s: {lag:?}");

    pipeline.stop();
    println!("metrics: {}", metrics.summary());
}

#[test]
fn scripted_exam_through_tansu_into_chdb_equals_truth() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Chdb(Arc::new(ChdbStore::open(dir.path()).expect("chDB opens (run ops/dev/services.sh up)")));
    scripted_exam_equals_truth(store, StoreSettings::Chdb { path: dir.path().to_owned() }, ConfigFrom::Log);
}

#[test]
fn scripted_exam_through_tansu_into_clickhouse_over_http_equals_truth() {
    let dialect = match std::env::var("INVIGIL_CLICKHOUSE_DIALECT").as_deref() {
        Ok("modern") => Dialect::Modern,
        _ => Dialect::Legacy,
    };
    let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let config = |database: &str| HttpConfig::plain(&url, database, dialect);
    let admin = Store::Http(HttpStore::new(&config("default")).unwrap());
    let database = format!("invigil_dataflow_{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(admin.execute(&format!("DROP DATABASE IF EXISTS {database}"))).expect("ClickHouse reachable");
    runtime.block_on(admin.execute(&format!("CREATE DATABASE {database}"))).unwrap();
    let store = Store::Http(HttpStore::new(&config(&database)).unwrap());
    scripted_exam_equals_truth(store, StoreSettings::Http(config(&database)), ConfigFrom::File);
    runtime.block_on(admin.execute(&format!("DROP DATABASE {database}"))).unwrap();
}

//! The store goes away mid-exam: a private ClickHouse 18.16 server is killed
//! while the pipeline runs. The pipeline must stop committing (offsets stay
//! behind the rows it could not write), back off, and once the server is
//! back finish with every event once and every window equal to the truth.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{brokers, committed};
use invigil_pipeline::metrics::Metrics;
use invigil_pipeline::rows::{EventRow, WindowRow};
use invigil_pipeline::scripted;
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::Store;
use invigil_pipeline::topics;
use invigil_schemas::migrations::Dialect;
use invigil_schemas::record::KafkaRecord;
use invigil_testkit::wait::wait_for;

use invigil_testkit::services::free_port;

/// A ClickHouse server of this test's own, so killing it disturbs no other
/// test. Same data directory across restarts.
struct PrivateClickHouse {
    dir: PathBuf,
    http: u16,
    child: Option<Child>,
}

impl PrivateClickHouse {
    fn start(dir: &Path) -> Self {
        let (http, tcp) = (free_port(), free_port());
        for sub in ["data", "tmp", "user_files"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let d = dir.display();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?><yandex><logger><level>warning</level><log>{d}/server.log</log>\
                 <errorlog>{d}/server.err.log</errorlog><console>0</console></logger>\
                 <listen_host>127.0.0.1</listen_host><http_port>{http}</http_port><tcp_port>{tcp}</tcp_port>\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>\
                 <users_config>{d}/users.xml</users_config><default_profile>default</default_profile>\
                 <default_database>default</default_database><mark_cache_size>268435456</mark_cache_size></yandex>"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            "<?xml version=\"1.0\"?><yandex><profiles><default/></profiles><users><default><password></password>\
             <networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>\
             <quotas><default/></quotas></yandex>",
        )
        .unwrap();
        let mut server = Self { dir: dir.to_owned(), http, child: None };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn restart(&mut self) {
        let child = Command::new("clickhouse-server")
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server runs (installed by ops/dev/services.sh up)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.http)).is_err() {
            assert!(Instant::now() < deadline, "private ClickHouse did not listen within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_store_outage_stops_commits_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut clickhouse = PrivateClickHouse::start(&dir.path().join("clickhouse"));
    let http = HttpConfig::plain(&clickhouse.url(), "default", Dialect::Legacy);
    let store = Store::Http(HttpStore::new(&http).unwrap());

    let suffix = format!("{}-{}", std::process::id(), Instant::now().elapsed().as_nanos() % 1_000_000);
    let (topic, group) = (format!("outage-events-{suffix}"), format!("outage-group-{suffix}"));
    topics::create_topics(&brokers(), &[(&topic, 4), (&format!("{topic}-live"), 1)])
        .unwrap_or_else(|e| panic!("{e}; is `ops/dev/services.sh up` running?"));
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, serde_json::to_vec(&scripted::config()).unwrap()).unwrap();

    let t0 = scripted::recent_t0(30);
    let exams: Vec<Vec<KafkaRecord>> = (1..=10).map(|n| scripted::records_of_candidate(t0, n)).collect();
    let (first, second): (Vec<_>, Vec<_>) = exams.iter().flatten().cloned().partition(|r| r.batch.batch_seq < 60);
    let producer = topics::RecordProducer::new(&brokers()).unwrap();
    producer.send(&topic, &first).unwrap();

    let mut settings = PipelineSettings::new(brokers(), StoreSettings::Http(http.clone()));
    settings.topic = topic.clone();
    settings.live_topic = format!("{topic}-live");
    settings.group_id = group.clone();
    settings.config_file = Some(config_file);
    settings.idle_partition_ms = 500;
    settings.flush_interval_ms = 50;
    settings.commit_interval_ms = 100;
    let pipeline = common::InProcess::start(settings, store.clone());
    wait_for("the first half committed", Duration::from_secs(60), || committed(&topic, &group) == first.len() as i64);

    // The store dies; the second half arrives meanwhile.
    clickhouse.kill();
    producer.send(&topic, &second).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let during = committed(&topic, &group);
    assert_eq!(during, first.len() as i64, "nothing is committed while the store cannot take rows");
    let errors = Metrics::get(&pipeline.metrics.store_errors);
    assert!(errors > 0, "the failed writes are counted");
    assert!(Metrics::get(&pipeline.metrics.records_read) > first.len() as u64, "records kept being read");

    clickhouse.restart();
    let recovery = wait_for("everything committed after the store returned", Duration::from_secs(60), || {
        committed(&topic, &group) == (first.len() + second.len()) as i64
    });
    pipeline.stop();
    println!(
        "store errors during the outage: {errors}; caught up {:.1} s after the store returned",
        recovery.as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let events: Vec<EventRow> = runtime.block_on(store.select_final("1")).unwrap();
    let total_events: usize = exams.iter().flatten().map(|r| r.batch.events.len()).sum();
    assert_eq!(events.len(), total_events, "every event exactly once under FINAL");
    let windows: Vec<WindowRow> = runtime.block_on(store.select_final("1")).unwrap();
    for exam in &exams {
        let candidate = exam[0].candidate_id.to_string();
        let mut stored: Vec<String> = windows
            .iter()
            .filter(|w| w.candidate_id == candidate)
            .map(|w| format!("{:?}", WindowRow { computed_at: 0, version: 0, ..w.clone() }))
            .collect();
        let mut expected: Vec<String> = scripted::expected_rows(exam, 15_000)
            .windows
            .iter()
            .map(|w| format!("{:?}", WindowRow { computed_at: 0, version: 0, ..w.clone() }))
            .collect();
        stored.sort();
        expected.sort();
        assert_eq!(stored, expected, "{candidate} windows");
    }
}

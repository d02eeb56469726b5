//! On the multi-host bed (`invigil bed`, network namespaces; needs root):
//! what only many machines can break.
//!
//! 1. One config version everywhere: two admins write 100 times through the
//!    balancer while SDK-like clients read the config; every write that won
//!    has its own version, the replicas end with the same history and the
//!    same document for each version, and no replica ever answers an older
//!    version than it did before.
//! 2. A spool that survives its process: ingest-1 is cut off from the
//!    broker, takes 1,000 batches into its spool (none reaches Kafka), is
//!    SIGKILLed, starts again on the same disk, and the link heals: every
//!    batch reaches Kafka and every event is stored exactly once. (Kafka
//!    itself may hold a batch twice: tansu runs without the idempotent
//!    producer, and the pipeline folds copies by session and seq.)
//! 3. A stop drains: ingest-2, cut off, takes 200 batches, gets SIGTERM,
//!    the link heals while it waits for its spool, and it exits with an
//!    empty spool and every event stored once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invigil_schemas::claims::StaffRole;
use invigil_testkit::batches::{batch, new_session};
use invigil_testkit::kafka::read_topic_until;
use invigil_testkit::tokens;
use serde_json::{json, Value};

const TEST_ID: &str = "bed-exam";

/// The bed, taken down when the test ends however it ends (logs are kept
/// in its directory when the test failed).
struct BedGuard {
    dir: PathBuf,
    status: String,
}

fn invigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_invigil"))
}

impl BedGuard {
    fn up(dir: &Path) -> Self {
        invigil_testkit::tools::beside(Path::new(env!("CARGO_BIN_EXE_invigil")));
        let secret = std::str::from_utf8(tokens::SECRET).unwrap();
        let output = invigil()
            .args(["bed", "--dir"])
            .arg(dir)
            .args(["up", "--for", "15m", "--token-secret", secret])
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "bed up: {status}{}", String::from_utf8_lossy(&output.stderr));
        Self { dir: dir.to_owned(), status }
    }

    fn bed(&self, args: &[&str]) {
        let output = invigil().args(["bed", "--dir"]).arg(&self.dir).args(args).output().unwrap();
        assert!(output.status.success(), "bed {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// A host's address, from `bed up`'s table.
    fn address(&self, host: &str) -> String {
        self.status
            .lines()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(host)).then(|| words.next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("{host} not in {}", self.status))
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{}:8080{path}", self.address(host))
    }
}

impl Drop for BedGuard {
    fn drop(&mut self) {
        let mut down = invigil();
        down.args(["bed", "--dir"]).arg(&self.dir).arg("down");
        if std::thread::panicking() {
            down.arg("--keep");
            eprintln!("bed logs kept in {}", self.dir.display());
        }
        let _ = down.output();
    }
}

#[test]
fn many_hosts_one_config_version_and_spools_that_survive() {
    assert!(unsafe { libc::geteuid() } == 0, "the bed makes network namespaces: run the tests as root (CI does)");
    let dir = PathBuf::from(format!("/tmp/invigil-bed-test-{}", std::process::id()));
    let bed = BedGuard::up(&dir);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(config_writes_through_the_balancer(&bed));
    spool_survives_a_kill(&bed);
    runtime.block_on(a_stop_drains_the_spool(&bed));
}

// ------------------------------------------------------------ config log --

async fn config_writes_through_the_balancer(bed: &BedGuard) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let admin = tokens::staff(StaffRole::Admin, &[]);
    let through = bed.url("lb", "");
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // SDK-like readers of the config: one on each replica, one through the
    // balancer; the versions each saw, in order.
    let readers: Vec<_> =
        [("ingest-1", bed.url("ingest-1", "")), ("ingest-2", bed.url("ingest-2", "")), ("lb", through.clone())]
            .into_iter()
            .map(|(name, base)| {
                let (http, stop) = (http.clone(), Arc::clone(&stop));
                let token = tokens::candidate(TEST_ID, &format!("reader-{name}"));
                tokio::spawn(async move {
                    let mut seen: Vec<u64> = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let reply = http.get(format!("{base}/api/v1/config")).bearer_auth(&token).send().await.unwrap();
                        assert_eq!(reply.status(), 200);
                        let body: Value = reply.json().await.unwrap();
                        seen.push(body["config_version"].as_u64().unwrap());
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    (name, seen)
                })
            })
            .collect();

    let writers: Vec<_> = (0..2u32)
        .map(|writer| {
            let (http, admin, through) = (http.clone(), admin.clone(), through.clone());
            tokio::spawn(async move {
                let mut won = Vec::new();
                let mut refused = 0;
                for i in 0..50u32 {
                    let reply =
                        http.get(format!("{through}/api/v1/admin/config")).bearer_auth(&admin).send().await.unwrap();
                    let current: Value = reply.json().await.unwrap();
                    let mut document = current["document"].clone();
                    document["defaults"]["events_interval_ms"] = json!(5_000 + writer * 1_000 + i);
                    let url = format!("{through}/api/v1/admin/config?if_version={}", current["version"]);
                    let reply = http.put(url).bearer_auth(&admin).json(&document).send().await.unwrap();
                    let status = reply.status().as_u16();
                    let body: Value = reply.json().await.unwrap();
                    match status {
                        200 => won.push((body["version"].as_u64().unwrap(), document)),
                        409 => {
                            assert_eq!(body["error"]["field"], "version", "{body}");
                            refused += 1;
                        }
                        other => panic!("write answered {other}: {body}"),
                    }
                }
                (won, refused)
            })
        })
        .collect();
    let mut won: BTreeMap<u64, Value> = BTreeMap::new();
    let mut refused = 0;
    for writer in writers {
        let (versions, lost) = writer.await.unwrap();
        refused += lost;
        for (version, document) in versions {
            assert!(won.insert(version, document).is_none(), "two writes both won version {version}");
        }
    }
    let first = *won.keys().next().unwrap();
    let newest = *won.keys().last().unwrap();
    assert_eq!(won.keys().copied().collect::<Vec<_>>(), (first..=newest).collect::<Vec<_>>(), "no gaps");
    assert!(won.len() >= 50, "of two racing writes one wins: {} won, {refused} refused", won.len());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    // Each replica: the same history and the same document per version.
    for host in ["ingest-1", "ingest-2"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = bed.url(host, "/api/v1/admin/config/history");
            let history: Value = http.get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
            if history["current"] == newest {
                let versions: Vec<u64> = serde_json::from_value(history["versions"].clone()).unwrap();
                assert_eq!(versions, (1..=newest).collect::<Vec<_>>(), "{host}: one history, no duplicates");
                break;
            }
            assert!(Instant::now() < deadline, "{host} did not reach version {newest}: {history}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (version, document) in &won {
            let url = bed.url(host, &format!("/api/v1/admin/config/history/{version}"));
            let stored: Value = http.get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
            assert_eq!(&stored["document"], document, "{host} version {version}");
        }
    }

    // What readers saw: a replica never went back; through the balancer,
    // an answer may come from the replica a moment behind (the SDK keeps
    // the newer version it holds), and how often is printed.
    let mut regressions_across = 0;
    let mut reads = 0;
    for reader in readers {
        let (name, seen) = reader.await.unwrap();
        reads += seen.len();
        assert!(seen.len() > 10, "{name} read the config while the writes ran");
        let backwards = seen.windows(2).filter(|w| w[1] < w[0]).count();
        if name == "lb" {
            regressions_across = backwards;
        } else {
            assert_eq!(backwards, 0, "{name} answered an older version than before: {seen:?}");
            assert!(seen.last().unwrap() > seen.first().unwrap(), "{name} saw the versions move");
        }
    }
    println!(
        "config log on the bed: {} writes won, {refused} refused (409), version {newest} on both replicas; \
         {reads} reads, {regressions_across} through the balancer older than the one before (the SDK keeps \
         the newer); {:.1} s",
        won.len(),
        started.elapsed().as_secs_f64()
    );
}

// ----------------------------------------------------------------- spool --

/// Posts `count` batches straight to `host` (not through the balancer), 20
/// per candidate session; every one must be accepted. The sessions used.
fn post_batches(bed: &BedGuard, host: &str, count: usize) -> Vec<String> {
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut sessions = Vec::new();
    for n in 0..count.div_ceil(20) {
        let session = new_session();
        let token = tokens::candidate(TEST_ID, &format!("{host}-cand-{n}"));
        for seq in 0..20.min(count - n * 20) as u64 {
            let reply = http
                .post(bed.url(host, "/api/v1/events"))
                .bearer_auth(&token)
                .json(&batch(&session, seq, seq * 3, 3))
                .send()
                .unwrap();
            assert_eq!(reply.status(), 200, "{}", reply.text().unwrap());
        }
        sessions.push(session);
    }
    sessions
}

fn ready(bed: &BedGuard, host: &str) -> Option<Value> {
    reqwest::blocking::get(bed.url(host, "/readyz")).ok()?.json().ok()
}

/// Every batch of `sessions` in the events topic, counted per (session, batch).
fn batches_in_kafka(bed: &BedGuard, sessions: &[String], expected: usize) -> BTreeMap<(String, u64), usize> {
    let brokers = format!("{}:9092", bed.address("broker"));
    let wanted: std::collections::HashSet<&String> = sessions.iter().collect();
    let count = |records: &[(String, invigil_schemas::record::KafkaRecord)]| {
        records.iter().filter(|(_, r)| wanted.contains(&r.batch.session_id.to_string())).count()
    };
    // Read a little past the expected count, so a duplicate would be seen.
    let records =
        read_topic_until(&brokers, "proctor_events", Duration::from_secs(60), |records| count(records) > expected);
    let mut counts = BTreeMap::new();
    for (_, record) in records.iter().filter(|(_, r)| wanted.contains(&r.batch.session_id.to_string())) {
        *counts.entry((record.batch.session_id.to_string(), record.batch.batch_seq)).or_insert(0) += 1;
    }
    counts
}

/// How many batches of `sessions` the events topic holds now.
fn batches_in_kafka_now(bed: &BedGuard, sessions: &[String]) -> usize {
    let brokers = format!("{}:9092", bed.address("broker"));
    let wanted: std::collections::HashSet<&String> = sessions.iter().collect();
    let end = invigil_pipeline::topics::end_total(&brokers, "proctor_events").unwrap() as usize;
    let records = read_topic_until(&brokers, "proctor_events", Duration::from_secs(30), |records| records.len() >= end);
    records.iter().filter(|(_, r)| wanted.contains(&r.batch.session_id.to_string())).count()
}

/// `(rows, distinct session+seq)` of `sessions` in ClickHouse (through the
/// balancer, `FINAL`), once `expected` rows are there or 60 s passed.
fn stored_events(bed: &BedGuard, sessions: &[String], expected: u64) -> (u64, u64) {
    let list: Vec<String> = sessions.iter().map(|s| format!("'{s}'")).collect();
    let sql = format!(
        "SELECT count(), uniqExact(session_id, seq) FROM invigil.proctor_events FINAL \
         WHERE test_id = '{TEST_ID}' AND toString(session_id) IN ({})",
        list.join(",")
    );
    let url = format!("http://{}:8123/", bed.address("lb"));
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = http.post(&url).body(sql.clone()).send().and_then(|r| r.text()).unwrap_or_default();
        let mut numbers = text.split_whitespace().filter_map(|n| n.parse::<u64>().ok());
        let counts = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if counts.0 >= expected || Instant::now() > deadline {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn spool_survives_a_kill(bed: &BedGuard) {
    bed.bed(&["block", "ingest-1", "broker"]);
    let sessions = post_batches(bed, "ingest-1", 1_000);
    let state = ready(bed, "ingest-1").unwrap();
    assert_eq!(state["spool"]["active"], true, "cut off from the broker, the batches are spooled: {state}");
    let early = batches_in_kafka_now(bed, &sessions);
    assert_eq!(early, 0, "while cut off, none reached Kafka");

    bed.bed(&["kill", "ingest-1"]);
    bed.bed(&["start", "ingest-1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready(bed, "ingest-1").is_none() {
        assert!(Instant::now() < deadline, "ingest-1 did not serve again after its restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    let state = ready(bed, "ingest-1").unwrap();
    assert_eq!(state["spool"]["active"], true, "the restart found the spool on its disk: {state}");

    bed.bed(&["unblock", "ingest-1", "broker"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while ready(bed, "ingest-1").is_none_or(|s| s["spool"]["active"] == true) {
        assert!(Instant::now() < deadline, "the spool did not drain after the link healed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let counts = batches_in_kafka(bed, &sessions, 1_000);
    assert_eq!(counts.len(), 1_000, "every batch reached Kafka");
    let twice = counts.values().filter(|n| **n > 1).count();
    let events = stored_events(bed, &sessions, 3_000);
    assert_eq!(events, (3_000, 3_000), "every event stored exactly once (rows, distinct session+seq)");
    println!(
        "spool on the bed: 1,000 batches spooled, ingest-1 SIGKILLed and restarted on its disk: all 1,000 in Kafka \
         ({twice} twice: the broker runs without idempotence, see KafkaSettings), 3,000 events stored once each"
    );
}

async fn a_stop_drains_the_spool(bed: &BedGuard) {
    bed.bed(&["block", "ingest-2", "broker"]);
    let sessions = tokio::task::block_in_place(|| post_batches(bed, "ingest-2", 200));
    // SIGTERM while still cut off. The producer's flush gives up after
    // 10 s; the link comes back 12 s in, while the stop waits for the spool.
    let dir = bed.dir.clone();
    let stop = tokio::task::spawn_blocking(move || {
        invigil().args(["bed", "--dir"]).arg(&dir).args(["stop", "ingest-2", "--limit", "60s"]).output().unwrap()
    });
    tokio::time::sleep(Duration::from_secs(12)).await;
    bed.bed(&["unblock", "ingest-2", "broker"]);
    let stopped = stop.await.unwrap();
    assert!(stopped.status.success(), "ingest-2 exited by itself: {}", String::from_utf8_lossy(&stopped.stderr));
    let log = std::fs::read_to_string(bed.dir.join("ingest-2/ingest.log")).unwrap();
    assert!(log.contains("replaying the spool first"), "the stop waited for the spool");
    assert!(log.contains("ingest stopped; the spool is empty"), "{}", &log[log.len().saturating_sub(2000)..]);
    let counts = tokio::task::block_in_place(|| batches_in_kafka(bed, &sessions, 200));
    assert_eq!(counts.len(), 200, "every batch reached Kafka");
    let events = tokio::task::block_in_place(|| stored_events(bed, &sessions, 600));
    assert_eq!(events, (600, 600), "every event stored exactly once");
    bed.bed(&["start", "ingest-2"]);
    println!("drain on stop: 200 batches spooled, SIGTERM, link healed during the drain, exit with an empty spool");
}

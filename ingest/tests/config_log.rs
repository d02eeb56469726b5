//! The config log with several replicas, against the real broker: one
//! version everywhere, a stale write refused with 409 naming `version`, and
//! no two concurrent writes both winning.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use invigil_schemas::claims::StaffRole;
use invigil_schemas::config_log::kafka::{ConfigFollower, LogSettings};
use invigil_testkit::front_door::*;
use invigil_testkit::kafka::unique_topic;
use invigil_testkit::wait::wait_for;
use invigil_testkit::{services, tokens};
use serde_json::{json, Value};

async fn replica(events: &str, config_topic: &str) -> Running {
    let mut options = Options::shared(events.to_owned());
    options.config_topic = Some(config_topic.to_owned());
    Running::start(options).await
}

/// A first replica on a fresh log, with version 2 (interval 7 s) written
/// through it: the replica, an admin token and version 2's document.
async fn at_version_2(events: &str, config_topic: &str) -> (Running, String, Value) {
    let first = replica(events, config_topic).await;
    let admin = tokens::staff(StaffRole::Admin, &[]);
    let (_, mut document) = read(&first, &admin).await;
    document["defaults"]["events_interval_ms"] = json!(7_000);
    assert_eq!(put(&first, &admin, "?if_version=1", &document).await, (200, json!({"version": 2})));
    (first, admin, document)
}

/// `GET /api/v1/admin/config` on `replica`: (version, document).
async fn read(replica: &Running, admin: &str) -> (u64, Value) {
    let reply: Value = replica
        .http
        .get(replica.url("/api/v1/admin/config"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (reply["version"].as_u64().unwrap(), reply["document"].clone())
}

async fn put(replica: &Running, admin: &str, query: &str, document: &Value) -> (u16, Value) {
    let url = replica.url(&format!("/api/v1/admin/config{query}"));
    let (status, _, body) = parts(replica.http.put(url).bearer_auth(admin).json(document).send().await.unwrap()).await;
    (status, body)
}

/// Two admins, each reading from one replica and writing through the other,
/// 50 writes each with `if_version`: every success has its own version,
/// every refusal is a 409 naming `version`, and both replicas (and a
/// pipeline-like follower) end with the same history and documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_version_and_concurrent_writes_never_both_win() {
    let config_topic = unique_topic("config-log");
    let events = unique_topic("config-log-events");
    let replicas = Arc::new([replica(&events, &config_topic).await, replica(&events, &config_topic).await]);
    let admin = tokens::staff(StaffRole::Admin, &[]);
    assert_eq!(read(&replicas[0], &admin).await.0, 1, "the first replica seeded the empty log");
    assert_eq!(read(&replicas[1], &admin).await.0, 1, "the second read the seed, not a seed of its own");

    let writers: Vec<_> = (0..2usize)
        .map(|writer| {
            let (replicas, admin) = (Arc::clone(&replicas), admin.clone());
            tokio::spawn(async move {
                let mut won = Vec::new();
                for i in 0..50u32 {
                    let (from, to) = (&replicas[(writer + i as usize) % 2], &replicas[(writer + i as usize + 1) % 2]);
                    let (version, mut document) = read(from, &admin).await;
                    document["defaults"]["events_interval_ms"] = json!(5_000 + writer as u32 * 1_000 + i);
                    let (status, body) = put(to, &admin, &format!("?if_version={version}"), &document).await;
                    match status {
                        200 => won.push((body["version"].as_u64().unwrap(), document)),
                        409 => {
                            assert_eq!(body["error"]["code"], "conflict", "{body}");
                            assert_eq!(body["error"]["field"], "version", "{body}");
                        }
                        other => panic!("unexpected {other}: {body}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut won: BTreeMap<u64, Value> = BTreeMap::new();
    for writer in writers {
        for (version, document) in writer.await.unwrap() {
            assert!(won.insert(version, document).is_none(), "two writes both won version {version}");
        }
    }
    let newest = 1 + won.len() as u64;
    assert_eq!(won.keys().copied().collect::<Vec<_>>(), (2..=newest).collect::<Vec<_>>(), "no gaps");
    assert!(won.len() >= 50, "at least one of each pair of racing writes wins: {} won", won.len());

    for replica in replicas.iter() {
        wait_for("the replica to read every write", Duration::from_secs(10), || {
            replica.state.config.current().version == newest
        });
        assert_eq!(replica.state.config.history().unwrap(), (1..=newest).collect::<Vec<_>>());
        for (version, document) in &won {
            let stored = serde_json::to_value(replica.state.config.load_version(*version).unwrap()).unwrap();
            assert_eq!(&stored, document, "version {version}");
        }
    }

    // What the pipeline follows sees the same version.
    let settings = LogSettings {
        kafka: invigil_schemas::kafka_access::KafkaEndpoint::plaintext(services::brokers()),
        topic: config_topic.clone(),
    };
    let follower = tokio::task::spawn_blocking(move || {
        let follower = ConfigFollower::start(settings, |_| {}).unwrap();
        follower.wait_until_caught_up(Duration::from_secs(20)).unwrap();
        follower
    })
    .await
    .unwrap();
    assert_eq!(follower.current().unwrap().0, newest);
    assert_eq!(serde_json::to_value(&*follower.current().unwrap().1).unwrap(), won[&newest]);

    // A candidate gets the same version from either replica.
    let candidate = tokens::candidate("exam-1", "cand-1");
    for replica in replicas.iter() {
        let reply: Value = replica
            .http
            .get(replica.url("/api/v1/config"))
            .bearer_auth(&candidate)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["config_version"], newest);
    }
    let replicas = Arc::into_inner(replicas).expect("the writers are done");
    for replica in replicas {
        replica.stop().await;
    }
}

/// A write based on an old version changes nothing and says which version
/// is in force; a rollback can be conditional too; a bad `if_version` is a
/// 400 naming it; a replica started later reads the same history.
#[tokio::test]
async fn stale_writes_are_refused_by_name_and_a_new_replica_reads_the_history() {
    let config_topic = unique_topic("config-stale");
    let events = unique_topic("config-stale-events");
    let (first, admin, mut document) = at_version_2(&events, &config_topic).await;

    document["defaults"]["events_interval_ms"] = json!(9_000);
    let (status, body) = put(&first, &admin, "?if_version=1", &document).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["field"], "version");
    assert!(body["error"]["message"].as_str().unwrap().contains("version 2 is in force"), "{body}");
    assert_eq!(read(&first, &admin).await.1["defaults"]["events_interval_ms"], 7_000, "nothing changed");

    let (status, body) = put(&first, &admin, "?if_version=abc", &document).await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("if_version")), "{body}");

    let rollback = |query: &'static str| {
        let url = first.url(&format!("/api/v1/admin/config/rollback{query}"));
        let request = first.http.post(url).bearer_auth(&admin);
        async move { parts(request.send().await.unwrap()).await }
    };
    assert_eq!(rollback("?if_version=1").await.0, 409);
    let (status, _, body) = rollback("?if_version=2").await;
    assert_eq!((status, body), (200, json!({"version": 3})));
    assert_eq!(read(&first, &admin).await.1["defaults"]["events_interval_ms"], 5_000, "back to version 1's document");

    // Without if_version a write goes over whatever is in force.
    assert_eq!(put(&first, &admin, "", &document).await, (200, json!({"version": 4})));
    let later = replica(&events, &config_topic).await;
    assert_eq!(later.state.config.history().unwrap(), vec![1, 2, 3, 4], "no second seed, no duplicates");
    assert_eq!(read(&later, &admin).await, read(&first, &admin).await);
    first.stop().await;
    later.stop().await;
}

/// A replica must start while the broker is away (it spools batches then):
/// it serves the version it last read from the log, cached beside its
/// spool, and refuses config writes with a 503 that says why.
#[tokio::test]
async fn a_replica_starting_without_the_broker_serves_the_version_it_cached() {
    let config_topic = unique_topic("config-cache");
    let events = unique_topic("config-cache-events");
    let (first, admin, mut document) = at_version_2(&events, &config_topic).await;
    let cache = first.dir.path().join("spool/config-log-cache.json");
    wait_for("the version cached", Duration::from_secs(10), || {
        std::fs::read_to_string(&cache).is_ok_and(|text| text.contains("\"version\":2"))
    });
    let dir = first.stop().await;

    // The same disk, and a broker address where nothing listens.
    let mut options = Options::shared(events.clone());
    options.config_topic = Some(config_topic);
    options.brokers = "127.0.0.1:9".into();
    let started = std::time::Instant::now();
    let offline = Running::start_in(options, dir).await;
    println!("started without the broker in {:.1} s", started.elapsed().as_secs_f64());
    let candidate = tokens::candidate("exam-1", "cand-1");
    let reply: Value = offline
        .http
        .get(offline.url("/api/v1/config"))
        .bearer_auth(&candidate)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["config_version"], 2);
    assert_eq!(reply["config"]["events_interval_ms"], 7_000);
    document["defaults"]["events_interval_ms"] = json!(9_000);
    let (status, body) = put(&offline, &admin, "?if_version=2", &document).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cannot be read now"), "{body}");
    offline.stop().await;
}

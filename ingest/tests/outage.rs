//! Kafka goes away mid-exam: candidates keep getting 200, batches are
//! spooled to disk, and when the broker returns every batch reaches the
//! topic in order per candidate. Uses a private tansu this test can kill.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use invigil_testkit::batches::{batch, new_session};
use invigil_testkit::broker::PrivateBroker;
use invigil_testkit::front_door::*;
use invigil_testkit::kafka::*;
use invigil_testkit::tokens;
use serde_json::json;

const CANDIDATES: usize = 5;

async fn send_round(ingest: &Running, tokens: &[String], sessions: &[String], round: u64) {
    for (token, session) in tokens.iter().zip(sessions) {
        let (status, _, reply) = ingest.post_events(token, &batch(session, round, round * 4, 4)).await;
        assert_eq!(
            (status, reply),
            (200, json!({"status": "ok", "accepted": 4, "config_version": 1})),
            "round {round}"
        );
    }
}

async fn wait_drained(ingest: &Running, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let ready: serde_json::Value =
            ingest.http.get(ingest.url("/readyz")).send().await.unwrap().json().await.unwrap();
        if ready["spool"]["active"] == false {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "spool not drained within {limit:?}: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_spools_and_replays_in_order() {
    let broker_dir = tempfile::tempdir().unwrap();
    let mut broker = PrivateBroker::start(broker_dir.path().join("tansu"));
    let topic = "proctor_events_outage";
    create_topic(&broker.brokers(), topic, 3).await;

    let mut options = Options::shared(topic.into());
    options.brokers = broker.brokers();
    options.ack_timeout_ms = 500;
    options.message_timeout_ms = 3000;
    let ingest = Running::start(options).await;
    let tokens: Vec<String> = (0..CANDIDATES).map(|i| tokens::candidate("exam-1", &format!("cand-{i}"))).collect();
    let sessions: Vec<String> = (0..CANDIDATES).map(|_| new_session()).collect();

    for round in 0..3 {
        send_round(&ingest, &tokens, &sessions, round).await;
    }
    // A cold producer may miss the first ack deadline (metadata, producer id),
    // which spools that batch and queues the next ones behind it; all of it
    // drains while the broker is up.
    wait_drained(&ingest, Duration::from_secs(30)).await;
    let before = ingest.metric("invigil_ingest_spooled_total").await;

    broker.kill();
    let outage = Instant::now();
    for round in 3..7 {
        send_round(&ingest, &tokens, &sessions, round).await;
    }
    let spooled = ingest.metric("invigil_ingest_spooled_total").await - before;
    assert!(spooled >= (4 * CANDIDATES) as f64 - 1.0, "spooled {spooled}");
    let ready: serde_json::Value = ingest.http.get(ingest.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!((ready["ready"].as_bool(), ready["spool"]["active"].as_bool()), (Some(true), Some(true)), "{ready}");
    eprintln!("outage: {} batches answered 200 in {:?} with the broker down", 4 * CANDIDATES, outage.elapsed());

    broker.restart();
    for round in 7..10 {
        send_round(&ingest, &tokens, &sessions, round).await;
    }
    let drained = wait_drained(&ingest, Duration::from_secs(90)).await;
    eprintln!("spool drained {drained:?} after the last batch");
    assert!(ingest.metric("invigil_ingest_replayed_total").await >= before + spooled);

    let distinct = |records: &[(String, invigil_schemas::record::KafkaRecord)]| {
        records.iter().map(|(key, r)| (key.clone(), r.batch.batch_seq)).collect::<HashSet<_>>().len()
    };
    let records =
        read_topic_until(&broker.brokers(), topic, Duration::from_secs(30), |r| distinct(r) >= 10 * CANDIDATES);
    eprintln!("{} records for {} distinct batches", records.len(), distinct(&records));
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, record) in &records {
        order.entry(key.clone()).or_default().push(record.batch.batch_seq);
    }
    assert_eq!(order.len(), CANDIDATES);
    for (key, seqs) in order {
        // A batch whose ack timed out may appear twice (librdkafka's copy and
        // the spool's); first appearances must be exactly 0..10 in order.
        let mut seen = HashSet::new();
        let first: Vec<u64> = seqs.iter().copied().filter(|s| seen.insert(*s)).collect();
        assert_eq!(first, (0..10).collect::<Vec<_>>(), "{key}: {seqs:?}");
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted, "{key}: never out of order, duplicates adjacent");
    }
    ingest.stop().await;
}

//! Signed webhooks against the real broker and ClickHouse, delivered over
//! real HTTP to scripted receivers, every signature checked with the
//! `standardwebhooks` crate (an implementation independent of ours):
//!
//! - a receiver that fails, then times out, then recovers gets every notice
//!   (0 lost), while a dead endpoint beside it holds nobody up, and a
//!   subscriber of one type gets that type only; a notice past its time to
//!   give up is given up at its first failure; every attempt is in
//!   `webhook_deliveries`; after a restart the dispatcher resumes where its
//!   endpoints settled;
//! - a pipeline reading candidates' batches announces their sessions'
//!   news: started, flagged (one per anomaly window), ended.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use invigil_pipeline::rows::WebhookDeliveryRow;
use invigil_pipeline::scripted;
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::migrate;
use invigil_pipeline::store::{SqlStore, Store};
use invigil_pipeline::topics;
use invigil_pipeline::webhooks::dispatch::{DispatchSettings, Dispatcher};
use invigil_pipeline::webhooks::endpoint::{resolve_all, Endpoint, WebhooksFile};
use invigil_pipeline::webhooks::outbox::Outbox;
use invigil_schemas::ids::Uuid;
use invigil_schemas::migrations::Dialect;
use invigil_schemas::webhook::{notice_id, outbox_topic, Notice, NoticeKind};
use invigil_testkit::services::brokers;
use invigil_testkit::wait::wait_for;
use invigil_testkit::webhook_receiver::{Answer, Received, Receiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A fresh database on the dev ClickHouse, migrated.
fn store(runtime: &tokio::runtime::Runtime, tag: &str) -> (Store, HttpConfig) {
    let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let database = format!("invigil_{tag}_{}", std::process::id());
    let admin = HttpStore::new(&HttpConfig::plain(&url, "default", Dialect::Legacy)).unwrap();
    runtime.block_on(async {
        admin
            .execute(&format!("DROP DATABASE IF EXISTS {database}"))
            .await
            .unwrap_or_else(|e| panic!("ClickHouse at {url}: {e}; is `ops/dev/services.sh up` running?"));
        admin.execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    });
    let config = HttpConfig::plain(&url, &database, Dialect::Legacy);
    let store = Store::Http(HttpStore::new(&config).unwrap());
    (store, config)
}

fn endpoints(toml_text: &str) -> Vec<Endpoint> {
    let file: WebhooksFile = toml::from_str(toml_text).unwrap();
    resolve_all(file, |_| None).unwrap()
}

/// The requests a receiver answered 2xx, by `webhook-id`, each verified.
fn delivered(receiver: &Receiver) -> BTreeMap<String, serde_json::Value> {
    let reference = standardwebhooks::Webhook::new(SECRET).unwrap();
    let mut out = BTreeMap::new();
    for request in receiver.received() {
        verify(&reference, &request);
        if matches!(request.answer, Answer::Status(200..=299)) {
            out.insert(request.headers["webhook-id"].clone(), serde_json::from_slice(&request.body).unwrap());
        }
    }
    out
}

fn verify(reference: &standardwebhooks::Webhook, request: &Received) {
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, request.headers[name].parse().unwrap());
    }
    reference.verify(&request.body, &headers).unwrap_or_else(|e| panic!("a bad signature: {e:?}"));
    assert_eq!(request.headers["content-type"], "application/json");
}

fn notice(n: usize, kind: NoticeKind) -> Notice {
    let mut data = serde_json::Map::new();
    data.insert("n".into(), n.into());
    Notice {
        id: notice_id(kind, &format!("session-{n}"), ""),
        kind,
        at: 1_764_000_000_000 + n as i64,
        created_at: invigil_schemas::clock::now_ms(),
        test_id: "exam-hooks".into(),
        candidate_id: format!("cand-{n}"),
        session_id: Some(Uuid::from_u128(n as u128)),
        data,
        only_endpoint: None,
        sent_payload: None,
    }
}

fn log_rows(runtime: &tokio::runtime::Runtime, store: &Store, endpoint: &str) -> Vec<WebhookDeliveryRow> {
    runtime.block_on(store.select_final(&format!("endpoint = '{endpoint}'"))).unwrap()
}

#[test]
fn every_notice_reaches_a_receiver_that_fails_times_out_and_recovers() {
    let runtime = Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());
    let (store, _) = store(&runtime, "hooks");
    runtime.block_on(migrate(&store)).expect("migrated");
    // Three failures, two answers too late, then all well.
    let flaky = runtime.block_on(Receiver::start(|n, _| match n {
        0..=2 => Answer::Status(500),
        3..=4 => Answer::Hang(Duration::from_secs(3)),
        _ => Answer::Status(204),
    }));
    let flags = runtime.block_on(Receiver::start(|_, _| Answer::Status(200)));
    let dead = format!("http://127.0.0.1:{}/hooks", invigil_testkit::services::free_port());
    let config = format!(
        r#"
        [[endpoint]]
        name = "flaky"
        url = "{flaky}"
        secret = "{SECRET}"
        timeout_ms = 500
        first_backoff_ms = 100
        max_backoff_ms = 1000
        [[endpoint]]
        name = "flags-only"
        url = "{flags}"
        secret = "{SECRET}"
        events = ["session.flagged"]
        [[endpoint]]
        name = "dead"
        url = "{dead}"
        secret = "{SECRET}"
        first_backoff_ms = 200
        [[endpoint]]
        name = "doomed"
        url = "{dead}"
        secret = "{SECRET}"
        give_up_after_ms = 0
        "#,
        flaky = flaky.url(),
        flags = flags.url(),
    );
    let events_topic = invigil_testkit::kafka::unique_topic("hooks");
    let kafka = invigil_schemas::kafka_access::KafkaEndpoint::plaintext(brokers());
    let start = |stop: &Arc<AtomicBool>| {
        let settings = DispatchSettings {
            kafka: kafka.clone(),
            topic: outbox_topic(&events_topic),
            group_prefix: format!("{events_topic}-group"),
            endpoints: endpoints(&config),
        };
        let dispatcher = Dispatcher::start(settings, store.clone(), Arc::clone(&runtime), Arc::clone(stop)).unwrap();
        let counts = Arc::clone(&dispatcher.counts);
        wait_for("every endpoint following the outbox", Duration::from_secs(30), || {
            counts.endpoints_ready.load(Ordering::Relaxed) == 4
        });
        dispatcher
    };
    let stop = Arc::new(AtomicBool::new(false));
    let dispatcher = start(&stop);

    let outbox = Outbox::new(&kafka, &events_topic).unwrap();
    let kinds = [NoticeKind::SessionStarted, NoticeKind::SessionFlagged, NoticeKind::SessionEnded];
    let first: Vec<Notice> = (0..30).map(|n| notice(n, kinds[n % 3])).collect();
    runtime.block_on(outbox.send(&first)).expect("the broker took the notices");
    let ids = |notices: &[Notice]| notices.iter().map(|n| n.message_id()).collect::<BTreeSet<_>>();
    let expected = ids(&first);
    let took = wait_for("every notice delivered to the flaky receiver", Duration::from_secs(60), || {
        delivered(&flaky).keys().cloned().collect::<BTreeSet<_>>() == expected
    });
    println!("30 notices through 3 failures and 2 timeouts: {:.1} s", took.as_secs_f64());
    // The flagged ones only, to the subscriber of that type, unaffected by
    // the dead endpoint beside it.
    let flagged: BTreeSet<String> =
        first.iter().filter(|n| n.kind == NoticeKind::SessionFlagged).map(Notice::message_id).collect();
    wait_for("the flagged notices delivered", Duration::from_secs(10), || {
        delivered(&flags).keys().cloned().collect::<BTreeSet<_>>() == flagged
    });
    let requests = flaky.received();
    assert!(requests.len() >= 35, "5 failed attempts were retried: {} requests", requests.len());
    // Payloads follow the convention and carry the notice.
    let body = &delivered(&flaky)[&first[1].message_id()];
    assert_eq!(body["type"], "session.flagged");
    assert_eq!(body["data"]["candidate_id"], "cand-1");
    assert_eq!(body["data"]["n"], 1);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    // Every attempt is logged: the failures with why, then delivery.
    wait_for("the delivery log written", Duration::from_secs(20), || {
        let rows = log_rows(&runtime, &store, "flaky");
        rows.iter().filter(|r| r.outcome == "delivered").count() >= 30
    });
    let rows = log_rows(&runtime, &store, "flaky");
    let errors: Vec<&str> = rows.iter().filter(|r| r.outcome == "retrying").map(|r| r.error.as_str()).collect();
    assert!(errors.iter().filter(|e| e.contains("HTTP 500")).count() >= 3, "{errors:?}");
    assert!(errors.iter().filter(|e| e.contains("no answer in 500 ms")).count() >= 2, "{errors:?}");
    let delivered_ids: BTreeSet<Uuid> = rows.iter().filter(|r| r.outcome == "delivered").map(|r| r.notice_id).collect();
    assert_eq!(delivered_ids.len(), 30);
    assert!(rows.iter().all(|r| r.payload.contains("\"type\"")), "the sent body is kept for redelivery");
    let dead_rows = log_rows(&runtime, &store, "dead");
    assert!(!dead_rows.is_empty() && dead_rows.iter().all(|r| r.outcome == "retrying" && r.status == 0));
    assert!(dead_rows.iter().all(|r| r.next_attempt_at > r.at), "each failure says when the next attempt is due");
    // Past its time to give up, a failure is the last attempt.
    wait_for("every doomed notice given up", Duration::from_secs(20), || {
        log_rows(&runtime, &store, "doomed").iter().filter(|r| r.outcome == "gave_up").count() == 30
    });
    assert!(log_rows(&runtime, &store, "doomed").iter().all(|r| r.attempt == 1 && r.next_attempt_at == 0));

    // A restart resumes where each endpoint settled: the next notices
    // arrive, and what was delivered before is not all sent again.
    dispatcher.join();
    let before = flaky.received().len();
    let second: Vec<Notice> = (30..40).map(|n| notice(n, NoticeKind::SessionEnded)).collect();
    runtime.block_on(outbox.send(&second)).unwrap();
    let dispatcher = start(&Arc::new(AtomicBool::new(false)));
    let all: BTreeSet<String> = expected.union(&ids(&second)).cloned().collect();
    wait_for("the notices sent while it was down delivered", Duration::from_secs(30), || {
        delivered(&flaky).keys().cloned().collect::<BTreeSet<_>>() == all
    });
    let again = flaky.received().len() - before;
    assert!(again < 20, "{again} requests after the restart for 10 new notices: the settled ones stayed settled");
    dispatcher.join();
}

#[test]
fn a_pipeline_announces_each_sessions_news_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (store, http) = store(&runtime, "hooks_pipeline");
    let receiver = runtime.block_on(Receiver::start(|_, _| Answer::Status(200)));
    let topic = invigil_testkit::kafka::unique_topic("hooks-events");
    topics::create_topics(&brokers(), &[(&topic, 2), (&format!("{topic}-live"), 1)])
        .unwrap_or_else(|e| panic!("{e}; is `ops/dev/services.sh up` running?"));
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("config.json");
    std::fs::write(&config_file, serde_json::to_vec(&scripted::config()).unwrap()).unwrap();

    let mut settings = PipelineSettings::new(brokers(), StoreSettings::Http(http));
    settings.topic = topic.clone();
    settings.live_topic = format!("{topic}-live");
    settings.group_id = format!("{topic}-group");
    settings.config_file = Some(config_file);
    settings.idle_partition_ms = 500;
    settings.flush_interval_ms = 50;
    settings.commit_interval_ms = 100;
    settings.webhooks = endpoints(&format!(
        "[[endpoint]]\nname = \"host\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\nfirst_backoff_ms = 100",
        receiver.url()
    ));
    let pipeline = common::InProcess::start(settings, store);
    // The dispatcher starts at the end of the outbox: let it get there
    // before the candidates' batches arrive.
    std::thread::sleep(Duration::from_secs(3));

    let t0 = scripted::recent_t0(30);
    let exams: Vec<_> = (1..=3).map(|n| scripted::records_of_candidate(t0, n)).collect();
    let producer = topics::RecordProducer::new(&brokers()).unwrap();
    for exam in &exams {
        producer.send(&topic, exam).unwrap();
    }
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for exam in &exams {
        let rows = scripted::expected_rows(exam, 15_000);
        let candidate = exam[0].candidate_id.to_string();
        *want.entry(format!("{candidate} session.started")).or_default() += 1;
        *want.entry(format!("{candidate} session.ended")).or_default() += 1;
        *want.entry(format!("{candidate} session.flagged")).or_default() += rows.anomalies.len();
    }
    let got = || {
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for body in delivered(&receiver).values() {
            let key = format!("{} {}", body["data"]["candidate_id"].as_str().unwrap(), body["type"].as_str().unwrap());
            *got.entry(key).or_default() += 1;
        }
        got
    };
    let took = wait_for("each session's news delivered", Duration::from_secs(90), || got() == want);
    println!("{} notices for 3 candidates in {:.1} s: {want:?}", want.values().sum::<usize>(), took.as_secs_f64());
    pipeline.stop();
    // Distinct ids (a duplicate would carry one it already had).
    let requests = receiver.received();
    let unique: BTreeSet<&String> = requests.iter().map(|r| &r.headers["webhook-id"]).collect();
    assert_eq!(unique.len(), want.values().sum::<usize>(), "one id per piece of news");
}

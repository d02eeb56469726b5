//! The review SQL pack (`dashboards/sql/*.sql`) runs against chDB loaded
//! with the scripted exam — the rows the pipeline writes for it — and every
//! query returns its golden rows (`tests/golden/sql/<name>.tsv`).
//!
//! Loaded: candidates cand-1..3 take the scripted exam as written (identical
//! tab-switch patterns), cand-4 takes it without ever leaving the tab, and
//! cand-9 sits a second test. Query parameters use ClickHouse's
//! `{name:Type}` syntax, set here with `SET param_name = …` as
//! `clickhouse-client --param_name=…` would.

mod common;

use std::sync::Arc;

use invigil_pipeline::rows::EventRow;
use invigil_pipeline::scripted::{self, T0};
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::migrate::migrate;
use invigil_pipeline::store::Store;
use invigil_schemas::event::EventBody;
use invigil_schemas::ids::TestId;
use invigil_schemas::record::KafkaRecord;

const TABLES: [&str; 7] =
    ["proctor_events", "candidate_windows", "anomalies", "sessions", "reviews", "staff_actions", "webhook_deliveries"];

fn exams() -> Vec<Vec<KafkaRecord>> {
    let mut exams: Vec<Vec<KafkaRecord>> = (1..=3).map(|n| scripted::records_of_candidate(T0, n)).collect();
    let mut calm = scripted::records_of_candidate(T0, 4);
    for record in &mut calm {
        record.batch.events.retain(|e| !matches!(e.body, EventBody::Visibility(_)));
    }
    calm.retain(|r| !r.batch.events.is_empty());
    exams.push(calm);
    let mut other = scripted::records_of_candidate(T0, 9);
    for record in &mut other {
        record.test_id = TestId::try_from("exam-other".to_owned()).unwrap();
    }
    exams.push(other);
    exams
}

/// A chDB of its own in a temporary directory (kept while the first value
/// lives), migrated, with a runtime to drive the store.
fn migrated_chdb() -> (tempfile::TempDir, Arc<ChdbStore>, Store, tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let chdb = Arc::new(ChdbStore::open(dir.path()).expect("chDB opens (run ops/dev/services.sh up)"));
    let store = Store::Chdb(Arc::clone(&chdb));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(migrate(&store)).unwrap();
    (dir, chdb, store, runtime)
}

fn load(store: &Store, runtime: &tokio::runtime::Runtime) {
    for exam in exams() {
        let events: Vec<EventRow> =
            exam.iter().flat_map(|r| r.batch.events.iter().map(move |e| EventRow::new(r, e))).collect();
        let rows = scripted::expected_rows(&exam, 15_000);
        runtime.block_on(store.insert(&events)).unwrap();
        runtime.block_on(store.insert(&rows.windows)).unwrap();
        runtime.block_on(store.insert(&rows.anomalies)).unwrap();
        runtime.block_on(store.insert(&rows.sessions)).unwrap();
    }
}

/// The environment query names the `hints` bits in the order the pipeline
/// sets them.
#[test]
fn the_environment_query_names_the_hint_bits_in_their_order() {
    use invigil_schemas::names::WireName;
    let sql = include_str!("../../dashboards/sql/environment_signals.sql");
    let names: Vec<String> =
        invigil_schemas::environment::Hint::ALL.iter().map(|h| format!("'{}'", h.as_str())).collect();
    assert!(sql.contains(&format!("[{}]", names.join(", "))), "{names:?}");
}

#[test]
fn every_review_query_returns_its_golden_rows() {
    let (_dir, chdb, store, runtime) = migrated_chdb();
    // The exam is dated 2025: without merges the tables' TTL cannot drop it
    // while the queries run.
    for table in TABLES {
        chdb.execute_sync(&format!("SYSTEM STOP MERGES {table}")).unwrap();
    }
    load(&store, &runtime);
    // A proctor's pause through cand-1's learning platform: the audit trail.
    let pause = invigil_pipeline::rows::StaffActionRow {
        test_id: scripted::TEST.into(),
        candidate_id: "cand-1".into(),
        action_id: invigil_schemas::ids::Uuid::from_u128(1),
        at: T0 + 120_000,
        staff: "p1".into(),
        role: "proctor".into(),
        action: "lti.pause".into(),
        outcome: "done".into(),
        detail: r#"{"status":"paused"}"#.into(),
        ingest_node: "ingest-0".into(),
        client_ip_hash: 0x5eed_cafe_f00d_0001,
        version: 1,
    };
    runtime.block_on(store.insert(&[pause])).unwrap();
    // cand-1's first flagged minute, delivered to the host app's endpoint.
    let delivery = invigil_pipeline::rows::WebhookDeliveryRow {
        test_id: scripted::TEST.into(),
        candidate_id: "cand-1".into(),
        endpoint: "host-app".into(),
        notice_id: invigil_schemas::ids::Uuid::from_u128(2),
        event_type: "session.flagged".into(),
        attempt: 1,
        at: T0 + 180_000,
        outcome: "delivered".into(),
        status: 204,
        duration_ms: 12,
        error: String::new(),
        next_attempt_at: 0,
        redelivery: 0,
        payload: r#"{"type":"session.flagged"}"#.into(),
        version: 1,
    };
    runtime.block_on(store.insert(&[delivery])).unwrap();
    chdb.execute_sync(&format!("SET param_test_id = '{}'", scripted::TEST)).unwrap();
    chdb.execute_sync("SET param_candidate_id = 'cand-1'").unwrap();

    let sql_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/sql");
    let mut files: Vec<_> = std::fs::read_dir(&sql_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "sql"));
    files.sort();
    assert!(files.len() >= 6, "the pack has its six questions");
    // A file of the pack: it says what it is for, runs, and returns rows.
    let run = |file: &std::path::Path| {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let sql = std::fs::read_to_string(file).unwrap();
        assert!(sql.trim_start().starts_with("--"), "{name}: starts with a comment saying what it is for");
        let output =
            chdb.query_text_sync(&sql, "TabSeparatedWithNames").unwrap_or_else(|e| panic!("{name} fails: {e}"));
        assert!(output.lines().count() > 1, "{name} returns rows:\n{output}");
        (name, output)
    };
    for file in files {
        let (name, output) = run(&file);
        common::rendered::check(&format!("sql/{name}.tsv"), &output);
    }

    // The review API's queries (`dashboards/sql/api/`), on the same rows and
    // with the same parameters: the verdict written first, then every read
    // returns rows for cand-1 (its columns exist, its parameters are set);
    // `verdicts` runs for one candidate here (an empty candidate_id: all).
    let delivered =
        [("endpoint", "'host-app'"), ("outcome", "''"), ("notice_id", "'00000000-0000-0000-0000-000000000002'")];
    let verdict = [("limit", "100"), ("reviewer", "'r1'"), ("verdict", "'flagged'"), ("comment", "'why?'")];
    for (name, value) in verdict.into_iter().chain(delivered) {
        chdb.execute_sync(&format!("SET param_{name} = {value}")).unwrap();
    }
    chdb.execute_sync(&format!("SET param_now_ms = {}", T0 + 3_600_000)).unwrap();
    let api = sql_dir.join("api");
    let insert = std::fs::read_to_string(api.join("record_verdict.sql")).unwrap();
    chdb.execute_sync(&insert).unwrap_or_else(|e| panic!("record_verdict fails: {e}"));
    // cand-1's exam also came from an LMS: the page's invigil.lti event.
    let mut launched = scripted::records_of_candidate(T0, 1).remove(0);
    let mut event = launched.batch.events[0].clone();
    event.seq = 1_000_000;
    event.body = EventBody::Custom(invigil_schemas::event::Custom {
        name: "invigil.lti".into(),
        data: invigil_schemas::event::CustomData::new(&serde_json::json!({"acs": "header.payload.signature"})),
    });
    launched.batch.events = vec![event];
    let rows: Vec<EventRow> = launched.batch.events.iter().map(|e| EventRow::new(&launched, e)).collect();
    runtime.block_on(store.insert(&rows)).unwrap();
    let mut reads: Vec<_> = std::fs::read_dir(&api).unwrap().map(|e| e.unwrap().path()).collect();
    reads.retain(|p| p.extension().is_some_and(|x| x == "sql") && !p.ends_with("record_verdict.sql"));
    reads.sort();
    assert_eq!(reads.len(), 13, "the API's thirteen reads");
    for file in reads {
        let (name, output) = run(&file);
        if name == "verdicts" {
            assert!(output.contains("r1\tflagged\twhy?"), "api/{name} reads the verdict back:\n{output}");
        }
        if name == "lti_context" {
            assert!(output.contains(r#""acs":"header.payload.signature""#), "api/{name}:\n{output}");
        }
        if name == "audit_of_test" {
            assert!(output.contains("cand-1\tp1\tproctor\tlti.pause\tdone"), "api/{name}:\n{output}");
            assert!(output.contains("\t5eedcafe\n"), "api/{name}: the place, 8 hex digits:\n{output}");
        }
        if name == "webhook_deliveries" {
            assert!(output.contains("host-app\tsession.flagged\texam-scripted\tcand-1\t1\t"), "api/{name}:\n{output}");
        }
        if name == "webhook_delivery" {
            assert!(output.contains(r#"{"type":"session.flagged"}"#), "api/{name}: the body to send again:\n{output}");
        }
        if name == "timeline_staff_actions" {
            assert!(output.contains("p1\tproctor\tlti.pause\tdone"), "api/{name}:\n{output}");
        }
    }
}

/// Every valid fixture's events, as ingest would have enriched them, one
/// record per fixture file (its times moved to the last hour so no TTL
/// drops them).
fn fixture_records() -> Vec<KafkaRecord> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures/valid");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    let now = invigil_testkit::now_ms();
    files
        .iter()
        .enumerate()
        .map(|(n, file)| {
            let mut batch: invigil_schemas::batch::EventBatch =
                serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
            // One session per file: (session, seq) is the table's key.
            batch.session_id =
                invigil_schemas::ids::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n as u128);
            let shift = now - 3_600_000 - batch.events.iter().map(|e| e.ts).min().unwrap();
            for event in &mut batch.events {
                event.ts += shift;
            }
            KafkaRecord {
                received_at: now,
                test_id: TestId::try_from("exam-fixtures".to_owned()).unwrap(),
                candidate_id: "cand-7".to_owned().try_into().unwrap(),
                ingest_node: "ingest-0".into(),
                client_ip_hash: 7,
                client_net_hash: 7,
                user_agent: "Mozilla/5.0".into(),
                batch,
            }
        })
        .collect()
}

/// The review timeline serves each event as the SDK sent it: every field
/// of every kind (a proctor message's text and sender, a segment's
/// `segment_seq`, a failed upload's error) survives the typed columns and
/// comes back through `api/timeline_events.sql` and `wire_event`.
#[test]
fn the_timeline_serves_every_event_as_the_sdk_sent_it() {
    use invigil_schemas::event::EventKind;
    use std::collections::{BTreeSet, HashMap};

    let (_dir, chdb, store, runtime) = migrated_chdb();
    let records = fixture_records();
    let mut sent: HashMap<(String, u64), serde_json::Value> = HashMap::new();
    for record in &records {
        let rows: Vec<EventRow> = record.batch.events.iter().map(|e| EventRow::new(record, e)).collect();
        runtime.block_on(store.insert(&rows)).unwrap();
        for event in &record.batch.events {
            sent.insert((record.batch.session_id.to_string(), event.seq), serde_json::to_value(event).unwrap());
        }
    }
    let sql = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/sql/api/timeline_events.sql"),
    )
    .unwrap();
    chdb.execute_sync("SET param_test_id = 'exam-fixtures'").unwrap();
    chdb.execute_sync("SET param_candidate_id = 'cand-7'").unwrap();
    chdb.execute_sync("SET param_limit = 1000").unwrap();
    let output = chdb.query_text_sync(&sql, "JSONEachRow").unwrap();

    let mut kinds = BTreeSet::new();
    let mut compared = 0;
    for line in output.lines() {
        let row: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let session = row["session_id"].as_str().unwrap().to_owned();
        let seq = row["seq"].as_u64().unwrap();
        let event = invigil_schemas::event_columns::wire_event(&row).unwrap_or_else(|e| panic!("{line}: {e}"));
        let original = &sent[&(session, seq)];
        assert_eq!(&serde_json::Value::Object(event), original, "row {line}");
        kinds.insert(original["type"].as_str().unwrap().to_owned());
        compared += 1;
    }
    assert_eq!(compared, sent.len(), "every event is on the timeline");
    let every: BTreeSet<String> = EventKind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
    assert_eq!(kinds, every, "the fixtures hold an event of every kind");
}

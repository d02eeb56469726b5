//! chDB is real: DDL migrations apply (idempotently), rows insert, and
//! `FINAL` collapses a re-delivered batch to one row per (session_id, seq).

mod common;

use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::migrate::migrate;
use invigil_schemas::migrations::MIGRATIONS;

fn insert_json_rows(store: &ChdbStore, rows: &[invigil_pipeline::rows::EventRow]) {
    let mut sql = String::from("INSERT INTO proctor_events FORMAT JSONEachRow\n");
    for row in rows {
        sql.push_str(&serde_json::to_string(row).unwrap());
        sql.push('\n');
    }
    store.execute_sync(&sql).expect("insert");
}

#[tokio::test]
async fn chdb_migrates_inserts_and_deduplicates_with_final() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        ChdbStore::open(dir.path()).expect("chDB opens (is libchdb installed? run ops/dev/services.sh install)");

    let version = store.query_text_sync("SELECT version()", "TabSeparated").unwrap();
    assert!(version.starts_with("26."), "chDB engine version {version:?}");

    let first = migrate(&store).await.expect("migrations apply");
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    let again = migrate(&store).await.expect("migrations re-run");
    assert!(again.applied.is_empty(), "second run applies nothing");
    assert_eq!(again.already_applied, MIGRATIONS.len());
    let tables = store
        .query_text_sync(
            "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name",
            "TabSeparated",
        )
        .unwrap();
    assert_eq!(
        tables.lines().collect::<Vec<_>>(),
        ["anomalies", "candidate_windows", "invigil_schema_migrations", "proctor_events", "reviews", "sessions"]
    );

    // Without merges both deliveries stay on disk, so the count below shows
    // the duplicates and FINAL (not a lucky merge) removes them.
    store.execute_sync("SYSTEM STOP MERGES proctor_events").unwrap();
    let record = common::sample_record();
    let events = record.batch.events.len();
    insert_json_rows(&store, &common::rows_of(&record, 0));
    // The same batch delivered again (a retry), with a newer version.
    insert_json_rows(&store, &common::rows_of(&record, 1));

    let raw = store.query_text_sync("SELECT count() FROM proctor_events", "TabSeparated").unwrap();
    assert_eq!(raw.trim(), (2 * events).to_string());
    let deduplicated = store
        .query_text_sync(
            "SELECT count(), uniqExact(session_id, seq), min(version) FROM proctor_events FINAL",
            "TabSeparated",
        )
        .unwrap();
    let winner = invigil_pipeline::rows::version_of_receipt(record.received_at) + 1;
    assert_eq!(deduplicated.trim(), format!("{events}\t{events}\t{winner}"));

    let timeline = store
        .query_text_sync(
            "SELECT seq, type, toUnixTimestamp64Milli(ts) FROM proctor_events FINAL \
             WHERE candidate_id = 'cand-7' ORDER BY seq LIMIT 2",
            "TabSeparated",
        )
        .unwrap();
    let expected: String =
        record.batch.events[..2].iter().map(|e| format!("{}\t{}\t{}\n", e.seq, e.body.kind(), e.ts)).collect();
    assert_eq!(timeline, expected, "DateTime64 holds the client milliseconds exactly");

    let err = store.execute_sync("SELECT no_such_column FROM proctor_events").unwrap_err();
    assert!(err.to_string().contains("no_such_column"), "{err}");
}

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
        [
            "anomalies",
            "candidate_windows",
            "invigil_schema_migrations",
            "proctor_events",
            "reviews",
            "sessions",
            "staff_actions",
            "webhook_deliveries"
        ]
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

/// Rows of every table go in through the store's insert (a Native block
/// rewritten from RowBinary) and read back under `FINAL` exactly as written:
/// strings, UUIDs, milliseconds, enum tags, arrays and floats.
#[tokio::test]
async fn every_table_reads_back_what_the_store_inserted() {
    use invigil_pipeline::rows::{AnomalyRow, EventRow, SessionRow, WindowRow};
    use invigil_pipeline::scripted;
    use invigil_pipeline::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let chdb = std::sync::Arc::new(ChdbStore::open(dir.path()).expect("chDB opens"));
    migrate(&*chdb).await.unwrap();
    let store = Store::Chdb(chdb.clone());

    let records = scripted::records_at(scripted::recent_t0(240));
    let mut events: Vec<EventRow> =
        records.iter().flat_map(|r| r.batch.events.iter().map(move |e| EventRow::new(r, e))).collect();
    let rows = scripted::expected_rows(&records, 15_000);
    assert!(!rows.windows.is_empty() && !rows.anomalies.is_empty() && !rows.sessions.is_empty());
    assert!(rows.windows.iter().any(|w| !w.component_names.is_empty()), "arrays are exercised");
    // Two inserts per table: blocks join the table, not replace it.
    let half = events.len() / 2;
    store.insert(&events[..half]).await.unwrap();
    store.insert(&events[half..]).await.unwrap();
    store.insert(&rows.windows).await.unwrap();
    store.insert(&rows.anomalies).await.unwrap();
    store.insert(&rows.sessions).await.unwrap();

    let all = "1 = 1";
    let mut stored_events: Vec<EventRow> = store.select_final(all).await.unwrap();
    stored_events.sort_by_key(|r| r.seq);
    events.sort_by_key(|r| r.seq);
    assert_eq!(stored_events, events);
    let key = |w: &WindowRow| (w.window_kind, w.window_start);
    let mut stored_windows: Vec<WindowRow> = store.select_final(all).await.unwrap();
    let mut windows = rows.windows.clone();
    stored_windows.sort_by_key(key);
    windows.sort_by_key(key);
    assert_eq!(stored_windows, windows);
    let mut stored_anomalies: Vec<AnomalyRow> = store.select_final(all).await.unwrap();
    let mut anomalies = rows.anomalies.clone();
    stored_anomalies.sort_by_key(|a| a.window_start);
    anomalies.sort_by_key(|a| a.window_start);
    assert_eq!(stored_anomalies, anomalies);
    let stored_sessions: Vec<SessionRow> = store.select_final(all).await.unwrap();
    assert_eq!(stored_sessions, rows.sessions);

    // Every column type of every table has a Native layout, so none of the
    // inserts above fell back to RowBinary.
    fn rewrites<R: invigil_pipeline::rows::TableRow>(chdb: &ChdbStore, rows: &[R]) {
        let sql = format!(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{}'",
            R::TABLE
        );
        let text = chdb.query_text_sync(&sql, "TSVRaw").unwrap();
        let types: std::collections::HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('\t')).collect();
        let columns: Vec<(&str, &str)> = R::COLUMNS.iter().map(|(name, _)| (*name, types[name])).collect();
        let block = invigil_pipeline::rows::RowBlock::of_rows(rows).unwrap();
        let native = invigil_pipeline::store::native::from_rowbinary(&columns, block.len(), block.bytes());
        assert!(native.is_ok(), "{}: {:?}", R::TABLE, native.err());
    }
    rewrites(&chdb, &events);
    rewrites(&chdb, &rows.windows);
    rewrites(&chdb, &rows.anomalies);
    rewrites(&chdb, &rows.sessions);

    // Staff actions: a row per action, read back as written.
    let staff = invigil_pipeline::rows::StaffActionRow {
        test_id: scripted::TEST.into(),
        candidate_id: scripted::CANDIDATE.into(),
        action_id: invigil_schemas::ids::Uuid::from_u128(42),
        at: scripted::recent_t0(10),
        staff: "proctor-1".into(),
        role: "proctor".into(),
        action: "lti.pause".into(),
        outcome: "done".into(),
        detail: r#"{"status":"paused"}"#.into(),
        ingest_node: "ingest-0".into(),
        client_ip_hash: u64::MAX,
        version: 1,
    };
    store.insert(std::slice::from_ref(&staff)).await.unwrap();
    let stored: Vec<invigil_pipeline::rows::StaffActionRow> = store.select_final(all).await.unwrap();
    assert_eq!(stored, std::slice::from_ref(&staff));
    rewrites(&chdb, &[staff]);
}

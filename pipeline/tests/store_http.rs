//! The HTTP transport is real: the `clickhouse` crate migrates and writes the
//! same rows as chDB into a ClickHouse server. Here that server is Debian's
//! 18.16 with legacy twin tables; set `CLICKHOUSE_URL` (and
//! `INVIGIL_CLICKHOUSE_DIALECT=modern`) to run against a modern one.

mod common;

use std::time::Duration;

use invigil_pipeline::rows::EventRow;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::migrate;
use invigil_pipeline::store::SqlStore;
use invigil_schemas::migrations::{Dialect, MIGRATIONS};

fn config(database: &str) -> HttpConfig {
    let dialect = match std::env::var("INVIGIL_CLICKHOUSE_DIALECT").as_deref() {
        Ok("modern") => Dialect::Modern,
        _ => Dialect::Legacy,
    };
    let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    HttpConfig::plain(&url, database, dialect)
}

async fn insert_rows(store: &HttpStore, rows: &[EventRow]) {
    let mut insert = store.client().insert::<EventRow>("proctor_events").await.expect("insert starts");
    for row in rows {
        insert.write(row).await.expect("row written");
    }
    insert.end().await.expect("insert acknowledged");
}

#[tokio::test]
async fn http_store_migrates_and_writes_the_same_rows_into_twins() {
    let admin = HttpStore::new(&config("default")).unwrap();
    let ping = tokio::time::timeout(Duration::from_secs(10), admin.query_text("SELECT version()", "TabSeparated"))
        .await
        .expect("ClickHouse answered within 10 s")
        .unwrap_or_else(|e| {
            panic!("ClickHouse HTTP at {} unreachable ({e}); is `ops/dev/services.sh up` running?", config("").url)
        });
    println!("server version {}", ping.trim());

    let database = format!("invigil_test_{}", std::process::id());
    admin.execute(&format!("DROP DATABASE IF EXISTS {database}")).await.unwrap();
    admin.execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    let store = HttpStore::new(&config(&database)).unwrap();

    let first = migrate(&store).await.expect("migrations apply over HTTP");
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    assert!(migrate(&store).await.unwrap().applied.is_empty(), "idempotent");

    let record = common::sample_record();
    let events = record.batch.events.len();
    store.execute("SYSTEM STOP MERGES proctor_events").await.unwrap();
    insert_rows(&store, &common::rows_of(&record, 0)).await;
    insert_rows(&store, &common::rows_of(&record, 1)).await;

    let raw = store.query_text("SELECT count() FROM proctor_events", "TabSeparated").await.unwrap();
    assert_eq!(raw.trim(), (2 * events).to_string());
    let final_rows = store
        .query_text(
            "SELECT count(), uniqExact(session_id, seq), max(version) FROM proctor_events FINAL",
            "TabSeparated",
        )
        .await
        .unwrap();
    assert_eq!(
        final_rows.trim(),
        format!("{events}\t{events}\t{}", invigil_pipeline::rows::version_of_receipt(record.received_at) + 1)
    );

    // Typed read-back: every column survives the round trip through RowBinary.
    let mut back = store
        .client()
        .query("SELECT ?fields FROM proctor_events FINAL ORDER BY seq")
        .fetch_all::<EventRow>()
        .await
        .expect("typed select");
    assert_eq!(back.len(), events);
    let mut expected = common::rows_of(&record, 1);
    back.sort_by_key(|r| r.seq);
    expected.sort_by_key(|r| r.seq);
    assert_eq!(back, expected);

    admin.execute(&format!("DROP DATABASE {database}")).await.unwrap();
}

//! ClickHouse over HTTPS as ClickHouse Cloud or a private installation
//! serves it: stunnel terminates TLS (a CA made by the test) in front of the
//! dev services' ClickHouse 18.16. The store migrates and writes through it;
//! a CA that did not sign the server's certificate, a CA given for plain
//! HTTP and a wrong password each fail with the variable named, and none of
//! them as a transport error that would be retried for ever.

use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::migrate;
use invigil_pipeline::store::{SqlStore, StoreError};
use invigil_schemas::migrations::{Dialect, MIGRATIONS};
use invigil_testkit::services::free_port;
use invigil_testkit::tls::{Stunnel, TestPki};

/// The dev ClickHouse's HTTP port (Debian's 18.16 unless `CLICKHOUSE_URL`
/// names another plaintext server on loopback).
fn clickhouse_port() -> u16 {
    let url = std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("a port in CLICKHOUSE_URL")
}

fn config(url: &str, database: &str, ca_file: Option<&std::path::Path>) -> HttpConfig {
    let dialect = match std::env::var("INVIGIL_CLICKHOUSE_DIALECT").as_deref() {
        Ok("modern") => Dialect::Modern,
        _ => Dialect::Legacy,
    };
    HttpConfig { ca_file: ca_file.map(Into::into), ..HttpConfig::plain(url, database, dialect) }
}

#[tokio::test]
async fn the_store_migrates_and_writes_over_tls_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path(), "clickhouse");
    let stranger = TestPki::create(dir.path(), "stranger");
    let stunnel = Stunnel::start(dir.path(), &pki, free_port(), clickhouse_port());
    let url = format!("https://127.0.0.1:{}", stunnel.port);

    let admin = HttpStore::new(&config(&url, "default", Some(&pki.ca))).unwrap();
    let version = admin.query_text("SELECT version()", "TabSeparated").await.expect("a query over TLS");
    assert!(!version.trim().is_empty());
    let database = format!("invigil_tls_{}", std::process::id());
    admin.execute(&format!("DROP DATABASE IF EXISTS {database}")).await.unwrap();
    admin.execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    let store = HttpStore::new(&config(&url, &database, Some(&pki.ca))).unwrap();
    let applied = migrate(&store).await.expect("the schema applies over TLS");
    assert_eq!(applied.applied.len(), MIGRATIONS.len());
    store.execute("CREATE TABLE tls_rows (n UInt32) ENGINE = Memory").await.unwrap();
    let rows: Vec<u8> = [7u32, 8, 9].iter().flat_map(|n| n.to_le_bytes()).collect();
    store.insert_rowbinary("tls_rows (n)", &rows).await.expect("an insert over TLS");
    let sum = store.query_text("SELECT sum(n) FROM tls_rows", "TabSeparated").await.unwrap();
    assert_eq!(sum.trim(), "24");

    // A CA that did not sign the server's certificate.
    let wrong = HttpStore::new(&config(&url, &database, Some(&stranger.ca))).unwrap();
    let error = wrong.query_text("SELECT 1", "TabSeparated").await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Unavailable(m) if m.contains("CLICKHOUSE_CA_FILE") && m.contains("certificate")),
        "{error}"
    );
    assert!(!error.is_retryable(), "a trust failure is not retried: {error}");

    // No CA at all: the system roots do not know the test's CA either.
    let system_only = HttpStore::new(&config(&url, &database, None)).unwrap();
    let error = system_only.query_text("SELECT 1", "TabSeparated").await.unwrap_err();
    assert!(matches!(&error, StoreError::Unavailable(m) if m.contains("CLICKHOUSE_CA_FILE")), "{error}");

    // A CA for a plain-HTTP URL is a mistake, named before any request.
    let plain = format!("http://127.0.0.1:{}", clickhouse_port());
    let error = HttpStore::new(&config(&plain, &database, Some(&pki.ca))).err().expect("refused");
    assert!(error.to_string().contains("CLICKHOUSE_CA_FILE") && error.to_string().contains("https://"), "{error}");

    // The password file is read and sent: a wrong one is refused by the server.
    let password = dir.path().join("password");
    std::fs::write(&password, "not-the-password\n").unwrap();
    let with_password = HttpStore::new(&HttpConfig {
        user: Some("default".into()),
        password_file: Some(password),
        ..config(&url, &database, Some(&pki.ca))
    })
    .unwrap();
    let error = with_password.query_text("SELECT 1", "TabSeparated").await.unwrap_err();
    assert!(error.to_string().to_lowercase().contains("password"), "{error}");
    let missing = HttpStore::new(&HttpConfig {
        password_file: Some(dir.path().join("absent")),
        ..config(&url, &database, Some(&pki.ca))
    });
    assert!(missing.err().expect("refused").to_string().contains("CLICKHOUSE_PASSWORD_FILE"));

    admin.execute(&format!("DROP DATABASE IF EXISTS {database}")).await.unwrap();
}

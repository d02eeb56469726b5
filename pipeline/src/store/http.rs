//! A ClickHouse server over HTTP, through the `clickhouse` crate.
//!
//! Modern servers (≥ 23.8) get the DDL as written. [`Dialect::Legacy`] targets
//! ClickHouse 18.16 (the only server Debian packages): the client's schema
//! validation is turned off (18.16 lacks the metadata it reads) and the twin
//! tables of [`invigil_schemas::migrations`] are used. Set `CLICKHOUSE_URL` to
//! point tests at a modern server instead.

use clickhouse::Client;
use invigil_schemas::migrations::Dialect;

use super::chdb::abbreviate;
use super::{SqlStore, StoreError};

/// Connection settings for [`HttpStore`].
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `http://127.0.0.1:8123`
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dialect: Dialect,
    /// The ClickHouse cluster the database lives on (`remote_servers`
    /// name), if any. Then the schema is the cluster's (applied by
    /// `invigil migrate --cluster`, only checked here) and inserts into the
    /// Distributed tables return only once the shards that own the rows have
    /// them (`insert_distributed_sync`), so offsets are committed after the
    /// rows are stored, not merely queued on the node that took them.
    pub cluster: Option<String>,
}

impl HttpConfig {
    /// A server at `url`, credentials from `CLICKHOUSE_USER` /
    /// `CLICKHOUSE_PASSWORD` (never from flags, so they stay out of `ps`);
    /// `legacy` selects the ClickHouse 18.16 twin tables.
    pub fn from_env_credentials(url: &str, database: &str, legacy: bool) -> Self {
        Self {
            url: url.to_owned(),
            database: database.to_owned(),
            user: std::env::var("CLICKHOUSE_USER").ok(),
            password: std::env::var("CLICKHOUSE_PASSWORD").ok(),
            dialect: if legacy { Dialect::Legacy } else { Dialect::Modern },
            cluster: None,
        }
    }
}

/// A ClickHouse server reached over HTTP.
#[derive(Clone)]
pub struct HttpStore {
    client: Client,
    dialect: Dialect,
    database: String,
    cluster: Option<String>,
}

impl HttpStore {
    pub fn new(config: &HttpConfig) -> Self {
        let mut client = Client::default().with_url(&config.url).with_database(&config.database);
        if let Some(user) = &config.user {
            client = client.with_user(user);
        }
        if let Some(password) = &config.password {
            client = client.with_password(password);
        }
        if config.dialect == Dialect::Legacy {
            client = client.with_validation(false).with_compression(clickhouse::Compression::None);
        }
        if config.cluster.is_some() {
            client = client.with_setting("insert_distributed_sync", "1");
        }
        Self { client, dialect: config.dialect, database: config.database.clone(), cluster: config.cluster.clone() }
    }

    /// The cluster and database this store writes to, when it is a cluster's.
    pub fn cluster_target(&self) -> Option<invigil_schemas::migrations::ClusterTarget<'_>> {
        self.cluster
            .as_deref()
            .map(|cluster| invigil_schemas::migrations::ClusterTarget { cluster, database: &self.database })
    }

    /// The underlying client, for typed reads.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Inserts RowBinary `rows` into `target` (a table and its column list)
    /// in one request.
    pub async fn insert_rowbinary(&self, target: &str, rows: &[u8]) -> Result<(), StoreError> {
        let statement = format!("INSERT INTO {target} FORMAT RowBinary");
        let mut insert = self.client.insert_formatted_with(statement.as_str());
        insert.send(bytes::Bytes::copy_from_slice(rows)).await.map_err(|e| classify(&statement, e))?;
        insert.end().await.map_err(|e| classify(&statement, e))
    }
}

/// Sorts a client error into retryable transport trouble or a rejected
/// statement.
pub(crate) fn classify(sql: &str, error: clickhouse::error::Error) -> StoreError {
    match error {
        clickhouse::error::Error::BadResponse(message) => StoreError::Query { sql: abbreviate(sql), message },
        clickhouse::error::Error::Network(e) => StoreError::Transport(e.to_string()),
        clickhouse::error::Error::TimedOut => StoreError::Transport("timed out".into()),
        other => StoreError::Query { sql: abbreviate(sql), message: other.to_string() },
    }
}

impl SqlStore for HttpStore {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.client.query(sql).execute().await.map_err(|e| classify(sql, e))
    }

    async fn query_text(&self, sql: &str, format: &str) -> Result<String, StoreError> {
        let mut cursor = self.client.query(sql).fetch_bytes(format).map_err(|e| classify(sql, e))?;
        let bytes = cursor.collect().await.map_err(|e| classify(sql, e))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| StoreError::Query { sql: abbreviate(sql), message: e.to_string() })
    }
}

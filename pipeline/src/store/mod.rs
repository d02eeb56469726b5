//! Analytics stores: where the pipeline's rows land and reviewers query.
//!
//! Two backends, one contract: run SQL, get text back, and apply migrations.
//! [`SqlStore`] is deliberately small; inserting rows in bulk (with commit
//! barriers) is layered on top by the sinks.

pub mod chdb;
pub mod http;
pub mod migrate;
pub mod native;
pub mod rowbinary;

use std::future::Future;

use invigil_schemas::migrations::Dialect;

use crate::rows::RowBlock;

/// Why a store operation failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine could not be loaded or opened: nothing will work until the
    /// installation or configuration is fixed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The server or engine rejected a statement: the SQL or schema is wrong.
    #[error("query failed: {message}\n  in: {sql}")]
    Query { sql: String, message: String },
    /// The transport failed (connection refused, timeout): retry with backoff.
    #[error("transport error: {0}")]
    Transport(String),
}

impl StoreError {
    /// Whether the in-process engine has shut itself down after a fatal
    /// error (chDB keeps the process alive but refuses every query). Only a
    /// process restart helps.
    pub fn is_fatal(&self) -> bool {
        match self {
            StoreError::Query { message, .. } => message.contains("shutting down due to a fatal error"),
            _ => false,
        }
    }

    /// Whether a retry of the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transport(_))
    }
}

/// A ClickHouse-speaking store that runs SQL.
pub trait SqlStore {
    /// Which DDL dialect the store understands.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns no rows.
    fn execute(&self, sql: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Runs a query and returns its output in `format` (e.g. `TabSeparated`).
    fn query_text(&self, sql: &str, format: &str) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// The store the pipeline writes rows to and rebuilds state from: one of the
/// two backends, chosen at start-up.
#[derive(Clone)]
pub enum Store {
    /// In-process chDB (the embedded default).
    Chdb(std::sync::Arc<chdb::ChdbStore>),
    /// A ClickHouse server over HTTP.
    Http(http::HttpStore),
    /// Acknowledges every insert at once and keeps nothing; every query
    /// finds no rows. For measuring the dataflow alone (`invigil bench
    /// pipeline`), never for a real exam.
    Discard,
}

impl Store {
    /// Inserts `rows` into their table. `Ok` means the store acknowledged
    /// them: they are durable and visible to the next query. That ack is
    /// what the sinks' commit barrier waits for.
    pub async fn insert<R: crate::rows::TableRow>(&self, rows: &[R]) -> Result<(), StoreError> {
        let block =
            RowBlock::of_rows(rows).map_err(|e| StoreError::Query { sql: R::TABLE.into(), message: e.to_string() })?;
        self.insert_block(&block).await
    }

    /// Inserts a block of encoded rows into its table, as one insert (one
    /// part per partition), with the same acknowledgement as [`Self::insert`].
    /// A server gets the block's RowBinary bytes as they are, chDB the same
    /// rows rewritten as one Native block; both with the column list named,
    /// so a table that orders its columns differently still gets each value
    /// in its column.
    pub async fn insert_block<R: crate::rows::TableRow>(&self, block: &RowBlock<R>) -> Result<(), StoreError> {
        if block.is_empty() {
            return Ok(());
        }
        match self {
            Store::Chdb(store) => {
                let started = std::time::Instant::now();
                let columns: Vec<&str> = R::COLUMNS.iter().map(|(name, _)| *name).collect();
                let outcome = store.insert_rowbinary(R::TABLE, &columns, block.len(), block.bytes());
                tracing::debug!(
                    table = R::TABLE,
                    rows = block.len(),
                    bytes = block.bytes().len(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "chDB insert"
                );
                outcome
            }
            Store::Http(store) => {
                store.insert_rowbinary(&format!("{} ({})", R::TABLE, R::column_list()), block.bytes()).await
            }
            Store::Discard => Ok(()),
        }
    }

    /// Reads rows of `R`'s table, deduplicated (`FINAL`), matching `filter`
    /// (an SQL boolean expression).
    pub async fn select_final<R: crate::rows::TableRow>(&self, filter: &str) -> Result<Vec<R>, StoreError> {
        match self {
            Store::Chdb(store) => {
                let sql = format!(
                    "SELECT {} FROM {} FINAL WHERE {filter} SETTINGS output_format_json_quote_64bit_integers = 0",
                    R::json_select_list(),
                    R::TABLE
                );
                let text = store.query_text_sync(&sql, "JSONEachRow")?;
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(|line| {
                        serde_json::from_str::<R>(line).map_err(|e| StoreError::Query {
                            sql: chdb::abbreviate(&sql),
                            message: format!("reading a {} row: {e}", R::TABLE),
                        })
                    })
                    .collect()
            }
            Store::Http(store) => {
                let sql = format!("SELECT ?fields FROM {} FINAL WHERE {filter}", R::TABLE);
                store.client().query(&sql).fetch_all::<R>().await.map_err(|e| http::classify(&sql, e))
            }
            Store::Discard => Ok(Vec::new()),
        }
    }
}

impl Store {
    /// The cluster and database, for a store that writes to a cluster.
    pub fn cluster_target(&self) -> Option<invigil_schemas::migrations::ClusterTarget<'_>> {
        match self {
            Store::Http(store) => store.cluster_target(),
            Store::Chdb(_) | Store::Discard => None,
        }
    }
}

impl SqlStore for Store {
    fn dialect(&self) -> Dialect {
        match self {
            Store::Chdb(store) => store.dialect(),
            Store::Http(store) => store.dialect(),
            Store::Discard => Dialect::Modern,
        }
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Store::Chdb(store) => store.execute_sync(sql),
            Store::Http(store) => store.execute(sql).await,
            Store::Discard => Ok(()),
        }
    }

    async fn query_text(&self, sql: &str, format: &str) -> Result<String, StoreError> {
        match self {
            Store::Chdb(store) => store.query_text_sync(sql, format),
            Store::Http(store) => store.query_text(sql, format).await,
            Store::Discard => Ok(String::new()),
        }
    }
}

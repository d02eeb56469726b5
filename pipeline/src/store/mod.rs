//! Analytics stores: where the pipeline's rows land and reviewers query.
//!
//! Two backends, one contract: run SQL, get text back, and apply migrations.
//! [`SqlStore`] is deliberately small; inserting rows in bulk (with commit
//! barriers) is layered on top by the sinks.

pub mod chdb;
pub mod http;
pub mod migrate;

use std::future::Future;

use invigil_schemas::migrations::Dialect;

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

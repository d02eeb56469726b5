//! The analytics store as the review pages see it: run a query, get JSON
//! rows; run a statement. Ingest does not link a ClickHouse client of its
//! own — the `invigil` binary hands it one (chDB shared with an in-process
//! pipeline, or a ClickHouse server over HTTP), so ingest and pipeline stay
//! independent crates.

use std::future::Future;
use std::pin::Pin;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    /// Not reachable or not running: the page should retry later.
    #[error("analytics store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the statement.
    #[error("analytics query failed: {0}")]
    Query(String),
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreFailure>> + Send + 'a>>;

/// A ClickHouse-speaking store (modern dialect: chDB or ClickHouse ≥ 23.8).
pub trait AnalyticsStore: Send + Sync + 'static {
    /// Runs `sql` (without a FORMAT clause) and returns its rows, one JSON
    /// object each, 64-bit integers as numbers.
    fn rows(&self, sql: String) -> StoreFuture<'_, Vec<serde_json::Map<String, serde_json::Value>>>;

    /// Runs a statement that returns nothing (an INSERT with VALUES).
    fn execute(&self, sql: String) -> StoreFuture<'_, ()>;
}

/// Parses `JSONEachRow` output.
pub fn parse_json_rows(text: &str) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreFailure> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(|e| StoreFailure::Query(format!("reading a row: {e}"))))
        .collect()
}

pub use invigil_schemas::sql::string_literal as sql_string;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_parse_line_by_line() {
        let rows = parse_json_rows("{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["a"], 2);
        assert!(parse_json_rows("{oops").is_err());
    }
}

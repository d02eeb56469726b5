//! The analytics store as the review pages see it: run a query, get JSON
//! rows; run a statement. The dashboards link no ClickHouse client of their
//! own — the `invigil` binary hands them one (chDB shared with an in-process
//! pipeline, or a ClickHouse server over HTTP), so neither ingest nor the
//! dashboards import the pipeline.

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

/// A value for a query parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// `sql` (a file of `dashboards/sql/`, written with ClickHouse's
/// `{name:Type}` parameters so it also runs in `clickhouse-client
/// --param_name=…` and `invigil sql --param`) with each parameter replaced
/// by its value as a literal: the stores behind [`AnalyticsStore`] take
/// plain SQL. Comment lines go (a store appends `FORMAT …`, which a
/// trailing comment would swallow).
///
/// # Panics
/// On a parameter of `sql` that `params` does not name: a query and its
/// caller out of step is a bug, caught by the first test that runs it.
pub fn bind(sql: &str, params: &[(&str, Param<'_>)]) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    for line in sql.lines().filter(|l| !l.trim_start().starts_with("--")) {
        let mut rest = line;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map(|c| open + c).expect("a parameter ends with }");
            let name = rest[open + 1..close].split(':').next().unwrap_or_default();
            match params.iter().find(|(n, _)| *n == name) {
                Some((_, Param::Text(value))) => out.push_str(&sql_string(value)),
                Some((_, Param::Int(value))) => out.push_str(&value.to_string()),
                None => panic!("query parameter {name} is not bound"),
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_escaped_literals_and_comments_go() {
        let sql = "-- who\nSELECT x FROM t -- inline\nWHERE a = {a:String} AND n < {n:UInt64}\n";
        let bound = bind(sql, &[("a", Param::Text("it's {b:String}")), ("n", Param::Int(7))]);
        assert_eq!(bound, "SELECT x FROM t -- inline\nWHERE a = 'it\\'s {b:String}' AND n < 7");
    }

    #[test]
    #[should_panic(expected = "query parameter b is not bound")]
    fn an_unbound_parameter_is_a_bug() {
        bind("SELECT {b:String}", &[("a", Param::Int(1))]);
    }

    #[test]
    fn json_rows_parse_line_by_line() {
        let rows = parse_json_rows("{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["a"], 2);
        assert!(parse_json_rows("{oops").is_err());
    }
}

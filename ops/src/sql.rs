//! `invigil sql`: runs ClickHouse SQL against the configured store (chDB by
//! default, or a server) and prints the result as a table — or any
//! ClickHouse output format. `--file` runs a file of the review SQL pack;
//! `--param name=value` fills its `{name:Type}` placeholders with quoted
//! literals, so the pack works on chDB, which takes no query parameters.

use std::path::PathBuf;

use anyhow::{bail, Context};
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::SqlStore;
use invigil_schemas::sql::string_literal as sql_string;

#[derive(clap::Args)]
pub struct Args {
    /// The query (omit with --file).
    query: Option<String>,
    /// Read the query from a file, e.g. dashboards/sql/top_candidates_by_score.sql.
    #[arg(long, conflicts_with = "query")]
    file: Option<PathBuf>,
    /// `name=value` for a `{name:Type}` placeholder (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// chDB data directory (the embedded store). Ignored with --url.
    #[arg(long, default_value = "invigil-data/chdb")]
    chdb_path: PathBuf,
    /// A ClickHouse server's HTTP URL instead of chDB.
    #[arg(long)]
    url: Option<String>,
    #[arg(long, default_value = "default")]
    database: String,
    /// Any ClickHouse output format (`TSVWithNames`, `JSONEachRow`, `CSV`, …).
    #[arg(long, default_value = "PrettyCompactMonoBlock")]
    format: String,
}

/// Replaces each `{name:Type}` placeholder whose name is in `params` by the
/// value as a string literal cast to the type; an unknown or missing name is
/// an error naming it.
pub fn bind(query: &str, params: &[(String, String)]) -> anyhow::Result<String> {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inside = &after[..end];
        match inside.split_once(':') {
            Some((name, kind)) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                let value = params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .with_context(|| format!("the query needs --param {name}=…"))?;
                out.push_str(&format!("CAST({} AS {})", sql_string(value), kind.trim()));
            }
            _ => out.push_str(&rest[start..=start + 1 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let query = match (&args.query, &args.file) {
        (Some(query), None) => query.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        _ => bail!("give a query, or --file FILE"),
    };
    let mut params = Vec::new();
    for param in &args.params {
        let (name, value) = param.split_once('=').with_context(|| format!("--param {param:?}: expected NAME=VALUE"))?;
        params.push((name.to_owned(), value.to_owned()));
    }
    // Whole-line comments go first: a `{…}` in one is not a placeholder.
    let code: Vec<&str> = query.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
    let query = bind(code.join("\n").trim().trim_end_matches(';'), &params)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let output = match &args.url {
        Some(url) => {
            let store = HttpStore::new(&HttpConfig::from_env_credentials(url, &args.database, false))?;
            runtime.block_on(store.query_text(&query, &args.format))
        }
        None => {
            let store = ChdbStore::open(&args.chdb_path).with_context(|| {
                format!("opening chDB at {} (is `invigil up` holding it?)", args.chdb_path.display())
            })?;
            store.query_text_sync(&query, &args.format)
        }
    };
    print!("{}", output.map_err(|e| anyhow::anyhow!("{e}"))?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_typed_quoted_literals() {
        let params = vec![("test_id".to_owned(), "exam-1'; DROP".to_owned())];
        let bound = bind("SELECT 1 WHERE t = {test_id:String} AND x = {test_id: String}", &params).unwrap();
        assert_eq!(
            bound,
            "SELECT 1 WHERE t = CAST('exam-1\\'; DROP' AS String) AND x = CAST('exam-1\\'; DROP' AS String)"
        );
        assert!(bind("SELECT {candidate_id:String}", &params)
            .unwrap_err()
            .to_string()
            .contains("--param candidate_id"));
        assert_eq!(
            bind("SELECT map('a', 1)['a'], '{not a param}'", &[]).unwrap(),
            "SELECT map('a', 1)['a'], '{not a param}'"
        );
    }
}

//! The pipeline's store handed to the dashboards' review pages: the one
//! place that sees both crates, so neither imports the other.

use std::sync::Arc;

use invigil_dashboards::store::{parse_json_rows, AnalyticsStore, StoreFailure, StoreFuture};
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::{SqlStore, Store, StoreError};

/// A pipeline [`Store`] read by the dashboards.
pub struct SharedStore(pub Store);

impl SharedStore {
    /// A ClickHouse server over HTTP(S) (credentials and CA from the
    /// environment, see [`HttpConfig::from_env_credentials`]).
    pub fn http(url: &str, database: &str) -> Result<Arc<dyn AnalyticsStore>, StoreError> {
        Ok(Arc::new(Self(Store::Http(HttpStore::new(&HttpConfig::from_env_credentials(url, database, false))?))))
    }

    async fn text(&self, sql: String, format: &'static str) -> Result<String, StoreFailure> {
        match &self.0 {
            // chDB answers synchronously and serialises queries: keep it off
            // the async threads.
            Store::Chdb(chdb) => {
                let chdb = Arc::clone(chdb);
                tokio::task::spawn_blocking(move || chdb.query_text_sync(&sql, format))
                    .await
                    .map_err(|e| StoreFailure::Unavailable(format!("query thread: {e}")))?
                    .map_err(failure)
            }
            store @ (Store::Http(_) | Store::Discard) => store.query_text(&sql, format).await.map_err(failure),
        }
    }
}

fn failure(error: StoreError) -> StoreFailure {
    match error {
        StoreError::Unavailable(why) | StoreError::Transport(why) => StoreFailure::Unavailable(why),
        error @ StoreError::Query { .. } if error.is_fatal() => StoreFailure::Unavailable(error.to_string()),
        error @ StoreError::Query { .. } => StoreFailure::Query(error.to_string()),
    }
}

impl AnalyticsStore for SharedStore {
    fn rows(&self, sql: String) -> StoreFuture<'_, Vec<serde_json::Map<String, serde_json::Value>>> {
        Box::pin(async move { parse_json_rows(&self.text(sql, "JSONEachRow").await?) })
    }

    fn execute(&self, sql: String) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.text(sql, "TabSeparated").await.map(drop) })
    }
}

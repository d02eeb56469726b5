//! Applies `schemas/clickhouse` to any [`SqlStore`], following the plan in
//! [`invigil_schemas::migrations`].

use invigil_schemas::migrations::{self, Dialect, Migration};

use super::{SqlStore, StoreError};

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this run, in order.
    pub applied: Vec<&'static Migration>,
    /// Migrations the ledger already listed.
    pub already_applied: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] migrations::PlanError),
}

/// Brings the store's schema up to date. Safe to run any number of times.
pub async fn migrate<S: SqlStore>(store: &S) -> Result<MigrationReport, MigrateError> {
    store.execute(&migrations::ledger_ddl()).await?;
    let ledger = migrations::parse_ledger(&store.query_text(&migrations::ledger_query(), "TabSeparated").await?)?;
    let pending = migrations::pending(&ledger)?;
    for migration in &pending {
        for statement in migration.statements(store.dialect()) {
            match store.execute(&statement).await {
                Ok(()) => {}
                // 18.16 cannot say IF NOT EXISTS on a column: one that another
                // process (or a run that crashed before its ledger line) added
                // first is there, as the migration wants.
                Err(e)
                    if store.dialect() == Dialect::Legacy
                        && statement.contains("ADD COLUMN")
                        && e.to_string().contains("already exists") => {}
                Err(e) => return Err(e.into()),
            }
        }
        store.execute(&migrations::ledger_insert(migration)).await?;
    }
    Ok(MigrationReport { applied: pending, already_applied: ledger.len() })
}

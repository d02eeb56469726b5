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
    #[error(
        "this ClickHouse server is a replica (macro `replica` = {replica}){clusters}: its tables must be created \
         on the whole cluster. Run `invigil migrate --cluster NAME` once, and start the pipeline with --cluster NAME"
    )]
    ReplicaNeedsCluster { replica: String, clusters: String },
    #[error(
        "the ClickHouse cluster {cluster} (database {database}) lacks migration{plural} {missing}: run \
         `invigil migrate --cluster {cluster} --database {database} --url …` first"
    )]
    ClusterBehind { cluster: String, database: String, missing: String, plural: &'static str },
    #[error(
        "{database}.{ledger} on the cluster {cluster} is a {engine} table, not a replicated ledger: this \
         database was migrated as a single node. Migrate the cluster with `invigil migrate --cluster {cluster}` \
         into a new database"
    )]
    NotACluster { cluster: String, database: String, ledger: &'static str, engine: String },
}

/// Brings the store's schema up to date. Safe to run any number of times.
/// Refuses a server that is a cluster's replica: tables created here would
/// exist on that node only.
pub async fn migrate<S: SqlStore>(store: &S) -> Result<MigrationReport, MigrateError> {
    refuse_replicas(store).await?;
    store.execute(&migrations::ledger_ddl()).await?;
    let ledger = migrations::parse_ledger(&store.query_text(&migrations::ledger_query(), "TabSeparated").await?)?;
    let pending = migrations::pending(&ledger)?;
    for migration in &pending {
        for statement in migration.statements(store.dialect()) {
            run_tolerating_added_columns(store, &statement).await?;
        }
        store.execute(&migrations::ledger_insert(migration)).await?;
    }
    Ok(MigrationReport { applied: pending, already_applied: ledger.len() })
}

/// A server with a `replica` macro is set up to hold replicated tables; a
/// single-node migration there would quietly create tables that hold one
/// node's rows. (chDB and plain servers have no such macro.)
async fn refuse_replicas<S: SqlStore>(store: &S) -> Result<(), MigrateError> {
    let Ok(replica) =
        store.query_text("SELECT substitution FROM system.macros WHERE macro = 'replica'", "TabSeparated").await
    else {
        return Ok(());
    };
    let replica = replica.trim();
    if replica.is_empty() {
        return Ok(());
    }
    let clusters = store
        .query_text("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster", "TabSeparated")
        .await
        .unwrap_or_default();
    let clusters: Vec<&str> = clusters.lines().filter(|l| !l.is_empty()).collect();
    let clusters = if clusters.is_empty() { String::new() } else { format!("; its clusters: {}", clusters.join(", ")) };
    Err(MigrateError::ReplicaNeedsCluster { replica: replica.to_owned(), clusters })
}

/// Brings a cluster's schema up to date: the database and the replicated
/// ledger on every node, then each pending migration `ON CLUSTER` and its
/// ledger line. Safe to run any number of times, from any node.
pub async fn migrate_cluster<S: SqlStore>(
    store: &S,
    target: migrations::ClusterTarget<'_>,
) -> Result<MigrationReport, MigrateError> {
    store.execute(&target.database_ddl()).await?;
    store.execute(&target.ledger_ddl()).await?;
    let engine = store.query_text(&target.ledger_engine_query(), "TabSeparated").await?;
    replicated_ledger(&engine, target)?;
    let ledger = migrations::parse_ledger(&store.query_text(&target.ledger_query(), "TabSeparated").await?)?;
    let pending = migrations::pending(&ledger)?;
    for migration in &pending {
        for statement in migration.cluster_statements(store.dialect(), target) {
            run_tolerating_added_columns(store, &statement).await?;
        }
        store.execute(&target.ledger_insert(migration)).await?;
    }
    Ok(MigrationReport { applied: pending, already_applied: ledger.len() })
}

/// Checks, changing nothing, that the cluster's ledger lists every
/// migration this build knows: what the pipeline does instead of migrating
/// when it writes to a cluster.
pub async fn check_cluster<S: SqlStore>(
    store: &S,
    target: migrations::ClusterTarget<'_>,
) -> Result<usize, MigrateError> {
    let behind = |missing: Vec<&Migration>| MigrateError::ClusterBehind {
        cluster: target.cluster.to_owned(),
        database: target.database.to_owned(),
        plural: if missing.len() == 1 { "" } else { "s" },
        missing: missing.iter().map(|m| format!("{:03}_{}", m.id, m.name)).collect::<Vec<_>>().join(", "),
    };
    let engine = match store.query_text(&target.ledger_engine_query(), "TabSeparated").await {
        Ok(engine) => engine,
        // The store's client names the database on every request: one that
        // does not exist yet (UNKNOWN_DATABASE, code 81) is simply behind.
        Err(StoreError::Query { message, .. }) if message.contains("Code: 81") => String::new(),
        Err(error) => return Err(error.into()),
    };
    if engine.trim().is_empty() {
        return Err(behind(migrations::MIGRATIONS.iter().collect()));
    }
    replicated_ledger(&engine, target)?;
    let ledger = migrations::parse_ledger(&store.query_text(&target.ledger_query(), "TabSeparated").await?)?;
    let pending = migrations::pending(&ledger)?;
    if pending.is_empty() {
        Ok(ledger.len())
    } else {
        Err(behind(pending))
    }
}

/// Refuses a ledger (its engine as the server names it) that is not
/// replicated: the database was migrated as a single node.
fn replicated_ledger(engine: &str, target: migrations::ClusterTarget<'_>) -> Result<(), MigrateError> {
    let engine = engine.trim();
    if engine.starts_with("Replicated") {
        return Ok(());
    }
    Err(MigrateError::NotACluster {
        cluster: target.cluster.to_owned(),
        database: target.database.to_owned(),
        ledger: migrations::LEDGER_TABLE,
        engine: engine.to_owned(),
    })
}

async fn run_tolerating_added_columns<S: SqlStore>(store: &S, statement: &str) -> Result<(), MigrateError> {
    match store.execute(statement).await {
        Ok(()) => Ok(()),
        // 18.16 cannot say IF NOT EXISTS on a column: one that another
        // process (or a run that crashed before its ledger line) added
        // first is there, as the migration wants.
        Err(e)
            if store.dialect() == Dialect::Legacy
                && statement.contains("ADD COLUMN")
                && e.to_string().contains("already exists") =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

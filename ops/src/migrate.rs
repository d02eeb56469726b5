//! `invigil migrate`: apply `schemas/clickhouse` to the configured store —
//! one server or chDB, or a whole ClickHouse cluster (`--cluster`).

use std::path::PathBuf;

use anyhow::Context;
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::{migrate, migrate_cluster, MigrateError, MigrationReport};
use invigil_schemas::migrations::ClusterTarget;

#[derive(clap::Args)]
pub struct Args {
    /// chDB data directory (the embedded store). Ignored with --url.
    #[arg(long, default_value = "invigil-data/chdb")]
    chdb_path: PathBuf,
    /// A ClickHouse server's HTTP URL instead of chDB (with --cluster: any
    /// node of the cluster).
    #[arg(long, env = "CLICKHOUSE_URL")]
    url: Option<String>,
    #[arg(long, default_value = "default")]
    database: String,
    /// Target ClickHouse 18.16 with wire-compatible twin tables.
    #[arg(long)]
    legacy: bool,
    /// Migrate the whole ClickHouse cluster of this name (`remote_servers`)
    /// through the node at --url: the database, replicated local tables and
    /// Distributed tables over them on every node (`ON CLUSTER`), with a
    /// replicated ledger so each migration runs once per cluster. Start the
    /// pipeline with the same --cluster.
    #[arg(long, value_name = "CLUSTER", requires = "url", conflicts_with = "cluster_ddl")]
    cluster: Option<String>,
    /// Print the schema for a ClickHouse cluster of this name (in --database)
    /// instead of applying anything; `ops/deploy/clickhouse/cluster.sql` is
    /// its output for `--cluster-ddl invigil --database invigil`.
    #[arg(long, value_name = "CLUSTER")]
    cluster_ddl: Option<String>,
}

/// A cluster or database name goes into DDL unquoted: keep it to a plain identifier.
fn identifier(flag: &str, name: &str) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    anyhow::ensure!(plain, "{flag} {name:?}: use letters, digits and _ (not starting with a digit)");
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(cluster) = &args.cluster_ddl {
        identifier("--cluster-ddl", cluster)?;
        identifier("--database", &args.database)?;
        print!("{}", invigil_schemas::migrations::cluster_ddl(ClusterTarget { cluster, database: &args.database }));
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (target, report) = match (&args.url, &args.cluster) {
        (Some(url), Some(cluster)) => {
            identifier("--cluster", cluster)?;
            identifier("--database", &args.database)?;
            // The database may not exist yet: talk to the node in `default`.
            let store = HttpStore::new(&HttpConfig::from_env_credentials(url, "default", args.legacy))?;
            let target = ClusterTarget { cluster, database: &args.database };
            eprintln!("invigil migrate: cluster {cluster}, database {} (through {url})", args.database);
            let report = runtime.block_on(retrying_transport(|| migrate_cluster(&store, target)));
            (format!("cluster {cluster} database {}", args.database), report)
        }
        (Some(url), None) => {
            let store = HttpStore::new(&HttpConfig::from_env_credentials(url, &args.database, args.legacy))?;
            (format!("{url} database {}", args.database), runtime.block_on(retrying_transport(|| migrate(&store))))
        }
        (None, _) => {
            let store = ChdbStore::open(&args.chdb_path).context("opening chDB")?;
            (format!("chDB at {}", args.chdb_path.display()), runtime.block_on(migrate(&store)))
        }
    };
    let MigrationReport { applied, already_applied } = report.with_context(|| format!("migrating {target}"))?;
    for migration in &applied {
        println!("applied {:03}_{}", migration.id, migration.name);
    }
    println!("{target}: {} applied now, {already_applied} already applied", applied.len());
    Ok(())
}

/// Runs a migration again when the server's connection failed (a dropped
/// keep-alive connection, a node restarting): every statement is
/// idempotent and the ledger says what is done. Five tries, 1 s apart.
async fn retrying_transport<F, Fut>(mut attempt: F) -> Result<MigrationReport, MigrateError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<MigrationReport, MigrateError>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(MigrateError::Store(error)) if error.is_retryable() && tries < 4 => {
                tries += 1;
                eprintln!("invigil migrate: {error}; trying again ({tries} of 4)");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            outcome => return outcome,
        }
    }
}

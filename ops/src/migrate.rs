//! `invigil migrate`: apply `schemas/clickhouse` to the configured store.

use std::path::PathBuf;

use anyhow::Context;
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::{migrate, MigrationReport};

#[derive(clap::Args)]
pub struct Args {
    /// chDB data directory (the embedded store). Ignored with --url.
    #[arg(long, default_value = "invigil-data/chdb")]
    chdb_path: PathBuf,
    /// A ClickHouse server's HTTP URL instead of chDB.
    #[arg(long, env = "CLICKHOUSE_URL")]
    url: Option<String>,
    #[arg(long, default_value = "default")]
    database: String,
    /// Target ClickHouse 18.16 with wire-compatible twin tables.
    #[arg(long)]
    legacy: bool,
    /// Print the schema for a ClickHouse cluster of this name (replicated
    /// local tables, Distributed tables over them) instead of applying
    /// anything; `ops/deploy/clickhouse/cluster.sql` is its output.
    #[arg(long, value_name = "CLUSTER")]
    cluster_ddl: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(cluster) = &args.cluster_ddl {
        anyhow::ensure!(
            invigil_schemas::ids::check_id(cluster).is_ok() && !cluster.contains(['.', '@', ':']),
            "--cluster-ddl {cluster:?}: a cluster name is letters, digits, - and _"
        );
        print!("{}", invigil_schemas::migrations::cluster_ddl(cluster));
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (target, report) = match &args.url {
        Some(url) => {
            let store = HttpStore::new(&HttpConfig::from_env_credentials(url, &args.database, args.legacy));
            (format!("{url} database {}", args.database), runtime.block_on(migrate(&store)))
        }
        None => {
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

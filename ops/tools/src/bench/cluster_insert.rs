//! `invigil bench cluster-insert`: the three ways the pipeline could write
//! to a ClickHouse cluster, measured on the same rows against a real one
//! (the dev services' two 18.16 replicas, `ops/dev/services.sh up`):
//!
//! - **distributed, sync** (what `--cluster` does): into the Distributed
//!   table with `insert_distributed_sync=1`; acknowledged once the shard's
//!   replica holds the rows;
//! - **distributed, async** (ClickHouse's default): acknowledged once the
//!   node that took them queued them on its disk; they reach the shard later;
//! - **local**: straight into a replica's `_local` table (the client must
//!   then pick the shard itself; with one shard, any replica).
//!
//! Per mode: rows/s until acknowledged (median of rounds), and the time until
//! both replicas hold every row (the moment a crash of the node written to
//! can no longer lose them).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use invigil_pipeline::rows::{EventRow, RowBlock, TableRow};
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::migrate_cluster;
use invigil_pipeline::store::SqlStore;
use invigil_schemas::migrations::ClusterTarget;

#[derive(clap::Args)]
pub struct Args {
    /// The cluster's nodes (HTTP), comma-separated.
    #[arg(
        long,
        env = "INVIGIL_CLICKHOUSE_CLUSTER_URLS",
        default_value = "http://127.0.0.1:18124,http://127.0.0.1:18125"
    )]
    urls: String,
    #[arg(long, env = "INVIGIL_CLICKHOUSE_CLUSTER", default_value = "invigil_test")]
    cluster: String,
    /// Rows per round.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per INSERT (the pipeline's flush size is 20,000).
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    DistributedSync,
    DistributedAsync,
    Local,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let urls: Vec<String> = args.urls.split(',').map(str::to_owned).collect();
    anyhow::ensure!(urls.len() >= 2, "--urls: two replicas of one shard");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let database = format!("invigil_insert_bench_{}", std::process::id());
    let node = |url: &str, database: &str, cluster: Option<&str>| {
        HttpStore::new(&HttpConfig {
            cluster: cluster.map(str::to_owned),
            ..HttpConfig::from_env_credentials(url, database, true)
        })
        .expect("a client for the ClickHouse URL")
    };
    let target = ClusterTarget { cluster: &args.cluster, database: &database };
    runtime.block_on(migrate_cluster(&node(&urls[0], "default", None), target)).context("migrating the cluster")?;
    println!(
        "cluster-insert: {} rows per round in INSERTs of {}, {} rounds, cluster {} ({} replicas), ClickHouse 18.16",
        args.rows,
        args.batch,
        args.rounds,
        args.cluster,
        urls.len()
    );
    let outcome = (|| -> anyhow::Result<()> {
        for (mode_index, mode) in [Mode::DistributedSync, Mode::DistributedAsync, Mode::Local].into_iter().enumerate() {
            let (writer, table) = match mode {
                Mode::DistributedSync => (node(&urls[0], &database, Some(&args.cluster)), "proctor_events"),
                Mode::DistributedAsync => (node(&urls[0], &database, None), "proctor_events"),
                Mode::Local => (node(&urls[0], &database, None), "proctor_events_local"),
            };
            let (mut rates, mut everywhere) = (Vec::new(), Vec::new());
            for round in 0..args.rounds {
                // Replicated tables drop a block identical to a recent one:
                // every round writes rows of its own.
                let blocks = blocks(args.rows, args.batch, (mode_index * args.rounds + round) * args.rows)?;
                let before = runtime.block_on(count(&node(&urls[1], &database, None)))?;
                let started = Instant::now();
                for block in &blocks {
                    let statement = format!("{table} ({})", EventRow::column_list());
                    runtime.block_on(writer.insert_rowbinary(&statement, block.bytes()))?;
                }
                rates.push(args.rows as f64 / started.elapsed().as_secs_f64());
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let mut on_all = true;
                    for url in &urls {
                        on_all &= runtime.block_on(count(&node(url, &database, None)))? >= before + args.rows as u64;
                    }
                    if on_all {
                        break;
                    }
                    if Instant::now() > deadline {
                        bail!("{mode:?}: the rows did not reach every replica within 120 s");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                everywhere.push(started.elapsed().as_secs_f64());
            }
            println!(
                "  {:<18} {:>9.0} rows/s acknowledged (median; rounds {})   on both replicas after {:.2} s (median)",
                format!("{mode:?}"),
                median(&mut rates),
                rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", "),
                median(&mut everywhere)
            );
        }
        Ok(())
    })();
    let drop = format!("DROP DATABASE IF EXISTS {database} ON CLUSTER {}", args.cluster);
    runtime.block_on(node(&urls[0], "default", None).execute(&drop))?;
    outcome
}

/// `rows` event rows with seq from `first_seq`, in blocks of `batch`.
fn blocks(rows: usize, batch: usize, first_seq: usize) -> anyhow::Result<Vec<RowBlock<EventRow>>> {
    let t0 = invigil_pipeline::scripted::recent_t0(30);
    let records = invigil_pipeline::scripted::records_at(t0);
    let base: Vec<EventRow> =
        records.iter().flat_map(|r| r.batch.events.iter().map(move |e| EventRow::new(r, e))).collect();
    let all: Vec<EventRow> = (0..rows)
        .map(|i| {
            let mut row = base[i % base.len()].clone();
            row.candidate_id = format!("cand-{:06}", i % 5_000);
            row.seq = (first_seq + i) as u64;
            row
        })
        .collect();
    all.chunks(batch.max(1)).map(|chunk| RowBlock::of_rows(chunk).map_err(|e| anyhow::anyhow!("{e}"))).collect()
}

async fn count(node: &HttpStore) -> anyhow::Result<u64> {
    Ok(node.query_text("SELECT count() FROM proctor_events_local", "TabSeparated").await?.trim().parse()?)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

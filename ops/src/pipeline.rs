//! `invigil pipeline`: runs the stream processor (SPEC §6) until Ctrl-C or
//! SIGTERM, then writes and commits everything it read and exits 0.
//!
//! One process with `-w` worker threads, or a cluster of `-n` processes:
//! start the same command on every host with its own `-p` index and the same
//! hostfile (one `host:port` per line, process 0 first). Kafka partitions
//! are spread over all workers of the cluster.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use invigil_pipeline::metrics::Metrics;
use invigil_pipeline::run::{open_store, run, Cluster};
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};
use invigil_pipeline::store::http::HttpConfig;

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "INVIGIL_KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    #[command(flatten)]
    kafka: crate::kafka_args::KafkaAccessArgs,
    #[arg(long, default_value = "proctor_events")]
    topic: String,
    #[arg(long, default_value = "proctor_live")]
    live_topic: String,
    /// Consumer group for committed offsets.
    #[arg(long, default_value = "invigil-pipeline")]
    group: String,
    /// chDB data directory (the embedded store). Ignored with --clickhouse-url.
    #[arg(long, default_value = "invigil-data/chdb")]
    chdb_path: PathBuf,
    /// A ClickHouse server's HTTP URL instead of chDB; `https://` for TLS.
    /// Credentials from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (or
    /// CLICKHOUSE_PASSWORD_FILE), a private CA from CLICKHOUSE_CA_FILE.
    /// (Deliberately not read from `CLICKHOUSE_URL`, which the dev services
    /// export for tests: the embedded store stays the default unless asked for.)
    #[arg(long)]
    clickhouse_url: Option<String>,
    #[arg(long, default_value = "default")]
    database: String,
    /// Target ClickHouse 18.16 with wire-compatible twin tables.
    #[arg(long)]
    legacy: bool,
    /// The ClickHouse cluster (`remote_servers` name) --database lives on:
    /// the schema must have been applied with `invigil migrate --cluster`
    /// (checked at start, never created here), and inserts wait for the
    /// shards that own the rows.
    #[arg(long, value_name = "CLUSTER", requires = "clickhouse_url")]
    cluster: Option<String>,
    /// Config document (JSON, SPEC §7): per-test intervals and anomaly weights.
    #[arg(long, env = "INVIGIL_CONFIG_FILE", conflicts_with = "config_topic")]
    config: Option<PathBuf>,
    /// Follow the config log on this Kafka topic (what ingest's
    /// `config_topic` names) instead of a file: the version every replica
    /// serves.
    #[arg(long, env = "INVIGIL_CONFIG_TOPIC")]
    config_topic: Option<String>,
    /// Worker threads in this process.
    #[arg(short = 'w', long, default_value_t = 1)]
    workers: usize,
    /// Processes in the cluster (needs --hostfile).
    #[arg(short = 'n', long, default_value_t = 1)]
    processes: usize,
    /// This process's index in the hostfile.
    #[arg(short = 'p', long, default_value_t = 0)]
    process: usize,
    /// One `host:port` per process, in order.
    #[arg(short = 'h', long)]
    hostfile: Option<PathBuf>,
    /// How far the watermark trails the newest event time.
    #[arg(long, default_value_t = 15_000)]
    allowed_lateness_ms: i64,
    /// A partition without records for this long advances on the wall clock.
    #[arg(long, default_value_t = 5_000)]
    idle_partition_ms: i64,
    /// Sinks write after this long at the latest.
    #[arg(long, default_value_t = 250)]
    flush_interval_ms: u64,
    #[arg(long, default_value_t = 1_000)]
    commit_interval_ms: u64,
    /// Deliver signed webhooks to the endpoints of this file (TOML,
    /// `[[endpoint]]` tables: see the README's "Webhooks").
    #[arg(long, env = "INVIGIL_WEBHOOKS_FILE")]
    webhooks: Option<PathBuf>,
    /// Serve Prometheus metrics (`GET /metrics`, with the lag per
    /// partition) and the probes (`GET /readyz`, `GET /healthz`) on this
    /// address, e.g. `127.0.0.1:9465`. Off by default (several pipelines may
    /// share a host).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

pub fn run_command(args: Args) -> anyhow::Result<()> {
    invigil_ingest::init_logging();
    let store_settings = match &args.clickhouse_url {
        Some(url) => StoreSettings::Http(HttpConfig {
            cluster: args.cluster.clone(),
            ..HttpConfig::from_env_credentials(url, &args.database, args.legacy)
        }),
        None => StoreSettings::Chdb { path: args.chdb_path.clone() },
    };
    let cluster = match (&args.hostfile, args.processes) {
        (None, 1) => Cluster::single(args.workers),
        (None, n) => bail!("-n {n} needs --hostfile listing the {n} processes"),
        (Some(path), n) => {
            let cluster = Cluster::from_hostfile(args.workers, args.process, path)?;
            if cluster.addresses.len() != n {
                bail!("-n {n} but {} lists {} processes", path.display(), cluster.addresses.len());
            }
            cluster
        }
    };
    let mut settings = PipelineSettings::new(args.brokers.clone(), store_settings.clone());
    settings.kafka = args.kafka.endpoint(&args.brokers, std::time::Duration::from_secs(10))?;
    settings.topic = args.topic;
    settings.live_topic = args.live_topic;
    settings.group_id = args.group;
    settings.config_file = args.config;
    settings.config_topic = args.config_topic;
    settings.allowed_lateness_ms = args.allowed_lateness_ms;
    settings.idle_partition_ms = args.idle_partition_ms;
    settings.flush_interval_ms = args.flush_interval_ms;
    settings.commit_interval_ms = args.commit_interval_ms;
    if let Some(path) = &args.webhooks {
        settings.webhooks = invigil_pipeline::webhooks::endpoint::load(path).map_err(anyhow::Error::msg)?;
        eprintln!("invigil pipeline: webhooks to {} endpoint(s) from {}", settings.webhooks.len(), path.display());
    }

    let store = open_store(&store_settings).context("opening the store")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("signal runtime");
            runtime.block_on(crate::ingest::shutdown_signal());
            stop.store(true, Ordering::Relaxed);
        });
    }
    eprintln!(
        "invigil pipeline: {} worker(s) × {} process(es), reading {} from {}",
        cluster.workers,
        cluster.addresses.len().max(1),
        settings.topic,
        settings.kafka.brokers
    );
    let metrics = Arc::new(Metrics::default());
    if let Some(address) = args.metrics_listen {
        let listener = std::net::TcpListener::bind(address).with_context(|| format!("binding metrics on {address}"))?;
        let address = listener.local_addr()?;
        eprintln!("invigil pipeline: metrics on http://{address}/metrics, probes on /readyz and /healthz");
        Arc::clone(&metrics).serve(listener);
    }
    run(settings, store, &cluster, stop, Arc::clone(&metrics))?;
    eprintln!("invigil pipeline: stopped; {}", metrics.summary());
    Ok(())
}

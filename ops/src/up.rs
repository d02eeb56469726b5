//! `invigil up`: the front door, the stream processor and the dashboards in
//! one process, sharing one embedded chDB — the dashboards read exactly what
//! the pipeline writes, with no ClickHouse server to run.
//!
//! When no broker answers at the configured (loopback) address it starts and
//! supervises a local one (tansu, [`crate::broker`]) with its data under
//! `--data-dir`. Media still needs an S3 + STS endpoint (moto from
//! `ops/dev/services.sh up`, see `ops/dev/local.toml`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use invigil_ingest::app::{Backends, Ingest};
use invigil_ingest::settings::IngestSettings;
use invigil_pipeline::metrics::Metrics;
use invigil_pipeline::run::{open_store, run, Cluster};
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};

use crate::analytics::SharedStore;
use crate::broker::{self, LocalBroker};

#[derive(clap::Args)]
pub struct Args {
    /// Ingest settings (TOML, `ops/dev/ingest.example.toml`); the pipeline
    /// reads the same broker and the same configuration document.
    #[arg(long, env = "INVIGIL_INGEST_SETTINGS")]
    settings: Option<PathBuf>,
    /// Where everything `up` keeps lives: `chdb/` (the store) and `kafka/`
    /// (the local broker's data), next to the config document.
    #[arg(long, default_value = "invigil-data")]
    data_dir: PathBuf,
    /// chDB data directory (default: DATA_DIR/chdb).
    #[arg(long)]
    chdb_path: Option<PathBuf>,
    /// `auto`: start a local broker when none answers at `[kafka] brokers`;
    /// `local`: always (fails if the port is taken); `external`: never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "local", "external"])]
    broker: String,
    /// Pipeline worker threads.
    #[arg(short = 'w', long, default_value_t = 1)]
    workers: usize,
    /// Consumer group of the pipeline.
    #[arg(long, default_value = "invigil-pipeline")]
    group: String,
}

/// The local broker to run, if the arguments and the world call for one.
fn local_broker(args: &Args, settings: &IngestSettings) -> anyhow::Result<Option<LocalBroker>> {
    let first = settings.kafka.brokers.split(',').next().unwrap_or_default().trim().to_owned();
    let wanted = match args.broker.as_str() {
        "external" => false,
        "local" => true,
        _ => !broker::answers(&first, Duration::from_secs(1)),
    };
    if !wanted {
        eprintln!("invigil up: using the broker at {}", settings.kafka.brokers);
        return Ok(None);
    }
    let address: std::net::SocketAddr = first
        .parse()
        .with_context(|| format!("[kafka] brokers = {first:?}: a local broker needs an ip:port on loopback"))?;
    let dir = args.data_dir.join("kafka");
    eprintln!("invigil up: no broker answers at {address}; starting a local one (data in {})", dir.display());
    let compact = ["cleanup.policy=compact"];
    let topics: [(&str, u32, &[&str]); 2] =
        [(&settings.kafka.topic, 6, &[]), (&settings.dashboard.live_topic, 6, &compact)];
    let topics: Vec<_> = topics.into_iter().filter(|(name, _, _)| !name.is_empty()).collect();
    LocalBroker::start(&dir, address, &topics).map(Some)
}

pub fn run_command(args: Args) -> anyhow::Result<()> {
    invigil_ingest::init_logging();
    let settings = IngestSettings::load(args.settings.as_deref())?;
    let secrets = settings.secrets_from_env()?;
    let broker = local_broker(&args, &settings)?;
    let chdb_path = args.chdb_path.clone().unwrap_or_else(|| args.data_dir.join("chdb"));
    let store_settings = StoreSettings::Chdb { path: chdb_path };
    let store = open_store(&store_settings).map_err(anyhow::Error::msg).context("opening the store")?;

    let mut pipeline = PipelineSettings::new(settings.kafka.brokers.clone(), store_settings);
    pipeline.topic = settings.kafka.topic.clone();
    pipeline.live_topic = settings.dashboard.live_topic.clone();
    pipeline.group_id = args.group;
    pipeline.config_file = Some(settings.config_file.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    let pipeline_thread = {
        let (store, stop, metrics) = (store.clone(), Arc::clone(&stop), Arc::clone(&metrics));
        let cluster = Cluster::single(args.workers);
        std::thread::Builder::new().name("pipeline".into()).spawn(move || {
            let result = run(pipeline, store, &cluster, Arc::clone(&stop), metrics);
            // A pipeline that fails stops the whole process: half a stack
            // that looks healthy is worse than a clear exit.
            stop.store(true, Ordering::Relaxed);
            result
        })?
    };

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let address = listener.local_addr()?;
        let backends = Backends { analytics: Some(Arc::new(SharedStore(store))), ..Default::default() };
        let ingest = Ingest::start(settings, secrets, backends).await?;
        eprintln!("invigil up: serving on http://{address}");
        eprintln!("  API         http://{address}/api/v1/");
        eprintln!("  dashboards  http://{address}/dashboard/  (staff tokens: `invigil token --role proctor --sub p1 --test <test>`)");
        eprintln!("  metrics     http://{address}/metrics");
        let pipeline_stopped = Arc::clone(&stop);
        let shutdown = async move {
            tokio::select! {
                _ = crate::ingest::shutdown_signal() => {}
                _ = async {
                    while !pipeline_stopped.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                } => tracing::error!("the pipeline stopped; stopping ingest"),
            }
        };
        ingest.serve(listener, shutdown).await?;
        anyhow::Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    let pipeline_result = pipeline_thread.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))?;
    // Last: the pipeline commits its offsets to the broker on the way out.
    if let Some(broker) = broker {
        broker.stop();
    }
    served?;
    pipeline_result.map_err(anyhow::Error::msg)?;
    eprintln!("invigil up: stopped; pipeline {}", metrics.summary());
    Ok(())
}

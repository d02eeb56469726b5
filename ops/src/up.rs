//! `invigil up`: the front door, the stream processor and the dashboards in
//! one process, sharing one embedded chDB — the dashboards read exactly what
//! the pipeline writes, with no ClickHouse server to run.
//!
//! It needs a Kafka-protocol broker and an S3 + STS endpoint (today:
//! `ops/dev/services.sh up` starts tansu and moto); taking those in-process
//! too is the `invigil up` issue's work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use invigil_ingest::app::{Backends, Ingest};
use invigil_ingest::settings::IngestSettings;
use invigil_pipeline::metrics::Metrics;
use invigil_pipeline::run::{open_store, run, Cluster};
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};

use crate::analytics::SharedStore;

#[derive(clap::Args)]
pub struct Args {
    /// Ingest settings (TOML, `ops/dev/ingest.example.toml`); the pipeline
    /// reads the same broker and the same configuration document.
    #[arg(long, env = "INVIGIL_INGEST_SETTINGS")]
    settings: Option<PathBuf>,
    /// chDB data directory.
    #[arg(long, default_value = "invigil-data/chdb")]
    chdb_path: PathBuf,
    /// Pipeline worker threads.
    #[arg(short = 'w', long, default_value_t = 1)]
    workers: usize,
    /// Consumer group of the pipeline.
    #[arg(long, default_value = "invigil-pipeline")]
    group: String,
}

pub fn run_command(args: Args) -> anyhow::Result<()> {
    invigil_ingest::init_logging();
    let settings = IngestSettings::load(args.settings.as_deref())?;
    let secrets = settings.secrets_from_env()?;
    let store_settings = StoreSettings::Chdb { path: args.chdb_path.clone() };
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
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                } => tracing::error!("the pipeline stopped; stopping ingest"),
            }
        };
        ingest.serve(listener, shutdown).await?;
        anyhow::Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    let pipeline_result = pipeline_thread.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))?;
    served?;
    pipeline_result.map_err(anyhow::Error::msg)?;
    eprintln!("invigil up: stopped; pipeline {}", metrics.summary());
    Ok(())
}

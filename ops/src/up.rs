//! `invigil up`: the front door, the stream processor and the dashboards in
//! one process, sharing one embedded chDB — the dashboards read exactly what
//! the pipeline writes, with no ClickHouse server to run.
//!
//! Everything else it needs it brings too, each kept under `--data-dir` so a
//! restart finds the exam where it was:
//! - a broker: when none answers at the configured (loopback) address, a
//!   local tansu started and supervised as a child ([`crate::broker`]);
//! - media: unless the settings name an S3 endpoint, an S3 API on local disk
//!   with its own scoped, expiring upload keys ([`crate::media_store`]);
//! - secrets: the token and IP-hash secrets, generated once into
//!   `secrets/` unless the environment sets them;
//! - a demo host app ([`crate::demo`]) and staff tokens printed at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
use crate::demo::Demo;
use crate::media_store::MediaStore;
use invigil_ingest::credentials::MintUploadKeys;

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
    /// Pipeline worker threads (a local broker's new topics get one
    /// partition per worker, at least two).
    #[arg(short = 'w', long, default_value_t = 1)]
    workers: usize,
    /// Consumer group of the pipeline.
    #[arg(long, default_value = "invigil-pipeline")]
    group: String,
    /// `auto`: serve media from an embedded S3 (DATA_DIR/media) unless the
    /// settings name `[credentials] s3_endpoint`; `embedded`: always;
    /// `external`: never (the settings' S3 + STS).
    #[arg(long, default_value = "auto", value_parser = ["auto", "embedded", "external"])]
    media: String,
    /// Where the embedded S3 listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8081")]
    media_listen: SocketAddr,
    /// Where the demo exam is served (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8082")]
    demo_listen: SocketAddr,
    /// Do not serve the demo exam.
    #[arg(long)]
    no_demo: bool,
    /// The test id of the demo exam and of the printed staff tokens.
    #[arg(long, default_value = "demo-exam")]
    demo_test: String,
    /// The SDK bundle the demo exam loads (`sdk/build.sh` makes it).
    #[arg(long, default_value = "sdk/dist")]
    sdk_dir: PathBuf,
    /// Deliver signed webhooks to the endpoints of this file (TOML,
    /// `[[endpoint]]` tables: see the README's "Webhooks").
    #[arg(long, env = "INVIGIL_WEBHOOKS_FILE")]
    webhooks: Option<PathBuf>,
}

/// A secret kept in DATA_DIR/secrets/NAME (created 0600 with 32 random
/// bytes, hex, the first time), so tokens and links outlive a restart.
fn local_secret(data_dir: &Path, name: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("secrets").join(name);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// The environment's secret `var`, else the data directory's `name` (which
/// then also goes into the environment for the code that reads it there).
fn secret_from_env_or_disk(var: &str, data_dir: &Path, name: &str) -> anyhow::Result<String> {
    if let Some(secret) = std::env::var(var).ok().filter(|s| !s.is_empty()) {
        return Ok(secret);
    }
    let secret = local_secret(data_dir, name)?;
    // Single-threaded still: nothing else reads the environment yet.
    std::env::set_var(var, &secret);
    Ok(secret)
}

/// Staff tokens to open the dashboards with, for the demo test.
fn staff_links(base: &str, secret: &str, test: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let now = crate::now_ms() / 1000;
    let tests = [test.to_owned()];
    let mut links = Vec::new();
    for (role, sub, page) in [
        ("admin", "admin", "admin.html"),
        ("proctor", "proctor-1", "proctor.html"),
        ("reviewer", "reviewer-1", "review.html"),
    ] {
        let claims = crate::token::claims(role, sub, &tests, None, now, 12)?;
        links
            .push((role, format!("{base}/dashboard/{page}?test={test}#token={}", crate::token::sign(secret, &claims))));
    }
    Ok(links)
}

/// Partitions of the topics a local broker is given (when it first creates
/// them): one per pipeline worker, at least two. Every waiting fetch costs
/// tansu SQL queries per partition, so partitions nobody reads in parallel
/// only cost CPU: `invigil bench idle` measured the idle broker at 0.19 cores
/// with 6 partitions per topic and 0.08 with 2.
fn local_partitions(workers: usize) -> u32 {
    workers.clamp(2, 64) as u32
}

/// The local broker to run, if the arguments and the world call for one.
fn local_broker(args: &Args, settings: &IngestSettings, live_topic: &str) -> anyhow::Result<Option<LocalBroker>> {
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
    let partitions = local_partitions(args.workers);
    let topics: [(&str, u32, &[&str]); 2] =
        [(&settings.kafka.topic, partitions, &[]), (live_topic, partitions, &compact)];
    let topics: Vec<_> = topics.into_iter().filter(|(name, _, _)| !name.is_empty()).collect();
    LocalBroker::start(&dir, address, &topics).map(Some)
}

pub fn run_command(args: Args) -> anyhow::Result<()> {
    invigil_ingest::init_logging();
    let (mut settings, dashboard) = invigil_dashboards::settings::load(args.settings.as_deref())?;
    if args.settings.is_none() {
        // Without a settings file everything lives in the data directory.
        settings.config_file = args.data_dir.join("config.json");
        settings.spool.dir = args.data_dir.join("spool");
        // An LTI tool key of its own, made on first start: platforms the
        // admin registers (lti_platforms) can launch at once.
        let key = args.data_dir.join("secrets").join("lti-tool.pem");
        invigil_ingest::lti::ToolKeys::load_or_create(&key).context("making the LTI tool key")?;
        settings.lti.enabled = true;
        settings.lti.key_files = vec![key];
    }
    // The SDK at /sdk/, for the LTI proctoring page and any host page that
    // loads the script from here, unless the settings name another bundle.
    if settings.sdk_dir.is_none() && args.sdk_dir.join("invigil.js").is_file() {
        settings.sdk_dir = Some(args.sdk_dir.clone());
    }
    let hs256 = settings.auth.algorithm == "HS256";
    let token_secret =
        if hs256 { Some(secret_from_env_or_disk("INVIGIL_TOKEN_SECRET", &args.data_dir, "token")?) } else { None };
    if let Some(secret) = &token_secret {
        crate::token::require_strong_secret(secret)?;
    }
    secret_from_env_or_disk("INVIGIL_IP_HASH_SECRET", &args.data_dir, "ip-hash")?;
    let secrets = settings.secrets_from_env()?;
    let broker = local_broker(&args, &settings, &dashboard.live_topic)?;
    if broker.is_some() {
        // tansu 0.6's idempotent-producer check can panic inside the broker
        // after its supervisor restarts it; the pipeline dedups anyway.
        settings.kafka.idempotence = false;
        // tansu stores each record uncompressed (SQLite rows), so LZ4 only
        // costs both sides: `invigil bench ingest` at 4,000 batches/s
        // measured 16 % less broker CPU and 7 % less ingest CPU per batch
        // without it. A settings file that chose a codec keeps it.
        if settings.kafka.compression == invigil_ingest::kafka::KafkaSettings::default().compression {
            settings.kafka.compression = "none".into();
        }
    }
    let chdb_path = args.chdb_path.clone().unwrap_or_else(|| args.data_dir.join("chdb"));
    let store_settings = StoreSettings::Chdb { path: chdb_path };
    let store = open_store(&store_settings).context("opening the store")?;
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    // The wall's hub takes the pipeline's live counters in process; it reads
    // the topic only for what was published before this start.
    let live_hub = Arc::new(invigil_dashboards::live::LiveHub::default());
    let pipeline =
        start_pipeline(&args, &settings, &dashboard, store_settings, store.clone(), &stop, &metrics, &live_hub)?;

    let front = Front { settings, dashboard, secrets, store, token_secret, live_hub };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(serve_front(&args, front, Arc::clone(&stop)));
    stop.store(true, Ordering::Relaxed);
    let pipeline_result = pipeline.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))?;
    // Last: the pipeline commits its offsets to the broker on the way out.
    if let Some(broker) = broker {
        broker.stop();
    }
    served?;
    pipeline_result?;
    eprintln!("invigil up: stopped; pipeline {}", metrics.summary());
    Ok(())
}

/// The pipeline on its own thread, into `store`. A pipeline that fails
/// raises `stop` for the whole process: half a stack that looks healthy is
/// worse than a clear exit.
fn start_pipeline(
    args: &Args,
    settings: &IngestSettings,
    dashboard: &invigil_dashboards::DashboardSettings,
    store_settings: StoreSettings,
    store: invigil_pipeline::store::Store,
    stop: &Arc<AtomicBool>,
    metrics: &Arc<Metrics>,
    live_hub: &Arc<invigil_dashboards::live::LiveHub>,
) -> anyhow::Result<std::thread::JoinHandle<Result<(), invigil_pipeline::run::RunError>>> {
    let mut pipeline = PipelineSettings::new(settings.kafka.brokers.clone(), store_settings);
    // The same brokers, TLS and SASL as the front door's.
    pipeline.kafka = settings.kafka.endpoint()?;
    pipeline.topic = settings.kafka.topic.clone();
    pipeline.live_topic = dashboard.live_topic.clone();
    pipeline.group_id = args.group.clone();
    pipeline.config_file = Some(settings.config_file.clone());
    if let Some(path) = &args.webhooks {
        pipeline.webhooks = invigil_pipeline::webhooks::endpoint::load(path).map_err(anyhow::Error::msg)?;
        eprintln!("invigil up: webhooks to {} endpoint(s) from {}", pipeline.webhooks.len(), path.display());
    }
    let hub = Arc::clone(live_hub);
    pipeline.live_tap = Some(invigil_pipeline::live::LiveTap(Arc::new(move |counters| hub.apply(counters.clone()))));
    let (stop, metrics) = (Arc::clone(stop), Arc::clone(metrics));
    let cluster = Cluster::single(args.workers);
    let thread = std::thread::Builder::new().name("pipeline".into()).spawn(move || {
        let result = run(pipeline, store, &cluster, Arc::clone(&stop), metrics);
        stop.store(true, Ordering::Relaxed);
        result
    })?;
    Ok(thread)
}

/// What the front door is built from.
struct Front {
    settings: IngestSettings,
    dashboard: invigil_dashboards::DashboardSettings,
    secrets: invigil_ingest::settings::Secrets,
    store: invigil_pipeline::store::Store,
    /// The HS256 secret, when tokens use one: the demo and the sign-in
    /// links mint with it.
    token_secret: Option<String>,
    /// The live hub the pipeline feeds (see [`start_pipeline`]).
    live_hub: Arc<invigil_dashboards::live::LiveHub>,
}

/// Ingest with the dashboards, the embedded media store and the demo exam,
/// until a signal or a stopped pipeline.
async fn serve_front(args: &Args, front: Front, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let Front { mut settings, dashboard, secrets, store, token_secret, live_hub } = front;
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut backends = Backends::default();
    let mut dashboards = invigil_dashboards::Backends {
        analytics: Some(Arc::new(SharedStore(store))),
        live_hub: Some(live_hub),
        ..Default::default()
    };
    let embedded_media = match args.media.as_str() {
        "embedded" => true,
        "external" => false,
        _ => settings.credentials.s3_endpoint.is_empty(),
    };
    let media = if embedded_media {
        let root = args.data_dir.join("media");
        let key = crate::media_store::store_key(&local_secret(&args.data_dir, "media")?);
        let media = MediaStore::start(&root, &settings.credentials.bucket, args.media_listen, key).await?;
        settings.credentials.s3_endpoint = media.endpoint.clone();
        dashboards.media_credentials = Some(media.staff_credentials());
        backends.upload_keys = Some(Arc::clone(&media.grants) as Arc<dyn MintUploadKeys>);
        eprintln!("invigil up: media on {} (files in {})", media.endpoint, root.display());
        Some(media)
    } else {
        eprintln!("invigil up: media on the S3 at {:?}", settings.credentials.s3_endpoint);
        None
    };
    let ingest = Ingest::start(settings, secrets, backends).await?;
    let (stop_demo, demo_stopped) = tokio::sync::watch::channel(false);
    let demo = match (&token_secret, args.no_demo) {
        (Some(secret), false) => Some(start_demo(args, &base, secret, demo_stopped).await?),
        _ => None,
    };
    print_banner(args, &base, demo.as_ref().map(|(address, _)| *address), token_secret.as_deref())?;
    invigil_dashboards::serve(ingest, dashboard, dashboards, listener, signal_or_stopped(stop)).await?;
    let _ = stop_demo.send(true);
    if let Some((_, server)) = demo {
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    }
    if let Some(media) = media {
        media.stop().await;
    }
    Ok(())
}

/// The demo exam page, served until `stopped` turns true.
async fn start_demo(
    args: &Args,
    base: &str,
    secret: &str,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let demo = Demo::new(base.to_owned(), args.demo_test.clone(), secret.to_owned(), args.sdk_dir.clone());
    if !demo.sdk_built() {
        eprintln!(
            "invigil up: warning: no SDK bundle in {}; the demo exam needs `sdk/build.sh` first",
            args.sdk_dir.display()
        );
    }
    let until = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    crate::demo::serve(demo, args.demo_listen, until).await
}

/// Where everything is, and staff sign-in links when tokens are HS256.
fn print_banner(args: &Args, base: &str, demo: Option<SocketAddr>, secret: Option<&str>) -> anyhow::Result<()> {
    eprintln!("invigil up: serving on {base}");
    eprintln!("  API          {base}/api/v1/");
    eprintln!("  dashboards   {base}/dashboard/");
    eprintln!("  metrics      {base}/metrics");
    if let Some(demo) = demo {
        eprintln!("  demo exam    http://{demo}/   (each visit is a new candidate of {})", args.demo_test);
    }
    if let Some(secret) = secret {
        eprintln!("  staff sign-in links (valid 12 h; `invigil token` mints more):");
        for (role, link) in staff_links(base, secret, &args.demo_test)? {
            eprintln!("    {role:<9}{link}");
        }
    }
    Ok(())
}

/// Resolves on SIGINT/SIGTERM, or once the pipeline raised `stop`.
async fn signal_or_stopped(stop: Arc<AtomicBool>) {
    tokio::select! {
        _ = crate::ingest::shutdown_signal() => {}
        _ = async {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } => tracing::error!("the pipeline stopped; stopping ingest"),
    }
}

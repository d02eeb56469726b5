//! The process lifecycle: [`Ingest::start`] opens the spool, the producer
//! and the config source and starts the background tasks; [`Ingest::serve`]
//! answers until told to stop, then drains requests, flushes the producer
//! and stops the tasks. The routes are [`crate::router`]'s, the shared state
//! [`crate::state`]'s.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use invigil_schemas::kafka_access::{KafkaEndpoint, Preflight};
use tokio::net::TcpListener;

use crate::auth::Verifier;
use crate::config_api::describe_config_error;
use crate::config_store::{ConfigStore, WatchGuard};
use crate::credentials::{CredentialIssuer, CredentialSource, MintUploadKeys};
use crate::delivery::{run_replayer, Delivery};
use crate::host::{Host, Mounted};
use crate::kafka::EventsProducer;
use crate::live_video;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::settings::{IngestSettings, Secrets};
use crate::spool::Spool;
use crate::staff_log::StaffLog;
use crate::state::AppState;

/// A started ingest: state plus its background work.
pub struct Ingest {
    pub state: Arc<AppState>,
    stop_replayer: tokio::sync::watch::Sender<bool>,
    replayer: tokio::task::JoinHandle<()>,
    _config_watch: Option<WatchGuard>,
}

/// What a caller may supply instead of the defaults.
#[derive(Default)]
pub struct Backends {
    /// The STS client for upload credentials (tests point it at moto);
    /// default: the AWS credential chain and `credentials.sts_endpoint`.
    pub sts: Option<aws_sdk_sts::Client>,
    /// A media store that mints its own upload keys; when set, STS is not used.
    pub upload_keys: Option<Arc<dyn MintUploadKeys>>,
}

impl Ingest {
    /// Opens everything `settings` names, with `backends` supplied by the
    /// caller where it has them.
    pub async fn start(settings: IngestSettings, secrets: Secrets, backends: Backends) -> anyhow::Result<Self> {
        use anyhow::Context;
        let metrics = Arc::new(Metrics::default());
        let (spool, recovered) = Spool::open(&settings.spool)
            .with_context(|| format!("opening the spool in {}", settings.spool.dir.display()))?;
        if recovered.records > 0 {
            tracing::info!(
                records = recovered.records,
                bytes = recovered.bytes,
                "spool holds batches from a previous run; replaying"
            );
        }
        let mut verifier = Verifier::new(&secrets.token_key)?;
        let lti = if settings.lti.enabled {
            let keys = Arc::new(
                crate::lti::ToolKeys::from_files(&settings.lti.key_files)
                    .context("reading the LTI tool keys ([lti] key_files)")?,
            );
            verifier = verifier.with_tool_keys(Arc::clone(&keys));
            tracing::info!(kid = keys.current_kid(), "LTI tool on: launches at /lti/login, keys at /lti/jwks");
            Some(crate::lti::Lti::new(settings.lti.clone(), keys))
        } else {
            None
        };
        let oidc = if settings.oidc.enabled {
            let oidc = crate::oidc::Oidc::from_settings(&settings.oidc)?;
            verifier = verifier.with_sessions(Arc::clone(&oidc.sessions));
            tracing::info!(issuer = %settings.oidc.issuer, "staff sign-in with OpenID Connect at /auth/oidc/login");
            Some(oidc)
        } else {
            None
        };
        let kafka = settings.kafka.endpoint()?;
        if kafka.is_secured() {
            // A wrong CA or password is a settings error, found now rather
            // than as batches piling up in the spool.
            let check = kafka.clone();
            let outcome = tokio::task::spawn_blocking(move || check.preflight(Duration::from_secs(5))).await?;
            match outcome? {
                Preflight::Reached => tracing::info!(brokers = %kafka.brokers, "Kafka reached over TLS/SASL"),
                Preflight::Unreachable(reason) => {
                    tracing::warn!(brokers = %kafka.brokers, reason, "Kafka unreachable at start; the TLS/SASL settings are checked when it answers")
                }
            }
        }
        let producer = EventsProducer::new(&settings.kafka, &kafka).context("creating the Kafka producer")?;
        // Warm the producer's metadata so the first request is not the one
        // that waits for it. Kafka being down here is not fatal: the spool
        // takes batches until it returns.
        let warm = producer.clone();
        if !tokio::task::spawn_blocking(move || warm.probe(Duration::from_secs(5))).await.unwrap_or(false) {
            tracing::warn!(brokers = %settings.kafka.brokers, "Kafka unreachable at start; batches will be spooled until it answers");
        }
        let staff_log = StaffLog::new(
            producer.clone(),
            &settings.kafka.topic,
            &settings.node,
            secrets.ip_hash_secret,
            settings.trust_forwarded_for,
        );
        {
            // The audit trail's and the erasures' topics, made now off the
            // start's path (a broker that is away only delays them: the
            // pipeline makes them too).
            let (endpoint, topic) = (kafka.clone(), staff_log.topic().to_owned());
            let erasures = staff_log.erasure_topic().to_owned();
            tokio::task::spawn_blocking(move || {
                if let Err(error) = endpoint.create_topic(&topic, 1, &[], Duration::from_secs(5)) {
                    tracing::warn!(%error, "the staff actions' topic is not there yet");
                }
                if let Err(error) = invigil_schemas::erasure::follow::create_topic(&endpoint, &erasures) {
                    tracing::warn!(%error, "the erasures topic is not there yet");
                }
            });
        }
        let delivery =
            Delivery::new(producer, spool, Arc::clone(&metrics), Duration::from_millis(settings.kafka.ack_timeout_ms));
        let config = open_config(&settings, &kafka, Arc::clone(&metrics)).await?;
        let reloads = Arc::clone(&metrics);
        let config_watch = config
            .watch(Duration::from_secs(2), move |version| {
                reloads.config_reloads.inc();
                tracing::info!(version, "configuration file changed; new version in force");
            })
            .context("watching the configuration file")?;
        let upload_credentials = match (backends.upload_keys, backends.sts) {
            (Some(mint), _) => CredentialSource::Minted(mint),
            (None, Some(client)) => CredentialSource::Sts(client),
            (None, None) => CredentialSource::Sts(CredentialIssuer::default_sts_client(&settings.credentials).await),
        };
        let live_video = if settings.live_video.enabled {
            Some(live_video::LiveVideo::start(settings.live_video.clone())?)
        } else {
            None
        };
        let state = Arc::new(AppState {
            verifier,
            kafka,
            ip_hash_secret: secrets.ip_hash_secret,
            config,
            delivery: delivery.clone(),
            credentials: CredentialIssuer::new(settings.credentials.clone(), upload_credentials, Arc::clone(&metrics)),
            limiter: RateLimiter::new(settings.rate_limit.clone()),
            metrics,
            live_video,
            lti,
            oidc,
            staff_log,
            settings,
            stopping: Default::default(),
        });
        if let Some(shards) = state.live_video.as_ref().and_then(|live| live.shards.clone()) {
            let every = Duration::from_millis(state.settings.live_video.shard_probe_ms);
            tokio::spawn(shards.probe(every));
            tokio::spawn(live_video::follow_shards(Arc::downgrade(&state)));
        }
        let (stop_replayer, stop) = tokio::sync::watch::channel(false);
        let replayer = tokio::spawn(run_replayer(delivery, stop));
        Ok(Self { state, stop_replayer, replayer, _config_watch: config_watch })
    }

    /// What a service mounted beside ingest may use of it.
    pub fn host(&self) -> Host {
        Host::of(&self.state)
    }

    /// Serves ingest's routes and `mounted`'s until `shutdown` resolves.
    /// Then `/readyz` says 503 for `stop_linger_ms` while requests are
    /// still served (a balancer moves new ones elsewhere), in-flight
    /// requests finish, the producer flushes, and what the spool holds is
    /// replayed for up to `spool.drain_on_exit_secs` while the broker
    /// answers. Whatever is left stays in the spool for the next start on
    /// the same volume, and the exit log says how much. Long-lived
    /// responses of `mounted` (event streams) must end when `shutdown`
    /// does, or the drain waits for them.
    pub async fn serve(
        self,
        listener: TcpListener,
        mounted: Mounted,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = Arc::clone(&self.state);
        let streams = Arc::clone(&self.state);
        let signal_listener = match self.state.live_video.as_ref().and_then(|live| live.settings.signal_listen) {
            Some(address) => {
                let listener = TcpListener::bind(address).await?;
                tracing::info!(listen = %listener.local_addr()?, "live video signal listener");
                Some(tokio::spawn(live_video::signal_server::serve(listener, Arc::clone(&self.state))))
            }
            None => None,
        };
        let shutdown = async move {
            shutdown.await;
            streams.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
            let linger = Duration::from_millis(streams.settings.stop_linger_ms);
            if !linger.is_zero() {
                tracing::info!(linger_ms = linger.as_millis() as u64, "stopping: not ready; serving a little longer");
                tokio::time::sleep(linger).await;
            }
            if let Some(live) = &streams.live_video {
                live.close_signals();
            }
        };
        axum::serve(
            listener,
            crate::router::router(state, mounted).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        if let Some(listener) = signal_listener {
            // Held signals answered when the stop began (close_signals).
            listener.abort();
        }
        let producer = self.state.delivery.producer.clone();
        let flushed =
            tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await.unwrap_or(false);
        let drained = drain_spool(&self.state.delivery, self.state.settings.spool.drain_on_exit_secs).await;
        let _ = self.stop_replayer.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.replayer).await;
        let (spooled, _) = self.state.delivery.spool.usage();
        if drained {
            tracing::info!(flushed, "ingest stopped; the spool is empty");
        } else {
            tracing::warn!(
                flushed,
                spooled_bytes = spooled,
                dir = %self.state.settings.spool.dir.display(),
                "ingest stopped with batches still spooled (the broker did not take them in time); they replay at the next start on this volume"
            );
        }
        Ok(())
    }
}

/// The configuration: the config log when `config_topic` is set (read to its
/// end before the replica serves, so it never answers with an older version
/// than its peers), otherwise the file.
async fn open_config(
    settings: &IngestSettings,
    kafka: &KafkaEndpoint,
    metrics: Arc<Metrics>,
) -> anyhow::Result<ConfigStore> {
    use anyhow::Context;
    let described = |e: crate::config_store::ConfigError| anyhow::anyhow!("{e}: {}", describe_config_error(&e));
    let Some(topic) = &settings.config_topic else {
        return ConfigStore::open_file(&settings.config_file)
            .map_err(described)
            .with_context(|| format!("opening the configuration file {}", settings.config_file.display()));
    };
    let log = invigil_schemas::config_log::kafka::LogSettings { kafka: kafka.clone(), topic: topic.clone() };
    let seed = settings.config_file.clone();
    // Beside the spool: per replica, writable, and kept across restarts.
    let cache = settings.spool.dir.join("config-log-cache.json");
    std::fs::create_dir_all(&settings.spool.dir)?;
    let opened = tokio::task::spawn_blocking(move || {
        ConfigStore::open_log(log, &seed, &cache, Duration::from_secs(10), move |version| {
            metrics.config_reloads.inc();
            tracing::info!(version, "configuration changed in the config log; new version in force");
        })
    })
    .await
    .context("opening the config log")?;
    opened.map_err(described).with_context(|| format!("following the config log {topic} at {}", settings.kafka.brokers))
}

/// Lets the replayer empty the spool before the process exits: waits while
/// it holds records and the broker answers, up to `limit_secs`. Whether it
/// is empty.
async fn drain_spool(delivery: &Delivery, limit_secs: u64) -> bool {
    let spool = &delivery.spool;
    if !spool.is_active() {
        return true;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(limit_secs);
    tracing::info!(spooled_bytes = spool.usage().0, limit_secs, "stopping: replaying the spool first");
    while spool.is_active() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    !spool.is_active()
}

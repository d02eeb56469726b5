//! The router, the state every handler shares, and the process lifecycle:
//! [`Ingest::start`] opens the spool, the producer and the config source and
//! starts the background tasks; [`Ingest::serve`] answers until told to stop,
//! then drains requests, flushes the producer and stops the tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use invigil_schemas::api::{
    AdminConfigResponse, ConfigHistoryResponse, ConfigResponse, ConfigVersionResponse, CredentialsResponse, ErrorCode,
};
use invigil_schemas::claims::{StaffClaims, StaffRole};
use invigil_schemas::config::ConfigDocument;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Verifier;
use crate::config_store::{ConfigError, ConfigStore, WatchGuard};
use crate::credentials::{CredentialIssuer, CredentialSource, MintUploadKeys};
use crate::delivery::{run_replayer, Delivery};
use crate::error::ApiError;
use crate::kafka::EventsProducer;
use crate::live_video;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::settings::{IngestSettings, Secrets};
use crate::spool::Spool;

/// Every route ingest serves, as `(method, path)`; a test holds
/// `openapi.yaml` to these and the dashboards' routes together.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/events"),
    ("get", "/api/v1/config"),
    ("post", "/api/v1/credentials"),
    ("get", "/api/v1/admin/config"),
    ("put", "/api/v1/admin/config"),
    ("get", "/api/v1/admin/config/history"),
    ("post", "/api/v1/admin/config/rollback"),
    ("get", "/api/v1/admin/config/history/{version}"),
    ("get", "/api/v1/live/signal"),
    ("post", "/api/v1/live/whip"),
    ("post", "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/whep"),
    ("post", "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/messages"),
    ("delete", "/api/v1/live/resources/{id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

pub struct AppState {
    pub settings: IngestSettings,
    pub ip_hash_secret: [u8; 16],
    pub verifier: Verifier,
    pub config: ConfigStore,
    pub delivery: Delivery,
    pub credentials: CredentialIssuer,
    pub limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    /// The SFU and its signal (`[live_video] enabled`).
    pub live_video: Option<crate::live_video::LiveVideo>,
    /// Whose wall a candidate is on, from the dashboards once mounted; a
    /// proctor may watch only the candidates on their wall.
    pub walls: std::sync::OnceLock<Arc<dyn crate::live_video::ProctorWalls>>,
}

impl AppState {
    /// The per-candidate rate limit, counted in metrics.
    pub fn rate_limit(&self, key: &str) -> Result<(), ApiError> {
        self.limiter.check(key).map_err(|secs| {
            self.metrics.rate_limited.inc();
            ApiError::rate_limited(secs)
        })
    }
}

/// Ingest's routes and `extra` (the dashboards' pages and APIs), behind one
/// body limit, request metrics, CORS and the JSON 404.
pub fn router(state: Arc<AppState>, extra: Router) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let cors = cors_layer(&state.settings.cors_origins);
    // The admin document may be larger than an events body; everything else
    // reads its body itself under `limits.max_body_bytes`.
    let body_limit = state.settings.limits.max_body_bytes.max(1 << 20);
    Router::new()
        .route("/api/v1/events", post(crate::events::post_events))
        .route("/api/v1/config", get(get_config))
        .route("/api/v1/credentials", post(post_credentials))
        .route("/api/v1/admin/config", get(get_admin_config).put(put_admin_config))
        .route("/api/v1/admin/config/history", get(get_admin_history))
        .route("/api/v1/admin/config/rollback", post(post_admin_rollback))
        .route("/api/v1/admin/config/history/{version}", get(get_admin_version))
        .route("/api/v1/live/signal", get(live_video::routes::get_signal))
        .route("/api/v1/live/whip", post(live_video::routes::post_whip))
        .route("/api/v1/live/tests/{test_id}/candidates/{candidate_id}/whep", post(live_video::routes::post_whep))
        .route(
            "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/messages",
            post(live_video::routes::post_message),
        )
        .route("/api/v1/live/resources/{id}", delete(live_video::routes::delete_resource))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(get_readyz))
        .route("/metrics", get(get_metrics))
        .with_state(state)
        .merge(extra)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
        .layer(cors)
}

/// Browsers on the configured host origins may call the API; tokens travel
/// in `Authorization`, never in cookies, so no credentials mode is needed.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        // `Location`: where a WHIP session is ended.
        .expose_headers([header::RETRY_AFTER, header::LOCATION])
        .max_age(Duration::from_secs(3600))
}

/// `GET /api/v1/config`: the candidate's test config and its version.
async fn get_config(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<ConfigResponse>, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    let current = state.config.current();
    let config = current.document.for_test(&claims.test_id).map_err(|problem| {
        tracing::error!(%problem, "stored config does not resolve");
        ApiError::new(ErrorCode::Internal, "configuration error")
    })?;
    Ok(Json(ConfigResponse { config_version: current.version, config }))
}

/// `POST /api/v1/credentials`: upload credentials for the candidate's prefix.
async fn post_credentials(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<CredentialsResponse>, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    state.rate_limit(&format!("{}/{}", claims.test_id, claims.sub))?;
    state.credentials.issue(&claims).await.map(Json)
}

fn admin(state: &AppState, headers: &HeaderMap) -> Result<StaffClaims, ApiError> {
    state.verifier.staff(headers, &[StaffRole::Admin])
}

fn config_error(error: ConfigError) -> ApiError {
    match error {
        ConfigError::Invalid(problems) => ApiError::invalid(problems),
        ConfigError::NoSuchVersion(version) => {
            ApiError::new(ErrorCode::NotFound, format!("version {version} is not in the history"))
        }
        ConfigError::Io(error) => {
            tracing::error!(%error, "configuration storage failed");
            ApiError::unavailable("configuration storage failed; nothing changed", 5)
        }
    }
}

/// Runs a configuration write (file IO) off the async threads and counts the
/// new version; `action` names it in the log.
async fn write_config(
    state: &AppState,
    who: &StaffClaims,
    action: &'static str,
    write: impl FnOnce(&ConfigStore) -> Result<u64, ConfigError> + Send + 'static,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let store = state.config.clone();
    let version = tokio::task::spawn_blocking(move || write(&store))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "configuration write panicked"))?
        .map_err(config_error)?;
    state.metrics.config_reloads.inc();
    tracing::info!(admin = %who.sub, version, action, "configuration changed through the admin API");
    Ok(Json(ConfigVersionResponse { version }))
}

async fn get_admin_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<AdminConfigResponse>, ApiError> {
    admin(&state, &headers)?;
    let current = state.config.current();
    Ok(Json(AdminConfigResponse { version: current.version, document: (*current.document).clone() }))
}

async fn put_admin_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let who = admin(&state, &headers)?;
    crate::error::require_json(&headers)?;
    let document = ConfigDocument::from_json(&body).map_err(ApiError::invalid)?;
    write_config(&state, &who, "replaced", move |store| store.replace(document)).await
}

async fn get_admin_history(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ConfigHistoryResponse>, ApiError> {
    admin(&state, &headers)?;
    let versions = state.config.history().map_err(config_error)?;
    Ok(Json(ConfigHistoryResponse { current: state.config.current().version, versions }))
}

/// `GET /api/v1/admin/config/history/{version}`: one stored version, for
/// comparing before a rollback.
async fn get_admin_version(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(version): axum::extract::Path<String>,
) -> Result<Json<AdminConfigResponse>, ApiError> {
    admin(&state, &headers)?;
    // Versions count from 1 (openapi.yaml: minimum 1), so 0 is a bad
    // request like "abc", not a version that happens to be missing.
    use invigil_schemas::validate::ProblemCode;
    let bad = |code, message: &str| ApiError::bad_field("version", code, message);
    let version: u64 = match version.parse() {
        Ok(0) => return Err(bad(ProblemCode::InvalidValue, "must be at least 1")),
        Ok(version) => version,
        Err(_) => return Err(bad(ProblemCode::InvalidType, "must be a positive integer")),
    };
    let store = state.config.clone();
    let document = tokio::task::spawn_blocking(move || store.load_version(version))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "configuration read panicked"))?
        .map_err(config_error)?;
    Ok(Json(AdminConfigResponse { version, document }))
}

#[derive(serde::Deserialize)]
struct RollbackQuery {
    version: Option<u64>,
}

async fn post_admin_rollback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<RollbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let who = admin(&state, &headers)?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_field("version", invigil_schemas::validate::ProblemCode::InvalidType, rejection.body_text())
    })?;
    write_config(&state, &who, "rolled back", move |store| store.rollback(query.version)).await
}

/// Ready while an accepted batch has somewhere durable to go: the spool can
/// write and has room. Kafka being down alone does not make ingest unready —
/// the spool takes over, and pulling every replica out of the load balancer
/// would block candidates for our failure.
async fn get_readyz(State(state): State<Arc<AppState>>) -> Response {
    let spool = &state.delivery.spool;
    let (used, capacity) = spool.usage();
    let failure = spool.failure();
    let ready = failure.is_none() && used < capacity / 10 * 9;
    let body = serde_json::json!({
        "ready": ready,
        "kafka": if state.delivery.producer.brokers_down() { "down" } else { "up" },
        "spool": { "active": spool.is_active(), "bytes": used, "capacity": capacity, "error": failure },
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.spool_bytes.set(state.delivery.spool.usage().0 as i64);
    if let Some(live) = &state.live_video {
        state.metrics.observe_live_video(live.stats());
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

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
        let producer = EventsProducer::new(&settings.kafka).context("creating the Kafka producer")?;
        // Warm the producer's metadata so the first request is not the one
        // that waits for it. Kafka being down here is not fatal: the spool
        // takes batches until it returns.
        let warm = producer.clone();
        if !tokio::task::spawn_blocking(move || warm.probe(Duration::from_secs(5))).await.unwrap_or(false) {
            tracing::warn!(brokers = %settings.kafka.brokers, "Kafka unreachable at start; batches will be spooled until it answers");
        }
        let delivery =
            Delivery::new(producer, spool, Arc::clone(&metrics), Duration::from_millis(settings.kafka.ack_timeout_ms));
        let config = ConfigStore::open_file(&settings.config_file)
            .map_err(|e| anyhow::anyhow!("{e}: {}", describe_config_error(&e)))
            .with_context(|| format!("opening the configuration file {}", settings.config_file.display()))?;
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
            verifier: Verifier::new(&secrets.token_key)?,
            ip_hash_secret: secrets.ip_hash_secret,
            config,
            delivery: delivery.clone(),
            credentials: CredentialIssuer::new(settings.credentials.clone(), upload_credentials, Arc::clone(&metrics)),
            limiter: RateLimiter::new(settings.rate_limit.clone()),
            metrics,
            live_video,
            walls: std::sync::OnceLock::new(),
            settings,
        });
        let (stop_replayer, stop) = tokio::sync::watch::channel(false);
        let replayer = tokio::spawn(run_replayer(delivery, stop));
        Ok(Self { state, stop_replayer, replayer, _config_watch: config_watch })
    }

    /// Serves ingest's routes and `extra` until `shutdown` resolves, then
    /// drains in-flight requests, flushes the producer and stops the
    /// replayer (whatever it has not replayed stays in the spool for the
    /// next start). Long-lived responses of `extra` (event streams) must end
    /// when `shutdown` does, or the drain waits for them.
    pub async fn serve(
        self,
        listener: TcpListener,
        extra: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = Arc::clone(&self.state);
        let streams = Arc::clone(&self.state);
        let shutdown = async move {
            shutdown.await;
            if let Some(live) = &streams.live_video {
                live.close_signals();
            }
        };
        axum::serve(listener, router(state, extra).into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await?;
        let producer = self.state.delivery.producer.clone();
        let flushed =
            tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await.unwrap_or(false);
        let _ = self.stop_replayer.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.replayer).await;
        let (spooled, _) = self.state.delivery.spool.usage();
        tracing::info!(flushed, spooled_bytes = spooled, "ingest stopped");
        Ok(())
    }
}

fn describe_config_error(error: &ConfigError) -> String {
    match error {
        ConfigError::Invalid(problems) => {
            problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

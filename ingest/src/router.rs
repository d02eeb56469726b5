//! Every route ingest serves, behind one body limit, request metrics, CORS
//! and the JSON 404, with a mounted service's routes beside them; and the
//! two operational routes, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use invigil_schemas::api::ErrorCode;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;
use crate::host::Mounted;
use crate::state::AppState;
use crate::{config_api, credentials_api, events, live_api};

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
    ("get", "/api/v1/admin/config/settings"),
    ("get", "/api/v1/live/signal"),
    ("post", "/api/v1/live/whip"),
    ("post", "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/whep"),
    ("post", "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/messages"),
    ("delete", "/api/v1/live/resources/{id}"),
    ("get", "/api/v1/live/shards/{shard}/signal"),
    ("post", "/api/v1/live/shards/{shard}/whip"),
    ("post", "/api/v1/live/shards/{shard}/tests/{test_id}/candidates/{candidate_id}/whep"),
    ("post", "/api/v1/live/shards/{shard}/tests/{test_id}/candidates/{candidate_id}/messages"),
    ("delete", "/api/v1/live/shards/{shard}/resources/{id}"),
    ("get", "/sdk/{file}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/lti/login"),
    ("post", "/lti/login"),
    ("post", "/lti/launch"),
    ("post", "/lti/start-assessment"),
    ("get", "/lti/jwks"),
    ("get", "/lti/proctor.js"),
    ("post", "/api/v1/lti/control"),
    ("get", "/auth/oidc/login"),
    ("get", "/auth/oidc/callback"),
    ("get", "/auth/session"),
    ("post", "/auth/logout"),
];

/// Ingest's routes and `mounted`'s (the dashboards' pages and APIs).
pub fn router(state: Arc<AppState>, mounted: Mounted) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let cors = cors_layer(&state.settings.cors_origins);
    // The admin document may be larger than an events body; everything else
    // reads its body itself under `limits.max_body_bytes`.
    let body_limit = state.settings.limits.max_body_bytes.max(1 << 20);
    let live = live_api::router(Arc::clone(&state), mounted.walls);
    let sessions = state.oidc.as_ref().map(|oidc| Arc::clone(&oidc.sessions));
    Router::new()
        .route("/api/v1/events", post(events::post_events))
        .route("/api/v1/config", get(config_api::get_config))
        .route("/api/v1/credentials", post(credentials_api::post_credentials))
        .route("/api/v1/admin/config", get(config_api::get_admin_config).put(config_api::put_admin_config))
        .route("/api/v1/admin/config/history", get(config_api::get_admin_history))
        .route("/api/v1/admin/config/rollback", post(config_api::post_admin_rollback))
        .route("/api/v1/admin/config/history/{version}", get(config_api::get_admin_version))
        .route("/api/v1/admin/config/settings", get(config_api::get_admin_settings))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(get_readyz))
        .route("/sdk/{file}", get(get_sdk_file))
        .route("/metrics", get(get_metrics))
        .merge(crate::lti::router())
        .merge(crate::oidc::router())
        .with_state(state)
        .merge(live)
        .merge(mounted.router)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(sessions, crate::oidc::session::require_csrf))
        .layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
        .layer(cors)
}

/// Browsers on the configured host origins may call the API; tokens travel
/// in `Authorization`. Staff sessions' cookies are for the dashboards on
/// this origin only: no credentials mode, so other origins never send them.
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

/// Ready while an accepted batch has somewhere durable to go: the spool can
/// write and has room. Kafka being down alone does not make ingest unready —
/// the spool takes over, and pulling every replica out of the load balancer
/// would block candidates for our failure.
async fn get_readyz(State(state): State<Arc<AppState>>) -> Response {
    let spool = &state.delivery.spool;
    let (used, capacity) = spool.usage();
    let failure = spool.failure();
    let stopping = state.stopping.load(std::sync::atomic::Ordering::Relaxed);
    let ready = failure.is_none() && used < capacity / 10 * 9 && !stopping;
    let body = serde_json::json!({
        "ready": ready,
        "stopping": stopping,
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

/// `GET /sdk/{file}`: the SDK bundle from `sdk_dir`, when one is set.
async fn get_sdk_file(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    match &state.settings.sdk_dir {
        Some(dir) => crate::sdk_files::response(dir, &file, crate::sdk_files::DEPLOYED_CACHE).await,
        None => crate::sdk_files::not_found("this server does not serve the SDK (sdk_dir is not set)"),
    }
}

//! The config's HTTP face: `GET /api/v1/config` for candidates, and the
//! admin config API (read, replace, history, one version, rollback) that
//! writes through the [`ConfigStore`]. Writes are file IO, run off the async
//! threads; every failure names its field or says that nothing changed.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use invigil_schemas::api::{
    AdminConfigResponse, ConfigHistoryResponse, ConfigResponse, ConfigVersionResponse, ErrorCode,
};
use invigil_schemas::claims::{StaffClaims, StaffRole};
use invigil_schemas::config::ConfigDocument;
use invigil_schemas::validate::ProblemCode;

use crate::config_store::{ConfigError, ConfigStore};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/config`: the candidate's test config and its version.
pub async fn get_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ConfigResponse>, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    let current = state.config.current();
    let config = current.document.for_test(&claims.test_id).map_err(|problem| {
        tracing::error!(%problem, "stored config does not resolve");
        ApiError::new(ErrorCode::Internal, "configuration error")
    })?;
    Ok(Json(ConfigResponse { config_version: current.version, config }))
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

/// `GET /api/v1/admin/config`: the whole document in force and its version.
pub async fn get_admin_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<AdminConfigResponse>, ApiError> {
    admin(&state, &headers)?;
    let current = state.config.current();
    Ok(Json(AdminConfigResponse { version: current.version, document: (*current.document).clone() }))
}

/// `PUT /api/v1/admin/config`: a new document, validated whole.
pub async fn put_admin_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let who = admin(&state, &headers)?;
    crate::error::require_json(&headers)?;
    let document = ConfigDocument::from_json(&body).map_err(ApiError::invalid)?;
    write_config(&state, &who, "replaced", move |store| store.replace(document)).await
}

/// `GET /api/v1/admin/config/history`: the versions kept.
pub async fn get_admin_history(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ConfigHistoryResponse>, ApiError> {
    admin(&state, &headers)?;
    let versions = state.config.history().map_err(config_error)?;
    Ok(Json(ConfigHistoryResponse { current: state.config.current().version, versions }))
}

/// `GET /api/v1/admin/config/history/{version}`: one stored version, for
/// comparing before a rollback.
pub async fn get_admin_version(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(version): Path<String>,
) -> Result<Json<AdminConfigResponse>, ApiError> {
    admin(&state, &headers)?;
    // Versions count from 1 (openapi.yaml: minimum 1), so 0 is a bad
    // request like "abc", not a version that happens to be missing.
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
pub struct RollbackQuery {
    version: Option<u64>,
}

/// `POST /api/v1/admin/config/rollback[?version=N]`: back to a stored
/// version (default: the one before the current), as a new version.
pub async fn post_admin_rollback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<RollbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let who = admin(&state, &headers)?;
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_field("version", ProblemCode::InvalidType, rejection.body_text()))?;
    write_config(&state, &who, "rolled back", move |store| store.rollback(query.version)).await
}

/// What an unreadable config file at start says, field by field.
pub fn describe_config_error(error: &ConfigError) -> String {
    match error {
        ConfigError::Invalid(problems) => {
            problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

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
use invigil_schemas::config::{ConfigDocument, ProctorConfig};
use invigil_schemas::config_catalog::{value_at, Setting, SETTINGS};
use invigil_schemas::validate::ProblemCode;

use crate::config_store::{ConfigError, ConfigStore, Write};
use crate::error::ApiError;
use crate::staff_log::Peer;
use crate::state::AppState;

/// `GET /api/v1/config`: the candidate's config (their test's, with their
/// accommodation's checks waived) and its version.
pub async fn get_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ConfigResponse>, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    let current = state.config.current();
    let config = current.document.for_candidate(&claims.test_id, &claims.sub).map_err(|problem| {
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
        ConfigError::Stale { read, current } => {
            let mut error = ApiError::new(
                ErrorCode::Conflict,
                format!("the write was based on version {read}, but version {current} is in force; nothing changed: read it, reapply your change, and send if_version={current}"),
            );
            error.body.error.field = Some("version".into());
            error
        }
        ConfigError::Io(error) => {
            tracing::error!(%error, "configuration storage failed");
            ApiError::unavailable("configuration storage failed; nothing changed", 5)
        }
        ConfigError::Log(message) => {
            tracing::error!(%message, "config log write failed");
            ApiError::unavailable(message, 5)
        }
    }
}

/// Runs a configuration write (file IO) off the async threads and counts the
/// new version; `action` names it in the log.
/// A configuration write an admin asked for, recorded in the audit trail
/// once it is in force (`config.replaced`, `config.rolled_back`).
struct ConfigWrite<'a> {
    who: &'a StaffClaims,
    action: &'static str,
    if_version: Option<u64>,
    /// Where the request came from ([`crate::staff_log::StaffLog::origin`]).
    origin: u64,
    /// What else the audit record says (a rollback's target).
    detail: serde_json::Map<String, serde_json::Value>,
}

async fn write_config(
    state: &AppState,
    intent: ConfigWrite<'_>,
    write: impl FnOnce(&ConfigStore, Write) -> Result<u64, ConfigError> + Send + 'static,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let ConfigWrite { who, action, if_version, origin, mut detail } = intent;
    let store = state.config.clone();
    let asked = Write { if_version, by: who.sub.clone() };
    let version = tokio::task::spawn_blocking(move || write(&store, asked))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "configuration write panicked"))?
        .map_err(config_error)?;
    state.metrics.config_reloads.inc();
    tracing::info!(admin = %who.sub, version, action, "configuration changed through the admin API");
    detail.insert("version".into(), version.into());
    if let Some(based_on) = if_version {
        detail.insert("based_on".into(), based_on.into());
    }
    let done = crate::staff_log::Done::new(who, format!("config.{action}"), origin);
    state.staff_log.record(crate::staff_log::Done { detail, ..done }).await;
    Ok(Json(ConfigVersionResponse { version }))
}

/// An admin reads what every replica will serve: this one first reads the
/// config log to its end, so a write just made through another replica is
/// seen (and an `if_version` taken from here is not stale for lag alone).
/// With the broker away it answers from what it has, and says so in its log.
async fn synced(state: &AppState) {
    let store = state.config.clone();
    match tokio::task::spawn_blocking(move || store.sync()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "config log not read to its end; answering with the version held"),
        Err(_) => tracing::warn!("config log sync panicked; answering with the version held"),
    }
}

/// `GET /api/v1/admin/config`: the whole document in force and its version.
pub async fn get_admin_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<AdminConfigResponse>, ApiError> {
    admin(&state, &headers)?;
    synced(&state).await;
    let current = state.config.current();
    Ok(Json(AdminConfigResponse { version: current.version, document: (*current.document).clone() }))
}

/// One setting as the admin page's forms draw it: the catalogue's entry
/// and the built-in value a layer that leaves it out falls back to.
#[derive(serde::Serialize)]
pub struct SettingView {
    #[serde(flatten)]
    setting: &'static Setting,
    default: serde_json::Value,
}

/// `GET /api/v1/admin/config/settings`: every setting of a test's
/// configuration with its label, explanation, unit, bounds and built-in
/// default — the same bounds a `PUT` is validated against.
pub async fn get_admin_settings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    admin(&state, &headers)?;
    let builtin = serde_json::to_value(ProctorConfig::default()).expect("config serializes");
    let settings: Vec<SettingView> = SETTINGS
        .iter()
        .map(|setting| SettingView { setting, default: value_at(&builtin, setting.path).cloned().unwrap_or_default() })
        .collect();
    Ok(Json(serde_json::json!({ "settings": settings })))
}

/// `?if_version=N` of a write: the version the admin read.
#[derive(serde::Deserialize)]
pub struct WriteQuery {
    if_version: Option<u64>,
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// A write's query, or the 400 naming its field (`if_version` or `version`).
fn write_query<T>(query: QueryResult<T>) -> Result<T, ApiError> {
    query.map(|Query(query)| query).map_err(|rejection| {
        let text = rejection.body_text();
        let field = if text.contains("if_version") { "if_version" } else { "version" };
        ApiError::bad_field(field, ProblemCode::InvalidType, text)
    })
}

/// `PUT /api/v1/admin/config[?if_version=N]`: a new document, validated
/// whole; with `if_version`, only over that version (else 409).
pub async fn put_admin_config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Peer,
    query: QueryResult<WriteQuery>,
    body: axum::body::Bytes,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let who = admin(&state, &headers)?;
    let query = write_query(query)?;
    crate::error::require_json(&headers)?;
    let document = ConfigDocument::from_json(&body).map_err(ApiError::invalid)?;
    let intent = ConfigWrite {
        who: &who,
        action: "replaced",
        if_version: query.if_version,
        origin: state.staff_log.origin(&headers, &peer),
        detail: serde_json::Map::new(),
    };
    write_config(&state, intent, move |store, write| store.replace(document, write)).await
}

/// `GET /api/v1/admin/config/history`: the versions kept.
pub async fn get_admin_history(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<ConfigHistoryResponse>, ApiError> {
    admin(&state, &headers)?;
    synced(&state).await;
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
    synced(&state).await;
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
    if_version: Option<u64>,
}

/// `POST /api/v1/admin/config/rollback[?version=N][&if_version=M]`: back
/// to a stored version (default: the one before the current), as a new
/// version; with `if_version`, only over that version (else 409).
pub async fn post_admin_rollback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Peer,
    query: QueryResult<RollbackQuery>,
) -> Result<Json<ConfigVersionResponse>, ApiError> {
    let who = admin(&state, &headers)?;
    let query = write_query(query)?;
    let target = query.version;
    let mut detail = serde_json::Map::new();
    if let Some(target) = target {
        detail.insert("to".into(), target.into());
    }
    let intent = ConfigWrite {
        who: &who,
        action: "rolled_back",
        if_version: query.if_version,
        origin: state.staff_log.origin(&headers, &peer),
        detail,
    };
    write_config(&state, intent, move |store, write| store.rollback(target, write)).await
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

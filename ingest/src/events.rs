//! `POST /api/v1/events`: verify, check config, validate, enrich, produce.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use invigil_schemas::api::{ErrorCode, EventsResponse, ShutdownAction};
use invigil_schemas::config::Resolution;
use invigil_schemas::record::record_key;
use invigil_schemas::validate::{check_caller, parse_batch, Caller, ProblemCode};

use crate::enrich::{hash_ip, hash_network, to_record, Enrichment};
use crate::error::ApiError;
use crate::state::AppState;

/// Longest user agent kept on a record.
const MAX_USER_AGENT_BYTES: usize = 512;

pub async fn post_events(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EventsResponse>, ApiError> {
    let claims = state.verifier.candidate(&headers)?;

    // Config first: a stopped or bypassed candidate is told so before we spend
    // anything on the body.
    let config = state.config.current();
    let resolution = config.document.resolve(&claims.test_id, &claims.sub).map_err(|problem| {
        tracing::error!(%problem, "stored config does not resolve");
        ApiError::new(ErrorCode::Internal, "configuration error")
    })?;
    if let Resolution::Shutdown(reason) = resolution {
        return Ok(Json(EventsResponse::Shutdown { reason, action: ShutdownAction::GracefulShutdown }));
    }
    let key = record_key(&claims.test_id, &claims.sub);
    state.rate_limit(&key)?;

    crate::error::require_json(&headers)?;
    let limit = state.settings.limits.max_body_bytes;
    let too_large = || ApiError::new(ErrorCode::PayloadTooLarge, format!("body exceeds {limit} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    let batch = parse_batch(&bytes, &state.settings.limits).map_err(|problems| {
        if problems.0.iter().any(|p| p.code == ProblemCode::TooLarge) {
            too_large()
        } else {
            ApiError::invalid(problems.0)
        }
    })?;
    let received_at = invigil_schemas::clock::now_ms();
    let caller = Caller { test: &claims.test_id, candidate: &claims.sub, now_ms: received_at };
    check_caller(&batch, &caller, &state.settings.limits).map_err(|problems| ApiError::invalid(problems.0))?;
    let accepted = batch.events.len() as u32;

    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cut =
        (0..=user_agent.len().min(MAX_USER_AGENT_BYTES)).rev().find(|i| user_agent.is_char_boundary(*i)).unwrap_or(0);
    let ip = client_ip(&headers, peer, state.settings.trust_forwarded_for);
    let enrichment = Enrichment {
        received_at,
        ingest_node: state.settings.node.clone(),
        client_ip_hash: hash_ip(&state.ip_hash_secret, ip),
        client_net_hash: hash_network(&state.ip_hash_secret, ip),
        user_agent: user_agent[..cut].to_owned(),
    };
    let (_, value) = to_record(&claims, batch, enrichment);
    state.delivery.deliver(&key, &value).await.map_err(|error| {
        tracing::error!(%error, "batch could not be made durable");
        ApiError::unavailable("every buffer is full; retry later", 10)
    })?;
    Ok(Json(EventsResponse::Ok { accepted, config_version: config.version }))
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop when
/// a trusted proxy sets it.
pub(crate) fn client_ip(headers: &HeaderMap, peer: SocketAddr, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        if let Some(ip) = forwarded.and_then(|v| v.split(',').next()).and_then(|v| v.trim().parse().ok()) {
            return ip;
        }
    }
    peer.ip()
}

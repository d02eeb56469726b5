//! The webhook delivery log for admins, and redelivery.
//!
//! The pipeline's dispatcher logs every attempt in `webhook_deliveries`
//! (with the body it signed and sent); these routes read that log and queue
//! a notice again for one endpoint: the dispatcher sends the same body
//! under the same `webhook-id` (a receiver that kept it deduplicates), newly
//! signed.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use invigil_ingest::error::{parse_test_id, ApiError};
use invigil_ingest::staff_log::{Done, Peer};
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::StaffRole;
use invigil_schemas::ids::Uuid;
use invigil_schemas::validate::ProblemCode;
use invigil_schemas::webhook::{Notice, NoticeKind};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::{bind, Param};
use crate::{store_error, Dashboards};

const DELIVERIES: &str = include_str!("../sql/api/webhook_deliveries.sql");
const DELIVERY: &str = include_str!("../sql/api/webhook_delivery.sql");

/// Rows one request returns by default, and at most.
const DEFAULT_ROWS: i64 = 200;
const MAX_ROWS: i64 = 1_000;
const OUTCOMES: [&str; 3] = ["delivered", "retrying", "gave_up"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    test: String,
    limit: Option<i64>,
}

/// An endpoint's name as the webhooks file allows it.
fn check_endpoint(field: &str, name: &str) -> Result<(), ApiError> {
    let fine = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fine {
        return Ok(());
    }
    Err(ApiError::bad_field(field, ProblemCode::InvalidValue, "an endpoint name: letters, digits, - and _"))
}

/// `GET /api/v1/dashboard/webhooks/deliveries`: attempts, newest first
/// (an admin), filtered by endpoint, outcome and test.
pub async fn get_deliveries(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    state.verifier.staff(&headers, &[StaffRole::Admin])?;
    // A limit that is not a number, or a parameter not known: the JSON 400
    // naming it, not the extractor's plain text.
    let Query(query) = query.map_err(|rejection| {
        let text = rejection.body_text();
        let field = ["limit", "endpoint", "outcome", "test"].into_iter().find(|f| text.contains(f)).unwrap_or("query");
        ApiError::bad_field(field, ProblemCode::InvalidValue, text)
    })?;
    check_endpoint("endpoint", &query.endpoint)?;
    if !query.outcome.is_empty() && !OUTCOMES.contains(&query.outcome.as_str()) {
        return Err(ApiError::bad_field("outcome", ProblemCode::InvalidValue, "delivered, retrying or gave_up"));
    }
    if !query.test.is_empty() {
        parse_test_id(&query.test)?;
    }
    let limit = query.limit.unwrap_or(DEFAULT_ROWS);
    if !(1..=MAX_ROWS).contains(&limit) {
        return Err(ApiError::bad_field("limit", ProblemCode::InvalidValue, format!("within 1..={MAX_ROWS}")));
    }
    let params = [
        ("endpoint", Param::Text(&query.endpoint)),
        ("outcome", Param::Text(&query.outcome)),
        ("test_id", Param::Text(&query.test)),
        ("limit", Param::Int(limit)),
    ];
    let rows = state.analytics()?.rows(bind(DELIVERIES, &params)).await.map_err(store_error)?;
    Ok(Json(json!({ "deliveries": rows })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeliverRequest {
    endpoint: String,
    notice_id: String,
}

/// `POST /api/v1/dashboard/webhooks/redeliver`: queues a logged notice
/// again for one endpoint (an admin); 202 once the broker has it, 404 when
/// the log has no attempt of that notice to that endpoint.
pub async fn post_redeliver(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let claims = state.verifier.staff(&headers, &[StaffRole::Admin])?;
    invigil_ingest::error::require_json(&headers)?;
    let request: RedeliverRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    check_endpoint("endpoint", &request.endpoint)?;
    if request.endpoint.is_empty() {
        return Err(ApiError::bad_field("endpoint", ProblemCode::MissingField, "name the endpoint"));
    }
    let id = Uuid::parse_str(&request.notice_id)
        .map_err(|_| ApiError::bad_field("notice_id", ProblemCode::InvalidValue, "a notice id (a UUID)"))?;
    let params = [("endpoint", Param::Text(&request.endpoint)), ("notice_id", Param::Text(&request.notice_id))];
    let rows = state.analytics()?.rows(bind(DELIVERY, &params)).await.map_err(store_error)?;
    let Some(row) = rows.into_iter().next() else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no attempt to deliver notice {id} to endpoint {} is logged", request.endpoint),
        ));
    };
    let text = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = NoticeKind::parse(&text("event_type"))
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the log names a notice type this build does not know"))?;
    let notice = Notice {
        id,
        kind,
        at: invigil_schemas::clock::now_ms(),
        created_at: invigil_schemas::clock::now_ms(),
        test_id: text("test_id"),
        candidate_id: text("candidate_id"),
        session_id: None,
        data: Default::default(),
        only_endpoint: Some(request.endpoint.clone()),
        sent_payload: Some(text("payload")),
    };
    let test = invigil_schemas::ids::TestId::new(&notice.test_id).ok();
    let candidate = invigil_schemas::ids::CandidateId::new(&notice.candidate_id).ok();
    let mut done = Done::new(&claims, "webhook.redeliver", state.staff_log.origin(&headers, &peer))
        .with("endpoint", request.endpoint.as_str())
        .with("notice_id", id.to_string())
        .with("type", kind.as_str());
    if let Some(test) = &test {
        done = done.on(test, candidate.as_ref());
    }
    if let Err(error) = state.staff_log.queue_notice(&notice).await {
        tracing::warn!(%error, endpoint = %request.endpoint, "queueing a webhook redelivery");
        return Err(ApiError::new(ErrorCode::Unavailable, "the broker did not take the redelivery; try again"));
    }
    state.staff_log.record(done).await;
    tracing::info!(admin = %claims.sub, endpoint = %request.endpoint, notice = %id, "webhook redelivery queued");
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": true, "endpoint": request.endpoint, "notice_id": id }))))
}

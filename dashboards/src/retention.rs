//! Retention tied to a test's life: its data is kept until `retention_days`
//! (a per-test setting) after an admin marks the test's verdicts final —
//! after grading and appeals, not a fixed time after the exam. Marking is a
//! staff action (`test.verdicts_final`, undone by `test.verdicts_reopened`
//! for an appeal), so the state lives in the audit trail and nowhere else.
//! A sweep ([`post_sweep`], `invigil retention --sweep` from a daily job)
//! erases every test that is due, as one erasure of the whole test
//! ([`crate::candidate_data::erase`] with no candidate): a tombstone for
//! the test, its media, its rows. The erasure removes the marks too (they
//! are staff actions of the test before it), so a swept test is not swept
//! again; its `test.erase` record stays.
//!
//! The analytics tables' TTL (30 days from each row's time; verdicts and
//! the audit trail 395) still applies as an outer bound: a test whose
//! review outlasts it needs a longer TTL (`ALTER TABLE … MODIFY TTL`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use bytes::Bytes;
use invigil_ingest::error::{parse_test_id, ApiError};
use invigil_ingest::staff_log::{Done, Peer};
use invigil_schemas::claims::StaffRole;
use invigil_schemas::ids::TestId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::candidate_data::{erase_recorded, ErasureReport, Subject};
use crate::store::{AnalyticsStore, StoreFailure};
use crate::Dashboards;

/// The staff actions that mark and unmark a test's verdicts as final.
pub const MARK_FINAL: &str = "test.verdicts_final";
pub const MARK_REOPENED: &str = "test.verdicts_reopened";

const DAY_MS: i64 = 86_400_000;

/// One test's place in its life.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestRetention {
    pub test_id: String,
    /// Whether the newest mark says final.
    pub r#final: bool,
    /// When the newest mark was made (Unix ms).
    pub marked_at: i64,
    /// The test's `retention_days`.
    pub keep_days: u32,
    /// When its data goes (final only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
}

impl TestRetention {
    /// `test`'s retention after a mark (`is_final`, at `marked_at`), with its
    /// keep time from `document`. A document that does not resolve for the
    /// test (it cannot be saved so) keeps the defaults' days rather than
    /// sweeping early.
    fn of(test: &TestId, is_final: bool, marked_at: i64, document: &invigil_schemas::config::ConfigDocument) -> Self {
        let keep_days = document.for_test(test).map_or(document.defaults.retention_days, |c| c.retention_days);
        Self {
            test_id: test.as_str().to_owned(),
            r#final: is_final,
            marked_at,
            keep_days,
            due_at: is_final.then(|| marked_at + i64::from(keep_days) * DAY_MS),
        }
    }
}

/// Every test ever marked, newest mark each, with its keep time from the
/// config document in force.
pub async fn retention_status(
    store: &dyn AnalyticsStore,
    document: &invigil_schemas::config::ConfigDocument,
) -> Result<Vec<TestRetention>, StoreFailure> {
    let sql = format!(
        "SELECT test_id, argMax(action, at) AS mark, toUnixTimestamp64Milli(max(at)) AS marked_at \
         FROM staff_actions FINAL WHERE action IN ('{MARK_FINAL}', '{MARK_REOPENED}') AND outcome = 'done' \
         GROUP BY test_id ORDER BY test_id SETTINGS output_format_json_quote_64bit_integers = 0"
    );
    let mut tests = Vec::new();
    for row in store.rows(sql).await? {
        let Some(test) = row.get("test_id").and_then(Value::as_str).and_then(|t| TestId::new(t).ok()) else {
            continue;
        };
        let is_final = row.get("mark").and_then(Value::as_str) == Some(MARK_FINAL);
        let marked_at = row.get("marked_at").and_then(Value::as_i64).unwrap_or(0);
        tests.push(TestRetention::of(&test, is_final, marked_at, document));
    }
    Ok(tests)
}

// The routes.

/// `POST …/tests/{test}/final`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    /// `true`: grading and appeals are over; `false`: reopened (an appeal).
    pub r#final: bool,
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/dashboard/tests/{test}/final` (admins): marks the test's
/// verdicts final or reopens them; answers the test's retention.
pub async fn post_final(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
    Path(test): Path<String>,
    body: Bytes,
) -> Result<Json<TestRetention>, ApiError> {
    let test = parse_test_id(&test)?;
    let claims = state.verifier.staff_of_test(&headers, &test, &[StaffRole::Admin])?;
    invigil_ingest::error::require_json(&headers)?;
    let request: MarkRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    if request.reason.chars().count() > 500 {
        return Err(ApiError::bad_field(
            "reason",
            invigil_schemas::validate::ProblemCode::TooLong,
            "must be at most 500 characters",
        ));
    }
    let action = if request.r#final { MARK_FINAL } else { MARK_REOPENED };
    let done = Done::new(&claims, action, state.staff_log.origin(&headers, &peer))
        .on(&test, None)
        .with("reason", request.reason);
    // The mark is the state: unrecorded, nothing happened.
    if !state.staff_log.record(done).await {
        return Err(ApiError::unavailable("the mark could not be recorded; nothing changed, try again", 10));
    }
    let document = state.config.current().document;
    Ok(Json(TestRetention::of(&test, request.r#final, invigil_schemas::clock::now_ms(), &document)))
}

/// `GET /api/v1/dashboard/retention` (admins): every marked test.
pub async fn get_retention(State(state): State<Arc<Dashboards>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.verifier.staff(&headers, &[StaffRole::Admin])?;
    let document = state.config.current().document;
    let tests = retention_status(state.analytics()?, &document).await.map_err(crate::store_error)?;
    Ok(Json(serde_json::json!({ "now": invigil_schemas::clock::now_ms(), "tests": tests })))
}

/// `POST /api/v1/dashboard/retention/sweep` (admins): erases every test
/// that is due, one after another; answers what each erasure removed.
pub async fn post_sweep(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
) -> Result<Json<Value>, ApiError> {
    let claims = state.verifier.staff(&headers, &[StaffRole::Admin])?;
    let store = state.analytics()?;
    let document = state.config.current().document;
    let now = invigil_schemas::clock::now_ms();
    let tests = retention_status(store, &document).await.map_err(crate::store_error)?;
    let mut erased: Vec<ErasureReport> = Vec::new();
    let mut not_due = 0;
    for entry in tests {
        let Some(due_at) = entry.due_at.filter(|due| *due <= now) else {
            not_due += 1;
            continue;
        };
        let test = TestId::new(entry.test_id.as_str()).expect("read back as a valid id");
        let reason = format!(
            "retention: {} days after the verdicts were final on {}",
            entry.keep_days,
            invigil_schemas::media_key::utc_date(entry.marked_at / 1000)
        );
        let who = Subject { test: &test, candidate: None };
        let done = Done::new(&claims, "test.erase", state.staff_log.origin(&headers, &peer))
            .on(&test, None)
            .with("reason", &*reason)
            .with("due_at", due_at);
        match erase_recorded(&state, store, who, &reason, done).await {
            Ok(report) => {
                tracing::info!(test = %test, candidates = report.candidates, "test erased at the end of its retention");
                erased.push(report);
            }
            Err(error) => {
                // What was erased so far stays in the reply's log; the rest
                // is due again at the next sweep.
                tracing::error!(test = %test, %error, "retention sweep stopped");
                return Err(crate::candidate_data::data_error(error));
            }
        }
    }
    Ok(Json(serde_json::json!({ "erased": erased, "not_due": not_due })))
}

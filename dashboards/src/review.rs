//! What the review pages read from the analytics store, and the verdicts they
//! write. Every query is a file of `dashboards/sql/api/`, reads with `FINAL`
//! (re-delivered and corrected rows count once) and gets the test and
//! candidate as escaped literals of ids that already passed [`TestId`] /
//! [`CandidateId`] validation.

use std::collections::BTreeMap;

use invigil_schemas::config::{Accommodation, AnomalyWeights, FaceCheck, ProctorConfig};
use invigil_schemas::environment::Hint;
use invigil_schemas::event::{Environment, EventKind};
use invigil_schemas::ids::{CandidateId, TestId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use invigil_ingest::error::{parse_candidate_id, parse_test_id, ApiError};
use invigil_ingest::staff_log::{Done, Peer};
use invigil_schemas::claims::StaffRole;
use invigil_schemas::validate::ProblemCode;

use crate::store::{bind, AnalyticsStore, Param, StoreFailure};
use crate::{store_error, Dashboards};

type Row = Map<String, Value>;

/// One line of the test-level review list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateSummary {
    pub candidate_id: String,
    pub sessions: u64,
    /// Sum of the sessions' scores.
    pub score: f64,
    pub max_minute_score: f64,
    /// Minutes whose score reached the alert threshold.
    pub alert_minutes: u64,
    /// Capture slots the open, unblocked time called for.
    pub expected_captures: u64,
    /// Slots filled with a delivered capture.
    pub filled_captures: u64,
    /// Capture objects delivered to the media store: one more than the
    /// slots they filled when a slot got two (the partial audio chunk of a
    /// stop). Completeness and deliveries are different facts.
    pub delivered_captures: u64,
    /// Filled of expected slots, 0…100 (100 when none were expected).
    pub completeness_pct: f64,
    /// Recorded of expected video time over both tracks, 0…100; `None`
    /// when no video was expected (a test that keeps snapshots only).
    pub recording_pct: Option<f64>,
    pub network_gaps: u64,
    pub events: u64,
    pub started_at: i64,
    pub last_seen_at: i64,
    /// Whether every session ended (rather than the page just going away).
    pub ended: bool,
    /// The newest verdict by any reviewer.
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: String,
    pub reviewer: String,
    #[serde(default)]
    pub comment: String,
    pub reviewed_at: i64,
}

fn u64_of(row: &Row, key: &str) -> u64 {
    row.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn i64_of(row: &Row, key: &str) -> i64 {
    row.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn f64_of(row: &Row, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn str_of(row: &Row, key: &str) -> String {
    row.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The review API's queries, one file each in `dashboards/sql/api/` (the
/// same `{name:Type}` parameters as the review pack, bound by [`bind`]).
mod sql {
    macro_rules! query {
        ($name:ident, $file:literal) => {
            pub const $name: &str = include_str!(concat!("../sql/api/", $file));
        };
    }
    query!(CANDIDATES_SESSIONS, "candidates_sessions.sql");
    query!(CANDIDATES_SCORES, "candidates_scores.sql");
    query!(CANDIDATES_ALERTS, "candidates_alerts.sql");
    query!(VERDICTS, "verdicts.sql");
    query!(TIMELINE_SESSIONS, "timeline_sessions.sql");
    query!(TIMELINE_EVENTS, "timeline_events.sql");
    query!(TIMELINE_WINDOWS, "timeline_windows.sql");
    query!(TIMELINE_ANOMALIES, "timeline_anomalies.sql");
    query!(TIMELINE_STAFF_ACTIONS, "timeline_staff_actions.sql");
    query!(LTI_CONTEXT, "lti_context.sql");
    query!(AUDIT_OF_TEST, "audit_of_test.sql");
    query!(RECORD_VERDICT, "record_verdict.sql");
}

/// Every candidate of `test` with data in the store, highest score first.
pub async fn candidates(store: &dyn AnalyticsStore, test: &TestId) -> Result<Vec<CandidateSummary>, StoreFailure> {
    let by_test = [("test_id", Param::Text(test.as_str()))];
    let sessions = store.rows(bind(sql::CANDIDATES_SESSIONS, &by_test)).await?;
    let scores = store.rows(bind(sql::CANDIDATES_SCORES, &by_test)).await?;
    let alerts = store.rows(bind(sql::CANDIDATES_ALERTS, &by_test)).await?;
    let verdicts = latest_verdicts(store, test, None).await?;

    let by_candidate = |rows: Vec<Row>| -> BTreeMap<String, Row> {
        rows.into_iter().map(|row| (str_of(&row, "candidate_id"), row)).collect()
    };
    let (scores, alerts) = (by_candidate(scores), by_candidate(alerts));
    let mut newest: BTreeMap<String, Verdict> = BTreeMap::new();
    for (candidate, verdict) in verdicts {
        match newest.get(&candidate) {
            Some(kept) if kept.reviewed_at >= verdict.reviewed_at => {}
            _ => {
                newest.insert(candidate, verdict);
            }
        }
    }
    let mut list: Vec<CandidateSummary> = sessions
        .into_iter()
        .map(|row| {
            let candidate_id = str_of(&row, "candidate_id");
            // The store's `uploaded_captures` counts slots filled.
            let (expected, filled) = (u64_of(&row, "expected_captures"), u64_of(&row, "uploaded_captures"));
            CandidateSummary {
                sessions: u64_of(&row, "sessions"),
                score: scores.get(&candidate_id).map_or(0.0, |r| f64_of(r, "score")),
                max_minute_score: f64_of(&row, "max_minute_score"),
                alert_minutes: alerts.get(&candidate_id).map_or(0, |r| u64_of(r, "alert_minutes")),
                expected_captures: expected,
                filled_captures: filled,
                delivered_captures: u64_of(&row, "delivered_captures"),
                completeness_pct: completeness(expected, filled),
                recording_pct: match u64_of(&row, "recording_expected_ms") {
                    0 => None,
                    // Both tracks against the expected time of each.
                    expected_ms => Some(completeness(2 * expected_ms, u64_of(&row, "recorded_ms"))),
                },
                network_gaps: u64_of(&row, "network_gaps"),
                events: u64_of(&row, "events"),
                started_at: i64_of(&row, "started_at"),
                last_seen_at: i64_of(&row, "last_seen_at"),
                ended: u64_of(&row, "ended") == 1,
                verdict: newest.remove(&candidate_id),
                candidate_id,
            }
        })
        .collect();
    list.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.candidate_id.cmp(&b.candidate_id)));
    Ok(list)
}

/// Uploaded of expected, in percent with one decimal.
pub fn completeness(expected: u64, uploaded: u64) -> f64 {
    if expected == 0 {
        return 100.0;
    }
    (1000.0 * uploaded.min(expected) as f64 / expected as f64).round() / 10.0
}

/// The newest verdict of each reviewer, per candidate of `test` (or of one
/// candidate).
async fn latest_verdicts(
    store: &dyn AnalyticsStore,
    test: &TestId,
    candidate: Option<&CandidateId>,
) -> Result<Vec<(String, Verdict)>, StoreFailure> {
    let candidate = candidate.map_or("", CandidateId::as_str);
    let params = [("test_id", Param::Text(test.as_str())), ("candidate_id", Param::Text(candidate))];
    let rows = store.rows(bind(sql::VERDICTS, &params)).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let verdict = Verdict {
                verdict: str_of(&row, "verdict"),
                reviewer: str_of(&row, "reviewer"),
                comment: str_of(&row, "comment"),
                reviewed_at: i64_of(&row, "reviewed_at"),
            };
            (str_of(&row, "candidate_id"), verdict)
        })
        .collect())
}

/// Everything the review page draws for one candidate, on one time axis
/// (Unix ms).
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub test_id: String,
    pub candidate_id: String,
    pub sessions: Vec<Row>,
    /// Events in (ts, seq) order, each as the SDK sent it plus where it
    /// arrived ([`timeline_event`]).
    pub events: Vec<Row>,
    /// Whether `events` stopped at the limit.
    pub truncated: bool,
    /// Minute windows with their scores and components.
    pub windows: Vec<Row>,
    /// Minutes that reached the alert threshold, with what made them.
    pub anomalies: Vec<Row>,
    /// Network gaps on the server clock: no batch for longer than
    /// `gap_after_ms` within a session.
    pub gaps: Vec<Gap>,
    pub gap_after_ms: i64,
    /// The test's anomaly weights and alert threshold now, to explain scores.
    pub weights: AnomalyWeights,
    pub alert_score: f64,
    /// The test's face-check settings now, to draw its flags as the
    /// pipeline does (`face_check.flag_after_*`, `dark_below`).
    pub face_check: FaceCheck,
    /// Every reviewer's newest verdict.
    pub verdicts: Vec<Verdict>,
    /// What staff did to the exam (LMS controls), oldest first, with
    /// `detail` as an object.
    pub staff_actions: Vec<Row>,
    /// The checks waived for this candidate now, so a reviewer does not
    /// flag what was allowed.
    pub accommodation: Option<Accommodation>,
    /// Each `environment` report with the hints its evidence supports
    /// (the pipeline's rules), oldest first.
    pub environment: Vec<EnvironmentReport>,
}

/// One `environment` event, read with `schemas::environment`'s rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentReport {
    pub session_id: String,
    pub ts: i64,
    pub hints: Vec<HintFinding>,
}

/// A hint, what it rests on and what it weighs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HintFinding {
    pub hint: Hint,
    /// The fields the hint reads, as the browser reported them.
    pub evidence: Row,
    /// The test's weight for it now: 0 means seen, not scored.
    pub weight: f64,
    /// Who else the hint fits.
    pub false_positives: &'static str,
}

/// The environment reports among `events` (as the timeline serves them),
/// each with its hints. A report the rules cannot read is left out (a
/// kind this server does not know arrives with a `problem` instead).
fn environment_reports(events: &[Row], weights: &AnomalyWeights) -> Vec<EnvironmentReport> {
    events
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("environment"))
        .filter_map(|event| {
            let body: Map<String, Value> = event
                .iter()
                .filter(|(key, _)| EventKind::Environment.template().contains_key(key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            let environment: Environment = serde_json::from_value(Value::Object(body)).ok()?;
            let hints = invigil_schemas::environment::hints(&environment)
                .into_iter()
                .map(|hint| HintFinding {
                    hint,
                    evidence: hint
                        .evidence()
                        .iter()
                        .filter_map(|field| event.get(*field).map(|value| ((*field).to_owned(), value.clone())))
                        .collect(),
                    weight: weights.hint(hint),
                    false_positives: hint.known_false_positives(),
                })
                .collect();
            Some(EnvironmentReport { session_id: str_of(event, "session_id"), ts: i64_of(event, "ts"), hints })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub session_id: String,
    pub from: i64,
    pub to: i64,
}

/// Reads one candidate's timeline; at most `max_events` events.
pub async fn timeline(
    store: &dyn AnalyticsStore,
    test: &TestId,
    candidate: &CandidateId,
    config: &ProctorConfig,
    max_events: usize,
) -> Result<Timeline, StoreFailure> {
    let gap_after_ms = 3 * i64::from(config.events_interval_ms);
    let who = [("test_id", Param::Text(test.as_str())), ("candidate_id", Param::Text(candidate.as_str()))];
    let sessions = store.rows(bind(sql::TIMELINE_SESSIONS, &who)).await?;
    let limit = [who[0], who[1], ("limit", Param::Int(max_events as i64 + 1))];
    let mut rows = store.rows(bind(sql::TIMELINE_EVENTS, &limit)).await?;
    let truncated = rows.len() > max_events;
    rows.truncate(max_events);
    let events: Vec<Row> = rows.iter().map(timeline_event).collect();
    let windows = store.rows(bind(sql::TIMELINE_WINDOWS, &who)).await?;
    let anomalies = store.rows(bind(sql::TIMELINE_ANOMALIES, &who)).await?;
    let mut staff_actions = store.rows(bind(sql::TIMELINE_STAFF_ACTIONS, &who)).await?;
    detail_as_object(&mut staff_actions);
    let verdicts = latest_verdicts(store, test, Some(candidate)).await?.into_iter().map(|(_, v)| v).collect();
    let gaps = gaps_between_receipts(&events, gap_after_ms);
    let environment = environment_reports(&events, &config.anomaly.weights);
    Ok(Timeline {
        test_id: test.to_string(),
        candidate_id: candidate.to_string(),
        sessions,
        events,
        truncated,
        windows,
        anomalies,
        gaps,
        gap_after_ms,
        weights: config.anomaly.weights.clone(),
        alert_score: config.anomaly.alert_score,
        face_check: config.face_check.clone(),
        verdicts,
        staff_actions,
        accommodation: None,
        environment,
    })
}

/// One timeline event: the event as the SDK sent it (SPEC §3's flat
/// object, every field of its kind) with the session it belongs to, when
/// ingest received its batch, and the batch's `batch_seq`. A row the
/// columns cannot rebuild (a kind newer than this server) keeps its head and
/// says why in `problem`, rather than vanishing from the timeline.
fn timeline_event(row: &Row) -> Row {
    let mut event = match invigil_schemas::event_columns::wire_event(row) {
        Ok(event) => event,
        Err(problem) => {
            tracing::warn!(%problem, "a stored event cannot be rebuilt for the timeline");
            let mut head: Row = ["seq", "ts", "type"]
                .into_iter()
                .filter_map(|key| row.get(key).map(|value| (key.to_owned(), value.clone())))
                .collect();
            head.insert("problem".into(), Value::String(problem.to_string()));
            head
        }
    };
    for key in ["session_id", "received_at", "batch_seq"] {
        if let Some(value) = row.get(key) {
            event.insert(key.to_owned(), value.clone());
        }
    }
    event
}

/// Spans longer than `gap_after_ms` between consecutive batch receipts of a
/// session (the pipeline's definition of a network gap).
pub fn gaps_between_receipts(events: &[Row], gap_after_ms: i64) -> Vec<Gap> {
    let mut receipts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for event in events {
        receipts.entry(str_of(event, "session_id")).or_default().push(i64_of(event, "received_at"));
    }
    let mut gaps = Vec::new();
    for (session_id, mut times) in receipts {
        times.sort_unstable();
        times.dedup();
        for pair in times.windows(2) {
            if pair[1] - pair[0] > gap_after_ms {
                gaps.push(Gap { session_id: session_id.clone(), from: pair[0], to: pair[1] });
            }
        }
    }
    gaps.sort_by_key(|g| g.from);
    gaps
}

/// A reviewer's decision, as posted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictRequest {
    pub verdict: String,
    #[serde(default)]
    pub comment: String,
}

/// Longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// Writes a verdict; the newest per (candidate, reviewer) is the one that
/// counts (`reviews` is a ReplacingMergeTree on `version` = time in ms).
pub async fn record_verdict(
    store: &dyn AnalyticsStore,
    test: &TestId,
    candidate: &CandidateId,
    reviewer: &str,
    request: &VerdictRequest,
    now_ms: i64,
) -> Result<(), StoreFailure> {
    let params = [
        ("test_id", Param::Text(test.as_str())),
        ("candidate_id", Param::Text(candidate.as_str())),
        ("reviewer", Param::Text(reviewer)),
        ("verdict", Param::Text(&request.verdict)),
        ("comment", Param::Text(&request.comment)),
        ("now_ms", Param::Int(now_ms)),
    ];
    store.execute(bind(sql::RECORD_VERDICT, &params)).await
}

/// A candidate's LMS attempt, as the wall's controls need it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LtiAttempt {
    /// The signed ACS context, opaque here: the front door checks it.
    pub context: String,
    /// When the proctoring page recorded it, Unix ms.
    pub recorded_at: i64,
}

/// The candidate's newest LMS attempt context (custom event `invigil.lti`),
/// if their exam was launched from a platform offering controls.
pub async fn lti_attempt(
    store: &dyn AnalyticsStore,
    test: &TestId,
    candidate: &CandidateId,
) -> Result<Option<LtiAttempt>, StoreFailure> {
    let who = [("test_id", Param::Text(test.as_str())), ("candidate_id", Param::Text(candidate.as_str()))];
    let rows = store.rows(bind(sql::LTI_CONTEXT, &who)).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let event: Value = serde_json::from_str(&str_of(row, "payload")).unwrap_or(Value::Null);
    Ok(event
        .pointer("/data/acs")
        .and_then(Value::as_str)
        .map(|context| LtiAttempt { context: context.to_owned(), recorded_at: i64_of(row, "ts") }))
}

// The routes.

/// `GET /api/v1/dashboard/tests/{test}/candidates`: the review list.
pub async fn get_candidates(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    Path(test): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let test = parse_test_id(&test)?;
    state.verifier.staff_of_test(&headers, &test, &[StaffRole::Reviewer, StaffRole::Admin])?;
    let list = candidates(state.analytics()?, &test).await.map_err(store_error)?;
    Ok(Json(serde_json::json!({ "test_id": test, "candidates": list })))
}

/// `GET /api/v1/dashboard/tests/{test}/candidates/{candidate}/timeline`
pub async fn get_timeline(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
    Path((test, candidate)): Path<(String, String)>,
) -> Result<Json<Timeline>, ApiError> {
    let test = parse_test_id(&test)?;
    let candidate = parse_candidate_id(&candidate)?;
    // Proctors drill down into their candidates; reviewers review.
    let claims =
        state.verifier.staff_of_test(&headers, &test, &[StaffRole::Proctor, StaffRole::Reviewer, StaffRole::Admin])?;
    // The candidate's own config: their face checks drawn as the pipeline
    // ran them (none, if waived).
    let current = state.config.current();
    let config = current.document.for_candidate(&test, &candidate).unwrap_or_default();
    let limit = state.settings.max_timeline_events;
    let mut read = timeline(state.analytics()?, &test, &candidate, &config, limit).await.map_err(store_error)?;
    read.accommodation = current.document.accommodation(&test, &candidate).cloned();
    let origin = state.staff_log.origin(&headers, &peer);
    state.staff_log.note(Done::new(&claims, "review.open", origin).on(&test, Some(&candidate)));
    Ok(Json(read))
}

/// `POST /api/v1/dashboard/tests/{test}/candidates/{candidate}/verdict`
pub async fn post_verdict(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
    Path((test, candidate)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Verdict>, ApiError> {
    let test = parse_test_id(&test)?;
    let candidate = parse_candidate_id(&candidate)?;
    let claims = state.verifier.staff_of_test(&headers, &test, &[StaffRole::Reviewer, StaffRole::Admin])?;
    invigil_ingest::error::require_json(&headers)?;
    let request: VerdictRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    if !matches!(request.verdict.as_str(), "cleared" | "flagged") {
        return Err(ApiError::bad_field("verdict", ProblemCode::InvalidValue, "must be \"cleared\" or \"flagged\""));
    }
    if request.comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::bad_field(
            "comment",
            ProblemCode::TooLong,
            format!("must be at most {} characters", MAX_COMMENT_CHARS),
        ));
    }
    let now = invigil_schemas::clock::now_ms();
    record_verdict(state.analytics()?, &test, &candidate, &claims.sub, &request, now).await.map_err(store_error)?;
    tracing::info!(reviewer = %claims.sub, test = %test, candidate = %candidate, verdict = %request.verdict, "verdict recorded");
    let done = Done::new(&claims, "review.verdict", state.staff_log.origin(&headers, &peer))
        .on(&test, Some(&candidate))
        .with("verdict", request.verdict.as_str())
        .with("comment_chars", request.comment.chars().count());
    state.staff_log.record(done).await;
    Ok(Json(Verdict { verdict: request.verdict, reviewer: claims.sub, comment: request.comment, reviewed_at: now }))
}

/// `GET /api/v1/dashboard/tests/{test}/candidates/{candidate}/lti`: the
/// attempt the wall's LMS controls act on (a proctor of the test or an
/// admin); 404 when the candidate was not launched from a platform that
/// offers its Assessment Control Service.
pub async fn get_lti_attempt(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    Path((test, candidate)): Path<(String, String)>,
) -> Result<Json<LtiAttempt>, ApiError> {
    let test = parse_test_id(&test)?;
    let candidate = parse_candidate_id(&candidate)?;
    state.verifier.staff_of_test(&headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    match lti_attempt(state.analytics()?, &test, &candidate).await.map_err(store_error)? {
        Some(attempt) => Ok(Json(attempt)),
        None => Err(ApiError::new(
            invigil_schemas::api::ErrorCode::NotFound,
            format!("{candidate} was not launched from a learning platform that offers assessment controls"),
        )),
    }
}

/// Most audit rows one request returns.
const MAX_AUDIT_ROWS: i64 = 2_000;

/// A test's audit trail, newest first, `detail` as an object.
pub async fn audit_of_test(store: &dyn AnalyticsStore, test: &TestId) -> Result<Vec<Row>, StoreFailure> {
    let params = [("test_id", Param::Text(test.as_str())), ("limit", Param::Int(MAX_AUDIT_ROWS))];
    let mut rows = store.rows(bind(sql::AUDIT_OF_TEST, &params)).await?;
    detail_as_object(&mut rows);
    Ok(rows)
}

/// Staff actions' `detail`, stored as text, handed on as the object it was.
fn detail_as_object(rows: &mut [Row]) {
    for row in rows {
        if let Some(Value::String(text)) = row.get("detail") {
            let detail = serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.clone()));
            row.insert("detail".into(), detail);
        }
    }
}

/// `GET /api/v1/dashboard/tests/{test}/audit`: the test's audit trail (an
/// admin): who opened, signed, watched, wrote, judged or controlled what,
/// when and from where, newest first, at most 2,000 actions.
pub async fn get_audit(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    Path(test): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let test = parse_test_id(&test)?;
    state.verifier.staff_of_test(&headers, &test, &[StaffRole::Admin])?;
    let actions = audit_of_test(state.analytics()?, &test).await.map_err(store_error)?;
    Ok(Json(serde_json::json!({ "test_id": test, "actions": actions })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(session: &str, received_at: i64) -> Row {
        let mut row = Row::new();
        row.insert("session_id".into(), session.into());
        row.insert("received_at".into(), received_at.into());
        row
    }

    #[test]
    fn gaps_are_long_silences_between_receipts_within_a_session() {
        let events = [event("s1", 0), event("s1", 0), event("s1", 5_000), event("s1", 40_000), event("s2", 10_000)];
        let gaps = gaps_between_receipts(&events, 15_000);
        assert_eq!(gaps, vec![Gap { session_id: "s1".into(), from: 5_000, to: 40_000 }]);
        assert!(gaps_between_receipts(&events, 35_000).is_empty());
    }

    #[test]
    fn completeness_is_a_percentage_with_one_decimal() {
        assert_eq!(completeness(0, 0), 100.0);
        assert_eq!(completeness(3, 2), 66.7);
        assert_eq!(completeness(10, 12), 100.0);
    }
}

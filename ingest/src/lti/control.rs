//! `POST /api/v1/lti/control`: a proctor (of the test) or an admin asks the
//! candidate's learning platform to pause, resume, terminate, extend or
//! flag the attempt, through its Assessment Control Service.
//!
//! The attempt is named by the ACS context the launch minted: a token
//! signed with the tool's key holding the platform, the user, the
//! resource link, the attempt and the service's URL and actions. The
//! proctoring page records it in the candidate's timeline (a custom event
//! `invigil.lti`), where the proctor's page reads it. It is signed so that
//! nobody — the candidate least of all — can point our access token at a
//! URL of their own. The control is retried with backoff; the platform's
//! answer (`status`, `extra_time`) or its refusal is the route's answer.
//! Every control, taken or not, is recorded as a staff action (who, when,
//! what, why, and what came of it) that the review page shows in the
//! candidate's timeline.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::StaffRole;
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::staff::StaffOutcome;
use serde::{Deserialize, Serialize};

use super::acs::{AcsUser, Action, Control, Outcome};
use super::claims::{Acs, AttemptNumber, ResourceLink};
use super::Lti;
use crate::error::ApiError;
use crate::staff_log::{Done, Peer};
use crate::state::AppState;
use invigil_schemas::clock::rfc3339;

pub(super) const CONTEXT_AUDIENCE: &str = "invigil-lti-acs";
/// Tries per control, and the wait before the second.
const ATTEMPTS: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(500);

/// What the launch hands the proctoring page about the attempt's Assessment
/// Control Service, signed by the tool's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AcsContext {
    pub aud: String,
    /// The platform's issuer and our client id there: its registration.
    pub platform: String,
    pub client_id: String,
    pub test: TestId,
    pub candidate: CandidateId,
    pub sub: String,
    pub resource_link: ResourceLink,
    pub attempt_number: AttemptNumber,
    pub acs: Acs,
    pub iat: i64,
    pub exp: i64,
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    /// The signed ACS context from the candidate's `invigil.lti` event.
    context: String,
    action: Action,
    /// Minutes, for `update`.
    #[serde(default)]
    extra_time: Option<u32>,
    #[serde(default)]
    reason_code: Option<String>,
    #[serde(default)]
    reason_msg: Option<String>,
    /// 0..1.
    #[serde(default)]
    incident_severity: Option<f64>,
    /// When it happened, Unix ms (default: now).
    #[serde(default)]
    incident_time: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ControlReply {
    #[serde(flatten)]
    outcome: Outcome,
    /// How many requests it took.
    attempts: u32,
    /// Whether the control made it into the candidate's timeline (the
    /// staff topic took its record).
    recorded: bool,
}

/// The longest reason text sent on.
const MAX_REASON: usize = 500;

pub async fn post_control(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Result<Json<ControlReply>, ApiError> {
    let staff = state.verifier.staff(&headers, &[StaffRole::Proctor, StaffRole::Admin])?;
    let Some(lti) = &state.lti else {
        return Err(ApiError::new(ErrorCode::NotFound, "LTI is not enabled on this server"));
    };
    crate::error::require_json(&headers)?;
    let request: ControlRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_field(
            "",
            invigil_schemas::validate::ProblemCode::InvalidValue,
            format!("the body is not a control: {e}"),
        )
    })?;
    let invalid = |field: &str, message: String| {
        ApiError::bad_field(field, invigil_schemas::validate::ProblemCode::InvalidValue, message)
    };
    let context: AcsContext = lti
        .verify_own(&request.context, CONTEXT_AUDIENCE)
        .map_err(|why| ApiError::unauthorized(format!("the ACS context {why}")))?;
    if !staff.may_see(&context.test) {
        return Err(ApiError::new(ErrorCode::Forbidden, format!("this token does not cover test {}", context.test)));
    }
    if request.action == Action::Update && !request.extra_time.is_some_and(|m| (1..=600).contains(&m)) {
        return Err(invalid("extra_time", "update needs extra_time, 1..=600 minutes".into()));
    }
    if request.incident_severity.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
        return Err(invalid("incident_severity", "must be within 0..=1".into()));
    }
    for (field, text) in [("reason_code", &request.reason_code), ("reason_msg", &request.reason_msg)] {
        if text.as_ref().is_some_and(|t| t.chars().count() > MAX_REASON) {
            return Err(invalid(field, format!("is longer than {MAX_REASON} characters")));
        }
    }
    let registration = state
        .config
        .current()
        .document
        .lti_platforms
        .iter()
        .find(|p| p.issuer == context.platform && p.client_id == context.client_id)
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "the candidate's platform is no longer registered"))?;
    let control = Control {
        user: AcsUser { iss: context.platform.clone(), sub: context.sub.clone() },
        resource_link: context.resource_link.clone(),
        attempt_number: context.attempt_number,
        action: request.action,
        incident_time: rfc3339(request.incident_time.unwrap_or_else(invigil_schemas::clock::now_ms)),
        incident_severity: request.incident_severity,
        extra_time: request.extra_time.filter(|_| request.action == Action::Update),
        reason_code: request.reason_code,
        reason_msg: request.reason_msg,
    };
    let result = lti.acs.send_with_retry(&registration, &context.acs, &control, ATTEMPTS, FIRST_DELAY).await;
    let action = request.action.as_str();
    // What staff gave, then what came back: the timeline's record.
    let mut detail = serde_json::Map::new();
    detail.insert("platform".into(), registration.name.clone().into());
    detail.insert("attempt_number".into(), serde_json::to_value(context.attempt_number).unwrap_or_default());
    detail.insert("incident_time".into(), control.incident_time.clone().into());
    if let Some(minutes) = control.extra_time {
        detail.insert("extra_time".into(), minutes.into());
    }
    if let Some(severity) = control.incident_severity {
        detail.insert("incident_severity".into(), severity.into());
    }
    for (field, text) in [("reason_code", &control.reason_code), ("reason_msg", &control.reason_msg)] {
        if let Some(text) = text {
            detail.insert(field.into(), text.clone().into());
        }
    }
    let (outcome, tried) = match &result {
        Ok((outcome, attempts)) => {
            detail.insert("status".into(), outcome.status.clone().into());
            if let Some(minutes) = outcome.extra_time {
                detail.insert("granted_extra_time".into(), minutes.into());
            }
            (StaffOutcome::Done, *attempts)
        }
        Err((error, tried)) => {
            detail.insert("error".into(), error.to_string().into());
            (StaffOutcome::Failed, *tried)
        }
    };
    detail.insert("attempts".into(), tried.into());
    let recorded = state
        .staff_log
        .record(Done {
            outcome,
            detail,
            ..Done::new(&staff, format!("lti.{action}"), state.staff_log.origin(&headers, &peer))
                .on(&context.test, Some(&context.candidate))
        })
        .await;
    match result {
        Ok((outcome, attempts)) => {
            tracing::info!(
                staff = %staff.sub, test = %context.test, candidate = %context.candidate, action,
                status = %outcome.status, reason = ?control.reason_code, recorded, "LTI control sent"
            );
            Ok(Json(ControlReply { outcome, attempts, recorded }))
        }
        Err((error, tried)) => {
            tracing::warn!(
                staff = %staff.sub, test = %context.test, candidate = %context.candidate, action,
                tried, error = %error, recorded, "LTI control failed"
            );
            let mut message = format!("the platform did not take the {action} after {tried} tries: {error}");
            if !recorded {
                message.push_str(" (and the attempt could not be recorded in the timeline)");
            }
            // Worth sending again later (the platform down or busy): 503 with
            // a Retry-After; refused for a reason of its own: 409.
            Err(if error.retryable() {
                ApiError::unavailable(message, 30)
            } else {
                ApiError::new(ErrorCode::Conflict, message)
            })
        }
    }
}

impl Lti {
    /// The signed ACS context of a launch that offered the service.
    pub(super) fn acs_context(&self, launch: &super::launch::Launch) -> Option<String> {
        let token = &launch.token;
        let acs = token.acs.clone()?;
        let now = invigil_schemas::clock::now_ms() / 1000;
        Some(self.keys.sign(&AcsContext {
            aud: CONTEXT_AUDIENCE.into(),
            platform: launch.platform.issuer.clone(),
            client_id: launch.platform.client_id.clone(),
            test: launch.test.clone(),
            candidate: launch.candidate.clone(),
            sub: token.sub.clone()?,
            resource_link: token.resource_link.clone()?,
            attempt_number: token.attempt_number?,
            acs,
            iat: now,
            exp: now + i64::from(self.settings.token_hours) * 3600,
        }))
    }
}

//! The one HTTP error type: every failure becomes SPEC §4's JSON body with
//! the matching status, plus `Retry-After` where waiting helps.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use invigil_schemas::api::{ErrorBody, ErrorCode};
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::validate::{FieldProblem, ProblemCode};

/// An error answer: the body, and how long the client should wait, if at all.
#[derive(Debug)]
pub struct ApiError {
    pub body: ErrorBody,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { body: ErrorBody::new(code, message), retry_after_secs: None }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn invalid(problems: Vec<FieldProblem>) -> Self {
        Self { body: ErrorBody::invalid(problems), retry_after_secs: None }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                ErrorCode::RateLimited,
                format!("too many requests for this candidate; retry in {retry_after_secs} s"),
            )
        }
    }

    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self { retry_after_secs: Some(retry_after_secs), ..Self::new(ErrorCode::Unavailable, message) }
    }

    /// A 400 naming one bad field.
    pub fn bad_field(field: &str, code: ProblemCode, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldProblem { field: field.into(), code, message: message.into() }])
    }
}

/// The 415 of a JSON route whose body is declared as something else (or
/// not at all). `application/json` and `application/*+json` pass, with any
/// parameters (`; charset=utf-8`), as axum's own `Json` extractor has them.
/// Checked, not guessed: a body sent as `text/plain` is a client that
/// would be surprised by what a lenient reader made of it.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        return Ok(());
    }
    let shown = if essence.is_empty() { "none".to_owned() } else { format!("{essence:?}") };
    let mut error = ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("the body must be JSON sent as Content-Type: application/json (got {shown})"),
    );
    error.body.error.field = Some("content-type".into());
    Err(error)
}

/// A `test_id` path parameter, or the 400 that names it.
pub fn parse_test_id(raw: &str) -> Result<TestId, ApiError> {
    TestId::new(raw).map_err(|e| ApiError::bad_field("test_id", ProblemCode::InvalidValue, e.to_string()))
}

/// A `candidate_id` path parameter, or the 400 that names it.
pub fn parse_candidate_id(raw: &str) -> Result<CandidateId, ApiError> {
    CandidateId::new(raw).map_err(|e| ApiError::bad_field("candidate_id", ProblemCode::InvalidValue, e.to_string()))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.body.error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

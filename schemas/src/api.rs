//! Response bodies of the HTTP API (SPEC §4).
//!
//! Responses do not deny unknown fields: the SDK must keep working when a newer
//! server adds one.

use serde::{Deserialize, Serialize};

use crate::config::ProctorConfig;
use crate::validate::FieldProblem;
use crate::wire_names;

/// Reply to `POST /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EventsResponse {
    /// The batch is durable (in Kafka or the spool).
    Ok {
        accepted: u32,
        /// The config version in force; the SDK refetches config when it changes.
        config_version: u64,
    },
    /// Stop proctoring now, gracefully, removing any overlay.
    Shutdown { reason: ShutdownReason, action: ShutdownAction },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownReason {
    ProctoringDisabled,
    CandidateBypassed,
}

wire_names!(ShutdownReason { ProctoringDisabled => "proctoring_disabled", CandidateBypassed => "candidate_bypassed" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutdownAction {
    #[default]
    GracefulShutdown,
}

/// Reply to `GET /api/v1/config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigResponse {
    pub config_version: u64,
    pub config: ProctorConfig,
}

/// Reply to `GET /api/v1/admin/config`: the whole document and its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminConfigResponse {
    pub version: u64,
    pub document: crate::config::ConfigDocument,
}

/// Reply to `PUT /api/v1/admin/config` and `POST …/rollback`: the version
/// now in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersionResponse {
    pub version: u64,
}

/// Reply to `GET /api/v1/admin/config/history`: the versions kept, oldest
/// first, for rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigHistoryResponse {
    pub current: u64,
    pub versions: Vec<u64>,
}

/// Reply to `POST /api/v1/credentials`: temporary S3 credentials that allow
/// only `s3:PutObject` under `prefix`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsResponse {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// When the credentials stop working, Unix ms. The SDK refreshes at 80 %.
    pub expiration: i64,
    pub bucket: String,
    pub region: String,
    /// S3 endpoint URL for path-style requests.
    pub endpoint: String,
    /// `{YYYY-MM-DD}/{test_id}/{candidate_id}/`
    pub prefix: String,
    /// Presigned POST forms, one per media folder, when ingest's upload grant
    /// is `post_policy`; the three key fields are then empty and the SDK
    /// uploads with a form instead of a signed `PUT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms: Vec<PostForm>,
}

/// One S3 POST policy form: everything a browser sends, as multipart fields
/// before the file, to upload an object under `key_prefix` without keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostForm {
    /// Object keys this form may write start with this (`{prefix}camera/`).
    pub key_prefix: String,
    /// The `Content-Type` field the policy requires, exactly.
    pub content_type: String,
    /// Signed fields (`policy`, `x-amz-*`), sent as given, in order.
    pub fields: Vec<(String, String)>,
}

impl std::fmt::Debug for CredentialsResponse {
    /// Secrets never reach logs, not even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsResponse")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl std::fmt::Debug for PostForm {
    /// Field names only: the values include the session token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostForm")
            .field("key_prefix", &self.key_prefix)
            .field("content_type", &self.content_type)
            .field("fields", &self.fields.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .finish()
    }
}

/// Machine-readable error codes; the HTTP status follows from the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body failed validation; `problems` lists every issue.
    InvalidRequest,
    /// 401: no token, a malformed one, a bad signature or an expired one.
    Unauthorized,
    /// 403: a valid token that does not grant this resource.
    Forbidden,
    /// 404
    NotFound,
    /// 409: the request is valid but the resource is not in the state it
    /// needs (a candidate publishing live video nobody asked for).
    Conflict,
    /// 413
    PayloadTooLarge,
    /// 415: a body the route cannot read (JSON routes take only
    /// `application/json`); `field` is `content-type`.
    UnsupportedMediaType,
    /// 429, with `Retry-After`.
    RateLimited,
    /// 503, with `Retry-After`: every buffer is full or a dependency is down.
    Unavailable,
    /// 500: a bug on our side.
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// The one error body: `{"error": {"code", "message", "field", "problems"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// The first offending field, for clients that show one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem, for 400s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<FieldProblem>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into(), field: None, problems: Vec::new() } }
    }

    /// A 400 listing every problem; the first names `field`.
    pub fn invalid(problems: Vec<FieldProblem>) -> Self {
        let message = match problems.len() {
            1 => format!("invalid request: {}", problems[0]),
            n => format!("invalid request: {n} problems, first: {}", problems[0]),
        };
        let field = problems.first().map(|p| p.field.clone()).filter(|f| !f.is_empty());
        Self { error: ErrorDetail { code: ErrorCode::InvalidRequest, message, field, problems } }
    }
}

/// `GET /api/v1/live/signal`: whether a proctor is watching the candidate
/// now, so the SDK publishes live video (WHIP) or stops, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSignal {
    /// Publish now (`true`), or stop: `view` is not `none`.
    pub publish: bool,
    /// What the watchers need.
    pub view: LiveView,
    /// Live video is served here; when `false` the SDK stops asking.
    pub enabled: bool,
    /// Messages from proctors the SDK has not confirmed seeing (by `id`,
    /// ascending); it shows each and records it on the timeline.
    #[serde(default)]
    pub messages: Vec<ProctorMessage>,
}

/// A proctor's note to a candidate, shown in the SDK without blocking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProctorMessage {
    /// Increasing per candidate; the SDK confirms with `seen`.
    pub id: u64,
    pub level: MessageLevel,
    pub text: String,
    /// The sending proctor's `sub`.
    pub from: String,
    /// Server ms.
    pub sent_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageLevel {
    Info,
    Warning,
}

/// `POST /api/v1/live/tests/{test}/candidates/{candidate}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// 1 to [`MessageRequest::MAX_CHARS`] characters.
    pub text: String,
    #[serde(default = "MessageRequest::default_level")]
    pub level: MessageLevel,
}

impl MessageRequest {
    /// Small enough that the timeline's `custom` event (≤ 2 KiB of data)
    /// holds the text in any script.
    pub const MAX_CHARS: usize = 300;

    fn default_level() -> MessageLevel {
        MessageLevel::Info
    }
}

/// The answer to a message: its id; it reaches the candidate on their next
/// signal (at once while their SDK runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAccepted {
    pub id: u64,
}

/// How a candidate is watched, the most demanding watcher deciding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveView {
    /// Nobody watches: send nothing.
    #[default]
    None,
    /// Only grid tiles: a small, slow camera picture; no screen, no sound.
    Grid,
    /// Someone opened the candidate: camera, screen and microphone.
    Full,
}

wire_names!(LiveView { None => "none", Grid => "grid", Full => "full" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_secrets() {
        let creds = CredentialsResponse {
            access_key_id: "AKIA1".into(),
            secret_access_key: "very-secret".into(),
            session_token: "token-secret".into(),
            expiration: 0,
            bucket: "b".into(),
            region: "r".into(),
            endpoint: "e".into(),
            prefix: "p/".into(),
            forms: vec![PostForm {
                key_prefix: "p/camera/".into(),
                content_type: "image/jpeg".into(),
                fields: vec![("x-amz-security-token".into(), "form-token-secret".into())],
            }],
        };
        let shown = format!("{creds:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("token-secret"), "{shown}");
        let form = format!("{:?}", creds.forms[0]);
        assert!(form.contains("x-amz-security-token") && !form.contains("form-token-secret"), "{form}");
    }
}

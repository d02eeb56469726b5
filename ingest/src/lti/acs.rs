//! The Assessment Control Service client (LTI Proctoring Services 1.0):
//! invigil asks the platform to pause, resume, terminate, extend or flag a
//! candidate's attempt. A token comes from the platform's OAuth 2 token
//! endpoint by the client-credentials grant with a JWT assertion signed by
//! the tool's key (scope `…/lti-ap/scope/control.all`), kept until shortly
//! before it expires; the control is a JSON POST to the launch's
//! `assessment_control_url`, answered with the attempt's `status`.
//!
//! Failures are retried with backoff when retrying can help (the network,
//! a 5xx, a 429, a token refused once) and reported when it cannot (a 4xx
//! the platform means, an action it does not offer) — never dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invigil_schemas::lti::LtiPlatform;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::claims::{Acs, AttemptNumber, ResourceLink};
use super::keys::ToolKeys;

pub const ACS_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all";
pub const ACS_MEDIA_TYPE: &str = "application/vnd.ims.lti-ap.v1.control+json";
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a control asks of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pause,
    Resume,
    Terminate,
    /// Extra time (`extra_time`).
    Update,
    Flag,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Terminate => "terminate",
            Action::Update => "update",
            Action::Flag => "flag",
        }
    }
}

/// The user a control is about, as the launch named them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcsUser {
    pub iss: String,
    pub sub: String,
}

/// One control request, as the wire carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub user: AcsUser,
    pub resource_link: ResourceLink,
    pub attempt_number: AttemptNumber,
    pub action: Action,
    /// When what prompted it happened, RFC 3339 UTC.
    pub incident_time: String,
    /// 0 (informational) .. 1 (severe).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_severity: Option<f64>,
    /// Minutes, for `update`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_time: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_msg: Option<String>,
}

/// The platform's answer: the attempt's status (`running`, `paused`,
/// `terminated`, `complete`, `none`) and the extra time it now has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_time: Option<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AcsError {
    #[error("the platform does not offer {0:?} for this attempt (its launch offered {1:?})")]
    NotOffered(&'static str, Vec<String>),
    #[error("the platform's token endpoint refused: {0}")]
    Token(String),
    #[error("the platform refused the control: HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the platform could not be reached: {0}")]
    Unreachable(String),
}

impl AcsError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            AcsError::Unreachable(_) => true,
            AcsError::Refused { status, .. } => *status == 429 || *status >= 500,
            AcsError::Token(_) | AcsError::NotOffered(..) => false,
        }
    }
}

struct CachedToken {
    value: String,
    until: Instant,
}

pub struct AcsClient {
    http: reqwest::Client,
    keys: Arc<ToolKeys>,
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl AcsClient {
    pub fn new(keys: Arc<ToolKeys>) -> Self {
        let http = reqwest::Client::builder().timeout(TIMEOUT).build().expect("an HTTP client with default TLS");
        Self { http, keys, tokens: Mutex::new(HashMap::new()) }
    }

    /// Sends `control` once: no retry.
    pub async fn send(&self, platform: &LtiPlatform, acs: &Acs, control: &Control) -> Result<Outcome, AcsError> {
        let action = control.action.as_str();
        if !acs.actions.iter().any(|a| a == action) {
            return Err(AcsError::NotOffered(action, acs.actions.clone()));
        }
        for fresh_token in [false, true] {
            let token = self.token(platform, fresh_token).await?;
            let response = self
                .http
                .post(&acs.assessment_control_url)
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, ACS_MEDIA_TYPE)
                .header(reqwest::header::ACCEPT, format!("{ACS_MEDIA_TYPE}, application/json;q=0.9, text/plain;q=0.5"))
                .body(serde_json::to_vec(control).expect("a control serializes"))
                .send()
                .await
                .map_err(|e| AcsError::Unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response.text().await.map_err(|e| AcsError::Unreachable(e.to_string()))?;
            // A token the platform revoked early: once more with a new one.
            if status == 401 && !fresh_token {
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(AcsError::Refused { status, body: body.chars().take(300).collect() });
            }
            // Some platforms answer a bare status word rather than JSON.
            return Ok(serde_json::from_str(&body)
                .unwrap_or_else(|_| Outcome { status: body.trim().trim_matches('"').to_owned(), extra_time: None }));
        }
        unreachable!("the second pass returns")
    }

    /// Sends `control`, retrying what may pass later with exponential
    /// backoff from `first_delay`, at most `attempts` times in all: the
    /// outcome and the tries it took, or the last error and the tries.
    pub async fn send_with_retry(
        &self,
        platform: &LtiPlatform,
        acs: &Acs,
        control: &Control,
        attempts: u32,
        first_delay: Duration,
    ) -> Result<(Outcome, u32), (AcsError, u32)> {
        let mut delay = first_delay;
        let mut tried = 0;
        loop {
            tried += 1;
            match self.send(platform, acs, control).await {
                Ok(outcome) => return Ok((outcome, tried)),
                Err(e) if e.retryable() && tried < attempts => {
                    tracing::warn!(error = %e, tried, "LTI control failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(300));
                }
                Err(e) => return Err((e, tried)),
            }
        }
    }

    /// An access token for `platform`: cached, or fetched with a client
    /// assertion (`fresh` skips the cache).
    async fn token(&self, platform: &LtiPlatform, fresh: bool) -> Result<String, AcsError> {
        let key = (platform.token_url.clone(), platform.client_id.clone());
        let mut tokens = self.tokens.lock().await;
        if let Some(cached) = tokens.get(&key).filter(|t| !fresh && t.until > Instant::now()) {
            return Ok(cached.value.clone());
        }
        let now = invigil_schemas::clock::now_ms() / 1000;
        let assertion = self.keys.sign(&serde_json::json!({
            "iss": platform.client_id,
            "sub": platform.client_id,
            "aud": platform.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        }));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
            ("scope", ACS_SCOPE),
        ];
        let response = self
            .http
            .post(&platform.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AcsError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| AcsError::Unreachable(e.to_string()))?;
        if status == 429 || status >= 500 {
            return Err(AcsError::Refused { status, body: body.chars().take(300).collect() });
        }
        if !(200..300).contains(&status) {
            return Err(AcsError::Token(format!("HTTP {status}: {}", body.chars().take(300).collect::<String>())));
        }
        let reply: TokenReply =
            serde_json::from_str(&body).map_err(|e| AcsError::Token(format!("an answer without access_token: {e}")))?;
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600).saturating_sub(60).max(30));
        tokens.insert(key, CachedToken { value: reply.access_token.clone(), until: Instant::now() + lifetime });
        Ok(reply.access_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_network_a_5xx_and_a_429_are_worth_retrying() {
        assert!(AcsError::Unreachable("reset".into()).retryable());
        assert!(AcsError::Refused { status: 503, body: String::new() }.retryable());
        assert!(AcsError::Refused { status: 429, body: String::new() }.retryable());
        assert!(!AcsError::Refused { status: 400, body: String::new() }.retryable());
        assert!(!AcsError::Token("invalid_client".into()).retryable());
        assert!(!AcsError::NotOffered("pause", vec![]).retryable());
    }
}

//! The LTI 1.3 launch, tool side: third-party login initiation
//! (`/lti/login`), the platform's signed id_token (`/lti/launch`), and the
//! tool's own `LtiStartAssessment` (`/lti/start-assessment`).
//!
//! Login: the platform names itself (`iss`, `client_id`, `lti_deployment_id`)
//! and where the launch goes (`target_link_uri`, ours); we answer with a
//! redirect to its authorisation endpoint carrying a fresh `nonce` and a
//! `state` — a token signed with our key holding that nonce and the
//! registration, good for ten minutes, so any replica can take the launch.
//!
//! Launch: the id_token must verify against the platform's published key
//! (`kid`), name the registration's issuer, hold our client id in `aud`
//! (and in `azp` when `aud` holds several), be current (`exp`, `iat`), carry
//! the state's nonce — once: a used nonce is refused — and a registered
//! `deployment_id`, LTI 1.3.0, and a message type we take with its required
//! claims. Only then is anything started: a candidate token (signed with
//! our key, accepted by this server like a host-minted one) and the page.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use invigil_schemas::claims::CandidateClaims;
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::lti::LtiPlatform;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use super::claims::{self, message, AttemptNumber, IdToken, ResourceLink, StartAssessment};
use super::pages::{self, ProctorPage};
use super::Lti;
use crate::state::AppState;

/// How long a login may take between our redirect and the launch.
const STATE_TTL_S: i64 = 600;
/// How long a `LtiStartAssessment` we sign is good for.
const START_TTL_S: i64 = 300;
/// Clock skew allowed on a platform's `iat` and `exp`.
const LEEWAY_S: u64 = 60;

/// Why a launch was refused: the status and what the page says.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

impl Refusal {
    fn bad(reason: impl Into<String>) -> Self {
        Refusal { status: StatusCode::BAD_REQUEST, reason: reason.into() }
    }

    fn unauthorized(reason: impl Into<String>) -> Self {
        Refusal { status: StatusCode::UNAUTHORIZED, reason: reason.into() }
    }

    fn forbidden(reason: impl Into<String>) -> Self {
        Refusal { status: StatusCode::FORBIDDEN, reason: reason.into() }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::info!(status = self.status.as_u16(), reason = %self.reason, "LTI launch refused");
        pages::refused(self.status, &self.reason)
    }
}

// ------------------------------------------------------------------ login

/// Third-party login initiation, by GET or POST.
#[derive(Debug, Default, Deserialize)]
pub struct LoginParams {
    iss: Option<String>,
    login_hint: Option<String>,
    target_link_uri: Option<String>,
    lti_message_hint: Option<String>,
    client_id: Option<String>,
    lti_deployment_id: Option<String>,
}

/// What `state` holds between login and launch (signed by our key).
#[derive(Debug, Serialize, Deserialize)]
struct LoginState {
    aud: String,
    platform: String,
    client_id: String,
    nonce: String,
    iat: i64,
    exp: i64,
}

const STATE_AUDIENCE: &str = "invigil-lti-state";
const TICKET_AUDIENCE: &str = "invigil-lti-ticket";
/// `aud` of the candidate tokens a launch mints.
pub const CANDIDATE_AUDIENCE: &str = "invigil-candidate";

pub async fn get_login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<LoginParams>,
) -> Response {
    login(&state, &headers, params).await
}

pub async fn post_login(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    match form(&body) {
        Ok(params) => login(&state, &headers, params).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// A form body (`application/x-www-form-urlencoded`), or a page saying why not.
fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_urlencoded::from_bytes(body).map_err(|e| Refusal::bad(format!("the request's form is malformed: {e}")))
}

async fn login(state: &AppState, headers: &HeaderMap, params: LoginParams) -> Response {
    let Some(lti) = &state.lti else { return Refusal::bad("LTI is not enabled on this server").into_response() };
    match login_redirect(lti, &state.config.current().document.lti_platforms, headers, params) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn login_redirect(
    lti: &Lti,
    platforms: &[LtiPlatform],
    headers: &HeaderMap,
    params: LoginParams,
) -> Result<String, Refusal> {
    let need = |value: Option<String>, name: &str| {
        value.filter(|v| !v.is_empty()).ok_or_else(|| Refusal::bad(format!("the login request has no {name}")))
    };
    let issuer = need(params.iss, "iss")?;
    let login_hint = need(params.login_hint, "login_hint")?;
    let target = need(params.target_link_uri, "target_link_uri")?;
    let candidates: Vec<&LtiPlatform> = platforms
        .iter()
        .filter(|p| p.issuer == issuer && params.client_id.as_ref().is_none_or(|c| *c == p.client_id))
        .collect();
    let platform = match candidates.as_slice() {
        [one] => *one,
        [] => {
            return Err(Refusal::forbidden(format!(
                "no platform is registered with issuer {issuer:?} and this client id"
            )))
        }
        _ => {
            return Err(Refusal::bad(format!(
                "several registrations share issuer {issuer:?}: the login must name its client_id"
            )))
        }
    };
    if let Some(deployment) = params.lti_deployment_id.as_ref().filter(|d| !d.is_empty()) {
        if !platform.deployment_ids.contains(deployment) {
            return Err(Refusal::forbidden(format!(
                "deployment {deployment:?} of {} is not registered",
                platform.name
            )));
        }
    }
    lti.check_target(&target, headers)?;
    let now = invigil_schemas::clock::now_ms() / 1000;
    let nonce = random_token();
    let signed = lti.keys.sign(&LoginState {
        aud: STATE_AUDIENCE.into(),
        platform: platform.issuer.clone(),
        client_id: platform.client_id.clone(),
        nonce: nonce.clone(),
        iat: now,
        exp: now + STATE_TTL_S,
    });
    let mut query = vec![
        ("scope", "openid".to_owned()),
        ("response_type", "id_token".into()),
        ("response_mode", "form_post".into()),
        ("prompt", "none".into()),
        ("client_id", platform.client_id.clone()),
        ("redirect_uri", target),
        ("login_hint", login_hint),
        ("state", signed),
        ("nonce", nonce),
    ];
    if let Some(hint) = params.lti_message_hint.filter(|h| !h.is_empty()) {
        query.push(("lti_message_hint", hint));
    }
    let separator = if platform.auth_url.contains('?') { '&' } else { '?' };
    Ok(format!("{}{separator}{}", platform.auth_url, serde_urlencoded::to_string(&query).expect("strings encode")))
}

use crate::auth::random_token;

// ----------------------------------------------------------------- launch

#[derive(Debug, Default, Deserialize)]
pub struct LaunchForm {
    id_token: Option<String>,
    state: Option<String>,
    /// An OIDC error the platform answered the login with instead.
    error: Option<String>,
    error_description: Option<String>,
}

/// A launch that passed every check.
#[derive(Debug)]
pub struct Launch {
    pub platform: LtiPlatform,
    pub token: IdToken,
    pub candidate: CandidateId,
    pub test: TestId,
}

pub async fn post_launch(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(lti) = &state.lti else { return Refusal::bad("LTI is not enabled on this server").into_response() };
    let form: LaunchForm = match form(&body) {
        Ok(form) => form,
        Err(refusal) => return refusal.into_response(),
    };
    let platforms = state.config.current().document.lti_platforms.clone();
    let launch = match lti.validate(&platforms, form).await {
        Ok(launch) => launch,
        Err(refusal) => return refusal.into_response(),
    };
    let title =
        launch.token.resource_link.as_ref().and_then(|r| r.title.clone()).unwrap_or_else(|| launch.test.to_string());
    tracing::info!(
        platform = %launch.platform.name, candidate = %launch.candidate, test = %launch.test,
        message = %launch.token.message_type, "LTI launch"
    );
    match launch.token.message_type.as_str() {
        message::END_ASSESSMENT => {
            // The attempt is over: say where its review is.
            tracing::info!(
                platform = %launch.platform.name, candidate = %launch.candidate, test = %launch.test,
                review = %review_link(lti.settings.public_url.as_deref(), &launch.test, &launch.candidate),
                "LTI attempt ended"
            );
            pages::ended(&title)
        }
        kind => {
            super::platform_settings::apply(&state, &launch).await;
            let config = state.config.current().document.for_test(&launch.test).unwrap_or_default();
            // Wait for the reference face only where it is taken.
            let identity_wait_ms = match config.face_check.mode {
                invigil_schemas::config::FaceCheckMode::Identity => config.lms.identity_wait_ms,
                _ => 0,
            };
            let token = lti.candidate_token(&launch);
            let ticket =
                (kind == message::START_PROCTORING).then(|| lti.ticket(&launch, &config.lms, identity_wait_ms));
            let acs = (kind == message::START_PROCTORING).then(|| lti.acs_context(&launch)).flatten();
            let sdk_url = lti.settings.sdk_url.as_deref().unwrap_or("/sdk/invigil.js");
            let page = ProctorPage {
                token: &token,
                ticket: ticket.as_deref(),
                acs: acs.as_deref(),
                test_title: &title,
                identity_wait_ms,
                sdk_url,
            };
            pages::proctor(&page)
        }
    }
}

/// What `/lti/start-assessment` needs to sign the platform's message,
/// handed to the proctoring page at launch (signed by our key).
#[derive(Debug, Serialize, Deserialize)]
struct Ticket {
    aud: String,
    platform: String,
    client_id: String,
    deployment_id: String,
    resource_link: ResourceLink,
    session_data: String,
    attempt_number: AttemptNumber,
    start_assessment_url: String,
    /// The test's `lms.end_assessment_return` at launch.
    end_assessment_return: bool,
    /// Identity mode with a wait for the reference face: the names to
    /// vouch for (`verified_user`) once the page says it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verified_user: Option<serde_json::Map<String, serde_json::Value>>,
    iat: i64,
    exp: i64,
}

#[derive(Debug, Deserialize)]
pub struct StartRequest {
    ticket: String,
    /// The SDK took the reference face before the assessment opened
    /// (identity mode; the page's word, checked against nothing else).
    #[serde(default)]
    identity_reference: bool,
}

#[derive(Debug, Serialize)]
pub struct StartReply {
    /// The platform's `start_assessment_url`.
    url: String,
    /// The signed `LtiStartAssessment`, posted there as form field `JWT`.
    jwt: String,
}

/// `POST /lti/start-assessment`: the proctoring page's checks passed; the
/// signed `LtiStartAssessment` for its attempt, fresh (good for 5 min).
pub async fn post_start_assessment(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    use crate::error::ApiError;
    use invigil_schemas::api::ErrorCode;
    let Some(lti) = &state.lti else {
        return ApiError::new(ErrorCode::NotFound, "LTI is not enabled on this server").into_response();
    };
    let request = match serde_json::from_slice::<StartRequest>(&body) {
        Ok(request) => request,
        Err(e) => {
            return ApiError::bad_field(
                "ticket",
                invigil_schemas::validate::ProblemCode::InvalidValue,
                format!("the body must be {{\"ticket\": \"…\"}}: {e}"),
            )
            .into_response()
        }
    };
    let ticket: Ticket = match lti.verify_own(&request.ticket, TICKET_AUDIENCE) {
        Ok(ticket) => ticket,
        Err(why) => {
            let message = format!("the proctoring ticket {why}: open the assessment from your course again");
            return ApiError::unauthorized(message).into_response();
        }
    };
    let now = invigil_schemas::clock::now_ms() / 1000;
    let message = StartAssessment {
        iss: ticket.client_id,
        aud: ticket.platform,
        iat: now,
        exp: now + START_TTL_S,
        nonce: random_token(),
        jti: random_token(),
        message_type: message::START_ASSESSMENT.into(),
        version: claims::LTI_VERSION.into(),
        deployment_id: ticket.deployment_id,
        resource_link: ticket.resource_link,
        session_data: ticket.session_data,
        attempt_number: ticket.attempt_number,
        end_assessment_return: ticket.end_assessment_return,
        verified_user: ticket.verified_user.filter(|_| request.identity_reference),
    };
    Json(StartReply { url: ticket.start_assessment_url, jwt: lti.keys.sign(&message) }).into_response()
}

impl Lti {
    /// Checks a launch's form, its id_token and its claims; nothing is
    /// started unless all hold.
    pub async fn validate(&self, platforms: &[LtiPlatform], form: LaunchForm) -> Result<Launch, Refusal> {
        if let Some(error) = form.error {
            let detail = form.error_description.unwrap_or_default();
            return Err(Refusal::bad(format!("the platform refused the login: {error} {detail}").trim().to_owned()));
        }
        let raw_state = form.state.filter(|s| !s.is_empty()).ok_or_else(|| Refusal::bad("the launch has no state"))?;
        let id_token =
            form.id_token.filter(|s| !s.is_empty()).ok_or_else(|| Refusal::bad("the launch has no id_token"))?;
        let login: LoginState = self.verify_own(&raw_state, STATE_AUDIENCE).map_err(|why| {
            Refusal::bad(format!("the launch's state {why}: the login did not start here, or took over ten minutes"))
        })?;
        let platform = platforms
            .iter()
            .find(|p| p.issuer == login.platform && p.client_id == login.client_id)
            .ok_or_else(|| Refusal::forbidden("the platform of this login is no longer registered"))?
            .clone();

        let header =
            jsonwebtoken::decode_header(&id_token).map_err(|_| Refusal::unauthorized("the id_token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::unauthorized(format!(
                "the id_token is signed with {:?}; LTI 1.3 requires RS256",
                header.alg
            )));
        }
        let kid = header.kid.ok_or_else(|| Refusal::unauthorized("the id_token's header names no key (kid)"))?;
        let key = self
            .platform_keys
            .key(&platform.jwks_url, Some(&kid))
            .await
            .map_err(|e| Refusal::unauthorized(format!("the id_token's key cannot be checked: {e}")))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_S;
        validation.set_issuer(&[&platform.issuer]);
        validation.set_audience(&[&platform.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        let token: IdToken = jsonwebtoken::decode(&id_token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                Refusal::unauthorized(match e.kind() {
                    ErrorKind::InvalidSignature => "the id_token's signature is not the platform's".to_owned(),
                    ErrorKind::ExpiredSignature => "the id_token has expired".to_owned(),
                    ErrorKind::ImmatureSignature => "the id_token is not valid yet".to_owned(),
                    ErrorKind::InvalidIssuer => format!("the id_token's issuer is not {:?}", platform.issuer),
                    ErrorKind::InvalidAudience => "the id_token is not addressed to this tool's client id".to_owned(),
                    ErrorKind::MissingRequiredClaim(claim) => format!("the id_token has no {claim}"),
                    ErrorKind::Json(e) => format!("the id_token's claims are malformed: {e}"),
                    _ => format!("the id_token is invalid ({e})"),
                })
            })?
            .claims;
        if token.aud.is_several() && token.azp.as_deref() != Some(platform.client_id.as_str()) {
            return Err(Refusal::unauthorized("the id_token has several audiences and its azp is not this tool"));
        }
        if token.nonce != login.nonce {
            return Err(Refusal::unauthorized("the id_token's nonce is not the one this login sent"));
        }
        if !platform.deployment_ids.contains(&token.deployment_id) {
            return Err(Refusal::forbidden(format!(
                "deployment {:?} of {} is not registered with this tool",
                token.deployment_id, platform.name
            )));
        }
        if token.version != claims::LTI_VERSION {
            return Err(Refusal::bad(format!(
                "LTI version {:?}; this tool speaks {}",
                token.version,
                claims::LTI_VERSION
            )));
        }
        let sub = token
            .sub
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Refusal::bad("the launch has no user (sub): an anonymous launch cannot be proctored"))?;
        let need = |present: bool, claim: &str| {
            if present {
                Ok(())
            } else {
                Err(Refusal::bad(format!("a {} launch must carry {claim}", token.message_type)))
            }
        };
        match token.message_type.as_str() {
            message::START_PROCTORING => {
                need(token.resource_link.is_some(), "resource_link")?;
                need(
                    token.start_assessment_url.as_ref().is_some_and(|u| invigil_schemas::lti::check_url(u).is_ok()),
                    "an https start_assessment_url",
                )?;
                need(token.session_data.as_ref().is_some_and(|s| !s.is_empty()), "session_data")?;
                need(token.attempt_number.is_some(), "attempt_number")?;
            }
            message::RESOURCE_LINK => need(token.resource_link.is_some(), "resource_link")?,
            message::END_ASSESSMENT => need(token.attempt_number.is_some(), "attempt_number")?,
            other => return Err(Refusal::bad(format!("message type {other:?} is not one this tool takes"))),
        }
        // Last, so a launch refused above leaves its nonce for nobody: a
        // nonce is spent only by a launch that started.
        self.spend_nonce(&token.nonce, login.exp)?;
        let candidate = candidate_id(&platform, &sub);
        let test = test_id(&platform, &token);
        Ok(Launch { platform, token, candidate, test })
    }

    /// A token this server signed for `audience`, verified.
    pub(super) fn verify_own<T: serde::de::DeserializeOwned>(
        &self,
        raw: &str,
        audience: &str,
    ) -> Result<T, &'static str> {
        let header = jsonwebtoken::decode_header(raw).map_err(|_| "is malformed")?;
        let key = header.kid.as_deref().and_then(|kid| self.keys.decoding_key(kid)).ok_or("was not signed here")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[audience]);
        validation.leeway = 5;
        jsonwebtoken::decode::<T>(raw, key, &validation).map(|d| d.claims).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "has expired",
            _ => "is not valid",
        })
    }

    fn spend_nonce(&self, nonce: &str, until: i64) -> Result<(), Refusal> {
        let now = invigil_schemas::clock::now_ms() / 1000;
        let mut used = self.used_nonces.lock().expect("nonce set");
        used.retain(|_, expiry| *expiry > now);
        if used.insert(nonce.to_owned(), until).is_some() {
            return Err(Refusal::unauthorized(
                "this launch was already used (its nonce is spent): open the assessment again",
            ));
        }
        Ok(())
    }

    /// The candidate token a launch mints: this server's own key, the
    /// candidate audience, good for `token_hours`.
    fn candidate_token(&self, launch: &Launch) -> String {
        #[derive(Serialize)]
        struct Minted<'a> {
            #[serde(flatten)]
            claims: &'a CandidateClaims,
            aud: &'static str,
        }
        let now = invigil_schemas::clock::now_ms() / 1000;
        let claims = CandidateClaims {
            sub: launch.candidate.clone(),
            test_id: launch.test.clone(),
            exp: now + i64::from(self.settings.token_hours) * 3600,
            iat: now,
            name: launch.token.name.clone(),
        };
        self.keys.sign(&Minted { claims: &claims, aud: CANDIDATE_AUDIENCE })
    }

    fn ticket(&self, launch: &Launch, lms: &invigil_schemas::config::LmsConfig, identity_wait_ms: u32) -> String {
        let now = invigil_schemas::clock::now_ms() / 1000;
        let token = &launch.token;
        self.keys.sign(&Ticket {
            aud: TICKET_AUDIENCE.into(),
            platform: launch.platform.issuer.clone(),
            client_id: launch.platform.client_id.clone(),
            deployment_id: token.deployment_id.clone(),
            resource_link: token.resource_link.clone().expect("checked"),
            session_data: token.session_data.clone().expect("checked"),
            attempt_number: token.attempt_number.expect("checked"),
            start_assessment_url: token.start_assessment_url.clone().expect("checked"),
            end_assessment_return: lms.end_assessment_return,
            verified_user: token.names().filter(|_| identity_wait_ms > 0),
            iat: now,
            exp: now + i64::from(self.settings.token_hours) * 3600,
        })
    }

    /// `target_link_uri` must be this tool's launch URL: under `public_url`
    /// when set, else on the host the request came to.
    fn check_target(&self, target: &str, headers: &HeaderMap) -> Result<(), Refusal> {
        let url = reqwest::Url::parse(target)
            .map_err(|_| Refusal::bad(format!("target_link_uri {target:?} is not a URL")))?;
        let ours = match &self.settings.public_url {
            Some(base) => target.starts_with(base.trim_end_matches('/')),
            None => {
                let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
                let authority = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                    None => url.host_str().unwrap_or_default().to_owned(),
                };
                authority == host
            }
        };
        if !ours || url.path() != "/lti/launch" {
            return Err(Refusal::bad(format!(
                "target_link_uri {target:?} is not this tool's launch URL (…/lti/launch)"
            )));
        }
        Ok(())
    }
}

/// The candidate's id: `platform:sub` when `sub` is a valid id, else
/// `platform:` and a digest of it (LMS user ids are usually short and plain).
pub fn candidate_id(platform: &LtiPlatform, sub: &str) -> CandidateId {
    CandidateId::new(format!("{}:{sub}", platform.name))
        .unwrap_or_else(|_| CandidateId::new(format!("{}:h{}", platform.name, digest(sub))).expect("hex id"))
}

/// The test's id: the launch's custom parameter `invigil_test` when the
/// course set one (several links, or platforms, sharing one test's
/// settings), else `platform:resource link id`, else a digest of it.
pub fn test_id(platform: &LtiPlatform, token: &IdToken) -> TestId {
    let custom = token.custom.as_ref().and_then(|c| c.get("invigil_test")).and_then(|v| v.as_str());
    if let Some(test) = custom.and_then(|t| TestId::new(t).ok()) {
        return test;
    }
    let link = token.resource_link.as_ref().map_or(token.deployment_id.as_str(), |r| r.id.as_str());
    TestId::new(format!("{}:{link}", platform.name))
        .unwrap_or_else(|_| TestId::new(format!("{}:h{}", platform.name, digest(link))).expect("hex id"))
}

/// The first 16 hex digits of SHA-256.
fn digest(text: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    hash.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a reviewer reads `candidate` of `test`: the review page under the
/// server's public URL, or its path on this server when that is unset.
fn review_link(public_url: Option<&str>, test: &TestId, candidate: &CandidateId) -> String {
    let public = public_url.map(|u| u.trim_end_matches('/'));
    let page = format!("{}/dashboard/review.html", public.unwrap_or("http://this-server"));
    let query = [("test", test.as_str()), ("candidate", candidate.as_str())];
    match reqwest::Url::parse_with_params(&page, &query) {
        Ok(url) if public.is_some() => url.to_string(),
        Ok(url) => format!("{}?{}", url.path(), url.query().unwrap_or_default()),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_link_names_the_attempt_under_the_public_url() {
        let test = TestId::new("moodle:quiz-7").unwrap();
        let candidate = CandidateId::new("moodle:42").unwrap();
        assert_eq!(
            review_link(Some("https://proctor.example.edu/"), &test, &candidate),
            "https://proctor.example.edu/dashboard/review.html?test=moodle%3Aquiz-7&candidate=moodle%3A42"
        );
        assert_eq!(
            review_link(None, &test, &candidate),
            "/dashboard/review.html?test=moodle%3Aquiz-7&candidate=moodle%3A42"
        );
    }
}

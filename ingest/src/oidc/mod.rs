//! Staff sign-in with OpenID Connect: the authorisation code flow with
//! PKCE against any standard provider, roles from a claim of the
//! provider's (`[[oidc.grant]]`), and a session cookie afterwards. Off
//! unless `[oidc] enabled`; the tokens `invigil token` mints keep working
//! beside it (and alone without a provider).
//!
//! ```text
//! GET  /auth/oidc/login?next=/dashboard/…   → 302 to the provider (state, nonce, PKCE)
//! GET  /auth/oidc/callback?code&state       → checks, session cookie, 303 to next
//! GET  /auth/session                        → who is signed in, the CSRF token, the sign-in link
//! POST /auth/logout                         → the session cookie removed
//! ```
//!
//! Every refusal is a page that says what went wrong (a wrong audience, a
//! used or expired code, a replayed or foreign state, nobody granted a
//! role), and starts nothing. Each sign-in is a staff action
//! (`auth.sign_in`) in the audit trail.

pub mod grants;
pub mod provider;
pub mod session;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use invigil_schemas::claims::StaffClaims;
use serde::{Deserialize, Serialize};

pub use grants::Grant;
pub use session::Sessions;

use crate::staff_log::{Done, Peer};
use crate::state::AppState;

/// `[oidc]` in the ingest settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    pub enabled: bool,
    /// Shown on the sign-in button: "Sign in with {name}".
    pub name: String,
    /// The provider's issuer URL, exactly as its discovery document and
    /// tokens name it.
    pub issuer: String,
    pub client_id: String,
    /// The environment variable holding the client secret (none: a public
    /// client, PKCE alone).
    pub client_secret_env: Option<String>,
    /// Or a file holding it.
    pub client_secret_file: Option<PathBuf>,
    /// This server's callback as registered with the provider:
    /// `https://proctor.example.edu/auth/oidc/callback`. An https URL
    /// makes the cookies `Secure`.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// The claim that identifies staff here (assignments, audit): `sub`,
    /// or `email` / `preferred_username` when admins assign by those.
    pub subject_claim: String,
    /// The claim listing the staff member's groups or roles (a dotted path
    /// for nested claims: `realm_access.roles`).
    pub roles_claim: String,
    /// Which values of that claim grant which role on which tests.
    #[serde(rename = "grant")]
    pub grants: Vec<Grant>,
    /// How long a session lasts.
    pub session_hours: u32,
    /// The environment variable holding the secret sessions are signed
    /// with (≥ 32 bytes; the same on every replica).
    pub session_secret_env: String,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            name: "your organisation".into(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret_env: None,
            client_secret_file: None,
            redirect_url: String::new(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            subject_claim: "sub".into(),
            roles_claim: "groups".into(),
            grants: Vec::new(),
            session_hours: 8,
            session_secret_env: "INVIGIL_SESSION_SECRET".into(),
        }
    }
}

/// What the sign-in routes share.
pub struct Oidc {
    pub provider: provider::Provider,
    pub sessions: Arc<Sessions>,
}

impl Oidc {
    /// Checks `settings` and reads the secrets they name; every error names
    /// the setting (never a secret's value).
    pub fn from_settings(settings: &OidcSettings) -> anyhow::Result<Self> {
        use anyhow::{bail, Context};
        for (name, value) in
            [("issuer", &settings.issuer), ("client_id", &settings.client_id), ("redirect_url", &settings.redirect_url)]
        {
            if value.trim().is_empty() {
                bail!("[oidc] {name} is required when [oidc] enabled = true");
            }
        }
        for (name, value) in [("issuer", &settings.issuer), ("redirect_url", &settings.redirect_url)] {
            let local = value.starts_with("http://127.0.0.1") || value.starts_with("http://localhost");
            if !value.starts_with("https://") && !local {
                bail!("[oidc] {name} must be an https URL (plain http only on 127.0.0.1 or localhost): {value:?}");
            }
        }
        if !settings.scopes.iter().any(|s| s == "openid") {
            bail!("[oidc] scopes must include \"openid\"");
        }
        if settings.grants.is_empty() {
            bail!("[oidc] has no [[oidc.grant]]: nobody could sign in with a role");
        }
        let client_secret = match (&settings.client_secret_env, &settings.client_secret_file) {
            (Some(_), Some(_)) => bail!("[oidc] names both client_secret_env and client_secret_file; keep one"),
            (Some(variable), None) => Some(std::env::var(variable).with_context(|| {
                format!("[oidc] client_secret_env: the environment variable {variable} is not set")
            })?),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("[oidc] client_secret_file: reading {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let variable = &settings.session_secret_env;
        let secret = std::env::var(variable)
            .with_context(|| format!("[oidc] session_secret_env: the environment variable {variable} is not set"))?;
        let sessions =
            Sessions::new(secret.as_bytes(), settings.session_hours, settings.redirect_url.starts_with("https://"))
                .map_err(|weak| anyhow::anyhow!(invigil_schemas::secret_strength::refusal(variable, &weak)))?;
        Ok(Self { provider: provider::Provider::new(settings.clone(), client_secret), sessions: Arc::new(sessions) })
    }
}

/// The sign-in routes (served whether or not sign-in is on: off, each
/// says so).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/oidc/login", get(get_login))
        .route("/auth/oidc/callback", get(get_callback))
        .route("/auth/session", get(get_session))
        .route("/auth/logout", post(post_logout))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Where a sign-in may return to: a path on this server, nothing else.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains(['\\', '\r', '\n']) => {
            path.to_owned()
        }
        _ => "/dashboard/".to_owned(),
    }
}

fn now_s() -> i64 {
    invigil_schemas::clock::now_ms() / 1000
}

async fn get_login(State(state): State<Arc<AppState>>, Query(query): Query<LoginQuery>) -> Response {
    let Some(oidc) = &state.oidc else { return not_enabled() };
    let login = oidc.sessions.new_login(local_path(query.next.as_deref()), now_s());
    match oidc.provider.authorize_url(&login).await {
        Ok(url) => (
            StatusCode::FOUND,
            [(header::LOCATION, url), (header::CACHE_CONTROL, "no-store".into())],
            [(header::SET_COOKIE, oidc.sessions.begin_login(&login))],
        )
            .into_response(),
        Err(failure) => refused(failure, None),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn get_callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Peer,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = &state.oidc else { return not_enabled() };
    let end = oidc.sessions.end_login();
    let fail = |status: u16, reason: String| refused(provider::Failure::new(status, reason), Some(end.clone()));
    if let Some(error) = query.error {
        let detail = query.error_description.map(|d| format!(" ({d})")).unwrap_or_default();
        return fail(400, format!("the sign-in provider did not sign you in: {error}{detail}"));
    }
    let login = match oidc.sessions.login(&headers) {
        Ok(login) => login,
        Err(why) => return fail(400, why.to_owned()),
    };
    if query.state.as_deref() != Some(login.state.as_str()) {
        return fail(400, "this sign-in's state is not the one this browser started: sign in again".into());
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return fail(400, "the sign-in provider sent no code".into());
    };
    let claims = match oidc.provider.sign_in(&code, &login.verifier, &login.nonce).await {
        Ok(claims) => claims,
        Err(failure) => return refused(failure, Some(end)),
    };
    let settings = oidc.provider.settings();
    let subject = grants::claim_values(&claims, &settings.subject_claim).into_iter().next().unwrap_or_default();
    if subject.is_empty() {
        return fail(401, format!("the id_token has no {:?} claim to name you by", settings.subject_claim));
    }
    let values = grants::claim_values(&claims, &settings.roles_claim);
    let Some(granted) = grants::resolve(&settings.grants, &values) else {
        tracing::info!(subject = %subject, "sign-in refused: no [[oidc.grant]] matches");
        return fail(
            403,
            format!(
                "you are signed in at the provider as {subject}, but none of your {:?} grants a role in invigil; \
                 ask an administrator to add you",
                settings.roles_claim
            ),
        );
    };
    let name = ["name", "preferred_username", "email"]
        .iter()
        .find_map(|claim| claims.get(*claim).and_then(|v| v.as_str()).map(str::to_owned));
    let staff = StaffClaims { sub: subject, role: granted.role, tests: granted.tests, exp: 0, iat: 0, name };
    let (cookie, session) = oidc.sessions.issue(staff, now_s());
    let origin = state.staff_log.origin(&headers, &peer);
    state.staff_log.note(Done::new(&session.staff, "auth.sign_in", origin).with("via", "oidc"));
    tracing::info!(staff = %session.staff.sub, role = session.staff.role.as_str(), "staff signed in");
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, login.next)]).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, end);
    headers.append(header::SET_COOKIE, cookie);
    headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("a header value"));
    response
}

/// `GET /auth/session`: the signed-in staff member (or not), the CSRF
/// token for changes, and where to sign in.
#[derive(Serialize)]
struct SessionReply {
    signed_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff: Option<StaffClaims>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
    /// Why the cookie there is not a session (expired, foreign).
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    sign_in: Option<SignIn>,
}

#[derive(Serialize)]
struct SignIn {
    name: String,
    url: String,
}

async fn get_session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let sign_in = state
        .oidc
        .as_ref()
        .map(|oidc| SignIn { name: oidc.provider.settings().name.clone(), url: "/auth/oidc/login".into() });
    let read = state.oidc.as_ref().and_then(|oidc| oidc.sessions.read(&headers));
    let reply = match read {
        Some(Ok(session)) => SessionReply {
            signed_in: true,
            staff: Some(session.staff),
            csrf: Some(session.csrf),
            problem: None,
            sign_in,
        },
        Some(Err(why)) => {
            SessionReply { signed_in: false, staff: None, csrf: None, problem: Some(why.into()), sign_in }
        }
        None => SessionReply { signed_in: false, staff: None, csrf: None, problem: None, sign_in },
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(reply)).into_response()
}

async fn post_logout(State(state): State<Arc<AppState>>, headers: HeaderMap, peer: Peer) -> Response {
    let Some(oidc) = &state.oidc else { return not_enabled() };
    if let Some(Ok(session)) = oidc.sessions.read(&headers) {
        let origin = state.staff_log.origin(&headers, &peer);
        state.staff_log.note(Done::new(&session.staff, "auth.sign_out", origin).with("via", "oidc"));
    }
    (
        [(header::SET_COOKIE, oidc.sessions.sign_out()), (header::CACHE_CONTROL, "no-store".parse().expect("a value"))],
        Json(serde_json::json!({ "signed_out": true })),
    )
        .into_response()
}

fn not_enabled() -> Response {
    crate::error::ApiError::new(
        invigil_schemas::api::ErrorCode::NotFound,
        "staff sign-in with OpenID Connect is not enabled on this server ([oidc])",
    )
    .into_response()
}

/// The page a refused sign-in shows: its status, what went wrong, a link
/// to try again; `clear` ends the sign-in in progress.
fn refused(failure: provider::Failure, clear: Option<axum::http::HeaderValue>) -> Response {
    tracing::info!(status = failure.status, reason = %failure.reason, "staff sign-in refused");
    let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in failed · invigil</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#0f172a}}\
         @media (prefers-color-scheme: dark){{body{{background:#0f172a;color:#e2e8f0}}a{{color:#93c5fd}}}}</style></head>\n\
         <body><main><h1>Sign-in failed</h1>\n<p id=\"sign-in-error\" data-status=\"{code}\">{reason}</p>\n\
         <p><a href=\"/auth/oidc/login\">Sign in again</a> · <a href=\"/dashboard/\">Dashboards</a></p></main></body></html>",
        code = status.as_u16(),
        reason = crate::lti::escape_html(&failure.reason),
    );
    let mut response = crate::lti::html_page(status, body);
    if let Some(clear) = clear {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_returns_only_to_a_path_here() {
        assert_eq!(local_path(Some("/dashboard/review.html?test=a")), "/dashboard/review.html?test=a");
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil", "dashboard", ""] {
            assert_eq!(local_path(Some(bad)), "/dashboard/", "{bad}");
        }
        assert_eq!(local_path(None), "/dashboard/");
    }

    #[test]
    fn settings_name_what_is_missing_or_unsafe() {
        let base = OidcSettings {
            enabled: true,
            issuer: "https://idp.example.edu".into(),
            client_id: "invigil".into(),
            redirect_url: "https://proctor.example.edu/auth/oidc/callback".into(),
            grants: vec![Grant {
                value: "admins".into(),
                role: invigil_schemas::claims::StaffRole::Admin,
                tests: vec![],
            }],
            session_secret_env: "INVIGIL_TEST_SESSION_SECRET_UNSET".into(),
            ..OidcSettings::default()
        };
        let error = |s: OidcSettings| Oidc::from_settings(&s).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(error(OidcSettings { client_id: "".into(), ..base.clone() }).contains("[oidc] client_id is required"));
        assert!(error(OidcSettings { issuer: "http://idp.example.edu".into(), ..base.clone() })
            .contains("issuer must be an https URL"));
        assert!(error(OidcSettings { scopes: vec!["email".into()], ..base.clone() }).contains("openid"));
        assert!(error(OidcSettings { grants: vec![], ..base.clone() }).contains("no [[oidc.grant]]"));
        assert!(error(base.clone()).contains("INVIGIL_TEST_SESSION_SECRET_UNSET is not set"));
    }
}

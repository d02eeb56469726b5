//! Staff sessions after an OpenID Connect sign-in, and the sign-in's own
//! short state, both as cookies holding tokens signed with the session
//! secret: any replica that shares the secret reads them, so sign-in works
//! behind a balancer without affinity or a shared store.
//!
//! - `invigil_staff`: the session (the staff claims, a CSRF token, expiry).
//!   HttpOnly (page scripts never see it), SameSite=Lax (other sites'
//!   requests do not carry it, top-level links do), Secure when the
//!   sign-in's redirect URL is https.
//! - `invigil_oidc`: one sign-in in progress (state, nonce, PKCE verifier,
//!   where to go after), for ten minutes, under `/auth/oidc` only; the
//!   callback takes it and clears it, so a replayed callback finds none.
//!
//! A request authenticated by the cookie that changes something (any
//! method but GET, HEAD, OPTIONS) must also send the session's CSRF token
//! in `x-csrf-token` ([`require_csrf`]); the page reads it from
//! `GET /auth/session`, which another site cannot read.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::{StaffClaims, STAFF_ISSUER};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "invigil_staff";
pub const LOGIN_COOKIE: &str = "invigil_oidc";
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_AUDIENCE: &str = "invigil-staff-session";
const LOGIN_AUDIENCE: &str = "invigil-oidc-login";
/// How long a sign-in may take at the provider.
pub const LOGIN_TTL_S: i64 = 600;
/// The only path the sign-in cookie is sent to.
const LOGIN_PATH: &str = "/auth/oidc";

/// A session's token: the staff claims, and the CSRF token that must come
/// back in a header with every change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    #[serde(flatten)]
    pub staff: StaffClaims,
    pub iss: String,
    pub aud: String,
    pub csrf: String,
}

/// One sign-in between our redirect to the provider and its callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginState {
    pub state: String,
    pub nonce: String,
    /// The PKCE code verifier; the provider saw only its SHA-256.
    pub verifier: String,
    /// Where the staff member was going (a path on this server).
    pub next: String,
    pub aud: String,
    pub exp: i64,
}

/// Issues and reads the two cookies.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    hours: u32,
    secure: bool,
}

impl Sessions {
    /// `secret` must pass [`invigil_schemas::secret_strength::check`];
    /// `secure`: the cookies get `Secure` (the site is served over https).
    pub fn new(secret: &[u8], hours: u32, secure: bool) -> Result<Self, invigil_schemas::secret_strength::WeakSecret> {
        invigil_schemas::secret_strength::check(secret)?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            hours: hours.max(1),
            secure,
        })
    }

    /// A new session for `staff` (its `iat` and `exp` set here): the
    /// `Set-Cookie` value and the claims.
    pub fn issue(&self, mut staff: StaffClaims, now: i64) -> (HeaderValue, SessionClaims) {
        let lifetime = i64::from(self.hours) * 3600;
        staff.iat = now;
        staff.exp = now + lifetime;
        let claims = SessionClaims {
            staff,
            iss: STAFF_ISSUER.into(),
            aud: SESSION_AUDIENCE.into(),
            csrf: crate::auth::random_token(),
        };
        let token = self.sign(&claims);
        (self.cookie(SESSION_COOKIE, &token, "/", lifetime), claims)
    }

    /// The session the request's cookie holds: `None` without the cookie,
    /// otherwise it verified or why not.
    pub fn read(&self, headers: &HeaderMap) -> Option<Result<SessionClaims, &'static str>> {
        let raw = cookie(headers, SESSION_COOKIE)?;
        Some(self.verify::<SessionClaims>(raw, SESSION_AUDIENCE).map_err(|why| match why {
            Invalid::Expired => "your sign-in has expired; sign in again",
            Invalid::Other => "your sign-in cookie is not valid here; sign in again",
        }))
    }

    /// `Set-Cookie` values that remove the session.
    pub fn sign_out(&self) -> HeaderValue {
        self.cookie(SESSION_COOKIE, "", "/", 0)
    }

    /// Starts a sign-in: the `Set-Cookie` value that holds `login`.
    pub fn begin_login(&self, login: &LoginState) -> HeaderValue {
        self.cookie(LOGIN_COOKIE, &self.sign(login), LOGIN_PATH, LOGIN_TTL_S)
    }

    /// The sign-in this browser started, verified, or why there is none.
    pub fn login(&self, headers: &HeaderMap) -> Result<LoginState, &'static str> {
        let raw = cookie(headers, LOGIN_COOKIE)
            .ok_or("this sign-in is not in progress in this browser: it was already used, or it did not start here")?;
        self.verify::<LoginState>(raw, LOGIN_AUDIENCE).map_err(|why| match why {
            Invalid::Expired => "this sign-in took over ten minutes; sign in again",
            Invalid::Other => "this sign-in's cookie is not valid here; sign in again",
        })
    }

    /// The `Set-Cookie` value that ends a sign-in in progress.
    pub fn end_login(&self) -> HeaderValue {
        self.cookie(LOGIN_COOKIE, "", LOGIN_PATH, 0)
    }

    /// A fresh [`LoginState`] for `next`.
    pub fn new_login(&self, next: String, now: i64) -> LoginState {
        LoginState {
            state: crate::auth::random_token(),
            nonce: crate::auth::random_token(),
            verifier: crate::auth::random_token(),
            next,
            aud: LOGIN_AUDIENCE.into(),
            exp: now + LOGIN_TTL_S,
        }
    }

    fn sign<T: Serialize>(&self, claims: &T) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).expect("HS256 signs any claims")
    }

    fn verify<T: serde::de::DeserializeOwned>(&self, raw: &str, audience: &str) -> Result<T, Invalid> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        jsonwebtoken::decode::<T>(raw, &self.decoding, &validation).map(|data| data.claims).map_err(|e| {
            if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) {
                Invalid::Expired
            } else {
                Invalid::Other
            }
        })
    }

    fn cookie(&self, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        ))
        .expect("tokens and paths are header-safe")
    }
}

enum Invalid {
    Expired,
    Other,
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// Refuses a change (any method but GET, HEAD, OPTIONS) authenticated by a
/// valid session cookie alone unless `x-csrf-token` carries the session's
/// token: another site can make a browser send the cookie, never the
/// header. Requests with `Authorization` are not cookie-authenticated and
/// pass; so do invalid cookies (the route answers 401 for them).
pub async fn require_csrf(State(sessions): State<Option<Arc<Sessions>>>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = request.headers();
    if safe || headers.contains_key(header::AUTHORIZATION) {
        return next.run(request).await;
    }
    if let Some(Ok(session)) = sessions.as_ref().and_then(|s| s.read(headers)) {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if sent != Some(session.csrf.as_str()) {
            return ApiError::new(
                ErrorCode::Forbidden,
                "a signed-in change needs the x-csrf-token header (its value is in GET /auth/session)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::claims::StaffRole;

    const SECRET: &[u8] = b"K7m2Qx9Vr4Lp8Zt1Wn6Ys3Hd5Jf0Gb2Nc";

    fn staff() -> StaffClaims {
        StaffClaims { sub: "ada".into(), role: StaffRole::Admin, tests: vec![], exp: 0, iat: 0, name: None }
    }

    fn with_cookie(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
        headers
    }

    #[test]
    fn a_session_reads_back_and_its_cookie_is_http_only_lax_and_secure_on_https() {
        let sessions = Sessions::new(SECRET, 8, true).unwrap();
        let now = invigil_schemas::clock::now_ms() / 1000;
        let (set, claims) = sessions.issue(staff(), now);
        let text = set.to_str().unwrap();
        for part in ["invigil_staff=", "Path=/;", "Max-Age=28800", "HttpOnly", "SameSite=Lax", "Secure"] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        let read = sessions.read(&with_cookie(&set)).unwrap().unwrap();
        assert_eq!(
            (read.staff.sub.as_str(), read.csrf.as_str(), read.staff.exp),
            ("ada", claims.csrf.as_str(), now + 28800)
        );
        assert!(!Sessions::new(SECRET, 8, false).unwrap().sign_out().to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn another_secret_an_expired_session_or_a_login_token_is_not_a_session() {
        let sessions = Sessions::new(SECRET, 1, false).unwrap();
        let other = Sessions::new(b"Zq8Wm3Tx7Rk1Vn5Hy9Lb2Pd6Jc4Gs0Ff", 1, false).unwrap();
        let now = invigil_schemas::clock::now_ms() / 1000;
        let (set, _) = other.issue(staff(), now);
        assert!(sessions.read(&with_cookie(&set)).unwrap().is_err());
        let (old, _) = sessions.issue(staff(), now - 7200);
        assert_eq!(sessions.read(&with_cookie(&old)).unwrap().unwrap_err(), "your sign-in has expired; sign in again");
        // A sign-in cookie's token renamed as the session cookie.
        let login = sessions.begin_login(&sessions.new_login("/dashboard/".into(), now));
        let token = login.to_str().unwrap().split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("invigil_staff={token}")).unwrap());
        assert!(sessions.read(&headers).unwrap().is_err());
        assert!(sessions.read(&HeaderMap::new()).is_none());
    }

    #[test]
    fn a_login_reads_back_once_set_and_not_after_it_is_cleared() {
        let sessions = Sessions::new(SECRET, 1, false).unwrap();
        let now = invigil_schemas::clock::now_ms() / 1000;
        let login = sessions.new_login("/dashboard/review.html".into(), now);
        let set = sessions.begin_login(&login);
        assert!(set.to_str().unwrap().contains("Path=/auth/oidc;"));
        assert_eq!(sessions.login(&with_cookie(&set)).unwrap(), login);
        assert!(sessions.login(&with_cookie(&sessions.end_login())).is_err());
        assert!(Sessions::new(b"short", 1, false).is_err());
    }
}

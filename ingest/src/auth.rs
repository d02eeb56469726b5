//! Token verification. Candidate tokens are minted by host apps; staff tokens
//! by the operator. Both are JWTs checked against one configured key: an HS256
//! shared secret, or an RS256 / EdDSA public key (PEM).
//!
//! Exactly one algorithm is accepted per deployment, so `alg: none`, an HS256
//! token forged with a public key as the secret, or any other algorithm swap
//! fails verification.

use axum::http::HeaderMap;
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::{CandidateClaims, StaffClaims, StaffRole, STAFF_AUDIENCE, STAFF_ISSUER};
use invigil_schemas::ids::TestId;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// How tokens are verified.
#[derive(Clone)]
pub enum TokenKey {
    /// HS256 with a shared secret, strong by [`invigil_schemas::secret_strength`].
    Hs256Secret(Vec<u8>),
    /// RS256 with an RSA public key in PEM.
    Rs256PublicPem(Vec<u8>),
    /// EdDSA (Ed25519) with a public key in PEM.
    EdDsaPublicPem(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("{}", invigil_schemas::secret_strength::refusal("the HS256 secret (INVIGIL_TOKEN_SECRET)", .0))]
    WeakSecret(invigil_schemas::secret_strength::WeakSecret),
    #[error("the public key is not valid PEM for {alg:?}: {source}")]
    BadKey { alg: Algorithm, source: jsonwebtoken::errors::Error },
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    /// The LTI tool's own keys: candidate tokens minted by an LTI launch
    /// are signed with them (RS256, their `kid` in the header, audience
    /// [`crate::lti::CANDIDATE_AUDIENCE`]), beside the deployment's key.
    tool_keys: Option<std::sync::Arc<crate::lti::ToolKeys>>,
    /// Staff sessions after an OpenID Connect sign-in (`[oidc]`): a
    /// request without `Authorization` may carry one as a cookie.
    sessions: Option<std::sync::Arc<crate::oidc::Sessions>>,
}

impl Verifier {
    pub fn new(key: &TokenKey) -> Result<Self, AuthConfigError> {
        let (alg, key) = match key {
            TokenKey::Hs256Secret(secret) => {
                invigil_schemas::secret_strength::check(secret).map_err(AuthConfigError::WeakSecret)?;
                (Algorithm::HS256, DecodingKey::from_secret(secret))
            }
            TokenKey::Rs256PublicPem(pem) => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(pem)
                    .map_err(|source| AuthConfigError::BadKey { alg: Algorithm::RS256, source })?,
            ),
            TokenKey::EdDsaPublicPem(pem) => (
                Algorithm::EdDSA,
                DecodingKey::from_ed_pem(pem)
                    .map_err(|source| AuthConfigError::BadKey { alg: Algorithm::EdDSA, source })?,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = 30;
        // A host app may mint a token ahead of an exam's start with `nbf`;
        // it must not open the exam early.
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
        Ok(Self { key, validation, tool_keys: None, sessions: None })
    }

    /// Also accepts candidate tokens an LTI launch minted with `keys`.
    pub fn with_tool_keys(mut self, keys: std::sync::Arc<crate::lti::ToolKeys>) -> Self {
        self.tool_keys = Some(keys);
        self
    }

    /// Also accepts staff sessions `sessions` issued (their cookie).
    pub fn with_sessions(mut self, sessions: std::sync::Arc<crate::oidc::Sessions>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The key and rules for `header`: one of the tool's keys when its
    /// `kid` names one (RS256, the candidate audience), else the
    /// deployment's.
    fn key_for(&self, header: &jsonwebtoken::Header) -> Option<(&DecodingKey, std::borrow::Cow<'_, Validation>)> {
        let tool_key =
            self.tool_keys.as_ref().zip(header.kid.as_deref()).and_then(|(keys, kid)| keys.decoding_key(kid));
        match tool_key {
            Some(key) => {
                let mut validation = self.validation.clone();
                validation.algorithms = vec![Algorithm::RS256];
                validation.set_audience(&[crate::lti::CANDIDATE_AUDIENCE]);
                Some((key, std::borrow::Cow::Owned(validation)))
            }
            None if self.validation.algorithms.contains(&header.alg) => {
                Some((&self.key, std::borrow::Cow::Borrowed(&self.validation)))
            }
            None => None,
        }
    }

    /// The verified claims of the request's `Authorization: Bearer` token.
    pub fn verify<T: DeserializeOwned>(&self, headers: &HeaderMap) -> Result<T, ApiError> {
        let header = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization header; send `Authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        let token = token.trim();
        // The header first, so an algorithm swap (including `none`) is named
        // as such rather than as a bad signature.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("token header is malformed or names an unknown algorithm"))?;
        let Some((key, validation)) = self.key_for(&header) else {
            return Err(ApiError::unauthorized("token algorithm is not the one this server accepts"));
        };
        jsonwebtoken::decode::<T>(token, key, &validation).map(|data| data.claims).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token is not valid yet (nbf)",
                ErrorKind::InvalidSignature => "token signature is invalid",
                ErrorKind::InvalidAlgorithm => "token algorithm is not the one this server accepts",
                ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                ErrorKind::Json(_) => "token claims are malformed",
                _ => "token is invalid",
            };
            ApiError::unauthorized(why)
        })
    }

    /// A candidate's claims. An authentic staff token (it has a `role`) is
    /// the wrong caller rather than a bad token: 403, not 401.
    pub fn candidate(&self, headers: &HeaderMap) -> Result<CandidateClaims, ApiError> {
        let claims: serde_json::Value = self.verify(headers)?;
        if claims.get("role").is_some() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this route needs a candidate token; a staff token was sent",
            ));
        }
        serde_json::from_value(claims).map_err(|_| ApiError::unauthorized("token claims are malformed"))
    }

    /// A staff member's claims, if the token is valid and its role is one of
    /// `roles`. A candidate's token (no `role`) is authentic but not for
    /// these routes: 403, like a staff member of the wrong role.
    ///
    /// Without `Authorization`, a signed-in session's cookie is taken
    /// instead. A bearer token must carry `iss` [`STAFF_ISSUER`] and `aud`
    /// [`STAFF_AUDIENCE`], as `invigil token` mints them.
    pub fn staff(&self, headers: &HeaderMap, roles: &[StaffRole]) -> Result<StaffClaims, ApiError> {
        let session = match &self.sessions {
            Some(sessions) if !headers.contains_key(axum::http::header::AUTHORIZATION) => sessions.read(headers),
            _ => None,
        };
        let claims: serde_json::Value = match session {
            Some(Ok(session)) => serde_json::to_value(session.staff).expect("staff claims serialise"),
            Some(Err(why)) => return Err(ApiError::unauthorized(why)),
            None => {
                let claims: serde_json::Value = self.verify(headers).map_err(|e| match &self.sessions {
                    Some(_) if !headers.contains_key(axum::http::header::AUTHORIZATION) => ApiError::unauthorized(
                        "not signed in: sign in at /auth/oidc/login, or send `Authorization: Bearer <token>`",
                    ),
                    _ => e,
                })?;
                if claims.get("role").is_some() {
                    check_staff_token(&claims)?;
                }
                claims
            }
        };
        let names: Vec<&str> = roles.iter().map(|r| role_name(*r)).collect();
        let article = if names.first().is_some_and(|n| n.starts_with(['a', 'e', 'i', 'o', 'u'])) { "an" } else { "a" };
        let needs =
            || ApiError::new(ErrorCode::Forbidden, format!("this route needs {article} {} token", names.join(" or ")));
        if claims.get("role").is_none() {
            return Err(needs());
        }
        let claims: StaffClaims =
            serde_json::from_value(claims).map_err(|_| ApiError::unauthorized("token claims are malformed"))?;
        if !roles.contains(&claims.role) {
            return Err(needs());
        }
        Ok(claims)
    }

    /// [`Verifier::staff`], and the token must cover `test`.
    pub fn staff_of_test(
        &self,
        headers: &HeaderMap,
        test: &TestId,
        roles: &[StaffRole],
    ) -> Result<StaffClaims, ApiError> {
        let claims = self.staff(headers, roles)?;
        if !claims.may_see(test) {
            return Err(ApiError::new(ErrorCode::Forbidden, format!("this token does not cover test {test}")));
        }
        Ok(claims)
    }
}

/// A staff bearer token names this deployment as its issuer and staff as
/// its audience.
fn check_staff_token(claims: &serde_json::Value) -> Result<(), ApiError> {
    if claims.get("iss").and_then(|v| v.as_str()) != Some(STAFF_ISSUER) {
        return Err(ApiError::unauthorized(format!(
            "a staff token must carry iss {STAFF_ISSUER:?}: mint it with `invigil token`"
        )));
    }
    let audience = claims.get("aud");
    let addressed = match audience {
        Some(serde_json::Value::String(one)) => one == STAFF_AUDIENCE,
        Some(serde_json::Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(STAFF_AUDIENCE)),
        _ => false,
    };
    if !addressed {
        return Err(ApiError::unauthorized(format!(
            "a staff token must carry aud {STAFF_AUDIENCE:?}: mint it with `invigil token`"
        )));
    }
    Ok(())
}

fn role_name(role: StaffRole) -> &'static str {
    match role {
        StaffRole::Proctor => "proctor",
        StaffRole::Reviewer => "reviewer",
        StaffRole::Admin => "admin",
    }
}

/// 64 hex digits from two random v4 UUIDs (244 random bits): nonces,
/// states, PKCE verifiers and CSRF tokens.
pub fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

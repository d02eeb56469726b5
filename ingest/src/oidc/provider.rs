//! The OpenID provider as a client sees it: its discovery document (read
//! when first needed, kept an hour), the authorisation URL with PKCE, the
//! code exchange, and the id_token's checks (signature by the provider's
//! key set, `iss`, `aud`/`azp`, `exp`/`iat`, `nonce`).

use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::OidcSettings;
use crate::lti::claims::Audience;
use crate::lti::platform_keys::PlatformKeys;

/// How long a discovery document is used before it is read again.
const DISCOVERY_FRESH_FOR: Duration = Duration::from_secs(3600);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew allowed on the id_token's `iat` and `exp`.
const LEEWAY_S: u64 = 60;

/// What we use of `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

pub struct Provider {
    settings: OidcSettings,
    client_secret: Option<String>,
    http: reqwest::Client,
    discovery: Mutex<Option<(Discovery, Instant)>>,
    keys: PlatformKeys,
}

/// Why a sign-in failed, as the page says it: `status` 400 for what the
/// browser brought, 401 for a token that does not check out, 502 for a
/// provider we could not use.
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub reason: String,
}

impl Failure {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }
}

#[derive(Deserialize)]
struct TokenReply {
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The id_token claims we check by hand (the rest stay in the JSON).
#[derive(Deserialize)]
struct IdTokenCheck {
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

impl Provider {
    pub fn new(settings: OidcSettings, client_secret: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default TLS");
        Self { settings, client_secret, http, discovery: Mutex::new(None), keys: PlatformKeys::default() }
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The provider's endpoints, read from its discovery document when
    /// first needed and every hour after. Its `issuer` must be the one
    /// configured, exactly (OpenID Connect Discovery 1.0, section 4.3).
    pub async fn discovery(&self) -> Result<Discovery, Failure> {
        let mut cached = self.discovery.lock().await;
        if let Some((discovery, at)) = cached.as_ref() {
            if at.elapsed() < DISCOVERY_FRESH_FOR {
                return Ok(discovery.clone());
            }
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer.trim_end_matches('/'));
        let unusable = |why: String| Failure::new(502, format!("the sign-in provider's configuration at {url} {why}"));
        let response = self.http.get(&url).send().await.map_err(|e| unusable(format!("could not be read: {e}")))?;
        if !response.status().is_success() {
            return Err(unusable(format!("answered HTTP {}", response.status().as_u16())));
        }
        let discovery: Discovery =
            response.json().await.map_err(|e| unusable(format!("is not a discovery document: {e}")))?;
        if discovery.issuer != self.settings.issuer {
            return Err(unusable(format!(
                "names the issuer {:?}, not the configured {:?}",
                discovery.issuer, self.settings.issuer
            )));
        }
        *cached = Some((discovery.clone(), Instant::now()));
        Ok(discovery)
    }

    /// Where to send the browser: an authorisation request for `login`
    /// (the code flow, PKCE with S256).
    pub async fn authorize_url(&self, login: &super::session::LoginState) -> Result<String, Failure> {
        let discovery = self.discovery().await?;
        let scopes = self.settings.scopes.join(" ");
        let query = [
            ("response_type", "code"),
            ("client_id", self.settings.client_id.as_str()),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("scope", scopes.as_str()),
            ("state", login.state.as_str()),
            ("nonce", login.nonce.as_str()),
            ("code_challenge", &pkce_challenge(&login.verifier)),
            ("code_challenge_method", "S256"),
        ];
        let separator = if discovery.authorization_endpoint.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{}{separator}{}",
            discovery.authorization_endpoint,
            serde_urlencoded::to_string(query).expect("strings encode")
        ))
    }

    /// Trades `code` for the id_token (with the PKCE `verifier`, and the
    /// client secret by HTTP Basic when there is one), and checks it: the
    /// staff member's claims.
    pub async fn sign_in(&self, code: &str, verifier: &str, nonce: &str) -> Result<serde_json::Value, Failure> {
        let discovery = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("code_verifier", verifier),
        ];
        let mut request = self.http.post(&discovery.token_endpoint);
        match &self.client_secret {
            Some(secret) => {
                // RFC 6749 2.3.1: both form-encoded, then Basic.
                let user = form_encode(&self.settings.client_id);
                let pass = form_encode(secret);
                let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            None => form.push(("client_id", self.settings.client_id.as_str())),
        }
        let response = request.form(&form).send().await.map_err(|e| {
            Failure::new(502, format!("the sign-in provider's token endpoint could not be reached: {e}"))
        })?;
        let status = response.status();
        let reply: TokenReply = response.json().await.map_err(|_| {
            Failure::new(
                502,
                format!("the sign-in provider's token endpoint answered HTTP {} without JSON", status.as_u16()),
            )
        })?;
        if let Some(error) = reply.error {
            let detail = reply.error_description.map(|d| format!(" ({d})")).unwrap_or_default();
            let hint = if error == "invalid_grant" {
                ": the sign-in code was already used or has expired; sign in again"
            } else {
                ""
            };
            return Err(Failure::new(400, format!("the sign-in provider refused the code: {error}{detail}{hint}")));
        }
        let id_token = reply.id_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Failure::new(502, "the sign-in provider sent no id_token (is the openid scope granted to this client?)")
        })?;
        self.check_id_token(&discovery, &id_token, nonce).await
    }

    async fn check_id_token(
        &self,
        discovery: &Discovery,
        raw: &str,
        nonce: &str,
    ) -> Result<serde_json::Value, Failure> {
        let bad = |reason: String| Failure::new(401, reason);
        let header = jsonwebtoken::decode_header(raw).map_err(|_| bad("the id_token is not a JWT".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(bad(format!("the id_token is signed with {:?}; invigil checks RS256", header.alg)));
        }
        // A provider with one key may name none (OpenID Connect Core 10.1).
        let key = self
            .keys
            .key(&discovery.jwks_uri, header.kid.as_deref())
            .await
            .map_err(|e| bad(format!("the id_token's key cannot be checked: {e}")))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_S;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims: serde_json::Value = jsonwebtoken::decode(raw, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                bad(match e.kind() {
                    ErrorKind::InvalidSignature => "the id_token's signature is not the provider's".to_owned(),
                    ErrorKind::ExpiredSignature => "the id_token has expired".to_owned(),
                    ErrorKind::ImmatureSignature => "the id_token is not valid yet".to_owned(),
                    ErrorKind::InvalidIssuer => format!("the id_token's issuer is not {:?}", self.settings.issuer),
                    ErrorKind::InvalidAudience => {
                        format!("the id_token is addressed to another client, not {:?}", self.settings.client_id)
                    }
                    ErrorKind::MissingRequiredClaim(claim) => format!("the id_token has no {claim}"),
                    _ => format!("the id_token is invalid ({e})"),
                })
            })?
            .claims;
        let check: IdTokenCheck = serde_json::from_value(claims.clone())
            .map_err(|e| bad(format!("the id_token's claims are malformed: {e}")))?;
        if check.aud.is_several() && check.azp.as_deref() != Some(self.settings.client_id.as_str()) {
            return Err(bad("the id_token has several audiences and its azp is not this client".into()));
        }
        if check.nonce.as_deref() != Some(nonce) {
            return Err(bad("the id_token's nonce is not the one this sign-in sent".into()));
        }
        Ok(claims)
    }
}

/// PKCE S256: BASE64URL(SHA-256(verifier)), no padding (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn form_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).expect("a string encodes").trim_start_matches('=').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("a b:c/é"), "a+b%3Ac%2F%C3%A9");
        assert_eq!(form_encode("plain-id_1"), "plain-id_1");
    }
}

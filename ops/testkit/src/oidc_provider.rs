//! An OpenID provider for sign-in tests, in process: discovery, its key
//! set, an authorisation endpoint that signs in whoever the test names
//! next (a 302 back with a code), and a token endpoint that checks what a
//! real one checks — the client's secret, the redirect URI, a code used
//! once, PKCE's verifier against the challenge — and then issues an
//! id_token the test may spoil (another audience, expired, another nonce
//! or issuer, another key) to see each refusal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use invigil_ingest::lti::ToolKeys;
use serde_json::{json, Value};

/// How the next id_token is spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spoil {
    #[default]
    Nothing,
    OtherAudience,
    Expired,
    OtherNonce,
    OtherIssuer,
    OtherKey,
}

/// A code handed out, until it is used.
struct Grant {
    claims: Value,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Shared {
    keys: ToolKeys,
    stranger: ToolKeys,
    issuer: String,
    client_id: String,
    client_secret: String,
    next_user: Mutex<Value>,
    spoil: Mutex<Spoil>,
    codes: Mutex<HashMap<String, Grant>>,
    /// The authorisation requests' queries, in order.
    requests: Mutex<Vec<HashMap<String, String>>>,
}

pub struct MockProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl MockProvider {
    /// A provider on a free loopback port (its issuer is its base URL).
    pub async fn start() -> Self {
        let keys = ToolKeys::from_pem(invigil_ingest::lti::generate_pem().unwrap().as_bytes()).unwrap();
        let stranger = ToolKeys::from_pem(invigil_ingest::lti::generate_pem().unwrap().as_bytes()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            keys,
            stranger,
            issuer: issuer.clone(),
            client_id: "invigil-dashboards".into(),
            client_secret: "s3cret with spaces & symbols".into(),
            next_user: Mutex::new(json!({"sub": "nobody"})),
            spoil: Mutex::new(Spoil::Nothing),
            codes: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(|State(s): State<Arc<Shared>>| async move { Json(s.keys.jwks()) }))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockProvider {
            issuer,
            client_id: shared.client_id.clone(),
            client_secret: shared.client_secret.clone(),
            shared,
            task,
        }
    }

    /// The next sign-in is this user (`sub` and any other claims).
    pub fn sign_in_next(&self, claims: Value) {
        *self.shared.next_user.lock().unwrap() = claims;
    }

    /// The next id_token issued is spoiled this way (once).
    pub fn spoil_next(&self, spoil: Spoil) {
        *self.shared.spoil.lock().unwrap() = spoil;
    }

    /// The authorisation requests seen, in order.
    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let base = &shared.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn authorize(State(shared): State<Arc<Shared>>, Query(query): Query<HashMap<String, String>>) -> Response {
    shared.requests.lock().unwrap().push(query.clone());
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    if field("client_id") != shared.client_id || field("code_challenge_method") != "S256" {
        return (StatusCode::BAD_REQUEST, "unknown client or no S256 challenge").into_response();
    }
    let code = invigil_ingest::auth::random_token();
    let grant = Grant {
        claims: shared.next_user.lock().unwrap().clone(),
        nonce: field("nonce"),
        challenge: field("code_challenge"),
        redirect_uri: field("redirect_uri"),
    };
    shared.codes.lock().unwrap().insert(code.clone(), grant);
    let back = format!(
        "{}?{}",
        field("redirect_uri"),
        serde_urlencoded::to_string([("code", code.as_str()), ("state", &field("state"))]).unwrap()
    );
    Redirect::to(&back).into_response()
}

fn refuse(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    // Client authentication: HTTP Basic, each part form-encoded.
    let expected = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        serde_urlencoded::to_string([("", &shared.client_id)]).unwrap().trim_start_matches('='),
        serde_urlencoded::to_string([("", &shared.client_secret)]).unwrap().trim_start_matches('=')
    ));
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if basic != format!("Basic {expected}") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    if field("grant_type") != "authorization_code" {
        return refuse("unsupported_grant_type", "only authorization_code");
    }
    let Some(grant) = shared.codes.lock().unwrap().remove(&field("code")) else {
        return refuse("invalid_grant", "unknown, used or expired code");
    };
    if grant.redirect_uri != field("redirect_uri") {
        return refuse("invalid_grant", "redirect_uri differs from the authorisation request's");
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, field("code_verifier").as_bytes());
    if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()) != grant.challenge {
        return refuse("invalid_grant", "the PKCE verifier does not match the challenge");
    }
    let spoil = std::mem::take(&mut *shared.spoil.lock().unwrap());
    let now = invigil_schemas::clock::now_ms() / 1000;
    let mut claims = grant.claims.clone();
    claims["iss"] = shared.issuer.clone().into();
    claims["aud"] = shared.client_id.clone().into();
    claims["iat"] = now.into();
    claims["exp"] = (now + 300).into();
    claims["nonce"] = grant.nonce.clone().into();
    match spoil {
        Spoil::Nothing | Spoil::OtherKey => {}
        Spoil::OtherAudience => claims["aud"] = "another-app".into(),
        Spoil::Expired => {
            claims["iat"] = (now - 3600).into();
            claims["exp"] = (now - 600).into();
        }
        Spoil::OtherNonce => claims["nonce"] = "a-nonce-from-elsewhere".into(),
        Spoil::OtherIssuer => claims["iss"] = "https://idp.elsewhere.example".into(),
    }
    let signer = if spoil == Spoil::OtherKey { &shared.stranger } else { &shared.keys };
    Json(json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": signer.sign(&claims)}))
        .into_response()
}

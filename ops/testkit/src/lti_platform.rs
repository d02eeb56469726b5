//! A learning platform for LTI tests, in process: it has its own RSA key
//! and publishes it at `/jwks`, signs id_tokens for the launches a test
//! asks for, takes the tool's `LtiStartAssessment` at `/start` (kept for
//! the test to read), and answers the tool's login redirect at `/auth`
//! with the auto-posting form a real platform sends (its launch claims set
//! by the test beforehand).

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use invigil_schemas::lti::LtiPlatform;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The message type's claim, and the other names a test sets most.
pub const MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const SESSION_DATA: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/session_data";
pub const ATTEMPT_NUMBER: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/attempt_number";
pub const START_ASSESSMENT_URL: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/start_assessment_url";
pub const RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";

struct Shared {
    key: EncodingKey,
    kid: String,
    jwks: JwkSet,
    /// Claims `/auth` signs for the next browser launch (nonce added).
    next_launch: Mutex<Option<Value>>,
    /// The JWTs posted to `/start`, in order.
    started: Mutex<Vec<String>>,
}

pub struct MockPlatform {
    pub base: String,
    pub issuer: String,
    pub client_id: String,
    pub deployment_id: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl MockPlatform {
    /// A platform on a free loopback port (its issuer is its base URL).
    pub async fn start() -> Self {
        let pem = invigil_ingest::lti::generate_pem().unwrap();
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).unwrap();
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            key,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
            next_launch: Mutex::new(None),
            started: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/jwks", get(|State(s): State<Arc<Shared>>| async move { Json(s.jwks.clone()) }))
            .route("/start", post(take_start))
            .route("/auth", get(authorize))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockPlatform {
            issuer: base.clone(),
            client_id: "invigil-tool".into(),
            deployment_id: "dep-1".into(),
            base,
            shared,
            task,
        }
    }

    /// How invigil's configuration registers this platform as `name`.
    pub fn registration(&self, name: &str) -> LtiPlatform {
        LtiPlatform {
            name: name.into(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            auth_url: format!("{}/auth", self.base),
            token_url: format!("{}/token", self.base),
            jwks_url: format!("{}/jwks", self.base),
            deployment_ids: vec![self.deployment_id.clone()],
        }
    }

    /// `claims` signed with this platform's key (its `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.shared.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.shared.key).unwrap()
    }

    /// A valid `LtiStartProctoring` id_token's claims for `sub`, `nonce`.
    pub fn start_proctoring(&self, sub: &str, nonce: &str) -> Value {
        let now = crate::now_ms() / 1000;
        json!({
            "iss": self.issuer, "aud": self.client_id, "sub": sub, "nonce": nonce,
            "iat": now, "exp": now + 300, "name": "Asha Rao",
            MESSAGE_TYPE: "LtiStartProctoring",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            DEPLOYMENT_ID: self.deployment_id,
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": "",
            RESOURCE_LINK: { "id": "quiz-7", "title": "Chemistry midterm" },
            "https://purl.imsglobal.org/spec/lti/claim/roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            START_ASSESSMENT_URL: format!("{}/start", self.base),
            SESSION_DATA: "opaque-session-42",
            ATTEMPT_NUMBER: 2,
            "https://purl.imsglobal.org/spec/lti-ap/claim/acs": {
                "assessment_control_url": format!("{}/acs", self.base),
                "actions": ["pause", "resume", "terminate", "update", "flag"]
            }
        })
    }

    /// What `/auth` will sign (with the login's nonce) for the next launch.
    pub fn set_next_launch(&self, claims: Value) {
        *self.shared.next_launch.lock().unwrap() = Some(claims);
    }

    /// The `LtiStartAssessment` JWTs the tool posted to `/start`.
    pub fn started(&self) -> Vec<String> {
        self.shared.started.lock().unwrap().clone()
    }
}

impl Drop for MockPlatform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn take_start(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Html<String> {
    let jwt = form.get("JWT").cloned().unwrap_or_default();
    shared.started.lock().unwrap().push(jwt);
    Html("<!doctype html><title>Assessment</title><h1 id=\"assessment-started\">The assessment has started</h1>".into())
}

/// The platform's answer to the tool's login redirect: the launch's
/// id_token, posted by the browser to `redirect_uri` with the tool's state.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Html<String> {
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    let mut claims = shared.next_launch.lock().unwrap().clone().unwrap_or_else(|| json!({}));
    claims["nonce"] = Value::String(get("nonce"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(shared.kid.clone());
    let id_token = jsonwebtoken::encode(&header, &claims, &shared.key).unwrap();
    let attr = |v: &str| v.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Html(format!(
        "<!doctype html><title>Launching</title><form id=\"launch\" method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"id_token\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\"></form>\
         <script>document.getElementById('launch').submit()</script>",
        attr(&get("redirect_uri")),
        attr(&id_token),
        attr(&get("state"))
    ))
}

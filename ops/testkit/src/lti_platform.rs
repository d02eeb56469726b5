//! A learning platform for LTI tests, in process: it has its own RSA key
//! and publishes it at `/jwks`, signs id_tokens for the launches a test
//! asks for, takes the tool's `LtiStartAssessment` at `/start` (kept for
//! the test to read), and answers the tool's login redirect at `/auth`
//! with the auto-posting form a real platform sends (its launch claims set
//! by the test beforehand). As an Assessment Control Service it issues
//! tokens at `/token` to a client assertion signed by the tool's published
//! key, and takes controls at `/acs` (kept for the test; statuses to fail
//! with first can be queued).

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use invigil_ingest::lti::ToolKeys;
use invigil_schemas::lti::LtiPlatform;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

/// The message type's claim, and the other names a test sets most.
pub const MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const SESSION_DATA: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/session_data";
pub const ATTEMPT_NUMBER: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/attempt_number";
pub const START_ASSESSMENT_URL: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/start_assessment_url";
pub const RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";

struct Shared {
    /// The platform's key: it signs and publishes like the tool's.
    keys: ToolKeys,
    /// Claims `/auth` signs for the next browser launch (nonce added).
    next_launch: Mutex<Option<Value>>,
    /// The JWTs posted to `/start`, in order.
    started: Mutex<Vec<String>>,
    /// Where the tool publishes its keys (set by the test).
    tool_jwks: Mutex<Option<String>>,
    /// Access tokens issued; controls taken; statuses `/acs` answers first.
    tokens: Mutex<Vec<String>>,
    controls: Mutex<Vec<Value>>,
    fail_next: Mutex<Vec<u16>>,
    token_url: Mutex<String>,
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
        let keys = ToolKeys::from_pem(pem.as_bytes()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            keys,
            next_launch: Mutex::new(None),
            started: Mutex::new(Vec::new()),
            tool_jwks: Mutex::new(None),
            tokens: Mutex::new(Vec::new()),
            controls: Mutex::new(Vec::new()),
            fail_next: Mutex::new(Vec::new()),
            token_url: Mutex::new(format!("{base}/token")),
        });
        let app = Router::new()
            .route("/jwks", get(|State(s): State<Arc<Shared>>| async move { Json(s.keys.jwks()) }))
            .route("/start", post(take_start))
            .route("/auth", get(authorize))
            .route("/token", post(issue_token))
            .route("/acs", post(take_control))
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
            settings_from_platform: false,
        }
    }

    /// `claims` signed with this platform's key (its `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        self.shared.keys.sign(claims)
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

    /// Where `/token` fetches the tool's keys to check its assertions.
    pub fn trust_tool_keys(&self, jwks_url: &str) {
        *self.shared.tool_jwks.lock().unwrap() = Some(jwks_url.to_owned());
    }

    /// `/acs` answers these statuses (in order) before it takes a control.
    pub fn fail_next(&self, statuses: &[u16]) {
        *self.shared.fail_next.lock().unwrap() = statuses.to_vec();
    }

    /// The access tokens `/token` issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens.lock().unwrap().len()
    }

    /// Forgets every access token, as if they had been revoked.
    pub fn revoke_tokens(&self) {
        self.shared.tokens.lock().unwrap().clear();
    }

    /// The controls `/acs` took, as their JSON bodies.
    pub fn controls(&self) -> Vec<Value> {
        self.shared.controls.lock().unwrap().clone()
    }
}

/// The client-credentials grant with a JWT assertion: the assertion must be
/// signed by a key the tool publishes, by and about the tool's client id,
/// for this endpoint, and ask for the control scope.
async fn issue_token(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (axum::http::StatusCode, Json<Value>) {
    use axum::http::StatusCode;
    let refuse =
        |why: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_client", "error_description": why})));
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials"
        || field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    {
        return refuse("wrong grant or assertion type");
    }
    if !field("scope").split(' ').any(|s| s == "https://purl.imsglobal.org/spec/lti-ap/scope/control.all") {
        return refuse("no control scope");
    }
    let Some(jwks_url) = shared.tool_jwks.lock().unwrap().clone() else { return refuse("no tool keys trusted") };
    let Ok(jwks) = reqwest::get(&jwks_url).await.unwrap().json::<JwkSet>().await else { return refuse("tool keys") };
    let assertion = field("client_assertion");
    let Some(kid) = jsonwebtoken::decode_header(assertion).ok().and_then(|h| h.kid) else { return refuse("no kid") };
    let Some(jwk) = jwks.find(&kid) else { return refuse("unknown kid") };
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    let token_url = shared.token_url.lock().unwrap().clone();
    validation.set_audience(&[&token_url]);
    validation.set_issuer(&["invigil-tool"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let Ok(data) = jsonwebtoken::decode::<Value>(assertion, &key, &validation) else { return refuse("bad assertion") };
    if data.claims["sub"] != "invigil-tool" || !data.claims["jti"].is_string() {
        return refuse("sub or jti");
    }
    let token = format!("tok-{}", crate::now_ms());
    shared.tokens.lock().unwrap().push(token.clone());
    (
        StatusCode::OK,
        Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600,
            "scope": "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"})),
    )
}

/// A control: a bearer token this platform issued, the control media type,
/// the required fields; the attempt's new status.
async fn take_control(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    if let Some(status) = {
        let mut fail = shared.fail_next.lock().unwrap();
        (!fail.is_empty()).then(|| fail.remove(0))
    } {
        return (StatusCode::from_u16(status).unwrap(), "injected failure".into());
    }
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|b| shared.tokens.lock().unwrap().iter().any(|t| t == b)) {
        return (StatusCode::UNAUTHORIZED, "unknown token".into());
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/vnd.ims.lti-ap.v1.control+json") {
        return (StatusCode::NOT_ACCEPTABLE, "wrong media type".into());
    }
    let Ok(control) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON".into());
    };
    for (pointer, what) in [
        ("/user/iss", "user.iss"),
        ("/user/sub", "user.sub"),
        ("/resource_link/id", "resource_link.id"),
        ("/attempt_number", "attempt_number"),
        ("/action", "action"),
        ("/incident_time", "incident_time"),
    ] {
        if control.pointer(pointer).is_none() {
            return (StatusCode::BAD_REQUEST, format!("missing {what}"));
        }
    }
    let status = match control["action"].as_str().unwrap_or_default() {
        "pause" => "paused",
        "terminate" => "terminated",
        _ => "running",
    };
    let mut reply = json!({ "status": status });
    if control["action"] == "update" {
        reply["extra_time"] = control["extra_time"].clone();
    }
    shared.controls.lock().unwrap().push(control);
    (StatusCode::OK, reply.to_string())
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
    let id_token = shared.keys.sign(&claims);
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

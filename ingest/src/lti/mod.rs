//! invigil as an LTI 1.3 tool, for learning platforms (LMSs): a platform
//! launches a proctored attempt with no host code. Off unless `[lti]
//! enabled`; the platforms that may launch are registered in the
//! configuration document (`lti_platforms`, [`invigil_schemas::lti`]).
//!
//! Routes: `/lti/login` (third-party login initiation, GET or POST),
//! `/lti/launch` (the platform's id_token), `/lti/jwks` (our public keys),
//! `/lti/start-assessment` (the proctoring page's `LtiStartAssessment`),
//! `/lti/proctor.js` (that page's script), and `/api/v1/lti/control` (a
//! proctor's pause, resume, terminate, extra time or flag, sent to the
//! platform's Assessment Control Service). The flow, from LTI Proctoring
//! Services 1.0: the platform sends `LtiStartProctoring`; our page runs the
//! SDK's checks; then it posts a signed `LtiStartAssessment` to the
//! platform's `start_assessment_url` in a frame under the SDK; at the end
//! the platform sends `LtiEndAssessment`, whose page stops the SDK. A plain
//! `LtiResourceLinkRequest` (platforms without the proctoring extension)
//! gets the same page, proctoring only.
//!
//! Known limit: a used nonce is remembered by the replica that took the
//! launch, for the login's ten minutes; behind several replicas without
//! affinity a replay to another replica within that time is not caught
//! (the platform's id_token still has to verify and be current).

pub mod acs;
pub mod claims;
mod control;
mod keys;
mod launch;
mod pages;
pub(crate) mod platform_keys;
mod platform_settings;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use claims::{Acs, AttemptNumber, IdToken, ResourceLink, StartAssessment};
pub use keys::{generate_pem, KeyError, ToolKeys};
pub use launch::{candidate_id, test_id, CANDIDATE_AUDIENCE};
pub(crate) use pages::{escape as escape_html, html as html_page};

use crate::state::AppState;

/// `[lti]` in the ingest settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LtiSettings {
    pub enabled: bool,
    /// The tool's RSA private keys (PEM), newest first: the first signs,
    /// all are published at `/lti/jwks`.
    pub key_files: Vec<PathBuf>,
    /// This server's public base URL (`https://proctor.example.edu`): a
    /// launch's `target_link_uri` must lie under it. Unset: the host the
    /// login request came to.
    pub public_url: Option<String>,
    /// How long a launch's candidate token and proctoring ticket last.
    pub token_hours: u32,
    /// Where the proctoring page loads the SDK from. Unset: this server's
    /// `/sdk/invigil.js` (which needs `sdk_dir`).
    pub sdk_url: Option<String>,
}

impl Default for LtiSettings {
    fn default() -> Self {
        Self { enabled: false, key_files: Vec::new(), public_url: None, token_hours: 6, sdk_url: None }
    }
}

/// What the LTI routes share.
pub struct Lti {
    pub keys: Arc<ToolKeys>,
    acs: acs::AcsClient,
    platform_keys: platform_keys::PlatformKeys,
    /// Nonces of launches taken, until their login's state expires.
    used_nonces: Mutex<HashMap<String, i64>>,
    settings: LtiSettings,
}

impl Lti {
    pub fn new(settings: LtiSettings, keys: Arc<ToolKeys>) -> Self {
        let acs = acs::AcsClient::new(Arc::clone(&keys));
        Self { keys, acs, platform_keys: Default::default(), used_nonces: Mutex::new(HashMap::new()), settings }
    }
}

/// The LTI routes (served whether or not LTI is on: off, each says so).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/lti/login", get(launch::get_login).post(launch::post_login))
        .route("/lti/launch", post(launch::post_launch))
        .route("/lti/start-assessment", post(launch::post_start_assessment))
        .route("/lti/jwks", get(get_jwks))
        .route("/lti/proctor.js", get(get_proctor_js))
        .route("/api/v1/lti/control", post(control::post_control))
}

async fn get_jwks(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> axum::response::Response {
    match &state.lti {
        Some(lti) => ([(header::CACHE_CONTROL, "max-age=300")], Json(lti.keys.jwks())).into_response(),
        None => {
            crate::error::ApiError::new(invigil_schemas::api::ErrorCode::NotFound, "LTI is not enabled on this server")
                .into_response()
        }
    }
}

async fn get_proctor_js() -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")],
        pages::PROCTOR_JS,
    )
        .into_response()
}

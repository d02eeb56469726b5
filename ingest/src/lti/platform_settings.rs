//! A platform's `proctoring_settings` into the test's config layer.
//!
//! LTI proctoring lets the platform pass the tool settings an instructor
//! chose (`proctoring_settings.data`, a string the spec leaves to the
//! tool). invigil reads it as a JSON object of its own test layer — the
//! same merge patch an admin writes under `tests` — so an LMS can set, say,
//! `{"face_check": {"mode": "identity"}, "recording": {"mode": "video"}}`
//! for the test its resource link makes. Only a platform registered with
//! `settings_from_platform` may; for the others the claim is ignored.
//!
//! The layer is written to the configuration document (by `lti:<name>`, in
//! its history like any edit) only when it differs from the one in force,
//! so the thousands of launches of one exam write once. Settings that are
//! not an object, or that the document's validation refuses, change
//! nothing: the launch goes on under the layers in force, and the problem is
//! logged with its field paths for the platform's administrator.

use std::sync::Arc;

use invigil_schemas::ids::TestId;
use serde_json::Value;

use super::launch::Launch;
use crate::config_store::{ConfigError, Write};
use crate::state::AppState;

/// Applies `launch`'s settings to its test when its platform may set them.
pub(super) async fn apply(state: &Arc<AppState>, launch: &Launch) {
    if !launch.platform.settings_from_platform {
        return;
    }
    let Some(data) = launch.token.proctoring_settings.as_ref().and_then(|s| s.data.as_deref()) else { return };
    let platform = launch.platform.name.clone();
    let layer = match serde_json::from_str::<Value>(data) {
        Ok(layer @ Value::Object(_)) => layer,
        _ => {
            tracing::warn!(%platform, test = %launch.test, "proctoring_settings.data is not a JSON object of test settings; ignored");
            return;
        }
    };
    if state.config.current().document.tests.get(&launch.test) == Some(&layer) {
        return;
    }
    let (state, test) = (Arc::clone(state), launch.test.clone());
    let written = tokio::task::spawn_blocking(move || write_layer(&state, &test, layer, &platform)).await;
    if let Err(error) = written {
        tracing::error!(%error, "writing a platform's test settings panicked");
    }
}

/// Installs `layer` as `test`'s, based on the version read (a write that
/// raced another is tried once more on the newer document).
fn write_layer(state: &AppState, test: &TestId, layer: Value, platform: &str) {
    for _ in 0..2 {
        let current = state.config.current();
        if current.document.tests.get(test) == Some(&layer) {
            return;
        }
        let mut document = (*current.document).clone();
        document.tests.insert(test.clone(), layer.clone());
        let write = Write { if_version: Some(current.version), by: format!("lti:{platform}") };
        match state.config.replace(document, write) {
            Ok(version) => {
                tracing::info!(%platform, %test, version, "the platform's proctoring settings are the test's layer");
                return;
            }
            Err(ConfigError::Stale { .. }) => continue,
            Err(ConfigError::Invalid(problems)) => {
                let fields: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
                tracing::warn!(%platform, %test, problems = ?fields, "the platform's proctoring settings were refused; the layers in force stay");
                return;
            }
            Err(error) => {
                tracing::warn!(%platform, %test, %error, "the platform's proctoring settings could not be written");
                return;
            }
        }
    }
}

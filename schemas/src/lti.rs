//! LTI 1.3 platform registrations: the learning platforms (LMSs) allowed to
//! launch invigil, as the configuration document lists them
//! (`lti_platforms`). A registration is what the platform's administrator
//! and ours exchange once: the platform's issuer and the client id it gave
//! us, its endpoints, and the deployments we accept.

use serde::{Deserialize, Serialize};

use crate::validate::{FieldProblem, ProblemCode};

/// One platform, as its administrator registered invigil.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtiPlatform {
    /// A short name of ours for the platform (`moodle-main`): it prefixes
    /// the candidate and test ids its launches make, so two platforms'
    /// users never share an id.
    pub name: String,
    /// The platform's issuer (`iss` of its tokens), exactly.
    pub issuer: String,
    /// The client id the platform gave invigil (`aud` of its tokens).
    pub client_id: String,
    /// The platform's OIDC authorisation endpoint, where a login goes on.
    pub auth_url: String,
    /// The platform's OAuth 2 token endpoint (the Assessment Control Service's tokens).
    pub token_url: String,
    /// Where the platform publishes its signing keys (a JWKS).
    pub jwks_url: String,
    /// The deployments of invigil on the platform that may launch.
    pub deployment_ids: Vec<String>,
    /// The platform sets its tests' proctoring: a launch's
    /// `proctoring_settings` whose `data` is a JSON object (a test layer,
    /// as in `tests`) becomes the test's layer when it differs. Off (the
    /// default), such settings are ignored and the document's layers rule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settings_from_platform: bool,
}

/// The longest name: it prefixes ids of at most 128 bytes.
pub const MAX_NAME_LEN: usize = 32;

/// The problems of a document's `lti_platforms`, with their paths.
pub fn check(platforms: &[LtiPlatform]) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let mut seen_names = std::collections::BTreeSet::new();
    let mut seen_clients = std::collections::BTreeSet::new();
    for (i, p) in platforms.iter().enumerate() {
        let mut problem = |field: &str, message: String| {
            problems.push(FieldProblem {
                field: format!("lti_platforms[{i}].{field}"),
                code: ProblemCode::InvalidValue,
                message,
            });
        };
        let name_ok = !p.name.is_empty()
            && p.name.len() <= MAX_NAME_LEN
            && p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            problem("name", format!("is {:?}; use 1 to {MAX_NAME_LEN} letters, digits, - and _", p.name));
        } else if !seen_names.insert(p.name.as_str()) {
            problem("name", format!("{:?} names two platforms", p.name));
        }
        if p.issuer.trim().is_empty() {
            problem("issuer", "is empty".into());
        }
        if p.client_id.trim().is_empty() {
            problem("client_id", "is empty".into());
        } else if !seen_clients.insert((p.issuer.as_str(), p.client_id.as_str())) {
            problem("client_id", "this issuer and client id are registered twice".into());
        }
        for (field, url) in [("auth_url", &p.auth_url), ("token_url", &p.token_url), ("jwks_url", &p.jwks_url)] {
            if let Err(why) = check_url(url) {
                problem(field, why);
            }
        }
        if p.deployment_ids.is_empty() {
            problem("deployment_ids", "is empty: no deployment could launch".into());
        }
        for (j, id) in p.deployment_ids.iter().enumerate() {
            if id.trim().is_empty() {
                problem(&format!("deployment_ids[{j}]"), "is empty".into());
            }
        }
    }
    problems
}

/// An endpoint must be HTTPS; plain HTTP only on a loopback address (a
/// platform on the same machine, as in tests), never over a network.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") && url.len() > "https://".len() {
        return Ok(());
    }
    let loopback =
        ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]:"];
    if loopback.iter().any(|prefix| url.starts_with(prefix)) {
        return Ok(());
    }
    Err(format!("is {url:?}; must be an https:// URL (http:// only on a loopback address)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(name: &str) -> LtiPlatform {
        LtiPlatform {
            name: name.into(),
            issuer: "https://lms.example.edu".into(),
            client_id: format!("client-{name}"),
            auth_url: "https://lms.example.edu/auth".into(),
            token_url: "https://lms.example.edu/token".into(),
            jwks_url: "https://lms.example.edu/jwks".into(),
            deployment_ids: vec!["1".into()],
            settings_from_platform: false,
        }
    }

    #[test]
    fn registrations_are_checked_field_by_field() {
        assert_eq!(check(&[platform("a"), platform("b")]), []);
        let mut bad = platform("bad name");
        bad.auth_url = "http://lms.example.edu/auth".into();
        bad.jwks_url = "http://127.0.0.1:9/jwks".into();
        bad.deployment_ids = vec![];
        let mut twin = platform("a");
        twin.client_id = "client-a".into();
        let fields: Vec<String> = check(&[platform("a"), bad, twin]).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "lti_platforms[1].name",
                "lti_platforms[1].auth_url",
                "lti_platforms[1].deployment_ids",
                "lti_platforms[2].name",
                "lti_platforms[2].client_id"
            ]
        );
    }
}

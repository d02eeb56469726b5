//! Where notices go: the endpoints of a deployment, each with its URL, its
//! secret, the notice types and tests it subscribed to, and how hard to
//! try. Read from the `[[endpoint]]` tables of the file given to
//! `invigil pipeline --webhooks` (or `invigil up --webhooks`).

use std::time::Duration;

use invigil_schemas::webhook::{Notice, NoticeKind};
use serde::Deserialize;

use super::sign::Secret;

/// One endpoint, as configured.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Names the endpoint in the delivery log and the admin page, and its
    /// consumer group (so renaming it starts it afresh).
    pub name: String,
    pub url: String,
    pub secret: Secret,
    /// Notice types sent; empty: every type.
    pub events: Vec<NoticeKind>,
    /// Tests whose notices are sent; empty: every test.
    pub tests: Vec<String>,
    /// How long one attempt may take before it counts as failed.
    pub timeout: Duration,
    /// The first retry's wait; each next one doubles, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// After this long since a notice was announced, a failed attempt is
    /// the last one (the notice is logged as given up).
    pub give_up_after: Duration,
    /// Attempts in flight at once.
    pub concurrency: usize,
}

impl Endpoint {
    /// Whether this endpoint takes `notice`.
    pub fn wants(&self, notice: &Notice) -> bool {
        if let Some(only) = &notice.only_endpoint {
            return *only == self.name;
        }
        (self.events.is_empty() || self.events.contains(&notice.kind))
            && (self.tests.is_empty() || self.tests.iter().any(|t| *t == notice.test_id))
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed ones.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self.first_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        doubled.min(self.max_backoff)
    }
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFile {
    #[serde(default, rename = "endpoint")]
    pub endpoints: Vec<EndpointEntry>,
}

/// One `[[endpoint]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointEntry {
    pub name: String,
    pub url: String,
    /// `whsec_…`; or `secret_file`, or `secret_env`.
    pub secret: Option<String>,
    pub secret_file: Option<std::path::PathBuf>,
    pub secret_env: Option<String>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub tests: Vec<String>,
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "defaults::first_backoff_ms")]
    pub first_backoff_ms: u64,
    #[serde(default = "defaults::max_backoff_ms")]
    pub max_backoff_ms: u64,
    #[serde(default = "defaults::give_up_after_ms")]
    pub give_up_after_ms: u64,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
}

mod defaults {
    pub fn timeout_ms() -> u64 {
        10_000
    }
    pub fn first_backoff_ms() -> u64 {
        5_000
    }
    pub fn max_backoff_ms() -> u64 {
        3_600_000
    }
    pub fn give_up_after_ms() -> u64 {
        24 * 3_600_000
    }
    pub fn concurrency() -> usize {
        4
    }
}

impl EndpointEntry {
    /// Checks the entry and reads its secret; `env` looks up `secret_env`.
    /// Errors name the endpoint and the field, never the secret.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Endpoint, String> {
        let name = self.name;
        let at =
            |field: &str, problem: &dyn std::fmt::Display| format!("webhook endpoint `{name}`: {field}: {problem}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(at("name", &"use letters, digits, - and _ (it names a consumer group)"));
        }
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return Err(at("url", &"must be an http:// or https:// URL"));
        }
        let text = match (self.secret, self.secret_file, self.secret_env) {
            (Some(text), None, None) => text,
            (None, Some(path), None) => std::fs::read_to_string(&path)
                .map_err(|e| at("secret_file", &format_args!("{}: {e}", path.display())))?,
            (None, None, Some(var)) => env(&var).ok_or_else(|| at("secret_env", &format_args!("{var} is not set")))?,
            _ => return Err(at("secret", &"give exactly one of secret, secret_file, secret_env")),
        };
        let secret = Secret::parse(&text).map_err(|e| at("secret", &e))?;
        let events = self
            .events
            .iter()
            .map(|e| {
                NoticeKind::parse(e)
                    .ok_or_else(|| at("events", &format_args!("unknown type `{e}`; known: {}", known_kinds())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            return Err(at("timeout_ms", &"must be within 1..=60000"));
        }
        if self.first_backoff_ms == 0 || self.max_backoff_ms < self.first_backoff_ms {
            return Err(at("first_backoff_ms", &"must be above 0 and at most max_backoff_ms"));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(at("concurrency", &"must be within 1..=64"));
        }
        Ok(Endpoint {
            name,
            url: self.url,
            secret,
            events,
            tests: self.tests,
            timeout: Duration::from_millis(self.timeout_ms),
            first_backoff: Duration::from_millis(self.first_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            give_up_after: Duration::from_millis(self.give_up_after_ms),
            concurrency: self.concurrency,
        })
    }
}

fn known_kinds() -> String {
    NoticeKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// Reads and checks the endpoints of a webhooks file (TOML); errors name
/// the file and what is wrong in it.
pub fn load(path: &std::path::Path) -> Result<Vec<Endpoint>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: WebhooksFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    resolve_all(file, |name| std::env::var(name).ok()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every endpoint of a parsed file, checked; names must be unique.
pub fn resolve_all(file: WebhooksFile, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Endpoint>, String> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for entry in file.endpoints {
        let endpoint = entry.resolve(&env)?;
        if endpoints.iter().any(|e| e.name == endpoint.name) {
            return Err(format!("webhook endpoint `{}` is named twice", endpoint.name));
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::ids::Uuid;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn entry(name: &str) -> EndpointEntry {
        EndpointEntry {
            name: name.into(),
            url: "https://lms.example/hooks".into(),
            secret: Some(SECRET.into()),
            secret_file: None,
            secret_env: None,
            events: vec!["session.flagged".into()],
            tests: vec!["exam-1".into()],
            timeout_ms: defaults::timeout_ms(),
            first_backoff_ms: defaults::first_backoff_ms(),
            max_backoff_ms: defaults::max_backoff_ms(),
            give_up_after_ms: defaults::give_up_after_ms(),
            concurrency: 4,
        }
    }

    fn notice(kind: NoticeKind, test: &str) -> Notice {
        Notice {
            id: Uuid::nil(),
            kind,
            at: 0,
            created_at: 0,
            test_id: test.into(),
            candidate_id: "c".into(),
            session_id: None,
            data: Default::default(),
            only_endpoint: None,
            sent_payload: None,
        }
    }

    #[test]
    fn an_endpoint_takes_what_it_subscribed_to_and_its_own_redeliveries() {
        let endpoint = entry("lms").resolve(|_| None).unwrap();
        assert!(endpoint.wants(&notice(NoticeKind::SessionFlagged, "exam-1")));
        assert!(!endpoint.wants(&notice(NoticeKind::SessionEnded, "exam-1")));
        assert!(!endpoint.wants(&notice(NoticeKind::SessionFlagged, "exam-2")));
        let mut redelivery = notice(NoticeKind::SessionEnded, "exam-2");
        redelivery.only_endpoint = Some("lms".into());
        assert!(endpoint.wants(&redelivery), "a redelivery asked for this endpoint is sent whatever it subscribed to");
        redelivery.only_endpoint = Some("other".into());
        assert!(!endpoint.wants(&redelivery));
        let mut all = entry("all");
        (all.events, all.tests) = (vec![], vec![]);
        assert!(all.resolve(|_| None).unwrap().wants(&notice(NoticeKind::CaptureMissing, "any")));
    }

    #[test]
    fn backoff_doubles_to_its_ceiling() {
        let mut e = entry("lms");
        (e.first_backoff_ms, e.max_backoff_ms) = (5_000, 60_000);
        let endpoint = e.resolve(|_| None).unwrap();
        let waits: Vec<u64> = (1..=6).map(|a| endpoint.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
        assert_eq!(endpoint.backoff(400).as_millis(), 60_000, "no overflow");
    }

    #[test]
    fn bad_entries_name_the_endpoint_and_field_and_never_the_secret() {
        let mut bad = entry("lms");
        bad.events = vec!["session.paused".into()];
        let error = bad.resolve(|_| None).unwrap_err();
        assert!(error.starts_with("webhook endpoint `lms`: events: unknown type `session.paused`"), "{error}");
        let mut bad = entry("lms");
        bad.secret = Some("whsec_c2hvcnQ=".into());
        let error = bad.resolve(|_| None).unwrap_err();
        assert!(error.contains("secret: the key is 5 bytes") && !error.contains("c2hvcnQ"), "{error}");
        let mut bad = entry("lms");
        (bad.secret, bad.secret_env) = (None, Some("HOOK_SECRET".into()));
        assert!(bad.resolve(|_| None).unwrap_err().contains("HOOK_SECRET is not set"));
        let mut both = entry("lms");
        both.secret_env = Some("X".into());
        assert!(both.resolve(|_| Some(SECRET.into())).unwrap_err().contains("exactly one"));
        let mut bad = entry("no spaces");
        bad.url = "ftp://x".into();
        assert!(bad.resolve(|_| None).unwrap_err().contains("name"));
        let file = WebhooksFile { endpoints: vec![entry("a"), entry("a")] };
        assert!(resolve_all(file, |_| None).unwrap_err().contains("named twice"));
    }
}

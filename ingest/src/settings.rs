//! What an operator configures for one ingest process: a TOML file (every
//! key optional; `ops/dev/ingest.example.toml` lists them with their
//! defaults) plus environment variables for secrets and for the few values a
//! deployment changes per replica.
//!
//! | variable | meaning |
//! |---|---|
//! | `INVIGIL_TOKEN_SECRET` | HS256 secret when `auth.algorithm = "HS256"`: ≥ 32 bytes, no placeholder, pattern or low entropy (`invigil_schemas::secret_strength`; make one with `openssl rand -base64 48`) |
//! | `INVIGIL_IP_HASH_SECRET` | key of the client-IP hash (≥ 16 bytes); random per process if unset |
//! | `INVIGIL_LISTEN` | overrides `listen` |
//! | `INVIGIL_NODE` | overrides `node` (e.g. the pod name) |
//! | `INVIGIL_KAFKA_BROKERS` | overrides `kafka.brokers` |
//! | `INVIGIL_KAFKA_SASL_PASSWORD` | the SASL password when `kafka.sasl` is set and has no `password_file` |
//! | `INVIGIL_SDK_DIR` | overrides `sdk_dir` (the image sets it) |
//! | `INVIGIL_LIVE_SHARD` | overrides `live_video.shard` (a StatefulSet pod's name) |
//! | `INVIGIL_LIVE_PUBLIC_ADDR` | overrides `live_video.public_addr` (each SFU host has its own) |
//!
//! Secrets never live in the file, so it can sit in a ConfigMap.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use invigil_schemas::validate::Limits;
use serde::{Deserialize, Serialize};

use crate::auth::TokenKey;
use crate::credentials::CredentialSettings;
use crate::kafka::KafkaSettings;
use crate::live_video::LiveVideoSettings;
use crate::rate_limit::RateLimitSettings;
use crate::spool::SpoolSettings;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Address to serve on; 127.0.0.1 unless deployed behind a proxy.
    pub listen: SocketAddr,
    /// This replica's name, stamped on every record (`ingest_node`).
    pub node: String,
    /// The proctoring configuration document (SPEC §7), hot-reloaded; its
    /// versions are kept in `<file>.history/`. Created with defaults if missing.
    /// With `config_topic` set, it only seeds an empty config log.
    pub config_file: PathBuf,
    /// The config log: a Kafka topic (on `kafka.brokers`) that every replica
    /// and pipeline process follows, so a document has one version
    /// everywhere. Set it whenever more than one ingest replica runs. Unset:
    /// `config_file` is the configuration, for one host.
    pub config_topic: Option<String>,
    /// A built SDK bundle (`sdk/build.sh`'s `sdk/dist`) to serve at
    /// `/sdk/{file}`, so host pages can load the script from ingest.
    /// Unset: `/sdk/` answers 404 (the bundle is served from elsewhere).
    pub sdk_dir: Option<PathBuf>,
    /// Origins allowed to call the API from a browser; `["*"]` for any.
    pub cors_origins: Vec<String>,
    /// Take the client address from the first `X-Forwarded-For` entry (only
    /// behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// On a stop, how long `/readyz` answers 503 (so a balancer stops sending
    /// new requests) while requests are still served, before the drain.
    /// 0 behind a balancer that is told some other way (Kubernetes' preStop).
    pub stop_linger_ms: u64,
    pub auth: AuthSettings,
    pub kafka: KafkaSettings,
    pub spool: SpoolSettings,
    pub credentials: CredentialSettings,
    pub rate_limit: RateLimitSettings,
    pub limits: Limits,
    pub live_video: LiveVideoSettings,
    pub lti: crate::lti::LtiSettings,
    /// Staff sign-in with OpenID Connect.
    pub oidc: crate::oidc::OidcSettings,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            node: "ingest-0".into(),
            config_file: PathBuf::from("invigil-data/config.json"),
            config_topic: None,
            sdk_dir: None,
            cors_origins: vec!["*".into()],
            trust_forwarded_for: false,
            stop_linger_ms: 0,
            auth: AuthSettings::default(),
            kafka: KafkaSettings::default(),
            spool: SpoolSettings::default(),
            credentials: CredentialSettings::default(),
            rate_limit: RateLimitSettings::default(),
            limits: Limits::default(),
            live_video: LiveVideoSettings::default(),
            lti: crate::lti::LtiSettings::default(),
            oidc: crate::oidc::OidcSettings::default(),
        }
    }
}

/// `[auth]`: how tokens are verified. One algorithm per deployment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// `HS256`, `RS256` or `EdDSA`.
    pub algorithm: String,
    /// PEM public key for RS256 / EdDSA.
    pub public_key_file: Option<PathBuf>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self { algorithm: "HS256".into(), public_key_file: None }
    }
}

/// Secrets taken from the environment.
#[derive(Clone)]
pub struct Secrets {
    pub token_key: TokenKey,
    pub ip_hash_secret: [u8; 16],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{0}")]
    Invalid(String),
}

impl IngestSettings {
    /// Reads `path` (defaults if `None`), then applies the environment
    /// overrides. The top-level `sections` belong to services mounted beside
    /// ingest (the dashboards' `[dashboard]`): they come back untouched, for
    /// their owner to read. Any other unknown key is refused by name.
    pub fn load_beside(path: Option<&Path>, sections: &[&str]) -> Result<(Self, toml::Table), SettingsError> {
        let (mut settings, others) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| SettingsError::Read { path: path.into(), source })?;
                Self::from_toml_beside(&text, sections)
                    .map_err(|source| SettingsError::Parse { path: path.into(), source: Box::new(source) })?
            }
            None => (Self::default(), toml::Table::new()),
        };
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(listen) = var("INVIGIL_LISTEN") {
            settings.listen =
                listen.parse().map_err(|e| SettingsError::Invalid(format!("INVIGIL_LISTEN={listen:?}: {e}")))?;
        }
        if let Some(node) = var("INVIGIL_NODE") {
            settings.node = node;
        }
        if let Some(brokers) = var("INVIGIL_KAFKA_BROKERS") {
            settings.kafka.brokers = brokers;
        }
        if let Some(dir) = var("INVIGIL_SDK_DIR") {
            settings.sdk_dir = Some(PathBuf::from(dir));
        }
        if let Some(shard) = var("INVIGIL_LIVE_SHARD") {
            settings.live_video.shard = Some(shard);
        }
        if let Some(addr) = var("INVIGIL_LIVE_PUBLIC_ADDR") {
            settings.live_video.public_addr = Some(addr.parse().map_err(|e| {
                SettingsError::Invalid(format!("INVIGIL_LIVE_PUBLIC_ADDR={addr:?}: {e} (want ip:port)"))
            })?);
        }
        settings.check()?;
        Ok((settings, others))
    }

    /// The settings in `text`, and apart from them the top-level `sections`
    /// that are not ingest's.
    pub fn from_toml_beside(text: &str, sections: &[&str]) -> Result<(Self, toml::Table), toml::de::Error> {
        let mut table: toml::Table = toml::from_str(text)?;
        let others = sections.iter().filter_map(|name| table.remove_entry(*name)).collect();
        Ok((toml::Value::Table(table).try_into()?, others))
    }

    /// Rules serde cannot express.
    pub fn check(&self) -> Result<(), SettingsError> {
        let invalid = |why: String| Err(SettingsError::Invalid(why));
        if self.limits.max_body_bytes > 4 << 20 {
            return invalid(format!(
                "limits.max_body_bytes = {} exceeds 4 MiB (Kafka's record limit)",
                self.limits.max_body_bytes
            ));
        }
        // The store keeps events 30 days after their `ts` (schemas/clickhouse
        // TTLs): accepting anything older would answer 200 for rows the store
        // drops at once.
        if self.limits.max_event_age_ms > 29 * 24 * 3_600_000 {
            return invalid(format!(
                "limits.max_event_age_ms = {} exceeds 29 days (the store keeps events 30 days)",
                self.limits.max_event_age_ms
            ));
        }
        let live = &self.live_video;
        if live.enabled && live.udp_listen.ip().is_unspecified() && live.public_addr.is_none() {
            return invalid(format!(
                "live_video.udp_listen = {} is a wildcard address: set live_video.public_addr to the address peers reach",
                live.udp_listen
            ));
        }
        if live.enabled && !live.shards.is_empty() {
            let me = live.shard.as_deref().ok_or_else(|| {
                SettingsError::Invalid(
                    "live_video.shards is set but this host has no name: set live_video.shard or INVIGIL_LIVE_SHARD"
                        .into(),
                )
            })?;
            crate::live_video::shards::Shards::new(me, &live.shards)
                .map_err(|e| SettingsError::Invalid(e.to_string()))?;
            if live.shard_probe_ms < 100 {
                return invalid(format!("live_video.shard_probe_ms = {} is below 100", live.shard_probe_ms));
            }
        }
        if self.spool.max_bytes < self.limits.max_body_bytes as u64 * 4 {
            return invalid("spool.max_bytes must hold at least four of the largest bodies".into());
        }
        if !(900..=43_200).contains(&self.credentials.duration_secs) {
            return invalid(format!(
                "credentials.duration_secs = {} is outside STS's 900…43200",
                self.credentials.duration_secs
            ));
        }
        if self.rate_limit.per_second > 0.0 && self.rate_limit.burst < 1.0 {
            return invalid("rate_limit.burst must be at least 1".into());
        }
        Ok(())
    }

    /// The token key and IP-hash key from the environment (and key file).
    pub fn secrets_from_env(&self) -> Result<Secrets, SettingsError> {
        let token_key = match self.auth.algorithm.as_str() {
            "HS256" => {
                let secret = std::env::var("INVIGIL_TOKEN_SECRET").map_err(|_| {
                    SettingsError::Invalid("auth.algorithm is HS256 but INVIGIL_TOKEN_SECRET is not set".into())
                })?;
                // Refused here, before anything listens; the verifier checks again.
                invigil_schemas::secret_strength::check(secret.as_bytes()).map_err(|weak| {
                    SettingsError::Invalid(invigil_schemas::secret_strength::refusal("INVIGIL_TOKEN_SECRET", &weak))
                })?;
                TokenKey::Hs256Secret(secret.into_bytes())
            }
            algorithm @ ("RS256" | "EdDSA") => {
                let path = self.auth.public_key_file.as_ref().ok_or_else(|| {
                    SettingsError::Invalid(format!("auth.algorithm is {algorithm} but auth.public_key_file is not set"))
                })?;
                let pem = std::fs::read(path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
                if algorithm == "RS256" {
                    TokenKey::Rs256PublicPem(pem)
                } else {
                    TokenKey::EdDsaPublicPem(pem)
                }
            }
            other => {
                return Err(SettingsError::Invalid(format!(
                    "auth.algorithm = {other:?}; expected HS256, RS256 or EdDSA"
                )))
            }
        };
        let ip_hash_secret = match std::env::var("INVIGIL_IP_HASH_SECRET") {
            Ok(secret) if secret.len() >= 16 => derive_key(secret.as_bytes()),
            Ok(_) => return Err(SettingsError::Invalid("INVIGIL_IP_HASH_SECRET must be at least 16 bytes".into())),
            Err(_) => {
                tracing::warn!(
                    "INVIGIL_IP_HASH_SECRET is not set: client-IP hashes will differ across replicas and restarts"
                );
                random_key()
            }
        };
        Ok(Secrets { token_key, ip_hash_secret })
    }
}

/// 16 key bytes from a secret of any length.
fn derive_key(secret: &[u8]) -> [u8; 16] {
    use siphasher::sip128::{Hasher128, SipHasher13};
    use std::hash::Hasher;
    let mut hasher = SipHasher13::new_with_keys(0x696e_7669_6769_6c31, 0x6970_2d68_6173_6821);
    hasher.write(secret);
    hasher.finish128().as_bytes()
}

fn random_key() -> [u8; 16] {
    let mut seed = Vec::new();
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    seed.extend_from_slice(&now.as_nanos().to_le_bytes());
    seed.extend_from_slice(&(&seed as *const _ as usize).to_le_bytes());
    derive_key(&seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_complete_and_matches_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/dev/ingest.example.toml");
        let text = std::fs::read_to_string(&example).unwrap();
        let (parsed, _) = IngestSettings::from_toml_beside(&text, &["dashboard"]).unwrap();
        assert_eq!(parsed, IngestSettings::default(), "ingest.example.toml documents the defaults");
        // Every key of the defaults appears in the example.
        let full = toml::to_string(&IngestSettings::default()).unwrap();
        let keys = |t: &str| -> Vec<String> {
            t.lines()
                .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim_start_matches('#').trim().to_owned()))
                .collect()
        };
        for key in keys(&full) {
            assert!(keys(&text).contains(&key), "ingest.example.toml lacks `{key}`");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let error = toml::from_str::<IngestSettings>("[kafka]\nbrokerz = \"x\"\n").unwrap_err();
        assert!(error.to_string().contains("brokerz"), "{error}");
    }
}

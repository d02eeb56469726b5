//! Signing keys of those whose tokens we check — LTI platforms, OpenID
//! providers: each key set (JWKS), fetched when a token first needs it and
//! kept for an hour. A token signed with a key
//! the cached set lacks (the platform rotated) fetches the set again, at
//! most once every ten seconds per platform, so forged `kid`s cannot make
//! us hammer a platform.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

/// How long a fetched key set is used before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// The least time between two fetches of one set.
const REFETCH_AFTER: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set larger than this is refused (a JWKS holds a few keys).
const MAX_JWKS_BYTES: usize = 256 * 1024;

struct Cached {
    set: JwkSet,
    fetched: Instant,
}

pub struct PlatformKeys {
    client: reqwest::Client,
    sets: Mutex<HashMap<String, Cached>>,
}

/// Why a platform key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    #[error("the key set at {url} could not be fetched: {why}")]
    Fetch { url: String, why: String },
    #[error("the key set has no key {kid:?}")]
    UnknownKid { kid: String },
    #[error("the key {kid:?} is not an RSA signing key we can use: {why}")]
    Unusable { kid: String, why: String },
}

impl Default for PlatformKeys {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("an HTTP client with default TLS");
        Self { client, sets: Mutex::new(HashMap::new()) }
    }
}

impl PlatformKeys {
    /// The key `kid` from the set at `url`; with no `kid` (a token whose
    /// issuer has one key may name none), the set's only key.
    pub async fn key(&self, url: &str, kid: Option<&str>) -> Result<DecodingKey, KeyFetchError> {
        let mut sets = self.sets.lock().await;
        let now = Instant::now();
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let named = kid.unwrap_or("(none: the set must hold exactly one key)").to_owned();
        let stale = match sets.get(url) {
            Some(cached) if find(&cached.set).is_some() => now.duration_since(cached.fetched) > FRESH_FOR,
            Some(cached) => now.duration_since(cached.fetched) >= REFETCH_AFTER,
            None => true,
        };
        if stale {
            // Held across the fetch: launches waiting for the same platform
            // wait for this one fetch rather than making their own.
            match self.fetch(url).await {
                Ok(set) => {
                    sets.insert(url.to_owned(), Cached { set, fetched: now });
                }
                // A fresh-enough set that has the key still serves when the
                // platform's endpoint is briefly down.
                Err(e) if sets.get(url).is_none_or(|c| find(&c.set).is_none()) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "keeping the cached platform key set"),
            }
        }
        let jwk = sets
            .get(url)
            .and_then(|cached| find(&cached.set))
            .ok_or(KeyFetchError::UnknownKid { kid: named.clone() })?;
        if !matches!(jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)) {
            return Err(KeyFetchError::Unusable { kid: named, why: "not an RSA key".into() });
        }
        DecodingKey::from_jwk(&jwk).map_err(|e| KeyFetchError::Unusable { kid: named, why: e.to_string() })
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, KeyFetchError> {
        let failed = |why: String| KeyFetchError::Fetch { url: url.to_owned(), why };
        let response = self.client.get(url).send().await.map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(failed(format!("{} bytes, more than a key set holds", body.len())));
        }
        // Keys of kinds this server does not know are skipped, not fatal:
        // a platform may publish an EC key beside its RSA one.
        let raw: serde_json::Value = serde_json::from_slice(&body).map_err(|e| failed(format!("not JSON: {e}")))?;
        let keys = raw
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| failed("no \"keys\" array".into()))?
            .iter()
            .filter_map(|key| serde_json::from_value(key.clone()).ok())
            .collect();
        Ok(JwkSet { keys })
    }
}

//! `POST /api/v1/credentials`: temporary S3 upload credentials from STS
//! AssumeRole, narrowed by an inline session policy to `s3:PutObject` under
//! the candidate's own prefix `{YYYY-MM-DD}/{test_id}/{candidate_id}/` — or,
//! for a media store that checks its own keys (the embedded store of
//! `invigil up`), minted by that store under the same rule.
//!
//! Credentials are cached per candidate until 80 % of their lifetime, the
//! point where the SDK refreshes anyway, so a start burst of 50,000
//! candidates and their retries costs one STS call each at most.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use invigil_schemas::api::CredentialsResponse;
use invigil_schemas::claims::CandidateClaims;
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::media_key::{candidate_prefix, utc_date};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// `[credentials]` in the settings file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CredentialSettings {
    /// Bucket the SDK uploads to.
    pub bucket: String,
    pub region: String,
    /// S3 endpoint given to browsers; empty means AWS's regional endpoint.
    pub s3_endpoint: String,
    /// STS endpoint override (moto in tests); empty means AWS.
    pub sts_endpoint: String,
    /// Role assumed for uploads; its own policy should allow at most
    /// `s3:PutObject` on the bucket. The session policy narrows it further.
    pub role_arn: String,
    /// Lifetime asked of STS, in seconds (900 … 43,200, capped by the role).
    pub duration_secs: u32,
    /// How browsers upload: `session_keys` (the temporary keys, for signed
    /// PUTs of any size) or `post_policy` (presigned POST forms: the browser
    /// holds no secret and S3 refuses objects over `max_object_bytes`).
    pub upload_grant: UploadGrant,
    /// The largest object a `post_policy` form allows, in bytes.
    pub max_object_bytes: u64,
}

/// `[credentials] upload_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadGrant {
    #[default]
    SessionKeys,
    PostPolicy,
}

/// Default `max_object_bytes`: a 2-minute bundle at the default cadence is
/// ~2 MB, a single capture well under 1 MB.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 16 << 20;

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            bucket: "invigil-media".into(),
            region: "us-east-1".into(),
            s3_endpoint: String::new(),
            sts_endpoint: String::new(),
            role_arn: "arn:aws:iam::123456789012:role/invigil-uploader".into(),
            duration_secs: 4 * 3600,
            upload_grant: UploadGrant::SessionKeys,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
        }
    }
}

/// The inline session policy: only `s3:PutObject`, only under `prefix`.
pub fn session_policy(bucket: &str, prefix: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CandidateUploadsOnly",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*"),
        }]
    })
    .to_string()
}

/// An STS role session name (`[\w+=,.@-]{2,64}`) that still tells an auditor
/// whose session it was: the candidate id with other characters replaced,
/// cut to fit.
pub fn session_name(candidate: &CandidateId) -> String {
    let cleaned: String = candidate
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) { c } else { '-' })
        .take(56)
        .collect();
    format!("invigil-{cleaned}")
}

/// A media store that issues its own scoped, expiring keys instead of STS.
/// Whatever it mints must allow nothing but `s3:PutObject` under `prefix` of
/// `bucket`, and nothing at all after `expires_ms`.
pub trait MintUploadKeys: Send + Sync {
    fn mint(&self, bucket: &str, prefix: &str, expires_ms: i64) -> UploadKeys;
}

/// What [`MintUploadKeys::mint`] hands out.
pub struct UploadKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// Where upload credentials come from.
pub enum CredentialSource {
    /// STS AssumeRole with an inline session policy (AWS; moto in tests).
    Sts(aws_sdk_sts::Client),
    /// The media store mints them itself.
    Minted(Arc<dyn MintUploadKeys>),
}

/// Temporary credentials whichever source made them.
#[derive(Default)]
struct Issued {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: i64,
}

struct Cached {
    response: CredentialsResponse,
    /// Unix ms after which the entry is refreshed (80 % of the lifetime).
    refresh_at: i64,
}

/// Issues and caches upload credentials.
pub struct CredentialIssuer {
    settings: CredentialSettings,
    source: CredentialSource,
    cache: Mutex<HashMap<(TestId, CandidateId), Cached>>,
    metrics: Arc<Metrics>,
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 200_000;

impl CredentialIssuer {
    pub fn new(settings: CredentialSettings, source: CredentialSource, metrics: Arc<Metrics>) -> Self {
        Self { settings, source, cache: Mutex::new(HashMap::new()), metrics }
    }

    /// An STS client from the default AWS credential chain (env, profile,
    /// instance/pod role), with the configured region and endpoint.
    pub async fn default_sts_client(settings: &CredentialSettings) -> aws_sdk_sts::Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()));
        if !settings.sts_endpoint.is_empty() {
            loader = loader.endpoint_url(&settings.sts_endpoint);
        }
        aws_sdk_sts::Client::new(&loader.load().await)
    }

    pub async fn issue(&self, claims: &CandidateClaims) -> Result<CredentialsResponse, ApiError> {
        let now_ms = now_ms();
        let key = (claims.test_id.clone(), claims.sub.clone());
        if let Some(cached) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            if now_ms < cached.refresh_at {
                self.metrics.credentials_cache_hits.inc();
                return Ok(cached.response.clone());
            }
        }

        let prefix = candidate_prefix(&utc_date(now_ms / 1000), &claims.test_id, &claims.sub);
        let issued = match &self.source {
            CredentialSource::Sts(sts) => self.assume_role(sts, &claims.sub, &prefix, now_ms).await?,
            CredentialSource::Minted(mint) => {
                let expiration = now_ms + i64::from(self.settings.duration_secs) * 1000;
                let keys = mint.mint(&self.settings.bucket, &prefix, expiration);
                Issued {
                    access_key_id: keys.access_key_id,
                    secret_access_key: keys.secret_access_key,
                    session_token: keys.session_token,
                    expiration,
                }
            }
        };
        let expiration = issued.expiration;
        let forms = match self.settings.upload_grant {
            UploadGrant::SessionKeys => Vec::new(),
            UploadGrant::PostPolicy => crate::post_policy::forms(
                &crate::post_policy::SigningKeys {
                    access_key_id: &issued.access_key_id,
                    secret_access_key: &issued.secret_access_key,
                    session_token: &issued.session_token,
                },
                &crate::post_policy::FormScope {
                    bucket: &self.settings.bucket,
                    region: &self.settings.region,
                    prefix: &prefix,
                    max_bytes: self.settings.max_object_bytes,
                    now_ms,
                    expires_ms: expiration,
                },
            ),
        };
        // With forms the browser gets no keys: the forms are all it can use.
        let keys = if forms.is_empty() { issued } else { Issued { expiration, ..Issued::default() } };
        let response = CredentialsResponse {
            access_key_id: keys.access_key_id,
            secret_access_key: keys.secret_access_key,
            session_token: keys.session_token,
            expiration,
            bucket: self.settings.bucket.clone(),
            region: self.settings.region.clone(),
            endpoint: if self.settings.s3_endpoint.is_empty() {
                format!("https://s3.{}.amazonaws.com", self.settings.region)
            } else {
                self.settings.s3_endpoint.clone()
            },
            prefix,
            forms,
        };
        let refresh_at = now_ms + (expiration - now_ms) * 8 / 10;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= SWEEP_AT {
            cache.retain(|_, entry| entry.refresh_at > now_ms);
        }
        cache.insert(key, Cached { response: response.clone(), refresh_at });
        Ok(response)
    }

    async fn assume_role(
        &self,
        sts: &aws_sdk_sts::Client,
        candidate: &CandidateId,
        prefix: &str,
        now_ms: i64,
    ) -> Result<Issued, ApiError> {
        self.metrics.sts_calls.inc();
        let assumed = sts
            .assume_role()
            .role_arn(&self.settings.role_arn)
            .role_session_name(session_name(candidate))
            .policy(session_policy(&self.settings.bucket, prefix))
            .duration_seconds(self.settings.duration_secs as i32)
            .send()
            .await;
        let credentials = match assumed {
            Ok(output) => output.credentials,
            Err(error) => {
                self.metrics.sts_failures.inc();
                tracing::warn!(error = %aws_sdk_sts::error::DisplayErrorContext(&error), "AssumeRole failed");
                None
            }
        };
        let Some(credentials) = credentials else {
            return Err(ApiError::unavailable("upload credentials are unavailable right now; retry later", 10));
        };
        Ok(Issued {
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().to_owned(),
            expiration: credentials.expiration().to_millis().unwrap_or(now_ms + 900_000),
        })
    }
}

use invigil_schemas::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_one_action_under_one_prefix() {
        let test = TestId::new("exam-1").unwrap();
        let candidate = CandidateId::new("cand:7").unwrap();
        let prefix = candidate_prefix("2026-11-22", &test, &candidate);
        let policy: serde_json::Value = serde_json::from_str(&session_policy("media", &prefix)).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0]["Effect"], "Allow");
        assert_eq!(statements[0]["Action"], "s3:PutObject");
        assert_eq!(statements[0]["Resource"], "arn:aws:s3:::media/2026-11-22/exam-1/cand:7/*");
    }

    #[test]
    fn session_names_fit_sts_rules() {
        let long = CandidateId::new(&"x:".repeat(64)).unwrap();
        let name = session_name(&long);
        assert!(name.len() <= 64, "{}", name.len());
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)), "{name}");
    }
}

//! Presigned GET URLs for captured media: a reviewer's (or proctor's)
//! browser fetches thumbnails and audio straight from S3 for a few minutes,
//! and ingest never proxies candidate media. The URL is signed with ingest's
//! own AWS credentials (which need `s3:GetObject` on the bucket), only after
//! the staff token was checked against the test named in the key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use invigil_ingest::credentials::CredentialSettings;
use invigil_ingest::error::{parse_test_id, ApiError};
use invigil_schemas::claims::StaffRole;
use invigil_schemas::validate::ProblemCode;
use serde::Deserialize;

use crate::Dashboards;

/// A signed link and when it stops working.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PresignedUrl {
    pub url: String,
    /// Unix ms.
    pub expires_at: i64,
    /// For a part of a bundle: the `Range` header to GET it with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// Signs GETs for objects of the media bucket.
#[derive(Clone)]
pub struct MediaSigner {
    bucket: String,
    region: String,
    endpoint: String,
    credentials: Option<SharedCredentialsProvider>,
    lifetime: Duration,
}

/// `value` percent-encoded ([`invigil_schemas::text::push_percent_encoded`]:
/// `/` in `keep` for a key in a URL path, which is also what SigV4 expects
/// in the canonical path; nothing for a query value).
pub(crate) fn percent_encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    invigil_schemas::text::push_percent_encoded(&mut out, value, keep);
    out
}

impl MediaSigner {
    pub fn new(
        settings: &CredentialSettings,
        credentials: Option<SharedCredentialsProvider>,
        lifetime: Duration,
    ) -> Self {
        Self {
            bucket: settings.bucket.clone(),
            region: settings.region.clone(),
            endpoint: settings.s3_endpoint.trim_end_matches('/').to_owned(),
            credentials,
            lifetime,
        }
    }

    /// The bucket's URL (no trailing slash), unsigned: path style on a
    /// custom endpoint, virtual host style on AWS.
    pub(crate) fn bucket_url(&self) -> String {
        if self.endpoint.is_empty() {
            format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region)
        } else {
            format!("{}/{}", self.endpoint, self.bucket)
        }
    }

    /// The object's URL, unsigned.
    pub(crate) fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.bucket_url(), percent_encode(key, b"/"))
    }

    /// SigV4 for `method` on `url` at `now`: query parameters for a link
    /// (valid for the configured lifetime), or headers for a request made
    /// here (`x-amz-content-sha256` is the empty body's: these requests
    /// carry none).
    async fn sign(
        &self,
        method: &str,
        url: &str,
        now: SystemTime,
        location: SignatureLocation,
    ) -> Result<aws_sigv4::http_request::SigningInstructions, String> {
        let provider = self.credentials.as_ref().ok_or("no AWS credentials are configured for reading media")?;
        let credentials = provider.provide_credentials().await.map_err(|e| format!("loading AWS credentials: {e}"))?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = location;
        let body = match location {
            SignatureLocation::QueryParams => {
                settings.expires_in = Some(self.lifetime);
                SignableBody::UnsignedPayload
            }
            _ => {
                settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
                SignableBody::Bytes(&[])
            }
        };
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let request =
            SignableRequest::new(method, url, std::iter::empty(), body).map_err(|e| format!("signing {url}: {e}"))?;
        let (instructions, _signature) =
            sign(request, &params).map_err(|e| format!("signing {url}: {e}"))?.into_parts();
        Ok(instructions)
    }

    /// The headers that sign a `method` request to `url` made now.
    pub(crate) async fn signed_headers(&self, method: &str, url: &str) -> Result<Vec<(String, String)>, String> {
        let instructions = self.sign(method, url, SystemTime::now(), SignatureLocation::Headers).await?;
        Ok(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
    }

    /// A GET URL for `key`, valid for the configured lifetime from `now`.
    pub async fn presign_get(&self, key: &str, now: SystemTime) -> Result<PresignedUrl, String> {
        let url = self.object_url(key);
        let instructions = self.sign("GET", &url, now, SignatureLocation::QueryParams).await?;
        let query: Vec<String> = instructions
            .params()
            .iter()
            .map(|(name, value)| format!("{}={}", name, percent_encode(value, b"")))
            .collect();
        let expires_at = (now + self.lifetime).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Ok(PresignedUrl { url: format!("{url}?{}", query.join("&")), expires_at, range: None })
    }
}

// The route.

#[derive(Debug, Deserialize)]
pub struct MediaQuery {
    key: Option<String>,
}

/// `GET /api/v1/dashboard/media?key=…`: a presigned GET for one capture of a
/// test the token covers.
pub async fn get_media(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: invigil_ingest::staff_log::Peer,
    Query(query): Query<MediaQuery>,
) -> Result<Json<PresignedUrl>, ApiError> {
    let key =
        query.key.ok_or_else(|| ApiError::bad_field("key", ProblemCode::MissingField, "the object key is required"))?;
    // A bundle part (`…#bytes=FIRST-LAST`): sign the object, hand back the range.
    let (key, range) = invigil_schemas::event::split_part_key(&key)
        .map_err(|why| ApiError::bad_field("key", ProblemCode::InvalidValue, why))?;
    let parsed = invigil_schemas::media_key::MediaKey::parse(key).ok_or_else(|| {
        ApiError::bad_field("key", ProblemCode::InvalidValue, "not a canonical media key ({date}/{test}/{candidate}/…)")
    })?;
    let test = parse_test_id(parsed.test)
        .map_err(|_| ApiError::bad_field("key", ProblemCode::InvalidValue, "names an invalid test id"))?;
    let claims =
        state.verifier.staff_of_test(&headers, &test, &[StaffRole::Proctor, StaffRole::Reviewer, StaffRole::Admin])?;
    let mut link = state.media.presign_get(key, SystemTime::now()).await.map_err(|why| {
        tracing::warn!(%why, "cannot presign media");
        ApiError::unavailable("media links cannot be signed right now", 30)
    })?;
    link.range = range.map(|(first, last)| format!("bytes={first}-{last}"));
    // Who was handed a link to which object: the key names no content.
    let candidate = invigil_ingest::error::parse_candidate_id(parsed.candidate).ok();
    let origin = state.staff_log.origin(&headers, &peer);
    let done = invigil_ingest::staff_log::Done::new(&claims, "media.view", origin)
        .on(&test, candidate.as_ref())
        .with("key", parsed.rest);
    state.staff_log.note(done);
    Ok(Json(link))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[tokio::test]
    async fn a_presigned_url_carries_the_query_signature_and_lifetime() {
        let settings = CredentialSettings { s3_endpoint: "http://127.0.0.1:15000/".into(), ..Default::default() };
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("token/with+chars".into()), None, "test");
        let signer =
            MediaSigner::new(&settings, Some(SharedCredentialsProvider::new(credentials)), Duration::from_secs(300));
        let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let signed = signer.presign_get("2026-11-30/t/c/camera/face 1.jpg", now).await.unwrap();
        assert!(signed.url.starts_with("http://127.0.0.1:15000/invigil-media/2026-11-30/t/c/camera/face%201.jpg?"));
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Expires=300",
            "X-Amz-Signature=",
            "X-Amz-Security-Token=token%2Fwith%2Bchars",
        ] {
            assert!(signed.url.contains(part), "{part} missing from {}", signed.url);
        }
        assert_eq!(signed.expires_at, 1_790_000_300_000);
        let unconfigured = MediaSigner::new(&settings, None, Duration::from_secs(300));
        assert!(unconfigured.presign_get("a/b/c/d", now).await.is_err());
    }
}

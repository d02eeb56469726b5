//! `loadgen --upload-media`: the simulated SDK also puts its captures into
//! S3, through upload credentials from ingest and a SigV4-signed PUT, the way
//! the browser SDK does (its URL from the SDK's core, the signature from
//! `aws-sigv4`, to which the SDK's glue is held). Faces and screenshots
//! are small generated JPEGs — tinted per candidate, so a wall of them is
//! easy to tell apart — and audio chunks are placeholder bytes.

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use invigil_schemas::api::CredentialsResponse;
use invigil_sdk::s3::{put_url, PutSigning};
use serde_json::Value;

/// One candidate's uploader: its credentials, fetched on first use and
/// again when they near expiry.
pub struct Uploader {
    credentials_url: String,
    token: String,
    tint: [u8; 3],
    credentials: Option<CredentialsResponse>,
}

/// A `width × height` JPEG: a gradient in `tint` with a band whose position
/// follows `phase`, so consecutive captures differ.
pub fn placeholder_jpeg(width: u16, height: u16, tint: [u8; 3], phase: u64) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let band = (phase as usize * 7) % w.max(1);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let shade = 0.45 + 0.55 * (x + y) as f32 / (w + h) as f32;
            let on_band = x.abs_diff(band) < w / 16 + 1;
            for channel in tint {
                let value = if on_band { 240.0 } else { f32::from(channel) * shade };
                pixels.push(value as u8);
            }
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 70)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encoding an RGB buffer of the stated size");
    out
}

impl Uploader {
    pub fn new(endpoint: &str, token: &str, seed: u64) -> Self {
        // Neighbouring seeds get unrelated colours.
        let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
        let tint = [64 + mixed[5] % 160, 64 + mixed[6] % 160, 64 + mixed[7] % 160];
        Self {
            credentials_url: format!("{}/api/v1/credentials", endpoint.trim_end_matches('/')),
            token: token.to_owned(),
            tint,
            credentials: None,
        }
    }

    async fn credentials(&mut self, client: &reqwest::Client) -> anyhow::Result<&CredentialsResponse> {
        let fresh = self.credentials.as_ref().is_some_and(|c| c.expiration - invigil_ops::now_ms() > 60_000);
        if !fresh {
            let response = client.post(&self.credentials_url).bearer_auth(&self.token).send().await?;
            anyhow::ensure!(response.status().is_success(), "credentials: HTTP {}", response.status());
            self.credentials = Some(response.json().await?);
        }
        Ok(self.credentials.as_ref().expect("set above"))
    }

    /// PUTs the object of every uploaded capture in `events`; returns how
    /// many failed.
    pub async fn put_captures(&mut self, client: &reqwest::Client, events: &[Value]) -> u64 {
        let mut failed = 0;
        for event in events {
            if event["type"] != "capture" || event["status"] != "uploaded" {
                continue;
            }
            let (Some(key), Some(kind)) = (event["key"].as_str(), event["kind"].as_str()) else { continue };
            let phase = event["capture_seq"].as_u64().unwrap_or(0);
            let (body, content_type) = match kind {
                "face" => (placeholder_jpeg(160, 120, self.tint, phase), "image/jpeg"),
                "screen" => (placeholder_jpeg(320, 180, self.tint, phase), "image/jpeg"),
                _ => (vec![0u8; 2048], "audio/webm"),
            };
            if let Err(error) = self.put(client, key, body, content_type).await {
                tracing::debug!(%error, key, "placeholder upload failed");
                failed += 1;
            }
        }
        failed
    }

    async fn put(
        &mut self,
        client: &reqwest::Client,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<()> {
        let granted = self.credentials(client).await?;
        let url = put_url(&granted.endpoint, &granted.bucket, key);
        let sign = PutSigning::of_grant(granted);
        let mut request = client.put(&url).header("content-type", content_type).body(body);
        for (name, value) in signed_put_headers(&sign, &url, invigil_ops::now_ms())? {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        anyhow::ensure!(response.status().is_success(), "PUT {key}: HTTP {}", response.status());
        Ok(())
    }
}

/// The headers of a PUT of `url` signed by `aws-sigv4` the way the SDK's
/// glue signs it (`sdk/js/sigv4.js`: `UNSIGNED-PAYLOAD`, host and the
/// `x-amz-*` headers), with the `keys` the core would hand it. Also what
/// the glue's test vectors are made of (`sigv4_vectors`).
pub(crate) fn signed_put_headers(keys: &PutSigning, url: &str, now_ms: i64) -> anyhow::Result<Vec<(String, String)>> {
    let identity = aws_credential_types::Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        Some(keys.session_token.clone()),
        None,
        "ingest",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&keys.region)
        .name("s3")
        .time(UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64))
        .settings(settings)
        .build()?
        .into();
    let request = SignableRequest::new("PUT", url, std::iter::empty(), SignableBody::UnsignedPayload)?;
    let (instructions, _) = sign(request, &params)?.into_parts();
    Ok(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_jpegs_that_differ_per_capture() {
        let a = placeholder_jpeg(160, 120, [200, 80, 80], 1);
        let b = placeholder_jpeg(160, 120, [200, 80, 80], 2);
        assert_eq!(&a[..2], &[0xFF, 0xD8], "JPEG start of image");
        assert_eq!(&a[a.len() - 2..], &[0xFF, 0xD9], "JPEG end of image");
        assert_ne!(a, b);
        assert!(a.len() < 20_000, "{} bytes", a.len());
    }
}

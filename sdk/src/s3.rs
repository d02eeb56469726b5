//! What the glue needs to `PUT` an object to S3 with temporary credentials:
//! the object's URL and the keys it signs the request with.
//!
//! The glue signs (AWS Signature Version 4, `sdk/js/sigv4.js`) with the
//! browser's own SHA-256 and HMAC (WebCrypto): a SHA-256, HMAC and SigV4
//! of our own in the core cost the script tag 3.6 KB gzipped. The layout
//! of the request is fixed here and there alike: path-style URL, payload
//! `UNSIGNED-PAYLOAD` (allowed by S3 over TLS, so the image never has to be
//! hashed), `host` and the `x-amz-*` headers signed, [`PUT_HEADERS`] sent.
//! The glue's signer is held to `aws-sigv4`'s through vectors
//! (`ops/tools/src/loadgen/sigv4_vectors.rs` writes them, with the signer
//! loadgen uploads with; `sdk/js/test/sigv4.test.js` signs them again).

use invigil_schemas::api::CredentialsResponse;
use invigil_schemas::text::{push_percent_encoded, without_trailing_slashes};
use serde::Serialize;

use crate::json::{ToJson, Writer};

/// The headers the glue sends with a signed `PUT` (beside `content-type`);
/// a bucket's CORS rule must allow each.
pub const PUT_HEADERS: [&str; 4] = ["x-amz-content-sha256", "x-amz-date", "x-amz-security-token", "authorization"];

/// The temporary keys and region a `PUT` is signed with.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PutSigning {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub region: String,
}

impl PutSigning {
    /// The keys and region of an upload grant (`POST /api/v1/credentials`).
    pub fn of_grant(grant: &CredentialsResponse) -> Self {
        Self {
            access_key_id: grant.access_key_id.clone(),
            secret_access_key: grant.secret_access_key.clone(),
            session_token: grant.session_token.clone(),
            region: grant.region.clone(),
        }
    }
}

/// Without the secret: commands are printed by tests and debug logs.
impl std::fmt::Debug for PutSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSigning")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl ToJson for PutSigning {
    fn write_json(&self, out: &mut Writer) {
        out.open_object().key("access_key_id").string(&self.access_key_id);
        out.key("secret_access_key").string(&self.secret_access_key);
        out.key("session_token").string(&self.session_token).key("region").string(&self.region);
        out.close_object();
    }
}

/// Path-style `{endpoint}/{bucket}/{key}`, the bucket and key in S3's URI
/// encoding: every byte but the unreserved characters and `/` as `%XX`
/// (upper-case hex). Its path is the one the glue signs.
pub fn put_url(endpoint: &str, bucket: &str, key: &str) -> String {
    let mut url = String::from(without_trailing_slashes(endpoint));
    for segment in ["/", bucket, "/", key] {
        push_percent_encoded(&mut url, segment, b"/");
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_signs_them() {
        assert_eq!(
            put_url("http://127.0.0.1:15000/", "invigil-media", "2026-11-23/exam-1/cand@x:1/camera/a b~é.jpg"),
            "http://127.0.0.1:15000/invigil-media/2026-11-23/exam-1/cand%40x%3A1/camera/a%20b~%C3%A9.jpg"
        );
    }

    #[test]
    fn the_secret_is_not_printed() {
        let signing = PutSigning {
            access_key_id: "ASIA1".into(),
            secret_access_key: "very-secret".into(),
            session_token: "token".into(),
            region: "eu-west-1".into(),
        };
        let printed = format!("{signing:?}");
        assert!(printed.contains("ASIA1") && !printed.contains("very-secret"), "{printed}");
    }
}

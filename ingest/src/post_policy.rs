//! Presigned POST forms (S3 POST policies): the upload grant that bounds
//! object size, which session keys cannot.
//!
//! With session keys a candidate holds a secret and can sign any `PUT` under
//! their prefix, of any size and any content type. With forms they hold no
//! secret at all: ingest signs, once per credential issue, one policy per
//! media folder saying which keys (`starts-with $key {prefix}camera/`), which
//! `Content-Type` (exactly `image/jpeg`) and how many bytes
//! (`content-length-range 1 max`) an upload may have, until when. S3 checks
//! every upload against its policy; an oversize one is refused
//! (`EntityTooLarge`) before it is stored.
//!
//! The policy is signed like any SigV4 request (signing key from the
//! temporary secret, date, region and `s3`); the string signed is the
//! base64 policy itself.

use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use invigil_schemas::api::PostForm;

/// The folders the SDK writes and the one content type each may hold.
pub use invigil_schemas::media_key::UPLOAD_FOLDERS as FOLDERS;

/// Temporary keys the forms are signed with (never sent to the browser,
/// apart from the session token S3 needs to find them).
pub struct SigningKeys<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
}

/// What every form shares.
pub struct FormScope<'a> {
    pub bucket: &'a str,
    pub region: &'a str,
    /// The candidate's `{date}/{test}/{candidate}/`.
    pub prefix: &'a str,
    pub max_bytes: u64,
    /// Signing time and policy expiry, Unix ms.
    pub now_ms: i64,
    pub expires_ms: i64,
}

/// One signed form per folder of [`FOLDERS`].
pub fn forms(keys: &SigningKeys<'_>, scope: &FormScope<'_>) -> Vec<PostForm> {
    let signed_at = UNIX_EPOCH + Duration::from_millis(scope.now_ms.max(0) as u64);
    let (date, amz_date) = amz_dates(scope.now_ms);
    let credential = format!("{}/{date}/{}/s3/aws4_request", keys.access_key_id, scope.region);
    let signing_key = aws_sigv4::sign::v4::generate_signing_key(keys.secret_access_key, signed_at, scope.region, "s3");
    FOLDERS
        .iter()
        .map(|(folder, content_type)| {
            let key_prefix = format!("{}{folder}", scope.prefix);
            let mut conditions = vec![
                serde_json::json!({"bucket": scope.bucket}),
                serde_json::json!(["starts-with", "$key", key_prefix]),
                serde_json::json!({"Content-Type": content_type}),
                serde_json::json!(["content-length-range", 1, scope.max_bytes]),
                serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
                serde_json::json!({"x-amz-credential": credential}),
                serde_json::json!({"x-amz-date": amz_date}),
            ];
            if !keys.session_token.is_empty() {
                conditions.push(serde_json::json!({"x-amz-security-token": keys.session_token}));
            }
            let policy = serde_json::json!({"expiration": iso_time(scope.expires_ms), "conditions": conditions});
            let policy = STANDARD.encode(policy.to_string());
            let signature = aws_sigv4::sign::v4::calculate_signature(&signing_key, policy.as_bytes());
            let mut fields = vec![
                ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
                ("x-amz-credential".to_owned(), credential.clone()),
                ("x-amz-date".to_owned(), amz_date.clone()),
            ];
            if !keys.session_token.is_empty() {
                fields.push(("x-amz-security-token".to_owned(), keys.session_token.to_owned()));
            }
            fields.push(("policy".to_owned(), policy));
            fields.push(("x-amz-signature".to_owned(), signature));
            PostForm { key_prefix, content_type: (*content_type).to_owned(), fields }
        })
        .collect()
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` of a Unix time in ms.
fn amz_dates(unix_ms: i64) -> (String, String) {
    let secs = unix_ms.div_euclid(1000);
    let date = invigil_schemas::media_key::utc_date(secs).replace('-', "");
    let day = secs.rem_euclid(86_400);
    let time = format!("{:02}{:02}{:02}", day / 3600, day % 3600 / 60, day % 60);
    (date.clone(), format!("{date}T{time}Z"))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the policy's expiration format.
fn iso_time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let day = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        invigil_schemas::media_key::utc_date(secs),
        day / 3600,
        day % 3600 / 60,
        day % 60,
        unix_ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded_policy(form: &PostForm) -> serde_json::Value {
        let policy = &form.fields.iter().find(|(name, _)| name == "policy").unwrap().1;
        serde_json::from_slice(&STANDARD.decode(policy).unwrap()).unwrap()
    }

    #[test]
    fn times_are_formatted_as_sigv4_and_the_policy_want_them() {
        // 2026-11-22T13:04:05.678Z
        let ms = 1_795_352_645_678;
        assert_eq!(amz_dates(ms), ("20261122".to_owned(), "20261122T130405Z".to_owned()));
        assert_eq!(iso_time(ms), "2026-11-22T13:04:05.678Z");
    }

    #[test]
    fn each_folder_gets_its_own_key_prefix_type_and_size_bound() {
        let keys = SigningKeys { access_key_id: "AKID", secret_access_key: "secret", session_token: "tok" };
        let scope = FormScope {
            bucket: "media",
            region: "eu-west-1",
            prefix: "2026-11-22/exam/cand/",
            max_bytes: 1000,
            now_ms: 1_795_352_645_678,
            expires_ms: 1_795_356_245_678,
        };
        let forms = forms(&keys, &scope);
        assert_eq!(forms.len(), FOLDERS.len());
        let camera = &forms[0];
        assert_eq!(camera.key_prefix, "2026-11-22/exam/cand/camera/");
        assert_eq!(camera.content_type, "image/jpeg");
        let policy = decoded_policy(camera);
        assert_eq!(policy["expiration"], "2026-11-22T14:04:05.678Z");
        let conditions = policy["conditions"].as_array().unwrap();
        assert!(conditions.contains(&serde_json::json!(["starts-with", "$key", "2026-11-22/exam/cand/camera/"])));
        assert!(conditions.contains(&serde_json::json!(["content-length-range", 1, 1000])));
        assert!(conditions.contains(&serde_json::json!({"Content-Type": "image/jpeg"})));
        assert!(conditions.contains(&serde_json::json!({"x-amz-security-token": "tok"})));
        // The secret itself never appears in what the browser gets.
        let sent = serde_json::to_string(&forms).unwrap();
        assert!(!sent.contains("\"secret\""), "{sent}");
        // Deterministic: the same inputs sign the same way (cacheable).
        assert_eq!(forms, super::forms(&keys, &scope));
        let credential = &camera.fields.iter().find(|(n, _)| n == "x-amz-credential").unwrap().1;
        assert_eq!(credential, "AKID/20261122/eu-west-1/s3/aws4_request");
    }
}

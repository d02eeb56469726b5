//! AWS Signature Version 4 for one request shape: a browser `PUT` of an
//! object to S3 with temporary (STS) credentials.
//!
//! Why our own signer: the `aws-sigv4` crate signs every request shape of
//! every AWS service and drags the smithy runtime, `http` and `time` with it;
//! the SDK needs one shape and every byte of it ships to 50,000 browsers (the
//! sizes of both builds are in the SDK issue's closing note). The signature is
//! checked against `aws-sigv4` itself in this module's tests.
//!
//! The payload is declared `UNSIGNED-PAYLOAD` (allowed by S3 over TLS) so the
//! image never has to cross into WebAssembly to be hashed. Only `host` and the
//! `x-amz-*` headers are signed: the browser sets `Host` itself from the URL
//! and adds headers of its own that must stay free to vary.

use invigil_schemas::text::{self, cat};

use crate::sha256::{digest, hmac};

/// Temporary credentials from `POST /api/v1/credentials`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// Where an object goes: path-style `{endpoint}/{bucket}/{key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTarget<'a> {
    /// `https://s3.eu-west-1.amazonaws.com` or a local S3 like `http://127.0.0.1:15000`.
    pub endpoint: &'a str,
    pub region: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
}

/// A signed request: the URL to `PUT` to and the headers to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPut {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const SIGNED_HEADERS: &str = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token";

/// Signs a `PUT` of `target` at `now_ms` (Unix milliseconds, UTC).
pub fn sign_put(credentials: &Credentials, target: &ObjectTarget<'_>, now_ms: i64) -> SignedPut {
    let endpoint = target.endpoint.trim_end_matches('/');
    // A byte scan rather than `split_once("://")`: a string pattern brings
    // the two-way substring searcher (~2 KB) into the bundle for this alone.
    let host = endpoint
        .as_bytes()
        .windows(3)
        .position(|w| w == b"://")
        .map_or(endpoint, |at| endpoint.get(at + 3..).unwrap_or(endpoint));
    let host = host.split('/').next().unwrap_or(host);
    let mut path = String::from("/");
    uri_encode(&mut path, target.bucket);
    path.push('/');
    uri_encode(&mut path, target.key);
    let (date, stamp) = amz_date(now_ms);

    // Joined by hand, not with `format!`: see `invigil_schemas::text`.
    let token = credentials.session_token.trim();
    let canonical_request = cat(&[
        "PUT\n",
        &path,
        "\n\nhost:",
        host,
        "\nx-amz-content-sha256:",
        UNSIGNED_PAYLOAD,
        "\nx-amz-date:",
        &stamp,
        "\nx-amz-security-token:",
        token,
        "\n\n",
        SIGNED_HEADERS,
        "\n",
        UNSIGNED_PAYLOAD,
    ]);
    let scope = cat(&[&date, "/", target.region, "/s3/aws4_request"]);
    let request_hash = hex(&digest(&[canonical_request.as_bytes()]));
    let string_to_sign = cat(&["AWS4-HMAC-SHA256\n", &stamp, "\n", &scope, "\n", &request_hash]);

    let mut key = hmac(cat(&["AWS4", &credentials.secret_access_key]).as_bytes(), date.as_bytes());
    for part in [target.region.as_bytes(), b"s3", b"aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = cat(&[
        "AWS4-HMAC-SHA256 Credential=",
        &credentials.access_key_id,
        "/",
        &scope,
        ", SignedHeaders=",
        SIGNED_HEADERS,
        ", Signature=",
        &signature,
    ]);

    SignedPut {
        url: cat(&[endpoint, &path]),
        headers: vec![
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD.to_owned()),
            ("x-amz-date", stamp),
            ("x-amz-security-token", credentials.session_token.clone()),
            ("authorization", authorization),
        ],
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    text::push_hex(&mut out, bytes);
    out
}

/// S3's URI encoding of a path segment or object key, onto `out`: every
/// byte but the unreserved characters and `/` is `%XX` (upper-case hex).
fn uri_encode(out: &mut String, raw: &str) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for b in raw.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(char::from(b)),
            _ => {
                out.push('%');
                out.push(char::from(DIGITS[usize::from(b >> 4)]));
                out.push(char::from(DIGITS[usize::from(b & 15)]));
            }
        }
    }
}

/// `("YYYYMMDD", "YYYYMMDDTHHMMSSZ")` for a Unix time in milliseconds.
fn amz_date(now_ms: i64) -> (String, String) {
    let secs = now_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut date = String::with_capacity(8);
    for (value, width) in [(y, 4), (i64::from(m), 2), (i64::from(d), 2)] {
        text::push_padded(&mut date, value.unsigned_abs(), width);
    }
    let mut stamp = cat(&[&date, "T"]);
    for value in [rem / 3600, rem % 3600 / 60, rem % 60] {
        text::push_padded(&mut stamp, value.unsigned_abs(), 2);
    }
    stamp.push('Z');
    (date, stamp)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard
/// Hinnant's `civil_from_days` algorithm.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
    use proptest::prelude::*;

    /// What `aws-sigv4` produces for the same request.
    fn reference(credentials: &Credentials, target: &ObjectTarget<'_>, now_ms: i64) -> String {
        let identity = aws_credential_types::Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            Some(credentials.session_token.clone()),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(target.region)
            .name("s3")
            .time(UNIX_EPOCH + Duration::from_millis(now_ms as u64))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = sign_put(credentials, target, now_ms).url;
        let request = SignableRequest::new("PUT", &url, std::iter::empty(), SignableBody::UnsignedPayload).unwrap();
        let (_, signature) = sign(request, &params).unwrap().into_parts();
        signature
    }

    fn ours(credentials: &Credentials, target: &ObjectTarget<'_>, now_ms: i64) -> String {
        let signed = sign_put(credentials, target, now_ms);
        let auth = &signed.headers.iter().find(|(name, _)| *name == "authorization").unwrap().1;
        auth.rsplit_once("Signature=").unwrap().1.to_owned()
    }

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: "FwoGZXIvYXdzEXAMPLE//token+with/odd=chars".into(),
        }
    }

    #[test]
    fn matches_aws_sigv4_for_an_sdk_key() {
        let target = ObjectTarget {
            endpoint: "http://127.0.0.1:15000",
            region: "us-east-1",
            bucket: "invigil-media",
            key: "2026-11-23/exam-1/cand@x:1/camera/1763900000000_0193.jpg",
        };
        let now = 1_763_900_000_123;
        assert_eq!(ours(&creds(), &target, now), reference(&creds(), &target, now));
        let signed = sign_put(&creds(), &target, now);
        assert_eq!(
            signed.url,
            "http://127.0.0.1:15000/invigil-media/2026-11-23/exam-1/cand%40x%3A1/camera/1763900000000_0193.jpg"
        );
        assert!(signed.headers.contains(&("x-amz-date", "20251123T121320Z".into())), "{:?}", signed.headers);
    }

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(amz_date(0), ("19700101".into(), "19700101T000000Z".into()));
        assert_eq!(amz_date(951_782_400_000), ("20000229".into(), "20000229T000000Z".into()));
        assert_eq!(amz_date(1_798_761_599_999), ("20261231".into(), "20261231T235959Z".into()));
    }

    proptest! {
        #[test]
        fn matches_aws_sigv4_everywhere(
            key in "[A-Za-z0-9._@:/ -]{1,60}",
            region in "[a-z]{2}-[a-z]{4,9}-[1-3]",
            now in 0i64..4_102_444_800_000,
        ) {
            let target = ObjectTarget { endpoint: "https://s3.example.com/", region: &region, bucket: "b-1", key: &key };
            prop_assert_eq!(ours(&creds(), &target, now), reference(&creds(), &target, now));
        }
    }
}

//! The SDK's glue signs S3 `PUT`s itself (`sdk/js/sigv4.js`, WebCrypto);
//! these vectors hold it to `aws-sigv4`. Requests the core would send (the
//! URL from `invigil_sdk::s3::put_url`, its keys) are signed here the way
//! loadgen signs its own uploads ([`signed_put_headers`]) and written to
//! `sdk/js/test/sigv4_vectors.json`, which the glue's unit test
//! (`sdk/js/test/sigv4.test.js`) signs again and compares, header by
//! header. `UPDATE_GOLDEN=1` rewrites the file; otherwise it must match.

use std::path::Path;

use invigil_sdk::s3::{put_url, PutSigning, PUT_HEADERS};
use serde_json::json;

use super::media::signed_put_headers;

/// One request: where it goes, what it is signed with, when.
struct Case {
    endpoint: &'static str,
    key: String,
    sign: PutSigning,
    now_ms: i64,
}

fn signing(region: &str) -> PutSigning {
    PutSigning {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: "FwoGZXIvYXdzEXAMPLE//token+with/odd=chars".into(),
        region: region.into(),
    }
}

/// The headers `aws-sigv4` adds, named in lower case, in [`PUT_HEADERS`]'s order.
fn reference(url: &str, sign: &PutSigning, now_ms: i64) -> Vec<(String, String)> {
    let headers: Vec<(String, String)> = signed_put_headers(sign, url, now_ms)
        .unwrap()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    PUT_HEADERS
        .iter()
        .map(|name| {
            headers.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("aws-sigv4 sent no {name}")).clone()
        })
        .collect()
}

/// A fixed few (odd keys, a trailing slash, leap day, far dates) and a
/// deterministic spread of random keys, regions and times.
fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            endpoint: "http://127.0.0.1:15000",
            key: "2026-11-23/exam-1/cand@x:1/camera/1763900000000_0193.jpg".into(),
            sign: signing("us-east-1"),
            now_ms: 1_763_900_000_123,
        },
        Case {
            endpoint: "https://s3.ap-south-1.amazonaws.com/",
            key: "2026-12-06/exam 1/cand-é/screen/a+b~c!*'().jpg".into(),
            sign: signing("ap-south-1"),
            now_ms: 951_782_400_000,
        },
        Case { endpoint: "http://localhost:9000", key: "k".into(), sign: signing("eu-west-1"), now_ms: 0 },
        Case {
            endpoint: "https://s3.example.com",
            key: "2099-12-31/t/c/audio/x.webm".into(),
            sign: signing("us-west-2"),
            now_ms: 4_102_444_799_999,
        },
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    const CHARS: &[char] = &['a', 'Z', '0', '9', '.', '_', '-', '~', '/', '@', ':', ' ', '+', '=', '%', 'é', '€', '😀'];
    const REGIONS: &[&str] = &["us-east-1", "eu-central-1", "ap-southeast-2", "sa-east-1"];
    for _ in 0..32 {
        let key: String = (0..1 + next(60)).map(|_| CHARS[next(CHARS.len() as u64) as usize]).collect();
        let region = REGIONS[next(REGIONS.len() as u64) as usize];
        cases.push(Case {
            endpoint: "https://s3.example.com/",
            key,
            sign: signing(region),
            now_ms: next(4_102_444_800_000) as i64,
        });
    }
    cases
}

#[test]
fn the_glue_signs_as_aws_sigv4_does() {
    let mut text = String::from("[\n");
    for (i, case) in cases().iter().enumerate() {
        let url = put_url(case.endpoint, "invigil-media", &case.key);
        let headers = reference(&url, &case.sign, case.now_ms);
        let vector = json!({ "url": url, "sign": case.sign, "now_ms": case.now_ms, "headers": headers });
        text.push_str(if i == 0 { "  " } else { ",\n  " });
        text.push_str(&vector.to_string());
    }
    text.push_str("\n]\n");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/js/test/sigv4_vectors.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(kept == text, "{} is stale: run this test with UPDATE_GOLDEN=1", path.display());
}

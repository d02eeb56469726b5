//! The README's token-minting examples (Node, Python, Rust) produce tokens
//! ingest accepts: each is taken from the README as written, run, and its
//! token checked with ingest's own verifier (and refused under another
//! secret, so the check can fail).

use axum::http::{header, HeaderMap, HeaderValue};
use invigil_ingest::auth::{TokenKey, Verifier};

const README: &str = include_str!("../../README.md");
const SECRET: &str = "XJdjpDB48YSMIEcWAMpwdGM62RqOm9UXxq1HCcnQ7ACh";

// Rust, with the jsonwebtoken and serde_json crates.
fn candidate_token(
    secret: &[u8],
    candidate_id: &str,
    test_id: &str,
    minutes: i64,
) -> jsonwebtoken::errors::Result<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let claims = serde_json::json!({ "sub": candidate_id, "test_id": test_id, "iat": now, "exp": now + minutes * 60 });
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret))
}

/// The code block that follows `<!-- example:{name} -->` in the README.
fn example(name: &str) -> String {
    let marker = format!("<!-- example:{name} -->");
    let after = &README[README.find(&marker).unwrap_or_else(|| panic!("README lacks {marker}")) + marker.len()..];
    let body = &after[after.find("```").expect("a code block")..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    body[..body.find("\n```").expect("a closing fence")].to_owned() + "\n"
}

/// Runs `program file` with the secret in the environment; its stdout's last line.
fn run(program: &str, file_name: &str, source: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, source).unwrap();
    let output = std::process::Command::new(program)
        .arg(&path)
        .env("INVIGIL_TOKEN_SECRET", SECRET)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().last().expect("a token on stdout").trim().to_owned()
}

fn accepted(token: &str, secret: &str) -> Result<invigil_schemas::claims::CandidateClaims, String> {
    let verifier = Verifier::new(&TokenKey::Hs256Secret(secret.as_bytes().to_vec())).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    verifier.candidate(&headers).map_err(|e| format!("{e:?}"))
}

fn check(language: &str, token: &str) {
    let claims = accepted(token, SECRET).unwrap_or_else(|e| panic!("{language}'s token refused: {e}"));
    assert_eq!((claims.sub.as_str(), claims.test_id.as_str()), ("cand-42", "exam-1"), "{language}");
    assert_eq!(claims.exp - claims.iat, 240 * 60, "{language}: four hours");
    assert!(
        accepted(token, "0Jc5Jq3w9nLrWm2PzXy8sTgV4bH6kD1eQa7uFo3iR5lN").is_err(),
        "{language}: another secret is refused"
    );
}

#[test]
fn the_node_example_mints_a_token_ingest_accepts() {
    check("node", &run("node", "mint-token.mjs", &example("node")));
}

#[test]
fn the_python_example_mints_a_token_ingest_accepts() {
    check("python", &run("python3", "mint_token.py", &example("python")));
}

#[test]
fn the_rust_example_is_this_file_s_and_mints_a_token_ingest_accepts() {
    let source = include_str!("token_examples.rs");
    let shown = example("rust");
    assert!(source.contains(&shown), "README's Rust example differs from the one tested here:\n{shown}");
    check("rust", &candidate_token(SECRET.as_bytes(), "cand-42", "exam-1", 240).unwrap());
}

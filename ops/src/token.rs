//! `invigil token`: mints a staff or candidate token with the deployment's
//! HS256 secret, for opening the dashboards or trying the SDK by hand.

use anyhow::{bail, ensure};
use invigil_schemas::claims::{STAFF_AUDIENCE, STAFF_ISSUER};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// `proctor`, `reviewer`, `admin` or `candidate`.
    #[arg(long)]
    role: String,
    /// The staff member's or candidate's id.
    #[arg(long)]
    sub: String,
    /// Tests the token covers (repeat for several); a candidate token takes
    /// exactly one.
    #[arg(long = "test")]
    tests: Vec<String>,
    /// Display name shown on the pages.
    #[arg(long)]
    name: Option<String>,
    /// Lifetime in hours.
    #[arg(long, default_value_t = 12)]
    hours: i64,
    /// HS256 secret the tokens are signed with.
    #[arg(long, env = "INVIGIL_TOKEN_SECRET", hide_env_values = true)]
    token_secret: String,
}

/// The claims of a token for `role`.
pub fn claims(
    role: &str,
    sub: &str,
    tests: &[String],
    name: Option<&str>,
    now: i64,
    hours: i64,
) -> anyhow::Result<serde_json::Value> {
    invigil_schemas::ids::check_id(sub).map_err(|e| anyhow::anyhow!("--sub {sub:?}: {e}"))?;
    for test in tests {
        invigil_schemas::ids::check_id(test).map_err(|e| anyhow::anyhow!("--test {test:?}: {e}"))?;
    }
    ensure!(hours > 0, "--hours must be positive");
    let exp = now + hours * 3600;
    let mut claims = match role {
        "candidate" => {
            let [test] = tests else { bail!("a candidate token needs exactly one --test") };
            json!({"sub": sub, "test_id": test, "iat": now, "exp": exp})
        }
        "proctor" | "reviewer" => {
            ensure!(!tests.is_empty(), "a {role} token needs at least one --test");
            json!({"sub": sub, "role": role, "tests": tests, "iat": now, "exp": exp, "iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE})
        }
        "admin" => {
            json!({"sub": sub, "role": role, "tests": tests, "iat": now, "exp": exp, "iss": STAFF_ISSUER, "aud": STAFF_AUDIENCE})
        }
        other => bail!("--role {other:?}: expected proctor, reviewer, admin or candidate"),
    };
    if let Some(name) = name {
        claims["name"] = name.into();
    }
    Ok(claims)
}

/// Signs `claims` with HS256.
pub fn sign(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Refuses a token secret that ingest would refuse (a placeholder, a
/// pattern, too short or too little entropy), saying how to make one.
pub fn require_strong_secret(secret: &str) -> anyhow::Result<()> {
    use invigil_schemas::secret_strength::{check, refusal};
    check(secret.as_bytes()).map_err(|weak| anyhow::anyhow!(refusal("INVIGIL_TOKEN_SECRET", &weak)))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    require_strong_secret(&args.token_secret)?;
    let now = invigil_schemas::clock::now_ms() / 1000;
    let claims = claims(&args.role, &args.sub, &args.tests, args.name.as_deref(), now, args.hours)?;
    println!("{}", sign(&args.token_secret, &claims));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_the_role() {
        let proctor = claims("proctor", "p1", &["exam-1".into()], None, 100, 1).unwrap();
        assert_eq!(proctor["role"], "proctor");
        assert_eq!(proctor["exp"], 3700);
        let candidate = claims("candidate", "c1", &["exam-1".into()], Some("Ada"), 0, 1).unwrap();
        assert_eq!(candidate["test_id"], "exam-1");
        assert!(candidate.get("role").is_none());
        assert_eq!(candidate["name"], "Ada");
        assert!(claims("proctor", "p1", &[], None, 0, 1).is_err());
        assert!(claims("candidate", "c1", &["a".into(), "b".into()], None, 0, 1).is_err());
        assert!(claims("root", "p1", &[], None, 0, 1).is_err());
        assert!(claims("admin", "../x", &[], None, 0, 1).is_err());
    }
}

//! Tokens as a host app (candidates) or an operator (staff) mints them:
//! HS256 with the tests' shared secret, typed claims from `schemas`, valid
//! for an hour from now.

use invigil_schemas::claims::{CandidateClaims, StaffClaims, StaffRole};
use invigil_schemas::ids::{CandidateId, TestId};

/// The HS256 secret every in-process front door of the tests verifies with.
pub const SECRET: &[u8] = b"XN6pjTdxPDjwkENs8oRSPzv2W9OXr09jwPp7n4iJIXmB";

/// `claims` signed with `secret` (HS256).
pub fn sign_with(secret: &[u8], claims: &impl serde::Serialize) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &jsonwebtoken::EncodingKey::from_secret(secret))
        .expect("claims serialize")
}

/// `claims` signed with [`SECRET`]; for hand-made (expired, malformed)
/// claims as JSON.
pub fn sign(claims: &impl serde::Serialize) -> String {
    sign_with(SECRET, claims)
}

/// Now, in the seconds JWTs count.
pub fn now_secs() -> i64 {
    crate::now_ms() / 1000
}

/// A candidate's claims, valid for an hour.
pub fn candidate_claims(test: &str, candidate: &str) -> CandidateClaims {
    let now = now_secs();
    CandidateClaims {
        sub: CandidateId::new(candidate).expect("a valid candidate id"),
        test_id: TestId::new(test).expect("a valid test id"),
        exp: now + 3600,
        iat: now,
        name: None,
    }
}

/// A candidate's token for `test`, valid for an hour.
pub fn candidate(test: &str, candidate: &str) -> String {
    sign(&candidate_claims(test, candidate))
}

/// A staff member's claims (`sub` is `{role}-1`), valid for an hour. To
/// sign them yourself, sign [`invigil_schemas::claims::staff_token_payload`]
/// of them: ingest wants a staff token's `iss` and `aud`.
pub fn staff_claims(role: StaffRole, tests: &[&str]) -> StaffClaims {
    let name = serde_json::to_value(role).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    staff_claims_of(&format!("{name}-1"), role, tests)
}

/// Staff member `sub`'s claims, valid for an hour.
pub fn staff_claims_of(sub: &str, role: StaffRole, tests: &[&str]) -> StaffClaims {
    let now = now_secs();
    StaffClaims {
        sub: sub.to_owned(),
        role,
        tests: tests.iter().map(|t| TestId::new(*t).expect("a valid test id")).collect(),
        exp: now + 3600,
        iat: now,
        name: None,
    }
}

/// A staff token of `role` covering `tests`, valid for an hour.
pub fn staff(role: StaffRole, tests: &[&str]) -> String {
    sign(&invigil_schemas::claims::staff_token_payload(&staff_claims(role, tests)))
}

/// Staff member `sub`'s token of `role` covering `tests`, valid for an hour.
pub fn staff_of(sub: &str, role: StaffRole, tests: &[&str]) -> String {
    sign(&invigil_schemas::claims::staff_token_payload(&staff_claims_of(sub, role, tests)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_subjects_are_named_by_role() {
        assert_eq!(staff_claims(StaffRole::Reviewer, &["exam-1"]).sub, "reviewer-1");
        assert_eq!(staff_claims(StaffRole::Admin, &[]).sub, "admin-1");
    }
}

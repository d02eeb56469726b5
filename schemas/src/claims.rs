//! JWT claims. Tokens are verified by ingest; these are the payloads.
//!
//! Claims structs do not deny unknown fields: host apps mint the tokens and
//! commonly add registered claims (`iss`, `aud`, `jti`) we do not use.

use serde::{Deserialize, Serialize};

use crate::ids::{CandidateId, TestId};

/// A candidate's token, minted by the host app's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateClaims {
    /// The candidate id.
    pub sub: CandidateId,
    pub test_id: TestId,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Display name for proctors, if the host app shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Watches the live wall of the tests in `tests`.
    Proctor,
    /// Reads timelines and media of the tests in `tests`, records verdicts.
    Reviewer,
    /// Edits configuration; sees every test.
    Admin,
}

impl StaffRole {
    /// The role as the claim spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proctor => "proctor",
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }
}

/// The `iss` every staff token carries: tokens are minted by this
/// deployment (`invigil token`), or are its own sign-in sessions.
pub const STAFF_ISSUER: &str = "invigil";
/// The `aud` of a staff bearer token. A token minted for another purpose
/// with the same key (a host app's candidate token, say) lacks it.
pub const STAFF_AUDIENCE: &str = "invigil-staff";

/// A staff bearer token's payload: `claims` with [`STAFF_ISSUER`] and
/// [`STAFF_AUDIENCE`], which ingest checks.
pub fn staff_token_payload(claims: &StaffClaims) -> serde_json::Value {
    let mut payload = serde_json::to_value(claims).expect("staff claims serialise");
    payload["iss"] = STAFF_ISSUER.into();
    payload["aud"] = STAFF_AUDIENCE.into();
    payload
}

/// A proctor's, reviewer's or admin's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffClaims {
    /// The staff member's id.
    pub sub: String,
    pub role: StaffRole,
    /// Tests a proctor or reviewer may see; ignored for admins.
    #[serde(default)]
    pub tests: Vec<TestId>,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl StaffClaims {
    /// Whether this token grants access to `test`.
    pub fn may_see(&self, test: &TestId) -> bool {
        self.role == StaffRole::Admin || self.tests.contains(test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_scope_is_per_test_except_for_admins() {
        let a = TestId::new("a").unwrap();
        let b = TestId::new("b").unwrap();
        let proctor = StaffClaims {
            sub: "p".into(),
            role: StaffRole::Proctor,
            tests: vec![a.clone()],
            exp: 0,
            iat: 0,
            name: None,
        };
        assert!(proctor.may_see(&a));
        assert!(!proctor.may_see(&b));
        let admin = StaffClaims { role: StaffRole::Admin, tests: vec![], ..proctor };
        assert!(admin.may_see(&b));
    }

    #[test]
    fn candidate_claims_refuse_unsafe_ids() {
        let bad = r#"{"sub":"../x","test_id":"t","exp":1,"iat":0}"#;
        assert!(serde_json::from_str::<CandidateClaims>(bad).is_err());
        let extra = r#"{"sub":"c1","test_id":"t","exp":1,"iat":0,"iss":"host"}"#;
        assert!(serde_json::from_str::<CandidateClaims>(extra).is_ok());
    }
}

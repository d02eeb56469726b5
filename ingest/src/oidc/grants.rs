//! Which invigil role a signed-in staff member gets: the provider says who
//! they are and which groups (or roles) they are in; the `[[oidc.grant]]`
//! list says what each group may do here. Pure, so every rule is a unit
//! test.

use invigil_schemas::claims::StaffRole;
use invigil_schemas::ids::TestId;
use serde::{Deserialize, Serialize};

/// One `[[oidc.grant]]`: members of `value` (in the roles claim) get `role`
/// on `tests` (admins see every test; `tests` is ignored for them).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub value: String,
    pub role: StaffRole,
    #[serde(default)]
    pub tests: Vec<TestId>,
}

/// What a sign-in is allowed: one role, and the tests it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    pub role: StaffRole,
    pub tests: Vec<TestId>,
}

/// The values of the claim at `path` in `claims`: a dotted path
/// (`realm_access.roles` for Keycloak) to a string or an array of strings.
/// Anything else there gives nothing.
pub fn claim_values(claims: &serde_json::Value, path: &str) -> Vec<String> {
    let mut at = claims;
    for part in path.split('.') {
        match at.get(part) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    match at {
        serde_json::Value::String(one) => vec![one.clone()],
        serde_json::Value::Array(many) => many.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// The role `values` earn under `grants`, or `None` (no grant matches: the
/// sign-in is refused). A session has one role: admin when any admin grant
/// matches, otherwise the role of the first matching grant in the list,
/// covering the tests of every matching grant of that role.
pub fn resolve(grants: &[Grant], values: &[String]) -> Option<Granted> {
    let matching: Vec<&Grant> = grants.iter().filter(|g| values.contains(&g.value)).collect();
    if matching.iter().any(|g| g.role == StaffRole::Admin) {
        return Some(Granted { role: StaffRole::Admin, tests: Vec::new() });
    }
    let role = matching.first()?.role;
    let mut tests: Vec<TestId> = Vec::new();
    for grant in matching.iter().filter(|g| g.role == role) {
        for test in &grant.tests {
            if !tests.contains(test) {
                tests.push(test.clone());
            }
        }
    }
    // A proctor or reviewer of no test could open nothing: no grant.
    (!tests.is_empty()).then_some(Granted { role, tests })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(value: &str, role: StaffRole, tests: &[&str]) -> Grant {
        Grant { value: value.into(), role, tests: tests.iter().map(|t| TestId::new(*t).unwrap()).collect() }
    }

    fn values(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn claims_are_read_by_dotted_path_as_string_or_array() {
        let claims = json!({"groups": ["a", "b", 3], "role": "x", "realm_access": {"roles": ["r1"]}, "n": 5});
        assert_eq!(claim_values(&claims, "groups"), ["a", "b"]);
        assert_eq!(claim_values(&claims, "role"), ["x"]);
        assert_eq!(claim_values(&claims, "realm_access.roles"), ["r1"]);
        assert!(claim_values(&claims, "n").is_empty());
        assert!(claim_values(&claims, "missing.path").is_empty());
    }

    #[test]
    fn admin_wins_then_the_first_matching_role_with_its_tests_merged() {
        let grants = [
            grant("proctors-a", StaffRole::Proctor, &["a"]),
            grant("reviewers-b", StaffRole::Reviewer, &["b"]),
            grant("proctors-c", StaffRole::Proctor, &["c", "a"]),
            grant("staff-admins", StaffRole::Admin, &[]),
        ];
        let proctor = resolve(&grants, &values(&["reviewers-b", "proctors-c", "proctors-a"])).unwrap();
        assert_eq!(proctor.role, StaffRole::Proctor);
        assert_eq!(proctor.tests, vec![TestId::new("a").unwrap(), TestId::new("c").unwrap()]);
        let reviewer = resolve(&grants, &values(&["reviewers-b"])).unwrap();
        assert_eq!((reviewer.role, reviewer.tests.len()), (StaffRole::Reviewer, 1));
        let admin = resolve(&grants, &values(&["proctors-a", "staff-admins"])).unwrap();
        assert_eq!(admin, Granted { role: StaffRole::Admin, tests: vec![] });
    }

    #[test]
    fn no_matching_grant_or_a_grant_of_no_test_gives_nothing() {
        let grants = [grant("proctors", StaffRole::Proctor, &[]), grant("reviewers", StaffRole::Reviewer, &["t"])];
        assert_eq!(resolve(&grants, &values(&["students"])), None);
        assert_eq!(resolve(&grants, &values(&[])), None);
        assert_eq!(resolve(&grants, &values(&["proctors"])), None);
        assert!(resolve(&[], &values(&["reviewers"])).is_none());
    }
}

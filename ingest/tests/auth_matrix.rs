//! Every route × every kind of caller (issue 8's auth matrix): no token, an
//! expired one, a forged signature, `alg: none`, another algorithm, a
//! candidate, a proctor of another test, a proctor of the test, a reviewer
//! and an admin — each gets exactly the status its route's policy says, and
//! every refusal carries the error body of SPEC §4. The policy table must
//! name every route ingest serves, so a new route cannot skip the matrix.

mod common;

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use invigil_ingest::app::ROUTES;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Anonymous,
    Expired,
    Forged,
    AlgNone,
    OtherAlgorithm,
    Candidate,
    Stranger,
    Proctor,
    Reviewer,
    Admin,
}

const CALLERS: [Caller; 10] = [
    Caller::Anonymous,
    Caller::Expired,
    Caller::Forged,
    Caller::AlgNone,
    Caller::OtherAlgorithm,
    Caller::Candidate,
    Caller::Stranger,
    Caller::Proctor,
    Caller::Reviewer,
    Caller::Admin,
];

/// Who a route admits.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Anyone, token or not (health, metrics, static pages).
    Public,
    /// A candidate token.
    Candidate,
    /// Any staff token.
    Staff,
    /// A proctor of the test, or an admin.
    Wall,
    /// A proctor or reviewer of the test, or an admin (reading one candidate).
    DrillDown,
    /// A reviewer of the test, or an admin.
    Review,
    /// An admin.
    Admin,
}

impl Policy {
    fn admits(self, caller: Caller) -> bool {
        use Caller::*;
        match self {
            Policy::Public => true,
            Policy::Candidate => caller == Candidate,
            Policy::Staff => matches!(caller, Stranger | Proctor | Reviewer | Admin),
            Policy::Wall => matches!(caller, Proctor | Admin),
            Policy::DrillDown => matches!(caller, Proctor | Reviewer | Admin),
            Policy::Review => matches!(caller, Reviewer | Admin),
            Policy::Admin => caller == Admin,
        }
    }

    /// The status for `caller`, given the status an admitted caller gets.
    fn expected(self, caller: Caller, admitted: u16) -> u16 {
        let broken = matches!(
            caller,
            Caller::Anonymous | Caller::Expired | Caller::Forged | Caller::AlgNone | Caller::OtherAlgorithm
        );
        match self {
            Policy::Public => admitted,
            _ if broken => 401,
            _ if self.admits(caller) => admitted,
            _ => 403,
        }
    }
}

/// One concrete request per route: method, route template, the path to
/// call, a body, the policy and the status an admitted caller gets here
/// (503: the review store, which this harness does not have; the route
/// checked the caller before it found that out).
struct Case {
    method: &'static str,
    route: &'static str,
    path: String,
    body: Option<Value>,
    policy: Policy,
    admitted: u16,
}

fn cases(session: &str, config: &Value, version: u64) -> Vec<Case> {
    let case = |method, route, path: &str, body, policy, admitted| Case {
        method,
        route,
        path: path.to_owned(),
        body,
        policy,
        admitted,
    };
    let key = "2026-11-30/exam-1/cand-1/camera/1_x.jpg";
    vec![
        case("post", "/api/v1/events", "/api/v1/events", Some(batch(session, 0, 0, 2)), Policy::Candidate, 200),
        case("get", "/api/v1/config", "/api/v1/config", None, Policy::Candidate, 200),
        case("post", "/api/v1/credentials", "/api/v1/credentials", None, Policy::Candidate, 200),
        case("get", "/api/v1/admin/config", "/api/v1/admin/config", None, Policy::Admin, 200),
        case("put", "/api/v1/admin/config", "/api/v1/admin/config", Some(config.clone()), Policy::Admin, 200),
        case("get", "/api/v1/admin/config/history", "/api/v1/admin/config/history", None, Policy::Admin, 200),
        case(
            "post",
            "/api/v1/admin/config/rollback",
            "/api/v1/admin/config/rollback",
            Some(json!({"version": version})),
            Policy::Admin,
            200,
        ),
        case(
            "get",
            "/api/v1/admin/config/history/{version}",
            &format!("/api/v1/admin/config/history/{version}"),
            None,
            Policy::Admin,
            200,
        ),
        case("get", "/api/v1/dashboard/me", "/api/v1/dashboard/me", None, Policy::Staff, 200),
        case(
            "get",
            "/api/v1/dashboard/tests/{test_id}/wall",
            "/api/v1/dashboard/tests/exam-1/wall",
            None,
            Policy::Wall,
            200,
        ),
        case(
            "get",
            "/api/v1/dashboard/tests/{test_id}/live",
            "/api/v1/dashboard/tests/exam-1/live",
            None,
            Policy::Wall,
            200,
        ),
        case(
            "get",
            "/api/v1/dashboard/tests/{test_id}/candidates",
            "/api/v1/dashboard/tests/exam-1/candidates",
            None,
            Policy::Review,
            503,
        ),
        case(
            "get",
            "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/timeline",
            "/api/v1/dashboard/tests/exam-1/candidates/cand-1/timeline",
            None,
            Policy::DrillDown,
            503,
        ),
        case(
            "post",
            "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/verdict",
            "/api/v1/dashboard/tests/exam-1/candidates/cand-1/verdict",
            Some(json!({"verdict": "cleared", "comment": "matrix"})),
            Policy::Review,
            503,
        ),
        case(
            "get",
            "/api/v1/dashboard/media",
            &format!("/api/v1/dashboard/media?key={key}"),
            None,
            Policy::DrillDown,
            200,
        ),
        case("get", "/dashboard", "/dashboard", None, Policy::Public, 308),
        case("get", "/dashboard/", "/dashboard/", None, Policy::Public, 200),
        case("get", "/dashboard/{file}", "/dashboard/review.html", None, Policy::Public, 200),
        case("get", "/healthz", "/healthz", None, Policy::Public, 200),
        case("get", "/readyz", "/readyz", None, Policy::Public, 200),
        case("get", "/metrics", "/metrics", None, Policy::Public, 200),
    ]
}

fn token_of(caller: Caller) -> Option<String> {
    let now = now_ms() / 1000;
    let candidate = json!({"sub": "cand-1", "test_id": "exam-1", "iat": now, "exp": now + 3600});
    let header = |alg: &str| URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(candidate.to_string());
    match caller {
        Caller::Anonymous => None,
        Caller::Expired => {
            Some(sign(json!({"sub": "admin-1", "role": "admin", "tests": [], "iat": now - 7200, "exp": now - 3600})))
        }
        Caller::Forged => Some(
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &json!({"sub": "admin-1", "role": "admin", "tests": [], "iat": now, "exp": now + 3600}),
                &jsonwebtoken::EncodingKey::from_secret(b"not-the-servers-secret-but-32-bytes-long"),
            )
            .unwrap(),
        ),
        Caller::AlgNone => Some(format!("{}.{body}.", header("none"))),
        // An RS256 token where the server takes HS256: refused before any
        // key is tried, so no public key can be abused as an HMAC secret.
        Caller::OtherAlgorithm => Some(format!("{}.{body}.{}", header("RS256"), URL_SAFE_NO_PAD.encode([7u8; 256]))),
        Caller::Candidate => Some(candidate_token("exam-1", "cand-1")),
        Caller::Stranger => Some(staff_token("proctor", &["exam-2"])),
        Caller::Proctor => Some(staff_token("proctor", &["exam-1"])),
        Caller::Reviewer => Some(staff_token("reviewer", &["exam-1"])),
        Caller::Admin => Some(staff_token("admin", &[])),
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_its_policy_says() {
    let ingest = Running::start(Options::shared(unique_topic("auth-matrix"))).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let admin = token_of(Caller::Admin).unwrap();
    let current: Value =
        http.get(ingest.url("/api/v1/admin/config")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    let version = current["version"].as_u64().unwrap();
    let session = new_session();
    let cases = cases(&session, &current["document"], version);

    let covered: BTreeSet<(&str, &str)> = cases.iter().map(|c| (c.method, c.route)).collect();
    let served: BTreeSet<(&str, &str)> = ROUTES.iter().copied().collect();
    assert_eq!(covered, served, "the matrix names every route ingest serves, and only those");

    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        for caller in CALLERS {
            let mut request = match case.method {
                "get" => http.get(ingest.url(&case.path)),
                "post" => http.post(ingest.url(&case.path)),
                "put" => http.put(ingest.url(&case.path)),
                other => panic!("no method {other}"),
            };
            if let Some(token) = token_of(caller) {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &case.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let streaming = response.headers().get("content-type").is_some_and(|v| v == "text/event-stream");
            // A live stream never ends by itself: its status is the answer.
            let body: Value = if streaming { Value::Null } else { parts(response).await.2 };
            let expected = case.policy.expected(caller, case.admitted);
            checked += 1;
            if status != expected {
                failures.push(format!(
                    "{} {} as {caller:?}: {status}, expected {expected} — {body}",
                    case.method, case.path
                ));
            } else if status >= 400 && !(body["error"]["code"].is_string() && body["error"]["message"].is_string()) {
                failures.push(format!(
                    "{} {} as {caller:?}: {status} without the error body: {body}",
                    case.method, case.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, ROUTES.len() * CALLERS.len());
    ingest.stop().await;
}

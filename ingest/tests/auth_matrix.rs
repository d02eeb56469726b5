//! Every route × every kind of caller (issue 8's auth matrix): no token, an
//! expired one, a forged signature, `alg: none`, another algorithm, a
//! token whose `nbf` lies ahead, a candidate, a proctor of another test, a
//! proctor of the test, a reviewer and an admin — each gets exactly the status its route's policy says, and
//! every refusal carries the error body of SPEC §4. The policy table must
//! name every route ingest serves, so a new route cannot skip the matrix.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use invigil_schemas::claims::StaffRole;
use invigil_testkit::batches::{batch, new_session};
use invigil_testkit::front_door::*;
use invigil_testkit::kafka::*;
use invigil_testkit::{now_ms, services, tokens};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Anonymous,
    Expired,
    Forged,
    AlgNone,
    OtherAlgorithm,
    NotYetValid,
    Candidate,
    Stranger,
    Proctor,
    Reviewer,
    Admin,
}

const CALLERS: [Caller; 11] = [
    Caller::Anonymous,
    Caller::Expired,
    Caller::Forged,
    Caller::AlgNone,
    Caller::OtherAlgorithm,
    Caller::NotYetValid,
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
    /// A proctor of any test, or an admin, at the door; the test is named
    /// inside the body and checked after (an LMS attempt's control).
    ProctorRole,
    /// A proctor or reviewer of the test, or an admin (reading one candidate).
    DrillDown,
    /// A reviewer of the test, or an admin.
    Review,
    /// An admin.
    Admin,
    /// Any authentic token, candidate or staff (ending one's own live
    /// video session).
    Authentic,
}

impl Policy {
    fn admits(self, caller: Caller) -> bool {
        use Caller::*;
        match self {
            Policy::Public => true,
            Policy::Candidate => caller == Candidate,
            Policy::Staff => matches!(caller, Stranger | Proctor | Reviewer | Admin),
            Policy::Wall => matches!(caller, Proctor | Admin),
            Policy::ProctorRole => matches!(caller, Stranger | Proctor | Admin),
            Policy::DrillDown => matches!(caller, Proctor | Reviewer | Admin),
            Policy::Review => matches!(caller, Reviewer | Admin),
            Policy::Admin => caller == Admin,
            Policy::Authentic => matches!(caller, Candidate | Stranger | Proctor | Reviewer | Admin),
        }
    }

    /// The status for `caller`, given the status an admitted caller gets.
    fn expected(self, caller: Caller, admitted: u16) -> u16 {
        let broken = matches!(
            caller,
            Caller::Anonymous
                | Caller::Expired
                | Caller::Forged
                | Caller::AlgNone
                | Caller::OtherAlgorithm
                | Caller::NotYetValid
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
    /// An SDP body (`application/sdp`) instead of JSON.
    sdp: Option<String>,
    policy: Policy,
    admitted: u16,
}

fn case(
    method: &'static str,
    route: &'static str,
    path: &str,
    body: Option<Value>,
    policy: Policy,
    admitted: u16,
) -> Case {
    Case { method, route, path: path.to_owned(), body, sdp: None, policy, admitted }
}

fn with_sdp(mut case: Case) -> Case {
    case.sdp = Some(live_offer());
    case
}

/// Every route, once: ingest's, the dashboards', live video's and the public ones.
fn cases(session: &str, config: &Value, version: u64) -> Vec<Case> {
    let mut cases = ingest_cases(session, config, version);
    cases.extend(dashboard_cases());
    cases.extend(live_and_public_cases());
    cases
}

fn ingest_cases(session: &str, config: &Value, version: u64) -> Vec<Case> {
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
        case("get", "/api/v1/admin/config/settings", "/api/v1/admin/config/settings", None, Policy::Admin, 200),
    ]
}

fn dashboard_cases() -> Vec<Case> {
    let key = "2026-11-30/exam-1/cand-1/camera/1_x.jpg";
    vec![
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
            "get",
            "/api/v1/dashboard/tests/{test_id}/audit",
            "/api/v1/dashboard/tests/exam-1/audit",
            None,
            Policy::Admin,
            503,
        ),
        case(
            "post",
            "/api/v1/dashboard/tests/{test_id}/final",
            "/api/v1/dashboard/tests/exam-1/final",
            Some(json!({"final": true, "reason": "matrix"})),
            Policy::Admin,
            200,
        ),
        case("get", "/api/v1/dashboard/retention", "/api/v1/dashboard/retention", None, Policy::Admin, 503),
        case(
            "post",
            "/api/v1/dashboard/retention/sweep",
            "/api/v1/dashboard/retention/sweep",
            None,
            Policy::Admin,
            503,
        ),
        case(
            "get",
            "/api/v1/dashboard/webhooks/deliveries",
            "/api/v1/dashboard/webhooks/deliveries?outcome=retrying",
            None,
            Policy::Admin,
            503,
        ),
        case(
            "post",
            "/api/v1/dashboard/webhooks/redeliver",
            "/api/v1/dashboard/webhooks/redeliver",
            Some(serde_json::json!({"endpoint": "host-app", "notice_id": "019ab697-e800-7c5c-9c5c-5c5c5c5c5c5c"})),
            Policy::Admin,
            503,
        ),
        case(
            "get",
            "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/lti",
            "/api/v1/dashboard/tests/exam-1/candidates/cand-1/lti",
            None,
            Policy::Wall,
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
            "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/export",
            "/api/v1/dashboard/tests/exam-1/candidates/cand-1/export",
            None,
            Policy::Review,
            503,
        ),
        case(
            "post",
            "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/erase",
            "/api/v1/dashboard/tests/exam-1/candidates/cand-1/erase",
            Some(json!({"confirm": "cand-1", "reason": "matrix"})),
            Policy::Admin,
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
    ]
}

fn live_and_public_cases() -> Vec<Case> {
    vec![
        // LTI is off in this harness: each LTI route says so (the LTI tests
        // run it on). Launches carry no bearer token: they are public.
        case("get", "/lti/login", "/lti/login", None, Policy::Public, 400),
        case("post", "/lti/login", "/lti/login", None, Policy::Public, 400),
        case("post", "/lti/launch", "/lti/launch", None, Policy::Public, 400),
        case(
            "post",
            "/lti/start-assessment",
            "/lti/start-assessment",
            Some(json!({"ticket": "x"})),
            Policy::Public,
            404,
        ),
        case("get", "/lti/jwks", "/lti/jwks", None, Policy::Public, 404),
        case("get", "/lti/proctor.js", "/lti/proctor.js", None, Policy::Public, 200),
        // Staff sign-in is off here: its routes say so to anyone; the
        // session route answers everyone (signed in or not).
        case("get", "/auth/oidc/login", "/auth/oidc/login", None, Policy::Public, 404),
        case("get", "/auth/oidc/callback", "/auth/oidc/callback?code=c&state=s", None, Policy::Public, 404),
        case("get", "/auth/session", "/auth/session", None, Policy::Public, 200),
        case("post", "/auth/logout", "/auth/logout", None, Policy::Public, 404),
        // A proctor's or admin's control of an LMS attempt: LTI off here, 404.
        case(
            "post",
            "/api/v1/lti/control",
            "/api/v1/lti/control",
            Some(json!({"context": "x", "action": "pause"})),
            Policy::ProctorRole,
            404,
        ),
        // A candidate's signal, not held (wait_ms=0).
        case(
            "get",
            "/api/v1/live/signal",
            "/api/v1/live/signal?publishing=false&wait_ms=0",
            None,
            Policy::Candidate,
            200,
        ),
        // Nobody watches cand-1 when the candidate asks to publish: 409.
        with_sdp(case("post", "/api/v1/live/whip", "/api/v1/live/whip", None, Policy::Candidate, 409)),
        with_sdp(case(
            "post",
            "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/whep",
            "/api/v1/live/tests/exam-1/candidates/cand-1/whep",
            None,
            Policy::Wall,
            201,
        )),
        case(
            "post",
            "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/messages",
            "/api/v1/live/tests/exam-1/candidates/cand-1/messages",
            Some(json!({"text": "matrix", "level": "warning"})),
            Policy::Wall,
            202,
        ),
        case(
            "delete",
            "/api/v1/live/resources/{id}",
            "/api/v1/live/resources/0123456789abcdef0123456789abcdef",
            None,
            Policy::Authentic,
            404,
        ),
        // The sharded paths, on a front door with one SFU host: every caller
        // is checked as at the entry path, then told the shard is unknown.
        case(
            "get",
            "/api/v1/live/shards/{shard}/signal",
            "/api/v1/live/shards/live-0/signal?publishing=none&wait_ms=0",
            None,
            Policy::Candidate,
            404,
        ),
        with_sdp(case(
            "post",
            "/api/v1/live/shards/{shard}/whip",
            "/api/v1/live/shards/live-0/whip",
            None,
            Policy::Candidate,
            404,
        )),
        with_sdp(case(
            "post",
            "/api/v1/live/shards/{shard}/tests/{test_id}/candidates/{candidate_id}/whep",
            "/api/v1/live/shards/live-0/tests/exam-1/candidates/cand-1/whep",
            None,
            Policy::Wall,
            404,
        )),
        case(
            "post",
            "/api/v1/live/shards/{shard}/tests/{test_id}/candidates/{candidate_id}/messages",
            "/api/v1/live/shards/live-0/tests/exam-1/candidates/cand-1/messages",
            Some(json!({"text": "matrix", "level": "warning"})),
            Policy::Wall,
            404,
        ),
        case(
            "delete",
            "/api/v1/live/shards/{shard}/resources/{id}",
            "/api/v1/live/shards/live-0/resources/0123456789abcdef0123456789abcdef",
            None,
            Policy::Authentic,
            404,
        ),
        case("get", "/dashboard", "/dashboard", None, Policy::Public, 308),
        case("get", "/dashboard/", "/dashboard/", None, Policy::Public, 200),
        case("get", "/dashboard/{file}", "/dashboard/review.html", None, Policy::Public, 200),
        // Public; 404 here because the test front door sets no sdk_dir (the
        // files themselves: ingest's sdk_files tests and ops/image/test.sh).
        case("get", "/sdk/{file}", "/sdk/invigil.js", None, Policy::Public, 404),
        case("get", "/healthz", "/healthz", None, Policy::Public, 200),
        case("get", "/readyz", "/readyz", None, Policy::Public, 200),
        case("get", "/metrics", "/metrics", None, Policy::Public, 200),
    ]
}

/// A subscriber's offer as a browser makes one: camera video, screen
/// video, microphone audio, all receive-only.
fn live_offer() -> String {
    use str0m::media::{Direction, MediaKind};
    str0m::crypto::from_feature_flags().install_process_default();
    let mut rtc = str0m::Rtc::builder().build(std::time::Instant::now());
    let mut change = rtc.sdp_api();
    for kind in [MediaKind::Video, MediaKind::Video, MediaKind::Audio] {
        change.add_media(kind, Direction::RecvOnly, None, None, None);
    }
    let (offer, _pending) = change.apply().expect("an offer");
    offer.to_sdp_string()
}

fn token_of(caller: Caller) -> Option<String> {
    let now = now_ms() / 1000;
    let candidate = json!({"sub": "cand-1", "test_id": "exam-1", "iat": now, "exp": now + 3600});
    let header = |alg: &str| URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(candidate.to_string());
    match caller {
        Caller::Anonymous => None,
        Caller::Expired => Some(tokens::sign(
            &json!({"sub": "admin-1", "role": "admin", "tests": [], "iss": "invigil", "aud": "invigil-staff", "iat": now - 7200, "exp": now - 3600}),
        )),
        Caller::Forged => Some(
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &json!({"sub": "admin-1", "role": "admin", "tests": [], "iss": "invigil", "aud": "invigil-staff", "iat": now, "exp": now + 3600}),
                &jsonwebtoken::EncodingKey::from_secret(b"not-the-servers-secret-but-32-bytes-long"),
            )
            .unwrap(),
        ),
        Caller::AlgNone => Some(format!("{}.{body}.", header("none"))),
        // An RS256 token where the server takes HS256: refused before any
        // key is tried, so no public key can be abused as an HMAC secret.
        Caller::OtherAlgorithm => Some(format!("{}.{body}.{}", header("RS256"), URL_SAFE_NO_PAD.encode([7u8; 256]))),
        // Authentic, but for later (beyond the 30-s leeway).
        Caller::NotYetValid => Some(tokens::sign(
            &json!({"sub": "admin-1", "role": "admin", "tests": [], "iss": "invigil", "aud": "invigil-staff", "iat": now, "nbf": now + 600, "exp": now + 3600}),
        )),
        Caller::Candidate => Some(tokens::candidate("exam-1", "cand-1")),
        Caller::Stranger => Some(tokens::staff(StaffRole::Proctor, &["exam-2"])),
        Caller::Proctor => Some(tokens::staff(StaffRole::Proctor, &["exam-1"])),
        Caller::Reviewer => Some(tokens::staff(StaffRole::Reviewer, &["exam-1"])),
        Caller::Admin => Some(tokens::staff(StaffRole::Admin, &[])),
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
    let served: BTreeSet<(&str, &str)> = routes().into_iter().collect();
    assert_eq!(covered, served, "the matrix names every route the front door serves, and only those");

    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        for caller in CALLERS {
            let mut request = match case.method {
                "get" => http.get(ingest.url(&case.path)),
                "post" => http.post(ingest.url(&case.path)),
                "put" => http.put(ingest.url(&case.path)),
                "delete" => http.delete(ingest.url(&case.path)),
                other => panic!("no method {other}"),
            };
            if let Some(token) = token_of(caller) {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &case.body {
                request = request.json(body);
            }
            if let Some(sdp) = &case.sdp {
                request = request.header("content-type", "application/sdp").body(sdp.clone());
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type =
                response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let streaming = content_type == "text/event-stream";
            // The LTI launch routes are browser navigations: a refusal is a
            // page for the candidate (naming why), not a JSON body.
            let page = content_type.starts_with("text/html");
            // A live stream never ends by itself: its status is the answer.
            let body: Value = if streaming {
                Value::Null
            } else if page {
                let text = response.text().await.unwrap();
                json!({"page": text.contains(r#"id="lti-error""#) && case.route.starts_with("/lti/"), "text": text})
            } else {
                parts(response).await.2
            };
            let expected = case.policy.expected(caller, case.admitted);
            checked += 1;
            if status != expected {
                failures.push(format!(
                    "{} {} as {caller:?}: {status}, expected {expected} — {body}",
                    case.method, case.path
                ));
            } else if status >= 400
                && !(body["error"]["code"].is_string() && body["error"]["message"].is_string())
                && body["page"] != true
            {
                failures.push(format!(
                    "{} {} as {caller:?}: {status} without the error body: {body}",
                    case.method, case.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, routes().len() * CALLERS.len());
    ingest.stop().await;
}

/// One capture event of cand-1's, with `key`.
fn capture_batch(session: &str, kind: &str, key: &str, ts: i64) -> Value {
    let id = invigil_schemas::ids::event_id_v7(ts.max(0) as u64, [3; 10]);
    let event = json!({"id": id, "seq": 0, "ts": ts, "type": "capture", "kind": kind, "status": "uploaded",
        "key": key, "bytes": 24_000, "capture_seq": 1, "attempts": 1});
    json!({"v": 1, "session_id": session, "batch_seq": 0, "sent_at": now_ms(), "events": [event]})
}

/// One recording segment event of cand-1's, with `key`.
fn recording_batch(session: &str, track: &str, key: &str, duration_ms: u32, ts: i64) -> Value {
    let id = invigil_schemas::ids::event_id_v7(ts.max(0) as u64, [4; 10]);
    let event = json!({"id": id, "seq": 0, "ts": ts, "type": "recording", "track": track, "status": "uploaded",
        "key": key, "bytes": 180_000, "segment_seq": 1, "duration_ms": duration_ms, "attempts": 1});
    json!({"v": 1, "session_id": session, "batch_seq": 0, "sent_at": now_ms(), "events": [event]})
}

/// Hostile payloads from an authentic candidate (issue 17): a capture that
/// names another candidate's object, a key that climbs out of the prefix,
/// a capture filed in another kind's folder, and event times the store
/// would drop (1970, 2100, past its retention). Each is a 400 naming the
/// field; none reaches the topic; the same batch with honest values does.
#[tokio::test]
async fn hostile_keys_and_times_are_refused_naming_the_field_and_never_produced() {
    let topic = unique_topic("hostile");
    create_topic(&services::brokers(), &topic, 1).await;
    let ingest = Running::start(Options::shared(topic.clone())).await;
    let token = tokens::candidate("exam-1", "cand-1");
    let now = now_ms();
    let (own, own_segment) = (OWN_CAPTURE, OWN_SEGMENT);
    let bodies = hostile_bodies(now);
    let mut failures = Vec::new();
    for (body, key, field, says) in &bodies {
        let ts = &body["events"][0]["ts"];
        let (status, _, answer) = ingest.post_events(&token, body).await;
        let problems = answer["error"]["problems"].as_array().cloned().unwrap_or_default();
        let named =
            problems.iter().any(|p| p["field"] == *field && p["message"].as_str().is_some_and(|m| m.contains(says)));
        if status != 400 || !named {
            failures.push(format!("{key} @ {ts}: {status} {answer}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A staff link for a key that climbs out of its test is refused too.
    let http = reqwest::Client::new();
    let climbing = "2026-11-30/exam-1/../exam-2/cand-1/camera/1_x.jpg";
    let response = http
        .get(ingest.url("/api/v1/dashboard/media"))
        .query(&[("key", climbing)])
        .bearer_auth(tokens::staff(StaffRole::Reviewer, &["exam-1"]))
        .send()
        .await
        .unwrap();
    let (status, _, answer) = parts(response).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "key", "{answer}");

    // The honest twins are accepted, and they are the only records on the topic.
    let session = new_session();
    let (status, _, answer) = ingest.post_events(&token, &capture_batch(&session, "face", own, now)).await;
    assert_eq!(status, 200, "{answer}");
    let recording_session = new_session();
    let honest_segment = recording_batch(&recording_session, "screen", own_segment, 10_000, now);
    let (status, _, answer) = ingest.post_events(&token, &honest_segment).await;
    assert_eq!(status, 200, "{answer}");
    let records = read_topic(&services::brokers(), &topic, 3, std::time::Duration::from_secs(5));
    assert_eq!(records.len(), 2, "only the honest batches were produced");
    assert_eq!(records[0].1.batch.session_id.to_string(), session);
    assert_eq!(records[1].1.batch.session_id.to_string(), recording_session);
    ingest.stop().await;
}

const OWN_CAPTURE: &str = "2026-11-30/exam-1/cand-1/camera/1_x.jpg";
const OWN_SEGMENT: &str = "2026-11-30/exam-1/cand-1/video/screen/1700/seg_00001.webm";

/// Batches cand-1 of exam-1 must not get through, each with its bad key,
/// the field a 400 must name and what its message must say.
fn hostile_bodies(now: i64) -> Vec<(Value, &'static str, &'static str, &'static str)> {
    let own = OWN_CAPTURE;
    let cases = [
        ("face", "2026-11-30/exam-1/cand-2/camera/1_x.jpg", now, "events[0].key", "own media prefix"),
        ("face", "2026-11-30/exam-2/cand-1/camera/1_x.jpg", now, "events[0].key", "own media prefix"),
        ("face", "2026-11-30/exam-1/cand-1/../cand-2/camera/x.jpg", now, "events[0].key", "canonical"),
        ("face", "2026-11-30/exam-1/cand-1/%2e%2e/cand-2/camera/x.jpg", now, "events[0].key", "canonical"),
        ("face", "2026-11-30/exam-1/cand-1/screen/1_x.jpg", now, "events[0].key", "another kind's folder"),
        ("face", "2026-11-30/exam-1/cand-1/notes/1_x.jpg", now, "events[0].key", "media folder"),
        ("face", own, 0, "events[0].ts", "older than"),
        ("face", own, now - 31 * 86_400_000, "events[0].ts", "older than"),
        ("face", own, 4_102_444_800_000, "events[0].ts", "ahead"),
    ];
    let mut bodies: Vec<(Value, &str, &str, &str)> = cases
        .iter()
        .enumerate()
        .map(|(i, (kind, key, ts, field, says))| (capture_batch(&uuid_for(i), kind, key, *ts), *key, *field, *says))
        .collect();
    // Recording segments: the same prefix rule, in their track's folder.
    let (key_field, prefix, canonical) = ("events[0].key", "own media prefix", "canonical");
    let segments = [
        ("2026-11-30/exam-1/cand-2/video/screen/1700/seg_00001.webm", 10_000, key_field, prefix),
        ("2026-11-30/exam-1/cand-1/video/../../cand-2/video/screen/1/seg_00001.webm", 10_000, key_field, canonical),
        ("2026-11-30/exam-1/cand-1/video/camera/1700/seg_00001.webm", 10_000, key_field, "video/screen/"),
        ("2026-11-30/exam-1/cand-1/camera/1_x.jpg", 10_000, key_field, "video/screen/"),
        (OWN_SEGMENT, 0, "events[0].duration_ms", "must be 1..="),
        (OWN_SEGMENT, 3_600_000, "events[0].duration_ms", "must be 1..="),
    ];
    for (i, (key, duration, field, says)) in segments.into_iter().enumerate() {
        bodies.push((recording_batch(&uuid_for(100 + i), "screen", key, duration, now), key, field, says));
    }
    bodies
}

fn uuid_for(i: usize) -> String {
    invigil_schemas::ids::event_id_v7(now_ms() as u64 + i as u64, [i as u8; 10]).to_string()
}

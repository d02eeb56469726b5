//! invigil as an LTI 1.3 tool against the test kit's platform: a
//! proctoring launch from login to the signed `LtiStartAssessment`, and
//! every refusal a forged, stale, replayed or incomplete launch must get —
//! a 4xx page that says why, and no candidate token.

use invigil_ingest::config_store::Write;
use invigil_schemas::config::ConfigDocument;
use invigil_testkit::front_door::{Options, Running};
use invigil_testkit::lti_platform::{self, MockPlatform};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

async fn setup() -> (Running, MockPlatform) {
    let running = Running::start(Options { lti: true, ..Options::shared("lti-tests".into()) }).await;
    let platform = MockPlatform::start().await;
    let document = ConfigDocument { lti_platforms: vec![platform.registration("mock")], ..ConfigDocument::default() };
    running.state.config.replace(document, Write { if_version: None, by: "test".into() }).unwrap();
    (running, platform)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The login as the platform starts it: the redirect's query (state, nonce…).
async fn login(running: &Running, platform: &MockPlatform) -> std::collections::HashMap<String, String> {
    let query = [
        ("iss", platform.issuer.as_str()),
        ("login_hint", "user-17"),
        ("target_link_uri", &running.url("/lti/launch")),
        ("lti_message_hint", "attempt-2"),
        ("client_id", platform.client_id.as_str()),
        ("lti_deployment_id", platform.deployment_id.as_str()),
    ];
    let response = no_redirects().get(running.url("/lti/login")).query(&query).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/auth?", platform.base)), "{location}");
    let url = reqwest::Url::parse(&location).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Posts a launch; its status and page.
async fn launch(running: &Running, id_token: &str, state: &str) -> (u16, String) {
    let response = running
        .http
        .post(running.url("/lti/launch"))
        .form(&[("id_token", id_token), ("state", state)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The launch data the proctoring page carries.
fn page_data(page: &str) -> Value {
    let start = page.find(r#"<script type="application/json" id="lti-launch">"#).expect("the proctoring page") + 48;
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

#[tokio::test]
async fn a_proctoring_launch_mints_a_candidate_token_and_signs_the_start_of_the_assessment() {
    let (running, platform) = setup().await;
    let login = login(&running, &platform).await;
    for (name, value) in [
        ("scope", "openid"),
        ("response_type", "id_token"),
        ("response_mode", "form_post"),
        ("prompt", "none"),
        ("login_hint", "user-17"),
        ("lti_message_hint", "attempt-2"),
    ] {
        assert_eq!(login[name], value, "{name}");
    }
    assert_eq!(login["client_id"], platform.client_id);
    assert_eq!(login["redirect_uri"], running.url("/lti/launch"));

    let id_token = platform.sign(&platform.start_proctoring("user-17", &login["nonce"]));
    let (status, page) = launch(&running, &id_token, &login["state"]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Proctoring for Chemistry midterm"), "{page}");
    assert!(page.contains(r#"<script src="/sdk/invigil.js" async>"#), "the SDK from this server by default");
    let data = page_data(&page);

    // The minted token is a candidate of the platform's test: ingest takes it.
    let token = data["token"].as_str().unwrap();
    let config = running.http.get(running.url("/api/v1/config")).bearer_auth(token).send().await.unwrap();
    assert_eq!(config.status(), 200, "{}", config.text().await.unwrap());
    let claims: Value = serde_json::from_slice(&base64_url(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["test_id"].as_str()), (Some("mock:user-17"), Some("mock:quiz-7")));
    assert_eq!(claims["name"], "Asha Rao");

    // The page's checks passed: the signed LtiStartAssessment.
    let reply = start_reply(&running, &data["ticket"], false).await;
    assert_eq!(reply["url"], format!("{}/start", platform.base));
    let jwt = reply["jwt"].as_str().unwrap();
    let jwks: JwkSet = running.http.get(running.url("/lti/jwks")).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let key =
        DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).expect("signed by a published key")).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&platform.issuer]);
    validation.set_issuer(&[&platform.client_id]);
    let start: Value = jsonwebtoken::decode(jwt, &key, &validation).unwrap().claims;
    assert_eq!(start[lti_platform::MESSAGE_TYPE], "LtiStartAssessment");
    assert_eq!(start["https://purl.imsglobal.org/spec/lti/claim/version"], "1.3.0");
    assert_eq!(start[lti_platform::DEPLOYMENT_ID], platform.deployment_id);
    assert_eq!(start[lti_platform::SESSION_DATA], "opaque-session-42", "echoed exactly");
    assert_eq!(start[lti_platform::ATTEMPT_NUMBER], 2);
    assert_eq!(start[lti_platform::RESOURCE_LINK]["id"], "quiz-7");
    assert_eq!(start["https://purl.imsglobal.org/spec/lti-ap/claim/end_assessment_return"], true);
    assert_eq!(data["identity_wait_ms"], 0, "no face checks: nothing to wait for");
    assert!(start.get(VERIFIED_USER).is_none(), "no identity checked, no verified_user");
    assert!(start["nonce"].as_str().is_some_and(|n| n.len() >= 32) && start["jti"].is_string());
    let lifetime = start["exp"].as_i64().unwrap() - start["iat"].as_i64().unwrap();
    assert!((60..=600).contains(&lifetime), "{lifetime} s");

    // The same launch again: its nonce is spent.
    let (status, page) = launch(&running, &id_token, &login["state"]).await;
    assert_eq!(status, 401);
    assert!(page.contains("already used"), "{page}");
    assert!(!page.contains("lti-launch"));

    // A ticket is ours alone: a forged one is refused.
    let forged = running
        .http
        .post(running.url("/lti/start-assessment"))
        .json(&json!({ "ticket": id_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

const VERIFIED_USER: &str = "https://purl.imsglobal.org/spec/lti-ap/claim/verified_user";

/// The proctoring page's ask for the signed `LtiStartAssessment` of a
/// launch's ticket: `{url, jwt}`.
async fn start_reply(running: &Running, ticket: &Value, identity_reference: bool) -> Value {
    let request = json!({ "ticket": ticket, "identity_reference": identity_reference });
    let response = running.http.post(running.url("/lti/start-assessment")).json(&request).send().await.unwrap();
    response.json().await.unwrap()
}

/// The claims of [`start_reply`]'s JWT (unverified here: the first test
/// checks the signature).
async fn start_claims(running: &Running, ticket: &Value, identity_reference: bool) -> Value {
    let reply = start_reply(running, ticket, identity_reference).await;
    let payload = reply["jwt"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    serde_json::from_slice(&base64_url(&payload)).unwrap()
}

/// A proctoring launch of `user` into resource link `link`, with `extra`
/// claims; its status and page.
async fn launch_into(running: &Running, platform: &MockPlatform, link: &str, extra: Value) -> (u16, String) {
    let login = login(running, platform).await;
    let mut claims = platform.start_proctoring("user-17", &login["nonce"]);
    claims[lti_platform::RESOURCE_LINK]["id"] = json!(link);
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    launch(running, &platform.sign(&claims), &login["state"]).await
}

#[tokio::test]
async fn identity_mode_vouches_for_the_launch_names_and_a_trusted_platform_sets_its_test_layer() {
    let (running, platform) = setup().await;
    let config = &running.state.config;
    let write = || Write { if_version: None, by: "test".into() };
    let mut document = (*config.current().document).clone();
    document.tests.insert(
        "mock:quiz-7".to_owned().try_into().unwrap(),
        json!({"face_check": {"mode": "identity"}, "lms": {"end_assessment_return": false, "identity_wait_ms": 5000}}),
    );
    config.replace(document.clone(), write()).unwrap();

    let names = json!({"given_name": "Asha", "family_name": "Rao"});
    let (status, page) = launch_into(&running, &platform, "quiz-7", names.clone()).await;
    assert_eq!(status, 200, "{page}");
    let data = page_data(&page);
    assert_eq!(data["identity_wait_ms"], 5000, "the page waits for the reference face");
    let start = start_claims(&running, &data["ticket"], true).await;
    assert_eq!(
        start[VERIFIED_USER],
        json!({"name": "Asha Rao", "given_name": "Asha", "family_name": "Rao"}),
        "the names the launch gave, never iss or sub"
    );
    assert_eq!(start["https://purl.imsglobal.org/spec/lti-ap/claim/end_assessment_return"], false, "per test");
    let unverified = start_claims(&running, &data["ticket"], false).await;
    assert!(unverified.get(VERIFIED_USER).is_none(), "no reference taken in time, no claim: {unverified}");

    // A platform registered to set its tests' proctoring: a launch's
    // settings become the layer of the test its link makes, once.
    document.lti_platforms[0].settings_from_platform = true;
    config.replace(document.clone(), write()).unwrap();
    let settings =
        |data: &str| json!({"https://purl.imsglobal.org/spec/lti-ap/claim/proctoring_settings": {"data": data}});
    let layer = json!({"face_check": {"mode": "presence"}, "recording": {"mode": "video"}});
    let before = config.current().version;
    for _ in 0..2 {
        let (status, page) = launch_into(&running, &platform, "quiz-8", settings(&layer.to_string())).await;
        assert_eq!(status, 200, "{page}");
    }
    let current = config.current();
    assert_eq!(current.document.tests.get(&"mock:quiz-8".to_owned().try_into().unwrap()), Some(&layer));
    assert_eq!(current.version, before + 1, "written once, not once per launch");
    // Settings the document refuses, or that are not an object, change
    // nothing, and the candidate still gets the proctoring page.
    for (link, data) in [("quiz-9", r#"{"face_check": {"mode": "sometimes"}}"#), ("quiz-10", "video, please")] {
        let (status, page) = launch_into(&running, &platform, link, settings(data)).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("lti-launch"), "the proctoring page");
    }
    // A platform not trusted with settings: ignored.
    document.lti_platforms[0].settings_from_platform = false;
    config.replace(document, write()).unwrap();
    let (status, _) = launch_into(&running, &platform, "quiz-11", settings(&layer.to_string())).await;
    assert_eq!(status, 200);
    let tests: Vec<String> = config.current().document.tests.keys().map(ToString::to_string).collect();
    assert_eq!(tests, ["mock:quiz-7"], "only the document's own layer is left: {tests:?}");
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

#[tokio::test]
async fn forged_stale_misaddressed_and_incomplete_launches_get_a_page_that_says_why_and_start_nothing() {
    let (running, platform) = setup().await;
    let other = MockPlatform::start().await;
    type Change = fn(&mut Value);
    let cases: Vec<(&str, Change, u16, &str)> = vec![
        (
            "expired",
            |c| {
                c["exp"] = json!(now() - 600);
                c["iat"] = json!(now() - 900);
            },
            401,
            "expired",
        ),
        ("wrong audience", |c| c["aud"] = json!("someone-else"), 401, "not addressed to this tool"),
        (
            "several audiences, azp not ours",
            |c| {
                c["aud"] = json!(["invigil-tool", "x"]);
                c["azp"] = json!("x");
            },
            401,
            "azp",
        ),
        ("wrong issuer", |c| c["iss"] = json!("https://evil.example"), 401, "issuer"),
        ("unknown deployment", |c| c[lti_platform::DEPLOYMENT_ID] = json!("dep-9"), 403, "dep-9"),
        (
            "no session_data",
            |c| {
                c.as_object_mut().unwrap().remove(lti_platform::SESSION_DATA);
            },
            400,
            "session_data",
        ),
        (
            "no attempt_number",
            |c| {
                c.as_object_mut().unwrap().remove(lti_platform::ATTEMPT_NUMBER);
            },
            400,
            "attempt_number",
        ),
        (
            "no start_assessment_url",
            |c| {
                c.as_object_mut().unwrap().remove(lti_platform::START_ASSESSMENT_URL);
            },
            400,
            "start_assessment_url",
        ),
        (
            "plain-http start_assessment_url",
            |c| c[lti_platform::START_ASSESSMENT_URL] = json!("http://lms.example/start"),
            400,
            "start_assessment_url",
        ),
        (
            "anonymous",
            |c| {
                c.as_object_mut().unwrap().remove("sub");
            },
            400,
            "anonymous",
        ),
        ("LTI 1.1", |c| c["https://purl.imsglobal.org/spec/lti/claim/version"] = json!("1.1"), 400, "LTI version"),
        (
            "an unknown message",
            |c| c[lti_platform::MESSAGE_TYPE] = json!("LtiDeepLinkingRequest"),
            400,
            "not one this tool takes",
        ),
        ("another nonce", |c| c["nonce"] = json!("not-the-login-nonce"), 401, "nonce"),
    ];
    for (what, change, status, says) in cases {
        let login = login(&running, &platform).await;
        let mut claims = platform.start_proctoring("user-17", &login["nonce"]);
        change(&mut claims);
        let (got, page) = launch(&running, &platform.sign(&claims), &login["state"]).await;
        assert_eq!(got, status, "{what}: {page}");
        assert!(page.contains(says), "{what}: the page should say {says:?}: {page}");
        assert!(!page.contains("lti-launch") && page.contains("Proctoring could not start"), "{what}: nothing started");
        // The refused launch did not spend the nonce: the genuine one still works.
        if what == "another nonce" {
            let genuine = platform.sign(&platform.start_proctoring("user-17", &login["nonce"]));
            assert_eq!(launch(&running, &genuine, &login["state"]).await.0, 200);
        }
    }

    // Signed by another platform's key (same claims, its own kid).
    let login_a = login(&running, &platform).await;
    let forged = other.sign(&platform.start_proctoring("user-17", &login_a["nonce"]));
    let (status, page) = launch(&running, &forged, &login_a["state"]).await;
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("no key"), "{page}");
    // The platform's kid on a body it did not sign: a bad signature.
    let genuine = platform.sign(&platform.start_proctoring("user-17", &login_a["nonce"]));
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let other_body = other.sign(&json!({"sub": "x"}));
    parts[1] = other_body.split('.').nth(1).unwrap();
    let (status, page) = launch(&running, &parts.join("."), &login_a["state"]).await;
    assert_eq!(status, 401);
    assert!(page.contains("signature"), "{page}");
    // A state this server never issued, and none at all.
    let (status, page) = launch(&running, &genuine, "made-up").await;
    assert_eq!(status, 400);
    assert!(page.contains("state"), "{page}");
    let response =
        running.http.post(running.url("/lti/launch")).form(&[("id_token", genuine.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 400);

    // Logins the tool cannot take.
    let target = running.url("/lti/launch");
    let bad_logins = [
        (
            vec![("iss", "https://unknown.example"), ("login_hint", "u"), ("target_link_uri", "x")],
            403,
            "no platform is registered",
        ),
        (vec![("iss", platform.issuer.as_str()), ("login_hint", "u")], 400, "target_link_uri"),
        (
            vec![
                ("iss", platform.issuer.as_str()),
                ("login_hint", "u"),
                ("target_link_uri", "https://evil.example/lti/launch"),
            ],
            400,
            "launch URL (…/lti/launch)",
        ),
        (
            vec![
                ("iss", platform.issuer.as_str()),
                ("login_hint", "u"),
                ("target_link_uri", target.as_str()),
                ("lti_deployment_id", "dep-9"),
            ],
            403,
            "dep-9",
        ),
    ];
    for (query, status, says) in bad_logins {
        let response = no_redirects().get(running.url("/lti/login")).query(&query).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{query:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(says), "{query:?}: {page}");
    }
}

fn now() -> i64 {
    invigil_testkit::now_ms() / 1000
}

#[tokio::test]
async fn a_plain_launch_proctors_without_an_assessment_to_start_and_an_end_launch_ends() {
    let (running, platform) = setup().await;
    // LtiResourceLinkRequest (a platform without the proctoring extension):
    // the page, a token, no ticket; session_data and the rest not needed.
    let login_plain = login(&running, &platform).await;
    let mut claims = platform.start_proctoring("user-17", &login_plain["nonce"]);
    claims[lti_platform::MESSAGE_TYPE] = json!("LtiResourceLinkRequest");
    for claim in [lti_platform::SESSION_DATA, lti_platform::ATTEMPT_NUMBER, lti_platform::START_ASSESSMENT_URL] {
        claims.as_object_mut().unwrap().remove(claim);
    }
    let (status, page) = launch(&running, &platform.sign(&claims), &login_plain["state"]).await;
    assert_eq!(status, 200, "{page}");
    let data = page_data(&page);
    assert!(data["token"].is_string() && data["ticket"].is_null(), "{data}");

    // LtiEndAssessment: the page that stops the SDK; nothing minted.
    let login_end = login(&running, &platform).await;
    let mut claims = platform.start_proctoring("user-17", &login_end["nonce"]);
    claims[lti_platform::MESSAGE_TYPE] = json!("LtiEndAssessment");
    let (status, page) = launch(&running, &platform.sign(&claims), &login_end["state"]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Proctoring has ended") && page.contains("invigil.stop()"), "{page}");
    assert!(!page.contains("lti-launch"), "no token on the end page");
}

/// A control about the launch's user and attempt, for `action`.
fn control(platform: &MockPlatform, action: invigil_ingest::lti::acs::Action) -> invigil_ingest::lti::acs::Control {
    use invigil_ingest::lti::acs::{AcsUser, Control};
    use invigil_schemas::clock::rfc3339;
    Control {
        user: AcsUser { iss: platform.issuer.clone(), sub: "user-17".into() },
        resource_link: invigil_ingest::lti::ResourceLink { id: "quiz-7".into(), title: None },
        attempt_number: invigil_ingest::lti::AttemptNumber(2),
        action,
        incident_time: rfc3339(invigil_testkit::now_ms()),
        incident_severity: Some(0.7),
        extra_time: (action == invigil_ingest::lti::acs::Action::Update).then_some(15),
        reason_code: Some("different_person".into()),
        reason_msg: Some("A different person for 60 s".into()),
    }
}

#[tokio::test]
async fn the_assessment_control_service_gets_a_token_by_assertion_and_its_controls_are_retried_or_refused() {
    use invigil_ingest::lti::acs::{AcsClient, AcsError, Action};
    let (running, platform) = setup().await;
    platform.trust_tool_keys(&running.url("/lti/jwks"));
    let lti = running.state.lti.as_ref().unwrap();
    let client = AcsClient::new(std::sync::Arc::clone(&lti.keys));
    let registration = platform.registration("mock");
    let acs: invigil_ingest::lti::Acs = serde_json::from_value(
        platform.start_proctoring("user-17", "n")["https://purl.imsglobal.org/spec/lti-ap/claim/acs"].clone(),
    )
    .unwrap();

    let paused = client.send(&registration, &acs, &control(&platform, Action::Pause)).await.unwrap();
    assert_eq!(paused.status, "paused");
    let extended = client.send(&registration, &acs, &control(&platform, Action::Update)).await.unwrap();
    assert_eq!((extended.status.as_str(), extended.extra_time), ("running", Some(15)));
    assert_eq!(platform.tokens_issued(), 1, "one token serves both controls");
    let taken = platform.controls();
    assert_eq!(taken.len(), 2);
    assert_eq!(taken[0]["action"], "pause");
    assert_eq!(taken[0]["user"]["sub"], "user-17");
    assert_eq!(taken[0]["attempt_number"], 2);
    assert_eq!(taken[0]["reason_code"], "different_person");
    assert!(taken[0]["incident_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(taken[1]["extra_time"], 15);

    // A revoked token: a new one, once, and the control goes through.
    platform.revoke_tokens();
    assert_eq!(client.send(&registration, &acs, &control(&platform, Action::Resume)).await.unwrap().status, "running");
    assert_eq!(platform.tokens_issued(), 1, "the revoked list was emptied, then one new token");

    // Flags with retries: `attempts` in all, 10 ms backoff to start.
    let flag = |attempts: u32| {
        let (client, registration, acs, control) = (&client, &registration, &acs, control(&platform, Action::Flag));
        async move {
            client.send_with_retry(registration, acs, &control, attempts, std::time::Duration::from_millis(10)).await
        }
    };
    // The platform busy twice: retried with backoff, then taken.
    platform.fail_next(&[503, 502]);
    let (flagged, tries) = flag(5).await.unwrap();
    assert_eq!((flagged.status.as_str(), tries), ("running", 3), "two refusals, then taken");
    assert_eq!(platform.controls().len(), 4);

    // A refusal the platform means is not retried; the reason is kept.
    platform.fail_next(&[400]);
    let (error, tried) = flag(5).await.unwrap_err();
    assert_eq!((tried, matches!(error, AcsError::Refused { status: 400, .. })), (1, true), "{error}");

    // Still failing after every attempt: the last error, and how many tries.
    platform.fail_next(&[503, 503, 503]);
    let (error, tried) = flag(3).await.unwrap_err();
    assert_eq!((tried, error.retryable()), (3, true), "{error}");

    // An action the launch did not offer never reaches the platform.
    let narrow = invigil_ingest::lti::Acs { actions: vec!["flag".into()], ..acs.clone() };
    let before = platform.controls().len();
    let refused = client.send(&registration, &narrow, &control(&platform, Action::Terminate)).await.unwrap_err();
    assert!(matches!(refused, AcsError::NotOffered("terminate", _)), "{refused}");
    assert_eq!(platform.controls().len(), before);

    // Keys the platform does not trust: the token endpoint refuses, and says so.
    platform.trust_tool_keys(&format!("{}/jwks", platform.base));
    platform.revoke_tokens();
    let fresh = AcsClient::new(std::sync::Arc::clone(&lti.keys));
    let error = fresh.send(&registration, &acs, &control(&platform, Action::Flag)).await.unwrap_err();
    assert!(matches!(&error, AcsError::Token(why) if why.contains("invalid_client")), "{error}");
}

#[tokio::test]
async fn a_proctor_of_the_test_controls_the_attempt_through_the_signed_context_and_nobody_else_can() {
    use invigil_schemas::claims::StaffRole;
    use invigil_testkit::tokens;
    let (running, platform) = setup().await;
    platform.trust_tool_keys(&running.url("/lti/jwks"));
    let login = login(&running, &platform).await;
    let id_token = platform.sign(&platform.start_proctoring("user-17", &login["nonce"]));
    let (status, page) = launch(&running, &id_token, &login["state"]).await;
    assert_eq!(status, 200, "{page}");
    let context = page_data(&page)["acs"].as_str().expect("the page carries the signed ACS context").to_owned();
    assert!(context.len() < 1_800, "fits a custom event's 2,048 bytes with its wrapper: {}", context.len());

    let send = |token: String, body: Value| {
        let request = running.http.post(running.url("/api/v1/lti/control")).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    // Unique per run: the staff topic is shared by every run of this test.
    let proctor_id = format!("p-{}", uuid::Uuid::new_v4());
    let proctor = tokens::staff_of(&proctor_id, StaffRole::Proctor, &["mock:quiz-7"]);
    let body = |action: &str| {
        json!({"context": context, "action": action, "reason_code": "different_person",
        "reason_msg": "A different person for 60 s", "incident_severity": 0.8})
    };

    let (status, reply) = send(proctor.clone(), body("pause")).await;
    assert_eq!(
        (status, reply["status"].as_str(), reply["attempts"].as_u64(), reply["recorded"].as_bool()),
        (200, Some("paused"), Some(1), Some(true)),
        "{reply}"
    );
    let mut extend = body("update");
    extend["extra_time"] = json!(10);
    let (status, reply) = send(proctor.clone(), extend).await;
    assert_eq!((status, reply["extra_time"].as_u64()), (200, Some(10)), "{reply}");
    let taken = platform.controls();
    assert_eq!(taken.len(), 2);
    assert_eq!(
        (
            &taken[0]["user"]["sub"],
            &taken[0]["user"]["iss"],
            &taken[0]["resource_link"]["id"],
            &taken[0]["attempt_number"]
        ),
        (&json!("user-17"), &json!(platform.issuer), &json!("quiz-7"), &json!(2)),
        "the launch's user and attempt, not anything the request says"
    );
    assert_eq!(taken[0]["incident_severity"], 0.8);

    // Who may not: a proctor of another test, a reviewer, the candidate.
    let elsewhere = tokens::staff_of("p-2", StaffRole::Proctor, &["other-test"]);
    assert_eq!(send(elsewhere, body("terminate")).await.0, 403);
    assert_eq!(send(tokens::staff(StaffRole::Reviewer, &["mock:quiz-7"]), body("terminate")).await.0, 403);
    let candidate = page_data(&page)["token"].as_str().unwrap().to_owned();
    assert_eq!(send(candidate, body("terminate")).await.0, 403);
    // A context we did not sign (the ticket has another audience; a made-up one).
    let mut forged = body("terminate");
    forged["context"] = page_data(&page)["ticket"].clone();
    assert_eq!(send(proctor.clone(), forged).await.0, 401);
    // Bad input names its field.
    let (status, reply) = send(proctor.clone(), body("update")).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (400, Some("extra_time")), "{reply}");
    let mut severe = body("flag");
    severe["incident_severity"] = json!(3);
    assert_eq!(send(proctor.clone(), severe).await.1["error"]["field"], "incident_severity");
    assert_eq!(platform.controls().len(), 2, "nothing refused reached the platform");

    // The platform down for every try: 503 after three, saying why.
    platform.fail_next(&[503, 503, 503]);
    let (status, reply) = send(proctor.clone(), body("flag")).await;
    assert_eq!(status, 503, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("after 3 tries"), "{reply}");
    // The platform refusing: 409 with its answer.
    platform.fail_next(&[422]);
    let (status, reply) = send(proctor, body("flag")).await;
    assert_eq!(status, 409, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("HTTP 422"), "{reply}");

    // Every control that reached for the platform is a staff action in the
    // candidate's timeline, taken or not, with who, what, why and what came
    // of it; nothing refused at the door is.
    let topic = running.state.settings.kafka.topic.clone();
    let mine = move |actions: &[invigil_schemas::staff::StaffAction]| {
        actions.iter().filter(|a| a.staff == proctor_id).cloned().collect::<Vec<_>>()
    };
    let brokers = running.state.kafka.brokers.clone();
    let read = tokio::task::spawn_blocking(move || {
        let all = invigil_testkit::kafka::read_staff_actions_until(
            &brokers,
            &topic,
            std::time::Duration::from_secs(20),
            |a| mine(a).len() >= 4,
        );
        mine(&all)
    });
    let actions = read.await.unwrap();
    let summary: Vec<(&str, &str, Option<&str>)> = actions
        .iter()
        .map(|a| (a.action.as_str(), a.outcome.as_str(), a.detail.get("status").and_then(Value::as_str)))
        .collect();
    assert_eq!(
        summary,
        [
            ("lti.pause", "done", Some("paused")),
            ("lti.update", "done", Some("running")),
            ("lti.flag", "failed", None),
            ("lti.flag", "failed", None)
        ],
        "{actions:#?}"
    );
    let pause = &actions[0];
    assert_eq!(
        (pause.test_id.as_ref().unwrap().as_str(), pause.candidate_id.as_ref().unwrap().as_str(), pause.role.as_str()),
        ("mock:quiz-7", "mock:user-17", "proctor")
    );
    assert_eq!(pause.detail["reason_code"], "different_person");
    assert_eq!(pause.detail["reason_msg"], "A different person for 60 s");
    assert_eq!(pause.detail["incident_severity"], 0.8);
    assert_eq!(pause.detail["platform"], "mock");
    assert_ne!(pause.client_ip_hash, 0, "from where: the proctor's address, keyed-hashed");
    assert_eq!(actions[1].detail["extra_time"], 10);
    assert_eq!((actions[2].detail["attempts"].as_u64(), actions[3].detail["attempts"].as_u64()), (Some(3), Some(1)));
    assert!(actions[2].detail["error"].as_str().unwrap().contains("503"), "{:?}", actions[2].detail);
    assert!(actions[3].detail["error"].as_str().unwrap().contains("HTTP 422"), "{:?}", actions[3].detail);
}

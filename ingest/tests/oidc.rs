//! Staff sign-in with OpenID Connect against the test kit's provider: the
//! code flow with PKCE to a session cookie the dashboards accept, CSRF on
//! changes, sign-out, and every refusal a spoiled, replayed or foreign
//! sign-in must get — a page that says why, and no session.

use invigil_ingest::oidc::{Grant, OidcSettings};
use invigil_schemas::claims::StaffRole;
use invigil_schemas::ids::TestId;
use invigil_testkit::front_door::{Options, Running};
use invigil_testkit::oidc_provider::{MockProvider, Spoil};
use serde_json::{json, Value};

const SECRET_VARIABLE: &str = "INVIGIL_OIDC_TEST_SESSION_SECRET";
const CLIENT_SECRET_VARIABLE: &str = "INVIGIL_OIDC_TEST_CLIENT_SECRET";
const REDIRECT: &str = "http://127.0.0.1/auth/oidc/callback";

async fn setup() -> (Running, MockProvider) {
    let provider = MockProvider::start().await;
    std::env::set_var(SECRET_VARIABLE, "Qm7Vx2Lp9Rt4Wz8Kc1Hn6Bd3Jf5Gs0Ya");
    std::env::set_var(CLIENT_SECRET_VARIABLE, &provider.client_secret);
    let oidc = OidcSettings {
        enabled: true,
        name: "Test IdP".into(),
        issuer: provider.issuer.clone(),
        client_id: provider.client_id.clone(),
        client_secret_env: Some(CLIENT_SECRET_VARIABLE.into()),
        redirect_url: REDIRECT.into(),
        grants: vec![
            Grant { value: "staff-admins".into(), role: StaffRole::Admin, tests: vec![] },
            Grant {
                value: "chem-proctors".into(),
                role: StaffRole::Proctor,
                tests: vec![TestId::new("chem-1").unwrap()],
            },
        ],
        session_secret_env: SECRET_VARIABLE.into(),
        ..OidcSettings::default()
    };
    let running = Running::start(Options { oidc: Some(oidc), ..Options::shared("oidc-tests".into()) }).await;
    (running, provider)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `name=value` of `name` among a response's `Set-Cookie`s, and the
/// whole header.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        let pair = line.split(';').next()?.trim();
        pair.starts_with(&format!("{name}=")).then(|| (pair.to_owned(), line.to_owned()))
    })
}

/// A sign-in up to the provider's redirect back: the sign-in cookie and
/// the callback's query.
async fn start_sign_in(running: &Running, next: &str) -> (String, String) {
    let http = no_redirects();
    let response = http.get(running.url("/auth/oidc/login")).query(&[("next", next)]).send().await.unwrap();
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    let (cookie, line) = set_cookie(&response, "invigil_oidc").expect("the sign-in cookie");
    assert!(line.contains("HttpOnly") && line.contains("Path=/auth/oidc"), "{line}");
    let authorize = response.headers()["location"].to_str().unwrap().to_owned();
    let back = http.get(&authorize).send().await.unwrap();
    assert_eq!(back.status(), 303, "the provider's authorize: {}", back.text().await.unwrap());
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let query = location.strip_prefix(&format!("{REDIRECT}?")).expect("back to the redirect URL").to_owned();
    (cookie, query)
}

/// The callback with `cookie` (if any): status, headers and page.
async fn callback(running: &Running, cookie: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = no_redirects().get(format!("{}?{query}", running.url("/auth/oidc/callback")));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// A whole sign-in as `user`: the session cookie (`invigil_staff=…`).
async fn sign_in(running: &Running, provider: &MockProvider, user: Value) -> String {
    provider.sign_in_next(user);
    let (cookie, query) = start_sign_in(running, "/dashboard/admin.html").await;
    let response = callback(running, Some(&cookie), &query).await;
    assert_eq!(response.status(), 303);
    set_cookie(&response, "invigil_staff").expect("a session").0
}

async fn json_with_cookie(running: &Running, path: &str, cookie: &str) -> (u16, Value) {
    let response = running.http.get(running.url(path)).header("cookie", cookie).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_sign_in_with_pkce_gives_a_session_the_dashboards_take_and_changes_need_its_csrf_token() {
    let (running, provider) = setup().await;
    let (_, before) = json_with_cookie(&running, "/auth/session", "").await;
    assert_eq!(before["signed_in"], false);
    assert_eq!(before["sign_in"], json!({"name": "Test IdP", "url": "/auth/oidc/login"}));

    provider.sign_in_next(json!({"sub": "u-ada", "name": "Ada Lovelace", "groups": ["staff-admins", "other"]}));
    let (login_cookie, query) = start_sign_in(&running, "/dashboard/admin.html?x=1").await;
    let asked = provider.requests().pop().unwrap();
    for (name, value) in [("response_type", "code"), ("code_challenge_method", "S256"), ("redirect_uri", REDIRECT)] {
        assert_eq!(asked[name], value, "{name}");
    }
    assert_eq!(asked["scope"], "openid profile email");
    for name in ["state", "nonce", "code_challenge"] {
        assert!(asked[name].len() >= 43, "{name}: {}", asked[name]);
    }

    // The provider's token endpoint checked the client secret, the
    // redirect URI and the PKCE verifier before answering.
    let response = callback(&running, Some(&login_cookie), &query).await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    assert_eq!(response.headers()["location"], "/dashboard/admin.html?x=1");
    let (session, line) = set_cookie(&response, "invigil_staff").expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(!line.contains("Secure"), "an http redirect URL: no Secure ({line})");
    let (_, cleared) = set_cookie(&response, "invigil_oidc").expect("the sign-in cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let (status, me) = json_with_cookie(&running, "/api/v1/dashboard/me", &session).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["sub"].as_str(), me["role"].as_str(), me["name"].as_str()),
        (Some("u-ada"), Some("admin"), Some("Ada Lovelace"))
    );
    let (_, current) = json_with_cookie(&running, "/auth/session", &session).await;
    assert_eq!(current["signed_in"], true);
    let csrf = current["csrf"].as_str().unwrap().to_owned();

    // A change by cookie alone is refused; with the session's token it is taken.
    let document = json!({"defaults": {}, "tests": {}, "bypasses": {}});
    let put = |token: Option<&str>| {
        let mut request = running
            .http
            .put(running.url("/api/v1/admin/config"))
            .header("cookie", &session)
            .header("content-type", "application/json")
            .body(document.to_string());
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    for token in [None, Some("not-the-token")] {
        let refused = put(token).await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(refused.text().await.unwrap().contains("x-csrf-token"));
    }
    let taken = put(Some(&csrf)).await.unwrap();
    assert_eq!(taken.status(), 200, "{}", taken.text().await.unwrap());

    // The callback again: without the sign-in cookie (as the browser now
    // is), and with a copy of it (the code is spent at the provider).
    let replay = callback(&running, None, &query).await;
    assert_eq!(replay.status(), 400);
    let page = replay.text().await.unwrap();
    assert!(page.contains("already used, or it did not start here"), "{page}");
    let replay = callback(&running, Some(&login_cookie), &query).await;
    assert_eq!(replay.status(), 400);
    assert!(set_cookie(&replay, "invigil_staff").is_none());
    let page = replay.text().await.unwrap();
    assert!(page.contains("invalid_grant") && page.contains("already used or has expired"), "{page}");

    // Sign-out needs the token too, and clears the cookie.
    let out = running.http.post(running.url("/auth/logout")).header("cookie", &session).send().await.unwrap();
    assert_eq!(out.status(), 403);
    let out = running
        .http
        .post(running.url("/auth/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(set_cookie(&out, "invigil_staff").unwrap().1.contains("Max-Age=0"));
}

#[tokio::test]
async fn grants_decide_the_role_and_tests_and_a_user_nobody_granted_gets_a_page() {
    let (running, provider) = setup().await;
    let proctor = sign_in(&running, &provider, json!({"sub": "u-pat", "groups": ["chem-proctors"]})).await;
    let (status, me) = json_with_cookie(&running, "/api/v1/dashboard/me", &proctor).await;
    assert_eq!(status, 200);
    assert_eq!((me["role"].as_str(), me["tests"].clone()), (Some("proctor"), json!(["chem-1"])));
    let (status, refused) = json_with_cookie(&running, "/api/v1/admin/config", &proctor).await;
    assert_eq!(status, 403, "{refused}");

    provider.sign_in_next(json!({"sub": "u-sam", "groups": ["students"]}));
    let (cookie, query) = start_sign_in(&running, "/dashboard/").await;
    let response = callback(&running, Some(&cookie), &query).await;
    assert_eq!(response.status(), 403);
    assert!(set_cookie(&response, "invigil_staff").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("signed in at the provider as u-sam") && page.contains("grants a role"), "{page}");
}

#[tokio::test]
async fn each_spoiled_id_token_or_foreign_state_gets_a_page_naming_the_check_and_no_session() {
    let (running, provider) = setup().await;
    let cases = [
        (Spoil::OtherAudience, 401, "addressed to another client"),
        (Spoil::Expired, 401, "the id_token has expired"),
        (Spoil::OtherNonce, 401, "nonce is not the one this sign-in sent"),
        (Spoil::OtherIssuer, 401, "issuer is not"),
        (Spoil::OtherKey, 401, "key cannot be checked"),
    ];
    for (spoil, status, says) in cases {
        provider.sign_in_next(json!({"sub": "u-ada", "groups": ["staff-admins"]}));
        provider.spoil_next(spoil);
        let (cookie, query) = start_sign_in(&running, "/dashboard/").await;
        let response = callback(&running, Some(&cookie), &query).await;
        assert_eq!(response.status(), status, "{spoil:?}");
        assert!(set_cookie(&response, "invigil_staff").is_none(), "{spoil:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(says), "{spoil:?}: {page}");
        assert!(page.contains(r#"id="sign-in-error""#));
    }

    // Another browser's sign-in cookie with this callback's state.
    provider.sign_in_next(json!({"sub": "u-ada", "groups": ["staff-admins"]}));
    let (first_cookie, _) = start_sign_in(&running, "/dashboard/").await;
    let (_, second_query) = start_sign_in(&running, "/dashboard/").await;
    let response = callback(&running, Some(&first_cookie), &second_query).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("state is not the one this browser started"));

    // The provider said no.
    let response =
        callback(&running, Some(&first_cookie), "error=access_denied&error_description=user%20said%20no").await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("did not sign you in: access_denied (user said no)"));

    // A forged session cookie is not a session.
    let (status, body) =
        json_with_cookie(&running, "/api/v1/dashboard/me", "invigil_staff=eyJhbGciOiJIUzI1NiJ9.e30.x").await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn bearer_staff_tokens_need_invigils_issuer_and_audience_and_skip_csrf() {
    let (running, _provider) = setup().await;
    let now = invigil_schemas::clock::now_ms() / 1000;
    let base = json!({"sub": "admin-1", "role": "admin", "tests": [], "iat": now, "exp": now + 600});
    let mint = |extra: Value| {
        let mut claims = base.clone();
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        invigil_testkit::tokens::sign(&claims)
    };
    let cases = [
        (json!({}), 401, "iss \\\"invigil\\\""),
        (json!({"iss": "invigil"}), 401, "aud \\\"invigil-staff\\\""),
        (json!({"iss": "host-app", "aud": "invigil-staff"}), 401, "iss"),
        (json!({"iss": "invigil", "aud": ["other", "invigil-staff"]}), 200, ""),
    ];
    for (extra, status, says) in cases {
        let response = running
            .http
            .get(running.url("/api/v1/admin/config"))
            .bearer_auth(mint(extra.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{extra}");
        assert!(response.text().await.unwrap().contains(says), "{extra}");
    }
    // A bearer token is not a cookie: no CSRF token needed.
    let response = running
        .http
        .put(running.url("/api/v1/admin/config"))
        .bearer_auth(invigil_testkit::tokens::staff(StaffRole::Admin, &[]))
        .header("content-type", "application/json")
        .body(json!({"defaults": {}, "tests": {}, "bypasses": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

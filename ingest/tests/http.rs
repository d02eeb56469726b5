//! The HTTP contract of ingest (SPEC §4) against real tansu and moto: exact
//! statuses and JSON bodies, and what lands in Kafka.

use std::collections::BTreeSet;
use std::time::Duration;

use invigil_schemas::claims::StaffRole;
use invigil_testkit::batches::{batch, new_session};
use invigil_testkit::front_door::*;
use invigil_testkit::kafka::*;
use invigil_testkit::{now_ms, services, tokens};
use serde_json::{json, Value};

fn fixtures(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures").join(kind);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_valid_batch_is_acknowledged_and_produced_with_identity_from_the_token() {
    let topic = unique_topic("valid");
    create_topic(&services::brokers(), &topic, 3).await;
    let ingest = Running::start(Options::shared(topic.clone())).await;
    let token = tokens::candidate("exam-1", "cand-1");
    let session = new_session();
    let body = batch(&session, 0, 0, 10);

    let (status, _, reply) = ingest.post_events(&token, &body).await;
    assert_eq!((status, reply), (200, json!({"status": "ok", "accepted": 10, "config_version": 1})));
    // A retried batch (same session and batch_seq) is accepted again; the
    // pipeline dedups by session_id + seq.
    let (status, _, reply) = ingest.post_events(&token, &body).await;
    assert_eq!((status, reply), (200, json!({"status": "ok", "accepted": 10, "config_version": 1})));

    let records = read_topic(&services::brokers(), &topic, 2, Duration::from_secs(20));
    assert_eq!(records.len(), 2);
    for (key, record) in &records {
        assert_eq!(key, "exam-1/cand-1");
        assert_eq!((record.test_id.as_str(), record.candidate_id.as_str()), ("exam-1", "cand-1"));
        assert_eq!(record.ingest_node, "ingest-test");
        assert!((now_ms() - record.received_at).abs() < 60_000);
        assert_eq!(record.batch.session_id.to_string(), session);
        assert_eq!(record.batch.events.len(), 10);
        assert_eq!(serde_json::to_value(&record.batch).unwrap(), body, "the batch is produced unchanged");
    }
    assert_eq!(ingest.metric("invigil_ingest_produced_total").await, 2.0);
    ingest.stop().await;
}

/// Events an SDK from before December 2026 queued in a browser (no
/// `key_activity.peak_per_s`/`burst_s`, no `clipboard.target`) are still
/// accepted when that browser comes back, and travel with the defaults.
#[tokio::test]
async fn events_without_the_newer_fields_are_accepted_with_their_defaults() {
    let topic = unique_topic("older");
    create_topic(&services::brokers(), &topic, 1).await;
    let ingest = Running::start(Options::shared(topic.clone())).await;
    let token = tokens::candidate("exam-1", "cand-1");
    let session = new_session();
    let now = now_ms();
    let id = |n: u8| invigil_schemas::ids::event_id_v7(now as u64, [n; 10]).to_string();
    let body = json!({"v": 1, "session_id": session, "batch_seq": 0, "sent_at": now, "events": [
        {"id": id(1), "seq": 0, "ts": now, "type": "key_activity", "keys": 7, "interval_ms": 5000},
        {"id": id(2), "seq": 1, "ts": now, "type": "clipboard", "action": "paste", "chars": 9},
    ]});
    let (status, _, reply) = ingest.post_events(&token, &body).await;
    assert_eq!((status, reply["accepted"].clone()), (200, json!(2)));
    let records = read_topic(&services::brokers(), &topic, 1, Duration::from_secs(20));
    let events = serde_json::to_value(&records[0].1.batch.events).unwrap();
    assert_eq!((events[0]["peak_per_s"].clone(), events[0]["burst_s"].clone()), (json!(0), json!(0)));
    assert_eq!(events[1]["target"], Value::Null);
    assert_ne!(records[0].1.client_net_hash, 0, "ingest names the network");
    ingest.stop().await;
}

#[tokio::test]
async fn every_invalid_fixture_gets_400_naming_every_field() {
    let ingest = Running::start(Options::shared(unique_topic("invalid"))).await;
    let token = tokens::candidate("exam-1", "cand-1");
    for path in fixtures("invalid") {
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let expected: Vec<(String, String)> =
            serde_json::from_slice(&std::fs::read(path.with_extension("expected.json")).unwrap()).unwrap();
        let (status, retry, reply) = ingest.post_events(&token, &body).await;
        assert_eq!((status, retry), (400, None), "{}", path.display());
        assert_eq!(reply["error"]["code"], "invalid_request", "{}", path.display());
        assert_eq!(reply["error"]["field"], json!(expected[0].0), "{}: first field", path.display());
        let got: Vec<(String, String)> = reply["error"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["field"].as_str().unwrap().to_owned(), p["code"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(got, expected, "{}", path.display());
    }
    // Not JSON at all.
    let response = ingest
        .http
        .post(ingest.url("/api/v1/events"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, _, reply) = parts(response).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["problems"][0]["code"], "invalid_json");
    // A valid batch declared as something else, or as nothing: 415 naming
    // the header; a charset parameter is fine.
    let valid = serde_json::to_vec(&batch(&new_session(), 0, 0, 1)).unwrap();
    for declared in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut request = ingest.http.post(ingest.url("/api/v1/events")).bearer_auth(&token).body(valid.clone());
        if let Some(declared) = declared {
            request = request.header("content-type", declared);
        }
        let (status, _, reply) = parts(request.send().await.unwrap()).await;
        assert_eq!(status, 415, "{declared:?}: {reply}");
        assert_eq!(
            (reply["error"]["code"].as_str(), reply["error"]["field"].as_str()),
            (Some("unsupported_media_type"), Some("content-type"))
        );
    }
    let response = ingest
        .http
        .post(ingest.url("/api/v1/events"))
        .bearer_auth(&token)
        .header("content-type", "application/json; charset=utf-8")
        .body(valid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    ingest.stop().await;
}

#[tokio::test]
async fn bad_tokens_get_401_with_the_reason() {
    let ingest = Running::start(Options::shared(unique_topic("tokens"))).await;
    let body = batch(&new_session(), 0, 0, 1);
    let now = now_ms() / 1000;
    let claims = json!({"sub": "cand-1", "test_id": "exam-1", "iat": now, "exp": now + 600});

    let expired = tokens::sign(&json!({"sub": "cand-1", "test_id": "exam-1", "iat": now - 7200, "exp": now - 3600}));
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"somebody-elses-secret-of-32-bytes-or-more"),
    )
    .unwrap();
    let wrong_algorithm = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(tokens::SECRET),
    )
    .unwrap();
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    let no_test_id = tokens::sign(&json!({"sub": "cand-1", "iat": now, "exp": now + 600}));

    for (token, message) in [
        (Some(expired), "token expired"),
        (Some(forged), "token signature is invalid"),
        (Some(wrong_algorithm), "token algorithm is not the one this server accepts"),
        (Some(alg_none), "token header is malformed or names an unknown algorithm"),
        (Some(no_test_id), "token claims are malformed"),
        (None, "missing Authorization header; send `Authorization: Bearer <token>`"),
    ] {
        let mut request = ingest.http.post(ingest.url("/api/v1/events")).json(&body);
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let (status, _, reply) = parts(request.send().await.unwrap()).await;
        assert_eq!((status, reply), (401, json!({"error": {"code": "unauthorized", "message": message}})), "{message}");
    }
    ingest.stop().await;
}

#[tokio::test]
async fn admin_routes_refuse_candidates_and_proctors() {
    let ingest = Running::start(Options::shared(unique_topic("admin403"))).await;
    let forbidden = json!({"error": {"code": "forbidden", "message": "this route needs an admin token"}});
    for token in [tokens::staff(StaffRole::Proctor, &["exam-1"]), tokens::staff(StaffRole::Reviewer, &["exam-1"])] {
        let (status, _, reply) =
            parts(ingest.http.get(ingest.url("/api/v1/admin/config")).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!((status, reply), (403, forbidden.clone()));
    }
    // A candidate's token is authentic but grants nothing here.
    let candidate = tokens::candidate("exam-1", "cand-1");
    for request in [
        ingest.http.get(ingest.url("/api/v1/admin/config")),
        ingest.http.put(ingest.url("/api/v1/admin/config")).json(&json!({})),
        ingest.http.get(ingest.url("/api/v1/admin/config/history")),
        ingest.http.post(ingest.url("/api/v1/admin/config/rollback")),
    ] {
        let (status, _, reply) = parts(request.bearer_auth(&candidate).send().await.unwrap()).await;
        assert_eq!((status, reply), (403, forbidden.clone()));
    }
    assert_eq!(ingest.state.config.current().version, 1, "nothing changed");
    ingest.stop().await;
}

#[tokio::test]
async fn oversize_bodies_get_413_and_floods_get_429() {
    let mut options = Options::shared(unique_topic("limits"));
    options.rate_limit = (0.1, 3.0);
    let ingest = Running::start(options).await;
    let token = tokens::candidate("exam-1", "cand-9");

    let huge = json!({"v": 1, "padding": "x".repeat(300 * 1024)});
    let (status, _, reply) = ingest.post_events(&token, &huge).await;
    assert_eq!(
        (status, reply),
        (413, json!({"error": {"code": "payload_too_large", "message": "body exceeds 262144 bytes"}}))
    );

    let session = new_session();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, retry, reply) = ingest.post_events(&token, &batch(&session, i, i * 2, 2)).await;
        statuses.push(status);
        if status == 429 {
            let wait: u64 = retry.as_deref().unwrap().parse().unwrap();
            assert!((1..=10).contains(&wait), "Retry-After {wait}");
            assert_eq!(reply["error"]["code"], "rate_limited");
        }
    }
    // The limit is checked before the body is read, so the 413 took a token:
    // a burst of 3 is the 413 and two batches, then the limit holds.
    assert_eq!(statuses, vec![200, 200, 429, 429, 429]);
    let other = tokens::candidate("exam-1", "cand-10");
    assert_eq!(
        ingest.post_events(&other, &batch(&new_session(), 0, 0, 1)).await.0,
        200,
        "other candidates are unaffected"
    );
    assert_eq!(ingest.metric("invigil_ingest_rate_limited_total").await, 3.0);
    ingest.stop().await;
}

/// `method` on `path` with an admin token and an optional JSON body.
async fn admin_call(ingest: &Running, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = ingest.http.request(method, ingest.url(path)).bearer_auth(tokens::staff(StaffRole::Admin, &[]));
    if let Some(body) = body {
        request = request.json(body);
    }
    let (status, _, reply) = parts(request.send().await.unwrap()).await;
    (status, reply)
}

#[tokio::test]
async fn config_changes_reach_the_next_call_and_shut_down_disabled_or_bypassed_candidates() {
    use reqwest::Method;
    let topic = unique_topic("config");
    create_topic(&services::brokers(), &topic, 1).await;
    let ingest = Running::start(Options::shared(topic.clone())).await;
    let alice = tokens::candidate("exam-1", "alice");
    let bob = tokens::candidate("exam-1", "bob");
    let carol = tokens::candidate("exam-2", "carol");
    let session = new_session();

    let (status, reply) = admin_call(&ingest, Method::GET, "/api/v1/admin/config", None).await;
    assert_eq!((status, &reply["version"]), (200, &json!(1)));
    let mut document = reply["document"].clone();

    // Disable proctoring for exam-1 and bypass bob.
    document["tests"]["exam-1"] = json!({"proctoring_enabled": false});
    let put = admin_call(&ingest, Method::PUT, "/api/v1/admin/config", Some(&document)).await;
    assert_eq!(put, (200, json!({"version": 2})));
    let shutdown = |reason: &str| json!({"status": "shutdown", "reason": reason, "action": "graceful_shutdown"});
    assert_eq!(ingest.post_events(&alice, &batch(&session, 0, 0, 1)).await.2, shutdown("proctoring_disabled"));
    assert_eq!(ingest.post_events(&carol, &batch(&new_session(), 0, 0, 1)).await.2["config_version"], 2);

    document["tests"] = json!({});
    document["bypasses"] = json!({"exam-1": {"bob": {"reason": "accessibility accommodation"}}});
    let put = admin_call(&ingest, Method::PUT, "/api/v1/admin/config", Some(&document)).await;
    assert_eq!(put, (200, json!({"version": 3})));
    assert_eq!(ingest.post_events(&bob, &batch(&new_session(), 0, 0, 1)).await.2, shutdown("candidate_bypassed"));
    let (status, _, reply) = ingest.post_events(&alice, &batch(&session, 1, 1, 1)).await;
    assert_eq!((status, reply), (200, json!({"status": "ok", "accepted": 1, "config_version": 3})));

    // An invalid edit names the field and changes nothing.
    let mut bad = document.clone();
    bad["defaults"]["events_interval_ms"] = json!(0);
    let (status, reply) = admin_call(&ingest, Method::PUT, "/api/v1/admin/config", Some(&bad)).await;
    assert_eq!((status, &reply["error"]["field"]), (400, &json!("defaults.events_interval_ms")));
    assert_eq!(ingest.state.config.current().version, 3);

    // Rollback restores version 2's document as version 4.
    let rollback = admin_call(&ingest, Method::POST, "/api/v1/admin/config/rollback", None).await;
    assert_eq!(rollback, (200, json!({"version": 4})));
    assert_eq!(ingest.post_events(&alice, &batch(&session, 2, 2, 1)).await.2, shutdown("proctoring_disabled"));
    let history = admin_call(&ingest, Method::GET, "/api/v1/admin/config/history", None).await;
    assert_eq!(history.1, json!({"current": 4, "versions": [1, 2, 3, 4]}));
    let (status, reply) = admin_call(&ingest, Method::POST, "/api/v1/admin/config/rollback?version=99", None).await;
    assert_eq!((status, &reply["error"]["code"]), (404, &json!("not_found")));

    // One stored version; 0 is not a version (openapi: minimum 1), 99 is not stored.
    for (version, expected) in [("2", 200), ("0", 400), ("x", 400), ("99", 404)] {
        let path = format!("/api/v1/admin/config/history/{version}");
        let (status, reply) = admin_call(&ingest, Method::GET, &path, None).await;
        assert_eq!(status, expected, "{path}: {reply}");
        if expected == 400 {
            assert_eq!(reply["error"]["field"], "version", "{path}: {reply}");
        }
    }

    // The candidate's view of its config follows too.
    let (status, _, reply) =
        parts(ingest.http.get(ingest.url("/api/v1/config")).bearer_auth(&carol).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(reply["config_version"], 4);
    assert_eq!(reply["config"]["proctoring_enabled"], true);

    // Shutdown replies produce nothing: only the two accepted batches are in Kafka.
    let records = read_topic(&services::brokers(), &topic, 3, Duration::from_secs(5));
    assert_eq!(records.len(), 2, "{:?}", records.iter().map(|r| &r.0).collect::<Vec<_>>());
    ingest.stop().await;
}

/// An accommodation waives its checks in the config its candidate reads
/// (and only theirs); one that waives nothing, or says not why, is refused
/// by its path.
#[tokio::test]
async fn an_accommodation_reaches_its_candidates_config_only() {
    use reqwest::Method;
    let topic = unique_topic("accommodation");
    create_topic(&services::brokers(), &topic, 1).await;
    let ingest = Running::start(Options::shared(topic.clone())).await;
    let config_of = |token: String| {
        let request = ingest.http.get(ingest.url("/api/v1/config")).bearer_auth(token);
        async move { parts(request.send().await.unwrap()).await.2["config"].clone() }
    };
    let (_, reply) = admin_call(&ingest, Method::GET, "/api/v1/admin/config", None).await;
    let mut document = reply["document"].clone();
    document["accommodations"] =
        json!({"exam-2": {"carol": {"waive": ["fullscreen", "screen_share"], "reason": "screen magnifier"}}});
    assert_eq!(admin_call(&ingest, Method::PUT, "/api/v1/admin/config", Some(&document)).await.0, 200);

    let carol = config_of(tokens::candidate("exam-2", "carol")).await;
    assert_eq!(carol["blocking"]["on_fullscreen_exit"], false);
    assert_eq!(carol["capture_intervals"]["screen_ms"], 0);
    assert_eq!(carol["blocking"]["on_permission_denied"], true, "only what was waived");
    for (test, candidate) in [("exam-2", "dave"), ("exam-1", "carol")] {
        let config = config_of(tokens::candidate(test, candidate)).await;
        assert_eq!(config["blocking"]["on_fullscreen_exit"], true, "{candidate} of {test}");
        assert_eq!(config["capture_intervals"]["screen_ms"], 30_000, "{candidate} of {test}");
    }
    // Events from the accommodated candidate are taken as anyone's.
    let (status, _, reply) =
        ingest.post_events(&tokens::candidate("exam-2", "carol"), &batch(&new_session(), 0, 0, 1)).await;
    assert_eq!((status, &reply["status"]), (200, &json!("ok")));

    document["accommodations"]["exam-2"]["carol"] = json!({"waive": [], "reason": "r"});
    let (status, reply) = admin_call(&ingest, Method::PUT, "/api/v1/admin/config", Some(&document)).await;
    assert_eq!((status, &reply["error"]["field"]), (400, &json!("accommodations.exam-2.carol.waive")), "{reply}");
    ingest.stop().await;
}

/// The admin page's forms are drawn from the settings list; a value one
/// step past a setting's listed bound is what a `PUT` refuses, by that path.
#[tokio::test]
async fn the_settings_list_gives_each_setting_its_bounds_and_default_and_puts_keep_to_them() {
    use reqwest::Method;
    let topic = unique_topic("settings");
    create_topic(&services::brokers(), &topic, 1).await;
    let ingest = Running::start(Options::shared(topic.clone())).await;
    let (status, reply) = admin_call(&ingest, Method::GET, "/api/v1/admin/config/settings", None).await;
    assert_eq!(status, 200, "{reply}");
    let settings = reply["settings"].as_array().unwrap();
    let find = |path: &str| settings.iter().find(|s| s["path"] == path).unwrap_or_else(|| panic!("{path} missing"));
    let face = find("capture_intervals.face_ms");
    assert_eq!(
        (&face["unit"], &face["default"], &face["kind"]["type"], &face["kind"]["min"]),
        (&json!("ms"), &json!(30_000), &json!("integer"), &json!(1_000))
    );
    assert!(face["explain"].as_str().unwrap().len() > 20 && face["group"] == "Captures");
    let weight = find("anomaly.weights.tab_switch");
    assert_eq!(
        (&weight["kind"]["type"], &weight["kind"]["min"], &weight["default"]),
        (&json!("number"), &json!(0.0), &json!(1.0))
    );
    assert_eq!(find("face_check.mode")["kind"]["choices"], json!(["off", "presence", "identity"]));

    let (_, current) = admin_call(&ingest, Method::GET, "/api/v1/admin/config", None).await;
    for path in ["capture_intervals.face_ms", "recording.video_kbps"] {
        let kind = &find(path)["kind"];
        for (value, refused) in [(kind["min"].as_u64().unwrap() - 1, true), (kind["min"].as_u64().unwrap(), false)] {
            let mut document = current["document"].clone();
            let (group, leaf) = path.split_once('.').unwrap();
            document["tests"]["exam-forms"] = json!({ group: { leaf: value } });
            let (status, reply) = admin_call(&ingest, Method::PUT, "/api/v1/admin/config", Some(&document)).await;
            if refused {
                assert_eq!(
                    (status, &reply["error"]["field"]),
                    (400, &json!(format!("tests.exam-forms.{path}"))),
                    "{reply}"
                );
            } else {
                assert_eq!(status, 200, "{path} = {value}: {reply}");
                let (_, saved) = admin_call(&ingest, Method::GET, "/api/v1/admin/config", None).await;
                let version = saved["version"].clone();
                let mut back = saved["document"].clone();
                back["tests"] = json!({});
                let put = admin_call(
                    &ingest,
                    Method::PUT,
                    &format!("/api/v1/admin/config?if_version={version}"),
                    Some(&back),
                )
                .await;
                assert_eq!(put.0, 200, "{put:?}");
            }
        }
    }
    ingest.stop().await;
}

#[tokio::test]
async fn credentials_carry_exactly_the_candidates_prefix_and_are_cached() {
    let ingest = Running::start(Options::shared(unique_topic("creds"))).await;
    let token = tokens::candidate("exam-7", "cand:42");
    let (status, _, first) =
        parts(ingest.http.post(ingest.url("/api/v1/credentials")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 200, "{first}");
    let today = invigil_schemas::media_key::utc_date(now_ms() / 1000);
    let prefix = format!("{today}/exam-7/cand:42/");
    assert_eq!(first["prefix"], prefix);
    assert_eq!(first["bucket"], "invigil-ingest-tests");
    assert_eq!(first["endpoint"], services::s3_endpoint());
    let lifetime_ms = first["expiration"].as_i64().unwrap() - now_ms();
    assert!((4 * 3600 * 1000 - 120_000..=4 * 3600 * 1000).contains(&lifetime_ms), "{lifetime_ms}");

    // What STS (moto) recorded for these credentials: the exact session policy.
    let state: Value =
        reqwest::get(format!("{}/moto-api/data.json", services::s3_endpoint())).await.unwrap().json().await.unwrap();
    let assumed = state["sts"]["AssumedRole"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["access_key_id"] == first["access_key_id"])
        .expect("moto recorded the AssumeRole call");
    let policy: Value = serde_json::from_str(assumed["policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy,
        json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "CandidateUploadsOnly", "Effect": "Allow", "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::invigil-ingest-tests/{prefix}*"),
        }]})
    );
    assert_eq!(assumed["session_name"], "invigil-cand-42");

    let (status, _, second) =
        parts(ingest.http.post(ingest.url("/api/v1/credentials")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((status, &second), (200, &first), "served from the cache");
    assert_eq!(ingest.metric("invigil_ingest_sts_calls_total").await, 1.0);
    assert_eq!(ingest.metric("invigil_ingest_credentials_cache_hits_total").await, 1.0);
    ingest.stop().await;
}

#[tokio::test]
async fn the_post_policy_grant_hands_out_forms_signed_with_sts_keys_and_no_keys() {
    let mut options = Options::shared(unique_topic("forms"));
    options.upload_grant = invigil_ingest::credentials::UploadGrant::PostPolicy;
    let ingest = Running::start(options).await;
    let token = tokens::candidate("exam-7", "cand-9");
    let (status, _, reply) =
        parts(ingest.http.post(ingest.url("/api/v1/credentials")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (&reply["access_key_id"], &reply["secret_access_key"], &reply["session_token"]),
        (&json!(""), &json!(""), &json!(""))
    );
    let prefix = format!("{}/exam-7/cand-9/", invigil_schemas::media_key::utc_date(now_ms() / 1000));
    let forms = reply["forms"].as_array().unwrap();
    let folders: Vec<String> =
        forms.iter().map(|f| f["key_prefix"].as_str().unwrap().trim_start_matches(&prefix).to_owned()).collect();
    assert_eq!(folders, ["camera/", "screen/", "audio/", "bundle/", "video/"]);

    // Signed with the keys STS (moto) issued for this candidate's session
    // policy: the form names its key id and carries its session token.
    let state: Value =
        reqwest::get(format!("{}/moto-api/data.json", services::s3_endpoint())).await.unwrap().json().await.unwrap();
    let field = |form: &Value, name: &str| {
        form["fields"].as_array().unwrap().iter().find(|f| f[0] == name).map(|f| f[1].as_str().unwrap().to_owned())
    };
    let credential = field(&forms[0], "x-amz-credential").unwrap();
    let key_id = credential.split('/').next().unwrap();
    let assumed = state["sts"]["AssumedRole"].as_array().unwrap().iter().find(|r| r["access_key_id"] == key_id);
    assert!(assumed.is_some(), "{credential} is not a key STS issued");
    assert!(field(&forms[0], "x-amz-security-token").is_some_and(|t| !t.is_empty()));
    let policy = field(&forms[2], "policy").unwrap();
    use base64::Engine;
    let policy: Value =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(policy).unwrap()).unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(conditions.contains(&json!(["starts-with", "$key", format!("{prefix}audio/")])), "{policy}");
    assert!(conditions.contains(&json!({"Content-Type": "audio/webm"})), "{policy}");
    assert!(conditions.contains(&json!(["content-length-range", 1, 16 << 20])), "{policy}");
    ingest.stop().await;
}

#[tokio::test]
async fn sts_failure_is_503_with_retry_after() {
    let mut options = Options::shared(unique_topic("sts-down"));
    // Nothing listens on port 9 of loopback.
    options.sts_endpoint = "http://127.0.0.1:9".into();
    let ingest = Running::start(options).await;
    let token = tokens::candidate("exam-1", "cand-1");
    let (status, retry, reply) =
        parts(ingest.http.post(ingest.url("/api/v1/credentials")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((status, retry.as_deref()), (503, Some("10")));
    assert_eq!(
        reply,
        json!({"error": {"code": "unavailable", "message": "upload credentials are unavailable right now; retry later"}})
    );
    assert_eq!(ingest.metric("invigil_ingest_sts_failures_total").await, 1.0);
    ingest.stop().await;
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let ingest = Running::start(Options::shared(unique_topic("cors"))).await;
    let preflight = |origin: &'static str| {
        ingest
            .http
            .request(reqwest::Method::OPTIONS, ingest.url("/api/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let allowed = preflight("https://exam.example.com").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://exam.example.com");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    ingest.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let ingest = Running::start(Options::shared(unique_topic("health"))).await;
    let (status, _, body) = parts(ingest.http.get(ingest.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!("ok\n")));
    let (status, _, body) = parts(ingest.http.get(ingest.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["ready"], true);
    assert_eq!(body["spool"]["active"], false);
    let (status, _, body) = parts(ingest.http.get(ingest.url("/nope")).send().await.unwrap()).await;
    assert_eq!((status, body), (404, json!({"error": {"code": "not_found", "message": "no such route"}})));
    let text = ingest.http.get(ingest.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"invigil_ingest_http_requests_total{route="/readyz",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"invigil_ingest_http_requests_total{route="unmatched",status="404"} 1"#), "{text}");
    assert!(text.contains("invigil_ingest_http_request_duration_seconds_bucket"), "{text}");
    ingest.stop().await;
}

#[test]
fn every_route_is_in_openapi_and_every_documented_path_is_served() {
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi.yaml"))
            .unwrap();
    let document: Value = serde_yaml::from_str(&text).unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| (method.clone(), path.clone())))
        .filter(|(method, _)| ["get", "put", "post", "delete", "patch"].contains(&method.as_str()))
        .collect();
    let served: BTreeSet<(String, String)> = routes().iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(served, documented);
}

//! The dashboard API against a real broker: who may call what, the wall fed
//! from a live topic and split by the duty roster, the SSE stream, media
//! links, and the pages' security headers.

use std::time::Duration;

use invigil_dashboards::assign::assign;
use invigil_schemas::claims::StaffRole;
use invigil_testkit::front_door::{parts, Options, Running};
use invigil_testkit::kafka::{create_topic, unique_topic};
use invigil_testkit::{now_ms, services, tokens};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

fn counters(test: &str, candidate: &str, tab_switches: u32, score: f64) -> Value {
    let now = now_ms();
    json!({
        "v": 1, "test_id": test, "candidate_id": candidate, "session_id": "0194f5d2-8f3a-7b1c-9d2e-3f4a5b6c7d8e",
        "received_at": now, "published_at": now, "last_event_ts": now, "status": "active",
        "counters": {"events": 10, "tab_switches": tab_switches, "hidden_ms": 0, "blur_count": 0, "fullscreen_exits": 0,
            "clipboard_actions": 0, "key_bursts": 0, "permission_revocations": 0, "blocked_ms": 0, "missing_captures": 0,
            "uploads_failed": 0, "network_gaps": 0, "late_events": 0},
        "score": score, "window_score": score, "components": [["tab_switch", score]],
        "face_key": format!("2026-11-30/{test}/{candidate}/camera/1_x.jpg"),
    })
}

async fn publish(topic: &str, messages: &[Value]) {
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", services::brokers()).create().expect("a producer");
    for message in messages {
        let key = format!("{}/{}", message["test_id"].as_str().unwrap(), message["candidate_id"].as_str().unwrap());
        let payload = serde_json::to_vec(message).unwrap();
        producer
            .send(FutureRecord::to(topic).key(&key).payload(&payload), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("produced");
    }
}

async fn get(ingest: &Running, path: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = ingest.http.get(ingest.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    parts(request.send().await.unwrap()).await
}

#[tokio::test]
async fn every_dashboard_route_checks_the_role_and_the_test() {
    let ingest = Running::start(Options::shared(unique_topic("dash-auth"))).await;
    let proctor = tokens::staff_of("p1", StaffRole::Proctor, &["exam-1"]);
    let reviewer = tokens::staff_of("r1", StaffRole::Reviewer, &["exam-1"]);
    let stranger = tokens::staff_of("p9", StaffRole::Proctor, &["exam-2"]);
    let candidate = tokens::candidate("exam-1", "cand-1");
    let media = "/api/v1/dashboard/media?key=2026-11-30/exam-1/cand-1/camera/1_x.jpg";
    let timeline = "/api/v1/dashboard/tests/exam-1/candidates/cand-1/timeline";
    // (path, who, expected status)
    let cases: Vec<(&str, Option<&str>, u16)> = vec![
        ("/api/v1/dashboard/me", None, 401),
        ("/api/v1/dashboard/me", Some(&candidate), 403),
        ("/api/v1/dashboard/me", Some(&stranger), 200),
        ("/api/v1/dashboard/tests/exam-1/wall", None, 401),
        ("/api/v1/dashboard/tests/exam-1/wall", Some(&candidate), 403),
        ("/api/v1/dashboard/tests/exam-1/wall", Some(&stranger), 403),
        ("/api/v1/dashboard/tests/exam-1/wall", Some(&reviewer), 403),
        ("/api/v1/dashboard/tests/exam-1/wall", Some(&proctor), 200),
        ("/api/v1/dashboard/tests/exam-1/wall?proctor=p2", Some(&proctor), 403),
        ("/api/v1/dashboard/tests/exam-1/live", Some(&stranger), 403),
        ("/api/v1/dashboard/tests/exam-1/candidates", Some(&proctor), 403),
        ("/api/v1/dashboard/tests/exam-1/candidates", Some(&stranger), 403),
        (timeline, Some(&stranger), 403),
        (timeline, Some(&candidate), 403),
        (media, None, 401),
        (media, Some(&stranger), 403),
        (media, Some(&proctor), 200),
        (media, Some(&reviewer), 200),
        ("/api/v1/dashboard/media?key=../../etc/passwd", Some(&proctor), 400),
        ("/api/v1/dashboard/media", Some(&proctor), 400),
        ("/api/v1/dashboard/tests/exam%201/wall", Some(&proctor), 400),
    ];
    for (path, token, expected) in cases {
        let (status, _, body) = get(&ingest, path, token).await;
        assert_eq!(status, expected, "{path} → {body}");
        if status >= 400 {
            assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{path}: {body}");
        }
    }
    let (_, _, body) = get(&ingest, "/api/v1/dashboard/tests/exam-1/wall", Some(&stranger)).await;
    assert_eq!(body["error"]["message"], "this token does not cover test exam-1");
    let (_, _, body) = get(&ingest, "/api/v1/dashboard/media", Some(&proctor)).await;
    assert_eq!(body["error"]["field"], "key");
    ingest.stop().await;
}

#[tokio::test]
async fn review_reads_without_a_store_are_503_and_verdicts_are_validated_first() {
    let ingest = Running::start(Options::shared(unique_topic("dash-review"))).await;
    let reviewer = tokens::staff_of("r1", StaffRole::Reviewer, &["exam-1"]);
    let (status, retry, body) = get(&ingest, "/api/v1/dashboard/tests/exam-1/candidates", Some(&reviewer)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")));
    assert!(retry.is_some(), "503 carries Retry-After");
    let verdict = "/api/v1/dashboard/tests/exam-1/candidates/cand-1/verdict";
    let long = "x".repeat(4001);
    for (body, field) in [
        (json!({"verdict": "maybe"}), "verdict"),
        (json!({"verdict": "cleared", "comment": long}), "comment"),
        (json!({"comment": "no verdict"}), ""),
        (json!({"verdict": "cleared", "extra": 1}), ""),
    ] {
        let response = ingest.http.post(ingest.url(verdict)).bearer_auth(&reviewer).json(&body).send().await.unwrap();
        let (status, _, reply) = parts(response).await;
        assert_eq!(status, 400, "{body} → {reply}");
        assert_eq!(reply["error"]["code"], "invalid_request");
        if !field.is_empty() {
            assert_eq!(reply["error"]["field"], field, "{reply}");
        }
    }
    // A proctor may drill down but not judge.
    let proctor = tokens::staff_of("p1", StaffRole::Proctor, &["exam-1"]);
    let response = ingest.http.post(ingest.url(verdict)).bearer_auth(&proctor).json(&json!({"verdict": "cleared"}));
    assert_eq!(parts(response.send().await.unwrap()).await.0, 403);
    ingest.stop().await;
}

/// Reads server-sent events from `response` until `want` of them arrived.
async fn read_events(response: &mut reqwest::Response, want: usize) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < want {
        let chunk = tokio::time::timeout(Duration::from_secs(15), response.chunk())
            .await
            .expect("an event within 15 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let name = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("message").to_owned();
            let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            if !data.is_empty() {
                events.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

/// Each proctor's wall of exam-1, once they show `candidates` tiles between
/// them (or after 20 s, for the assertions to say what is missing).
async fn walls_once_filled(ingest: &Running, proctors: &[String], candidates: usize) -> Vec<Value> {
    let mut deadline = 0;
    loop {
        let mut walls = Vec::new();
        for proctor in proctors {
            let token = tokens::staff_of(proctor, StaffRole::Proctor, &["exam-1"]);
            walls.push(get(ingest, "/api/v1/dashboard/tests/exam-1/wall", Some(&token)).await.2);
        }
        let seen: usize = walls.iter().map(|w| w["tiles"].as_array().unwrap().len()).sum();
        if seen == candidates || deadline == 100 {
            return walls;
        }
        deadline += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `wall` shows `proctor` exactly `share`, the rendezvous split.
fn assert_wall_is_share(proctor: &str, wall: &Value, share: &[String]) {
    let assigned: Vec<String> = serde_json::from_value(wall["assigned"].clone()).unwrap();
    assert_eq!(assigned, share, "{proctor}'s share is the rendezvous split");
    assert!(assigned.len() <= 4);
    let mut tiles: Vec<&str> =
        wall["tiles"].as_array().unwrap().iter().map(|t| t["candidate_id"].as_str().unwrap()).collect();
    tiles.sort_unstable();
    let mut want: Vec<&str> = assigned.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(tiles, want, "{proctor} sees exactly their candidates");
    assert_eq!(wall["gap_after_ms"], 15_000, "3 × the default events interval");
    assert!(wall["tiles"][0]["age_ms"].is_u64());
}

/// A candidate id whose arrival changes `proctor`'s share of `everyone`.
fn newcomer_changing_the_share_of(proctor: &str, everyone: &[String], proctors: &[String]) -> String {
    let share = |all: &[String]| assign(all.iter().map(String::as_str), proctors, 4).by_proctor[proctor].clone();
    let before = share(everyone);
    (0..100)
        .map(|i| format!("late-{i}"))
        .find(|id| {
            let mut with = everyone.to_vec();
            with.push(id.clone());
            share(&with) != before
        })
        .expect("some id lands on the proctor's wall")
}

#[tokio::test]
async fn the_wall_is_the_rosters_share_of_the_live_topic_and_streams_changes() {
    let options = Options::shared(unique_topic("dash-wall"));
    let live_topic = format!("{}-live", options.topic);
    create_topic(&services::brokers(), &live_topic, 2).await;
    let ingest = Running::start(options).await;
    let admin = tokens::staff_of("admin-1", StaffRole::Admin, &[]);
    let document = json!({"duty": {"exam-1": {"proctors": ["p1", "p2"], "capacity": 4}}});
    let response = ingest.http.put(ingest.url("/api/v1/admin/config")).bearer_auth(&admin).json(&document);
    assert_eq!(parts(response.send().await.unwrap()).await.0, 200);

    let candidates: Vec<String> = (0..6).map(|i| format!("cand-{i}")).collect();
    let mut messages: Vec<Value> = candidates.iter().map(|c| counters("exam-1", c, 0, 0.0)).collect();
    messages.push(counters("exam-2", "elsewhere", 9, 9.0));
    publish(&live_topic, &messages).await;

    let proctors = ["p1".to_owned(), "p2".to_owned()];
    let expected = assign(candidates.iter().map(String::as_str), &proctors, 4);
    let walls = walls_once_filled(&ingest, &proctors, candidates.len()).await;
    for (proctor, wall) in proctors.iter().zip(&walls) {
        assert_wall_is_share(proctor, wall, &expected.by_proctor[proctor]);
    }

    // The stream: a snapshot first, then a tile when one of p1's candidates changes.
    let p1 = tokens::staff_of("p1", StaffRole::Proctor, &["exam-1"]);
    let mut stream =
        ingest.http.get(ingest.url("/api/v1/dashboard/tests/exam-1/live")).bearer_auth(&p1).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = read_events(&mut stream, 1).await;
    assert_eq!(first[0].0, "snapshot");
    // The dashboards' own metrics, on ingest's /metrics.
    let metrics = ingest.http.get(ingest.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("invigil_dashboards_sse_streams 1\n"), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF") && metrics.matches("# EOF").count() == 1, "one OpenMetrics document");
    let watched = expected.by_proctor["p1"][0].clone();
    let other = expected.by_proctor["p2"][0].clone();
    publish(&live_topic, &[counters("exam-1", &other, 5, 5.0), counters("exam-1", &watched, 3, 3.0)]).await;
    let next = read_events(&mut stream, 1).await;
    assert_eq!(next[0].0, "tile", "{next:?}");
    assert_eq!(next[0].1["candidate_id"], watched.as_str(), "p2's candidate is not on p1's stream");
    assert_eq!(next[0].1["counters"]["tab_switches"], 3);

    // A newcomer who changes p1's share brings a new snapshot (within the
    // 2-s recheck), with the split the rendezvous function gives.
    let mut everyone = candidates.clone();
    let newcomer = newcomer_changing_the_share_of("p1", &everyone, &proctors);
    everyone.push(newcomer.clone());
    publish(&live_topic, &[counters("exam-1", &newcomer, 0, 0.0)]).await;
    let want = assign(everyone.iter().map(String::as_str), &proctors, 4).by_proctor["p1"].clone();
    let snapshot = loop {
        let (name, data) = read_events(&mut stream, 1).await.remove(0);
        if name == "snapshot" {
            break data;
        }
    };
    let assigned: Vec<String> = serde_json::from_value(snapshot["assigned"].clone()).unwrap();
    assert_eq!(assigned, want);

    // Shutting down with the wall still open ends the stream instead of
    // waiting for the proctor to close the tab.
    tokio::time::timeout(Duration::from_secs(20), ingest.stop()).await.expect("a graceful stop with a wall open");
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.chunk().await.transpose() {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(rest.is_ok(), "the stream ended with the server");
}

#[tokio::test]
async fn media_links_are_presigned_for_the_bucket_and_fetch_the_object() {
    let ingest = Running::start(Options::shared(unique_topic("dash-media"))).await;
    let bucket = "invigil-ingest-tests";
    let http = reqwest::Client::new();
    let _ = http.put(format!("{}/{bucket}", services::s3_endpoint())).send().await.unwrap();
    let key = format!("2026-11-30/exam-1/cand-{}/camera/1_x.jpg", now_ms());
    let put = http
        .put(format!("{}/{bucket}/{key}", services::s3_endpoint()))
        .body(vec![0xFFu8, 0xD8, 1, 2, 3])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let reviewer = tokens::staff_of("r1", StaffRole::Reviewer, &["exam-1"]);
    let (status, _, link) = get(&ingest, &format!("/api/v1/dashboard/media?key={key}"), Some(&reviewer)).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/{bucket}/{key}?", services::s3_endpoint())), "{url}");
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=300"), "{url}");
    assert!(link["expires_at"].as_i64().unwrap() > now_ms());
    let fetched = http.get(url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &[0xFF, 0xD8, 1, 2, 3]);

    // The audit trail has who was handed a link to which object, and from
    // where; and an admin's configuration write.
    let admin = tokens::staff(StaffRole::Admin, &[]);
    let current = ingest.http.get(ingest.url("/api/v1/admin/config")).bearer_auth(&admin).send().await.unwrap();
    let document = current.json::<Value>().await.unwrap()["document"].clone();
    let saved = ingest.http.put(ingest.url("/api/v1/admin/config")).bearer_auth(&admin).json(&document).send().await;
    let version = saved.unwrap().json::<Value>().await.unwrap()["version"].as_u64().unwrap();
    let candidate = key.split('/').nth(2).unwrap().to_owned();
    let (brokers, topic) = (ingest.state.kafka.brokers.clone(), ingest.state.settings.kafka.topic.clone());
    let wanted = move |a: &invigil_schemas::staff::StaffAction| {
        (a.action == "media.view" && a.candidate_id.as_ref().is_some_and(|c| c.as_str() == candidate))
            || (a.action == "config.replaced" && a.detail["version"] == version)
    };
    let found = tokio::task::spawn_blocking(move || {
        let all = invigil_testkit::kafka::read_staff_actions_until(&brokers, &topic, Duration::from_secs(20), |all| {
            all.iter().filter(|a| wanted(a)).count() >= 2
        });
        all.into_iter().filter(wanted).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(found.len(), 2, "{found:#?}");
    let view = found.iter().find(|a| a.action == "media.view").unwrap();
    assert_eq!((view.staff.as_str(), view.role.as_str()), ("r1", "reviewer"));
    assert_eq!(view.test_id.as_ref().map(|t| t.as_str()), Some("exam-1"));
    assert_eq!(view.detail["key"], "camera/1_x.jpg", "the object under the candidate's prefix, nothing else");
    assert_ne!(view.client_ip_hash, 0, "from where: the request's address, keyed-hashed");
    let write = found.iter().find(|a| a.action == "config.replaced").unwrap();
    assert_eq!((write.role.as_str(), write.test_id.is_none(), write.candidate_id.is_none()), ("admin", true, true));
    ingest.stop().await;
}

#[tokio::test]
async fn pages_are_served_with_a_content_security_policy() {
    let ingest = Running::start(Options::shared(unique_topic("dash-pages"))).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let redirect = client.get(ingest.url("/dashboard")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/dashboard/");
    for (path, content_type) in [
        ("/dashboard/", "text/html; charset=utf-8"),
        ("/dashboard/proctor.html", "text/html; charset=utf-8"),
        ("/dashboard/review.js", "text/javascript; charset=utf-8"),
        ("/dashboard/style.css", "text/css; charset=utf-8"),
    ] {
        let response = client.get(ingest.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains(&format!("img-src 'self' data: blob: {}", services::s3_endpoint())), "{policy}");
        assert!(policy.contains(&format!("connect-src 'self' {};", services::s3_endpoint())), "{policy}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    assert_eq!(client.get(ingest.url("/dashboard/../Cargo.toml")).send().await.unwrap().status(), 404);
    assert_eq!(client.get(ingest.url("/dashboard/secret.env")).send().await.unwrap().status(), 404);
    ingest.stop().await;
}

/// With a hub fed in process (as in `invigil up`), the topic is read only up
/// to where it ended at start: what was published before arrives, the
/// reader then stops on its own, and what comes later arrives through
/// `apply` alone.
#[tokio::test]
async fn a_hub_fed_in_process_reads_the_topic_only_up_to_its_end_at_start() {
    use invigil_dashboards::live::{Follow, LiveHub};
    use invigil_schemas::kafka_access::KafkaEndpoint;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    let topic = unique_topic("dash-catch-up");
    create_topic(&services::brokers(), &topic, 2).await;
    let before: Vec<Value> = (0..5).map(|n| counters("exam-1", &format!("early-{n}"), n, 1.0)).collect();
    publish(&topic, &before).await;

    let hub = Arc::new(LiveHub::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader =
        hub.follow(&KafkaEndpoint::plaintext(services::brokers()), &topic, Arc::clone(&stop), Follow::UntilCaughtUp);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !reader.is_finished() {
        assert!(std::time::Instant::now() < deadline, "the catch-up reader did not stop by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.join().unwrap();
    assert_eq!(hub.count("exam-1"), 5, "everything published before the start");

    // After it stopped, the topic is no longer read …
    publish(&topic, &[counters("exam-1", "late-by-topic", 1, 1.0)]).await;
    // … and what the pipeline beside it hands over arrives at once.
    let handed: invigil_schemas::live::LiveCounters =
        serde_json::from_value(counters("exam-1", "late-in-process", 2, 2.0)).unwrap();
    hub.apply(handed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = hub.candidates("exam-1");
    seen.sort();
    assert!(seen.contains(&"late-in-process".to_owned()));
    assert!(!seen.contains(&"late-by-topic".to_owned()), "the topic is not followed after catching up: {seen:?}");
    assert_eq!(seen.len(), 6);
}

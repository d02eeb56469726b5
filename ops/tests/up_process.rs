//! `invigil up` as a real process with no broker running: it starts and
//! supervises a local tansu under its data directory, takes events through
//! ingest into the pipeline's chDB, serves them back on the review API, stops
//! cleanly on SIGTERM (broker included) and finds its data again on restart.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use invigil_schemas::claims::StaffRole;
use invigil_testkit::services::free_port;
use invigil_testkit::tokens;
use invigil_testkit::wait::wait_for_value as wait_for;
use serde_json::{json, Value};

const SECRET: &str = "TsLEOib6PWShR13d4P8D/DosSTMWoAcoJeY/HlOIfxkj";

fn token(claims: &impl serde::Serialize) -> String {
    tokens::sign_with(SECRET.as_bytes(), claims)
}

/// A staff token of `sub` in `role` for `tests`.
fn staff_token(sub: &str, role: StaffRole, tests: &[&str]) -> String {
    token(&invigil_schemas::claims::staff_token_payload(&tokens::staff_claims_of(sub, role, tests)))
}

struct Up {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, port: u16, broker_port: u16, extra: &[&str]) -> Up {
    start_with(dir, port, broker_port, extra, "")
}

/// [`start`] with `more` added to the top of up.toml.
fn start_with(dir: &Path, port: u16, broker_port: u16, extra: &[&str], more: &str) -> Up {
    let settings = dir.join("up.toml");
    std::fs::write(
        &settings,
        format!(
            "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/config.json\"\n{more}[kafka]\nbrokers = \"127.0.0.1:{broker_port}\"\n\
             [spool]\ndir = \"{d}/spool\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let log = dir.join(format!("up-{}.log", Instant::now().elapsed().as_nanos()));
    let child = Command::new(env!("CARGO_BIN_EXE_invigil"))
        .args(["up", "--settings", settings.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--media-listen", "127.0.0.1:0", "--demo-listen", "127.0.0.1:0"])
        .args(extra)
        .env("INVIGIL_TOKEN_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("INVIGIL_KAFKA_BROKERS")
        .env_remove("INVIGIL_LISTEN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("invigil up starts");
    Up { child, log }
}

fn batch(session: &str, batch_seq: u64) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let id = |n: u8| invigil_schemas::ids::event_id_v7(now, [n, batch_seq as u8, 3, 4, 5, 6, 7, 8, 9, 10]).to_string();
    json!({"v": 1, "session_id": session, "batch_seq": batch_seq, "sent_at": now, "events": [
        {"id": id(1), "seq": batch_seq * 2, "ts": now, "type": "visibility", "state": "hidden"},
        {"id": id(2), "seq": batch_seq * 2 + 1, "ts": now, "type": "key_activity", "keys": 4, "interval_ms": 5000},
    ]})
}

/// Posts a batch with a candidate's token; the reply's JSON.
async fn post_batch(http: &reqwest::Client, base: &str, bearer: &str, batch: &Value) -> Value {
    let response = http.post(format!("{base}/api/v1/events")).bearer_auth(bearer).json(batch).send().await.unwrap();
    response.json().await.unwrap()
}

/// A GET with a staff token; the JSON answer, or `None` on any failure.
async fn get_json(http: &reqwest::Client, url: String, bearer: &str) -> Option<Value> {
    http.get(url).bearer_auth(bearer).send().await.ok()?.json().await.ok()
}

/// Waits for `/healthz`, failing with up's log if it exits first.
async fn wait_healthy(up: &mut Up, base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(status)) = up.child.try_wait() {
            panic!("invigil up exited {status}: {}", std::fs::read_to_string(&up.log).unwrap_or_default());
        }
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "up's /healthz did not answer within 90 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// SIGTERM, then waits for a clean exit; returns what up said.
fn stop_cleanly(up: &mut Up) -> String {
    let _ = Command::new("kill").args(["-TERM", &up.child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "up did not stop within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let said = std::fs::read_to_string(&up.log).unwrap();
    assert!(status.success(), "{status}: {said}");
    said
}

#[tokio::test]
async fn up_runs_its_own_broker_stores_events_and_keeps_them_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (port, broker_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = start(dir.path(), port, broker_port, &[]);
    wait_healthy(&mut up, &base).await;
    let said = std::fs::read_to_string(&up.log).unwrap();
    assert!(said.contains("starting a local one"), "{said}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", broker_port)).is_ok(), "the local broker listens");

    let candidate = token(&tokens::candidate_claims("exam-up", "cand-up"));
    let session = invigil_schemas::ids::event_id_v7(1, [1; 10]).to_string();
    let reply = post_batch(&http, &base, &candidate, &batch(&session, 0)).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let reviewer = staff_token("r1", StaffRole::Reviewer, &["exam-up"]);
    let timeline = format!("{base}/api/v1/dashboard/tests/exam-up/candidates/cand-up/timeline");
    let events = |http: reqwest::Client, reviewer: String, timeline: String| async move {
        let body = get_json(&http, timeline, &reviewer).await?;
        let n = body["events"].as_array()?.len();
        (n > 0).then_some(n)
    };
    let stored = wait_for("the batch in chDB", Duration::from_secs(60), || {
        events(http.clone(), reviewer.clone(), timeline.clone())
    })
    .await;
    assert_eq!(stored, 2);

    // SIGTERM: ingest drains, the pipeline commits, the broker stops too.
    stop_cleanly(&mut up);
    assert!(std::net::TcpStream::connect(("127.0.0.1", broker_port)).is_err(), "the broker stopped with up");

    // Restart on the same data: the stored events are still there.
    let mut up = start(dir.path(), port, broker_port, &[]);
    let again = wait_for("the events after a restart", Duration::from_secs(90), || {
        events(http.clone(), reviewer.clone(), timeline.clone())
    })
    .await;
    assert_eq!(again, 2, "{}", std::fs::read_to_string(&up.log).unwrap_or_default());

    // Killed with -9, up takes its broker with it.
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", broker_port)).is_ok() {
        assert!(Instant::now() < deadline, "the broker outlived a killed invigil up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A candidate's batch at `now`: one visibility event, and a capture event
/// per key (uploaded).
fn batch_with_captures(session: &str, batch_seq: u64, keys: &[String]) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let id = |n: u8| invigil_schemas::ids::event_id_v7(now, [n, batch_seq as u8, 7, 7, 7, 7, 7, 7, 7, 7]).to_string();
    let mut events =
        vec![json!({"id": id(0), "seq": batch_seq * 10, "ts": now, "type": "visibility", "state": "hidden"})];
    for (i, key) in keys.iter().enumerate() {
        events.push(json!({"id": id(1 + i as u8), "seq": batch_seq * 10 + 1 + i as u64, "ts": now, "type": "capture",
            "kind": "face", "status": "uploaded", "key": key, "bytes": 4, "capture_seq": batch_seq * 10 + i as u64,
            "attempts": 1}));
    }
    json!({"v": 1, "session_id": session, "batch_seq": batch_seq, "sent_at": now, "events": events})
}

/// The zip's files by name.
fn unzip(zip: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    invigil_dashboards::zip::read(zip).expect("a whole zip").into_iter().map(|(n, d)| (n, d.to_vec())).collect()
}

/// Issue 38's candidate data, end to end on `invigil up` (its broker, chDB
/// and embedded S3): two candidates upload photos and send events; one is
/// exported (everything of theirs, nothing of the other's), erased (rows
/// and objects), and then the pipeline replays the whole events topic under
/// a new consumer group: nothing erased comes back, the other candidate is
/// untouched, and what the erased candidate sends afterwards is kept.
#[tokio::test]
async fn a_candidate_is_exported_erased_and_stays_erased_through_a_replay() {
    use aws_sdk_s3::config::{Credentials, Region};
    let dir = tempfile::tempdir().unwrap();
    let (port, broker_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    // exam-data keeps nothing once its verdicts are final; other tests 30 days.
    std::fs::write(dir.path().join("config.json"), r#"{"tests": {"exam-data": {"retention_days": 0}}}"#).unwrap();
    let mut up = start(dir.path(), port, broker_port, &["--group", "first"]);
    wait_healthy(&mut up, &base).await;
    let test = "exam-data";
    let (reviewer, admin) =
        (staff_token("r1", StaffRole::Reviewer, &[test]), staff_token("a1", StaffRole::Admin, &[test]));

    // Each candidate uploads two photos to their own prefix and reports them.
    let mut uploaded = std::collections::BTreeMap::new();
    for (n, candidate) in ["cand-a", "cand-b"].into_iter().enumerate() {
        let bearer = token(&tokens::candidate_claims(test, candidate));
        let grant: invigil_schemas::api::CredentialsResponse = http
            .post(format!("{base}/api/v1/credentials"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(Region::new(grant.region.clone()))
                .endpoint_url(&grant.endpoint)
                .force_path_style(true)
                .credentials_provider(Credentials::new(
                    &grant.access_key_id,
                    &grant.secret_access_key,
                    Some(grant.session_token.clone()),
                    None,
                    "grant",
                ))
                .build(),
        );
        let mut keys = Vec::new();
        for i in 0..2u8 {
            let key = format!("{}camera/{}_{i}.jpg", grant.prefix, 1_000 + i as u64);
            let body = vec![0xff, 0xd8, n as u8, i];
            let put =
                s3.put_object().bucket(&grant.bucket).key(&key).content_type("image/jpeg").body(body.clone().into());
            put.send().await.unwrap_or_else(|e| panic!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)));
            uploaded.insert(key.clone(), body);
            keys.push(key);
        }
        let session = invigil_schemas::ids::event_id_v7(1, [n as u8 + 1; 10]).to_string();
        for (seq, batch) in
            [batch_with_captures(&session, 0, &keys), batch_with_captures(&session, 1, &[])].iter().enumerate()
        {
            let reply = post_batch(&http, &base, &bearer, batch).await;
            assert_eq!(reply["status"], "ok", "batch {seq} of {candidate}: {reply}");
        }
    }
    let events_of = |candidate: &'static str| {
        let (http, reviewer, base) = (http.clone(), reviewer.clone(), base.clone());
        async move {
            let url = format!("{base}/api/v1/dashboard/tests/{test}/candidates/{candidate}/timeline");
            let body = get_json(&http, url, &reviewer).await?;
            Some(body["events"].as_array()?.len())
        }
    };
    for candidate in ["cand-a", "cand-b"] {
        wait_for("both batches stored", Duration::from_secs(60), || async {
            events_of(candidate).await.filter(|n| *n == 4)
        })
        .await;
        // A verdict each, now that the store's tables surely exist.
        let verdict = http
            .post(format!("{base}/api/v1/dashboard/tests/{test}/candidates/{candidate}/verdict"))
            .bearer_auth(&reviewer)
            .json(&json!({"verdict": "flagged", "comment": format!("note on {candidate}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(verdict.status(), 200, "{}", verdict.text().await.unwrap());
    }
    // The verdicts' audit records, written through the staff topic.
    let audit = |who: String| {
        let (http, base) = (http.clone(), base.clone());
        async move { get_json(&http, format!("{base}/api/v1/dashboard/tests/{test}/audit"), &who).await }
    };
    wait_for("the verdicts in the audit trail", Duration::from_secs(30), || async {
        let body = audit(admin.clone()).await?;
        (body.to_string().matches("review.verdict").count() == 2).then_some(())
    })
    .await;

    // Both are on the wall (their live counters).
    let on_wall = |who: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!("{base}/api/v1/dashboard/tests/{test}/wall");
            let body = get_json(&http, url, &who).await?;
            let tiles = body["tiles"].as_array()?.iter();
            let mut shown: Vec<String> = tiles.filter_map(|t| t["candidate_id"].as_str().map(str::to_owned)).collect();
            shown.sort();
            Some(shown)
        }
    };
    wait_for("both candidates on the wall", Duration::from_secs(30), || async {
        on_wall(admin.clone()).await.filter(|shown| shown.len() == 2)
    })
    .await;

    // Export: a reviewer gets everything of cand-a's, nothing of cand-b's.
    let export = |who: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!("{base}/api/v1/dashboard/tests/{test}/candidates/cand-a/export");
            let response = http.get(url).bearer_auth(who).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/zip");
            assert!(response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("invigil-exam-data-cand-a.zip"));
            unzip(&response.bytes().await.unwrap())
        }
    };
    let files = export(reviewer.clone()).await;
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let rows = |manifest: &Value, table: &str| {
        manifest["tables"].as_array().unwrap().iter().find(|t| t["table"] == table).unwrap()["rows"].as_u64().unwrap()
    };
    assert_eq!(rows(&manifest, "proctor_events"), 4, "{manifest:#}");
    assert_eq!(rows(&manifest, "reviews"), 1);
    // Window and session rows follow at the minute's end: not waited for.
    let listed: Vec<&str> =
        manifest["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(listed, invigil_schemas::erasure::CANDIDATE_TABLES.map(|(t, _)| t));
    assert_eq!(manifest["missing_media"], json!([]));
    let media: Vec<&str> = manifest["media"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(media.len(), 2, "{manifest:#}");
    for key in media {
        assert!(key.contains("/cand-a/camera/"));
        assert_eq!(files[&format!("media/{key}")], uploaded[key], "{key}");
    }
    let events_csv = String::from_utf8(files["tables/proctor_events.csv"].clone()).unwrap();
    assert!(events_csv.starts_with("test_id,candidate_id,session_id,seq,"), "{events_csv}");
    assert_eq!(events_csv.lines().count(), 5, "a header and four events");
    let comment = String::from_utf8(files["tables/reviews.jsonl"].clone()).unwrap();
    assert!(comment.contains("note on cand-a"));
    for (name, data) in &files {
        assert!(!String::from_utf8_lossy(data).contains("cand-b") && !name.contains("cand-b"), "{name} names cand-b");
    }
    assert!(files.contains_key("README.txt") && files.contains_key("tables/webhook_deliveries.jsonl"));
    // The CLI unpacks the same into a folder.
    let folder = dir.path().join("export-a");
    let cli = Command::new(env!("CARGO_BIN_EXE_invigil"))
        .args(["export", "--test", test, "--candidate", "cand-a", "--url", &base, "--out", folder.to_str().unwrap()])
        .env("INVIGIL_STAFF_TOKEN", &reviewer)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&cli.stderr);
    assert!(cli.status.success(), "{said}");
    assert!(said.contains("proctor_events") && said.contains("2 objects (0 named by events but not stored)"), "{said}");
    for (key, body) in &uploaded {
        if key.contains("/cand-a/") {
            assert_eq!(&std::fs::read(folder.join("media").join(key)).unwrap(), body);
        }
    }
    let csv = std::fs::read_to_string(folder.join("tables/proctor_events.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    let refused = Command::new(env!("CARGO_BIN_EXE_invigil"))
        .args(["export", "--test", test, "--candidate", "cand-a", "--url", &base, "--out", folder.to_str().unwrap()])
        .env("INVIGIL_STAFF_TOKEN", &reviewer)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not empty"), "an existing export is not overwritten");

    // Erasure: admins only, and the candidate id typed again.
    let erase = |who: String, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!("{base}/api/v1/dashboard/tests/{test}/candidates/cand-a/erase");
            let response = http.post(url).bearer_auth(who).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, _) = erase(reviewer.clone(), json!({"confirm": "cand-a"})).await;
    assert_eq!(status, 403);
    let (status, body) = erase(admin.clone(), json!({"confirm": "cand-b"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("confirm")), "{body}");
    let (status, report) = erase(admin.clone(), json!({"confirm": "cand-a", "reason": "request #12"})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rows"]["proctor_events"], 4, "{report}");
    assert_eq!(report["rows"]["reviews"], 1);
    assert_eq!(report["media_objects"], 2);
    assert_eq!(report["media_bytes"], 8);
    eprintln!("erasure: {report}");

    // Gone: no events, no objects, no tile on the wall; cand-b untouched.
    assert_eq!(on_wall(admin.clone()).await, Some(vec!["cand-b".to_owned()]));
    assert_eq!(events_of("cand-a").await, Some(0));
    assert_eq!(events_of("cand-b").await, Some(4));
    let after = export(admin.clone()).await;
    let manifest: Value = serde_json::from_slice(&after["manifest.json"]).unwrap();
    for (table, _) in invigil_schemas::erasure::CANDIDATE_TABLES {
        if table != "staff_actions" {
            assert_eq!(rows(&manifest, table), 0, "{table}: {manifest:#}");
        }
    }
    assert_eq!(manifest["media"], json!([]));
    // The trail keeps that it happened — by whom, why and how much — not what.
    let kept = String::from_utf8(after["tables/staff_actions.jsonl"].clone()).unwrap();
    assert!(!kept.contains("review.verdict") && !kept.contains("note on cand-a"), "{kept}");
    // Actions on cand-a as (staff, action), once the admin's export after
    // the erasure is in (the staff topic is one partition: all before it are).
    let erased_at = report["erased_at"].as_i64().unwrap();
    let actions_on_a = |body: &Value| -> Vec<(String, String)> {
        let actions = body["actions"].as_array().unwrap().iter().filter(|a| a["candidate_id"] == "cand-a");
        let actions: Vec<&Value> = actions.collect();
        let before: Vec<&&Value> = actions.iter().filter(|a| a["at"].as_i64().unwrap() <= erased_at).collect();
        assert!(before.is_empty(), "actions from before the erasure are back: {before:?}");
        actions
            .iter()
            .map(|a| (a["staff"].as_str().unwrap().to_owned(), a["action"].as_str().unwrap().to_owned()))
            .collect()
    };
    let audit_now = wait_for("the export after the erasure in the audit trail", Duration::from_secs(30), || async {
        let body = audit(admin.clone()).await?;
        actions_on_a(&body).contains(&("a1".into(), "candidate.export".into())).then_some(body)
    })
    .await;
    assert!(actions_on_a(&audit_now).contains(&("a1".into(), "candidate.erase".into())), "{audit_now:#}");
    let erase_row = audit_now.to_string();
    assert!(erase_row.contains("request #12") && erase_row.contains("\"media_objects\":2"), "{erase_row}");

    // Replay every topic from the start under new groups; cand-a sends a new
    // batch after the erasure, and cand-b too.
    stop_cleanly(&mut up);
    let mut up = start(dir.path(), port, broker_port, &["--group", "replay"]);
    wait_healthy(&mut up, &base).await;
    // The wall is rebuilt from the compacted live topic, where cand-a's last
    // counters were replaced by a tombstone.
    wait_for("cand-b's tile read back from the live topic", Duration::from_secs(30), || async {
        on_wall(admin.clone()).await.filter(|shown| shown.contains(&"cand-b".to_owned()))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(on_wall(admin.clone()).await, Some(vec!["cand-b".to_owned()]), "no tile of the erased candidate");
    for (n, candidate) in ["cand-a", "cand-b"].into_iter().enumerate() {
        let session = invigil_schemas::ids::event_id_v7(2, [n as u8 + 1; 10]).to_string();
        let bearer = token(&tokens::candidate_claims(test, candidate));
        let reply = post_batch(&http, &base, &bearer, &batch_with_captures(&session, 0, &[])).await;
        assert_eq!(reply["status"], "ok");
    }
    // Each candidate's records are in order on one partition: once the new
    // batch is stored, every older record of theirs has been read again.
    wait_for("cand-b's new batch after the replay", Duration::from_secs(60), || async {
        events_of("cand-b").await.filter(|n| *n == 5)
    })
    .await;
    wait_for("cand-a's batch after the erasure", Duration::from_secs(60), || async {
        events_of("cand-a").await.filter(|n| *n >= 1)
    })
    .await;
    assert_eq!(
        events_of("cand-a").await,
        Some(1),
        "only what came after the erasure: {}",
        std::fs::read_to_string(&up.log).unwrap()
    );
    // A new staff action on cand-a, after the replayed verdict's record: once
    // it is stored, the old one was read again (one partition) and dropped.
    let _ = export(admin.clone()).await;
    let trail = wait_for("the new export in the audit trail", Duration::from_secs(30), || async {
        let body = audit(admin.clone()).await?;
        let exports = actions_on_a(&body).iter().filter(|(_, action)| action == "candidate.export").count();
        (exports == 2).then_some(body)
    })
    .await;
    assert!(actions_on_a(&trail).contains(&("a1".into(), "candidate.erase".into())), "{trail:#}");
    let verdicts: Vec<&Value> =
        trail["actions"].as_array().unwrap().iter().filter(|a| a["action"] == "review.verdict").collect();
    assert_eq!(verdicts.len(), 1, "cand-b's verdict record only: {verdicts:?}");

    // Retention: the verdicts of exam-data and of exam-keep are marked final
    // (admins only); the sweep erases exam-data (0 days), not exam-keep (30).
    let mark = |who: String, test: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!("{base}/api/v1/dashboard/tests/{test}/final");
            let response = http.post(url).bearer_auth(who).json(&json!({"final": true, "reason": "appeals closed"}));
            response.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(mark(reviewer.clone(), test).await, 403);
    let keeper = staff_token("a1", StaffRole::Admin, &[test, "exam-keep"]);
    assert_eq!(mark(keeper.clone(), test).await, 200);
    assert_eq!(mark(keeper.clone(), "exam-keep").await, 200);
    let cli = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_invigil"));
        command.args(args).args(["--url", &base]);
        // The sweep signs its own admin token, as the CronJob does.
        match args.contains(&"--sweep") {
            true => command.env_remove("INVIGIL_STAFF_TOKEN").env("INVIGIL_TOKEN_SECRET", SECRET),
            false => command.env("INVIGIL_STAFF_TOKEN", &keeper),
        };
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = wait_for("both marks in the store", Duration::from_secs(30), || async {
        let listed = cli(&["retention"]);
        (listed.lines().filter(|l| l.contains(" final ")).count() == 2).then_some(listed)
    })
    .await;
    let line = |name: &str| listed.lines().find(|l| l.starts_with(name)).unwrap().to_owned();
    assert!(line("exam-data ").ends_with("now"), "{listed}");
    assert!(line("exam-keep ").contains("in 30.0 days") || line("exam-keep ").contains("in 29.9 days"), "{listed}");
    let swept = cli(&["retention", "--sweep"]);
    assert!(
        swept.contains("erased exam-data: 2 candidates") && swept.contains("1 tests erased, 1 not due yet"),
        "{swept}"
    );
    assert_eq!(events_of("cand-b").await, Some(0));
    assert_eq!(events_of("cand-a").await, Some(0));
    let left = export(keeper.clone()).await;
    let manifest: Value = serde_json::from_slice(&left["manifest.json"]).unwrap();
    assert_eq!((rows(&manifest, "proctor_events"), rows(&manifest, "reviews")), (0, 0));
    let after_sweep = cli(&["retention"]);
    assert!(!after_sweep.contains("exam-data"), "the marks went with the test: {after_sweep}");
    assert!(after_sweep.contains("exam-keep"));
    let trail = wait_for("the sweep in the audit trail", Duration::from_secs(30), || async {
        let body = audit(keeper.clone()).await?.to_string();
        body.contains("test.erase").then_some(body)
    })
    .await;
    assert!(trail.contains("retention: 0 days after the verdicts were final on"), "{trail}");
    assert!(trail.contains("\"staff\":\"retention-sweep\""), "{trail}");

    let said = stop_cleanly(&mut up);
    let erased = said
        .lines()
        .rev()
        .find_map(|line| line.split("\"erased_records\":").nth(1))
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert_eq!(erased, Some(2), "cand-a's two batches dropped by the replay: {said}");

    // One more replay, after the whole-test erasure: exam-data's marks stay
    // gone (or the next sweep would erase it again). A new mark on exam-keep,
    // read after the old ones (one partition), says the replay got there.
    let mut up = start(dir.path(), port, broker_port, &["--group", "replay-2"]);
    wait_healthy(&mut up, &base).await;
    let before_mark = invigil_schemas::clock::now_ms();
    assert_eq!(mark(keeper.clone(), "exam-keep").await, 200);
    let listed = wait_for("the new mark after the second replay", Duration::from_secs(30), || async {
        let listed = cli(&["retention"]);
        let status = get_json(&http, format!("{base}/api/v1/dashboard/retention"), &keeper).await?;
        let fresh = status["tests"]
            .as_array()?
            .iter()
            .any(|t| t["test_id"] == "exam-keep" && t["marked_at"].as_i64() >= Some(before_mark));
        fresh.then_some(listed)
    })
    .await;
    assert!(!listed.contains("exam-data"), "{listed}");
    stop_cleanly(&mut up);
}

/// The config log on `up`'s own broker survives a restart: its versions
/// (and the document in force) are still there. tansu 0.6 deletes every
/// record of a topic with `retention.ms = -1` at its first maintenance,
/// which runs as it starts: the log is created with the largest finite
/// retention instead, which Kafka reads the same way.
#[tokio::test]
async fn the_config_log_on_ups_broker_keeps_its_history_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (port, broker_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let admin = staff_token("a1", StaffRole::Admin, &[]);
    let log = "config_topic = \"invigil_config\"\n";
    let history = |http: reqwest::Client, admin: String, base: String| async move {
        let body = get_json(&http, format!("{base}/api/v1/admin/config/history"), &admin).await?;
        Some(body["versions"].as_array()?.len())
    };
    let mut up = start_with(dir.path(), port, broker_port, &[], log);
    wait_healthy(&mut up, &base).await;
    let current = get_json(&http, format!("{base}/api/v1/admin/config"), &admin).await.unwrap();
    let mut document = current["document"].clone();
    document["tests"] = json!({"exam-log": {"retention_days": 7}});
    let put = http.put(format!("{base}/api/v1/admin/config")).bearer_auth(&admin).json(&document).send().await.unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let before = history(http.clone(), admin.clone(), base.clone()).await.unwrap();
    assert!(before >= 2, "the seed and the edit: {before}");
    stop_cleanly(&mut up);
    let mut up = start_with(dir.path(), port, broker_port, &[], log);
    wait_healthy(&mut up, &base).await;
    assert_eq!(history(http.clone(), admin.clone(), base.clone()).await, Some(before), "versions kept");
    let now = get_json(&http, format!("{base}/api/v1/admin/config"), &admin).await.unwrap();
    assert_eq!(now["document"]["tests"]["exam-log"]["retention_days"], 7, "the edit is still in force: {now}");
    stop_cleanly(&mut up);
}

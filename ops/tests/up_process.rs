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

fn start(dir: &Path, port: u16, broker_port: u16) -> Up {
    let settings = dir.join("up.toml");
    std::fs::write(
        &settings,
        format!(
            "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/config.json\"\n[kafka]\nbrokers = \"127.0.0.1:{broker_port}\"\n\
             [spool]\ndir = \"{d}/spool\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let log = dir.join(format!("up-{}.log", Instant::now().elapsed().as_nanos()));
    let child = Command::new(env!("CARGO_BIN_EXE_invigil"))
        .args(["up", "--settings", settings.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--media-listen", "127.0.0.1:0", "--demo-listen", "127.0.0.1:0"])
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

#[tokio::test]
async fn up_runs_its_own_broker_stores_events_and_keeps_them_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (port, broker_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = start(dir.path(), port, broker_port);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(status)) = up.child.try_wait() {
            panic!("invigil up exited {status}: {}", std::fs::read_to_string(&up.log).unwrap_or_default());
        }
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "up's /healthz did not answer within 90 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let said = std::fs::read_to_string(&up.log).unwrap();
    assert!(said.contains("starting a local one"), "{said}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", broker_port)).is_ok(), "the local broker listens");

    let candidate = token(&tokens::candidate_claims("exam-up", "cand-up"));
    let session = invigil_schemas::ids::event_id_v7(1, [1; 10]).to_string();
    let reply: Value = http
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(&candidate)
        .json(&batch(&session, 0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"], "ok", "{reply}");
    let reviewer = token(&invigil_schemas::claims::staff_token_payload(&tokens::staff_claims_of(
        "r1",
        StaffRole::Reviewer,
        &["exam-up"],
    )));
    let timeline = format!("{base}/api/v1/dashboard/tests/exam-up/candidates/cand-up/timeline");
    let events = |http: reqwest::Client, reviewer: String, timeline: String| async move {
        let body: Value = http.get(&timeline).bearer_auth(&reviewer).send().await.ok()?.json().await.ok()?;
        let n = body["events"].as_array()?.len();
        (n > 0).then_some(n)
    };
    let stored = wait_for("the batch in chDB", Duration::from_secs(60), || {
        events(http.clone(), reviewer.clone(), timeline.clone())
    })
    .await;
    assert_eq!(stored, 2);

    // SIGTERM: ingest drains, the pipeline commits, the broker stops too.
    let _ = Command::new("kill").args(["-TERM", &up.child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "up did not stop within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}: {}", std::fs::read_to_string(&up.log).unwrap());
    assert!(std::net::TcpStream::connect(("127.0.0.1", broker_port)).is_err(), "the broker stopped with up");

    // Restart on the same data: the stored events are still there.
    let mut up = start(dir.path(), port, broker_port);
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

//! Kafka reached the way managed services require: TLS with a private CA
//! (stunnel terminating it in front of a real tansu that advertises the TLS
//! port), and SASL SCRAM on top. `invigil ingest` produces through it (its
//! events and its config log), `invigil tail` consumes through it, and a
//! wrong CA or password stops either at start with the setting named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use invigil_testkit::broker::{tansu_binary, PrivateBroker};
use invigil_testkit::process::{ingest_command, Killed};
use invigil_testkit::services::free_port;
use invigil_testkit::tls::{Stunnel, TestPki};
use invigil_testkit::tokens;
use serde_json::{json, Value};

const SECRET: &str = "Wf3q9Lx2Rk7VbN0sZt5Ym8Jc1Hd4Gp6Ae0Uo2Ii9Qw3E";

/// An ingest settings file: `kafka_extra` is appended (TLS and SASL tables).
fn settings(dir: &Path, name: &str, port: u16, brokers: &str, topic: &str, kafka_extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let data = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/config.json\"\nconfig_topic = \"{topic}_config\"\n\
             [kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\nidempotence = false\n{kafka_extra}\n\
             [spool]\ndir = \"{d}/spool\"\n",
            d = data.display()
        ),
    )
    .unwrap();
    path
}

fn ingest(settings: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = ingest_command(env!("CARGO_BIN_EXE_invigil"), settings, SECRET);
    command
        .env_remove("INVIGIL_KAFKA_SASL_PASSWORD")
        .env("INVIGIL_IP_HASH_SECRET", "kafka-tls-test-ip-hash")
        .envs(env.iter().copied());
    command
}

/// Starts ingest and waits until it serves; panics with its log if it exits.
fn serve(settings: &Path, port: u16, env: &[(&str, &str)]) -> Killed {
    let log = settings.with_extension("log");
    let child =
        ingest(settings, env).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut running = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(40);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = running.0.try_wait().unwrap() {
            panic!("ingest exited ({status}): {}", std::fs::read_to_string(&log).unwrap());
        }
        assert!(Instant::now() < deadline, "ingest did not listen within 40 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    running
}

/// Runs ingest expecting it to refuse to start; its stderr.
fn refused(settings: &Path, env: &[(&str, &str)]) -> String {
    let log = settings.with_extension("refused.log");
    let child =
        ingest(settings, env).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut running = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ingest still runs after 30 s: {}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "ingest started: {stderr}");
    stderr
}

fn tail(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invigil"))
        .arg("tail")
        .args(args)
        .env_remove("INVIGIL_KAFKA_BROKERS")
        .env_remove("INVIGIL_KAFKA_SASL_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn post_batch(port: u16, candidate: &str, session: &str) {
    let now = invigil_testkit::now_ms() as u64;
    let id = invigil_schemas::ids::event_id_v7(now, [3; 10]);
    let body = json!({"v": 1, "session_id": session, "batch_seq": 0, "sent_at": now, "events": [
        {"id": id, "seq": 0, "ts": now, "type": "key_activity", "keys": 4, "interval_ms": 5000}
    ]});
    let token = tokens::sign_with(SECRET.as_bytes(), &tokens::candidate_claims("exam-tls", candidate));
    let response = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/events"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().unwrap());
    // Delivered to the broker, not spooled: the acknowledgement came over TLS.
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics")).unwrap().text().unwrap();
    assert!(metrics.contains("invigil_ingest_spooled_total 0"), "the batch was spooled: {metrics}");
}

/// The sessions in `topic`, read to its end through `args`' TLS/SASL flags.
fn sessions_in(topic: &str, brokers: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut all = vec!["--brokers", brokers, "--topic", topic, "--to-end"];
    all.extend_from_slice(args);
    let output = tail(&all, env);
    assert!(output.status.success(), "tail: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["session_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A broker that advertises `tls_port`, and stunnel there.
fn broker_behind_tls(dir: &Path, pki: &TestPki) -> (PrivateBroker, Stunnel, String) {
    let tls_port = free_port();
    let broker = PrivateBroker::start_with(dir.join("kafka"), Some(tls_port), &[]);
    let stunnel = Stunnel::start(dir, pki, tls_port, broker.port);
    (broker, stunnel, format!("127.0.0.1:{tls_port}"))
}

#[test]
fn ingest_and_tail_reach_kafka_through_tls_and_a_wrong_ca_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path(), "good");
    let stranger = TestPki::create(dir.path(), "stranger");
    let (_broker, _stunnel, brokers) = broker_behind_tls(dir.path(), &pki);
    let ca = pki.ca.to_str().unwrap();
    let topic = "tls_events";

    let created = tail(&["--brokers", &brokers, "--kafka-tls-ca-file", ca, "--topic", topic, "--create", "2"], &[]);
    assert!(created.status.success(), "creating the topic over TLS: {}", String::from_utf8_lossy(&created.stderr));

    let port = free_port();
    let tls = format!("[kafka.tls]\nca_file = \"{ca}\"\n");
    let good = settings(dir.path(), "good", port, &brokers, topic, &tls);
    {
        let _ingest = serve(&good, port, &[]);
        post_batch(port, "cand-tls", "019aaaac-2218-769e-b2a7-4de452e6b4a1");
    }
    let sessions = sessions_in(topic, &brokers, &["--kafka-tls-ca-file", ca], &[]);
    assert_eq!(sessions, ["019aaaac-2218-769e-b2a7-4de452e6b4a1"]);

    // A CA that did not sign the broker's certificate: a settings error,
    // named, before anything is served.
    let wrong = settings(
        dir.path(),
        "wrong",
        free_port(),
        &brokers,
        topic,
        &format!("[kafka.tls]\nca_file = \"{}\"\n", stranger.ca.display()),
    );
    let stderr = refused(&wrong, &[]);
    assert!(stderr.contains("kafka.tls.ca_file") && stderr.contains("certificate verify failed"), "{stderr}");
    let output = tail(
        &["--brokers", &brokers, "--kafka-tls-ca-file", stranger.ca.to_str().unwrap(), "--topic", topic, "--to-end"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--kafka-tls-ca-file"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_invigil"))
        .args(["pipeline", "--brokers", &brokers, "--kafka-tls-ca-file", stranger.ca.to_str().unwrap()])
        .arg("--chdb-path")
        .arg(dir.path().join("chdb"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("--kafka-tls-ca-file")
            && stderr.contains("certificate verify failed"),
        "{stderr}"
    );

    // A file that is not there is named without contacting anyone.
    let missing = settings(
        dir.path(),
        "missing",
        free_port(),
        &brokers,
        topic,
        "[kafka.tls]\nca_file = \"/nonexistent/ca.pem\"\n",
    );
    let stderr = refused(&missing, &[]);
    assert!(stderr.contains("kafka.tls.ca_file: /nonexistent/ca.pem"), "{stderr}");
}

#[test]
fn scram_over_tls_logs_in_and_a_wrong_password_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path(), "sasl");
    let (mut broker, _stunnel, brokers) = broker_behind_tls(dir.path(), &pki);
    // The user is made while the broker is open, then it requires logins.
    let password = "Zq8-kafka-user-pw-1c7T";
    let created = Command::new(tansu_binary())
        .args(["user", "create", "--broker", &format!("tcp://127.0.0.1:{}", broker.port)])
        .args(["--mechanism", "scram256", "invigil", password])
        .output()
        .unwrap();
    assert!(created.status.success(), "tansu user create: {}", String::from_utf8_lossy(&created.stderr));
    broker.kill();
    broker.restart_with(&["--authentication"]);

    let ca = pki.ca.to_str().unwrap();
    let topic = "sasl_events";
    let flags =
        ["--kafka-tls-ca-file", ca, "--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-username", "invigil"];
    let env = [("INVIGIL_KAFKA_SASL_PASSWORD", password)];
    let mut create = vec!["--brokers", brokers.as_str(), "--topic", topic, "--create", "1"];
    create.extend_from_slice(&flags);
    let created = tail(&create, &env);
    assert!(created.status.success(), "creating the topic with SCRAM: {}", String::from_utf8_lossy(&created.stderr));

    let sasl = format!(
        "[kafka.tls]\nca_file = \"{ca}\"\n[kafka.sasl]\nmechanism = \"SCRAM-SHA-256\"\nusername = \"invigil\"\n"
    );
    let port = free_port();
    let good = settings(dir.path(), "scram", port, &brokers, topic, &sasl);
    {
        let _ingest = serve(&good, port, &env);
        post_batch(port, "cand-sasl", "019aaaac-2218-769e-b2a7-4de452e6b4b2");
    }
    assert_eq!(sessions_in(topic, &brokers, &flags, &env), ["019aaaac-2218-769e-b2a7-4de452e6b4b2"]);

    let stderr = refused(&good, &[("INVIGIL_KAFKA_SASL_PASSWORD", "not-the-password")]);
    assert!(stderr.contains("kafka.sasl: 127.0.0.1") && stderr.contains("refused the SASL login"), "{stderr}");
    assert!(!stderr.contains("not-the-password") && !stderr.contains(password), "a password was printed: {stderr}");
    // No password at all is caught before any connection.
    let stderr = refused(&good, &[]);
    assert!(stderr.contains("INVIGIL_KAFKA_SASL_PASSWORD"), "{stderr}");
}

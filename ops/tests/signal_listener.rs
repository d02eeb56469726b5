//! The lean live video signal listener (`[live_video] signal_listen`) as a
//! browser meets it: the CORS preflight, a held signal answered with the
//! same JSON as the main port's route, errors as JSON naming the problem,
//! and a candidate who goes away releasing its hold at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use invigil_testkit::process::{ingest_command, Killed};
use invigil_testkit::services::free_port;
use invigil_testkit::tokens;
use serde_json::Value;

const SECRET: &str = "Rb7Xk2Qm9Vt4Lp1Zs8Nw3Hc6Jd0Fy5Gu2Ae7Io4Tq9Kx";

/// Sends `request` on a fresh connection and reads the whole response
/// (the listener closes after an error; a 200 is read to its length).
fn exchange(port: u16, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).unwrap_or(0);
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
    }
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

fn held(metrics_port: u16) -> i64 {
    let text = reqwest::blocking::get(format!("http://127.0.0.1:{metrics_port}/metrics")).unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("invigil_ingest_live_signals_held "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the held-signals gauge")
}

#[test]
fn the_signal_listener_answers_like_the_route_and_frees_a_hold_whose_candidate_left() {
    let dir = tempfile::tempdir().unwrap();
    let (port, signal_port) = (free_port(), free_port());
    let settings = dir.path().join("ingest.toml");
    std::fs::write(
        &settings,
        format!(
            "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/config.json\"\ncors_origins = [\"https://exam.example\"]\n\
             [kafka]\nbrokers = \"127.0.0.1:9\"\n[spool]\ndir = \"{d}/spool\"\n[rate_limit]\nper_second = 0.0\n\
             [live_video]\nsignal_listen = \"127.0.0.1:{signal_port}\"\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let _ingest = Killed(
        ingest_command(env!("CARGO_BIN_EXE_invigil"), &settings, SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while TcpStream::connect(("127.0.0.1", signal_port)).is_err() {
        assert!(Instant::now() < deadline, "the signal listener did not open within 40 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = tokens::sign_with(SECRET.as_bytes(), &tokens::candidate_claims("exam-sig", "cand-1"));

    // The browser's preflight: allowed for the configured origin only.
    let (status, head, _) = exchange(
        signal_port,
        "OPTIONS /api/v1/live/signal?publishing=none HTTP/1.1\r\nHost: x\r\nOrigin: https://exam.example\r\n\
         Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n\r\n",
    );
    assert_eq!(status, 204, "{head}");
    assert!(head.contains("access-control-allow-origin: https://exam.example"), "{head}");
    assert!(head.contains("access-control-allow-headers: authorization"), "{head}");
    let (_, head, _) = exchange(
        signal_port,
        "OPTIONS /api/v1/live/signal HTTP/1.1\r\nHost: x\r\nOrigin: https://elsewhere.example\r\n\r\n",
    );
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // A signal held for its wait and answered: nobody watches, so no publish.
    let started = Instant::now();
    let (status, head, body) = exchange(
        signal_port,
        &format!(
            "GET /api/v1/live/signal?publishing=none&wait_ms=700 HTTP/1.1\r\nHost: x\r\nOrigin: https://exam.example\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        ),
    );
    assert_eq!(status, 200, "{head}{body}");
    assert!(started.elapsed() >= Duration::from_millis(600), "answered before its wait: {:?}", started.elapsed());
    let signal: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((signal["enabled"].as_bool(), signal["publish"].as_bool()), (Some(true), Some(false)), "{body}");
    assert!(head.contains("cache-control: no-store") && head.contains("access-control-allow-origin"), "{head}");

    // The same question on the main port gets the same answer.
    let main: Value = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/live/signal?publishing=none&wait_ms=10"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(main["enabled"], signal["enabled"]);
    assert_eq!(main["publish"], signal["publish"]);

    // Errors are JSON naming the problem.
    let (status, _, body) = exchange(signal_port, "GET /api/v1/live/signal HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization"), "{body}");
    let (status, _, body) = exchange(
        signal_port,
        &format!("GET /api/v1/live/signal?publishing=sideways HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("query") && body.contains("publishing"), "{body}");
    let (status, _, _) = exchange(signal_port, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404);
    let (status, _, _) = exchange(signal_port, "POST /api/v1/live/signal HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(status, 405);

    // Twenty candidates held, then gone: the holds end without waiting out
    // their 25 s.
    let mut streams: Vec<TcpStream> = (0..20)
        .map(|i| {
            let token = tokens::sign_with(SECRET.as_bytes(), &tokens::candidate_claims("exam-sig", &format!("c-{i}")));
            let mut stream = TcpStream::connect(("127.0.0.1", signal_port)).unwrap();
            write!(stream, "GET /api/v1/live/signal?publishing=none HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while held(port) < 20 {
        assert!(Instant::now() < deadline, "{} of 20 signals held", held(port));
        std::thread::sleep(Duration::from_millis(50));
    }
    streams.clear();
    let deadline = Instant::now() + Duration::from_secs(5);
    while held(port) > 0 {
        assert!(Instant::now() < deadline, "{} holds outlived their candidates", held(port));
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! The engine driven natively with the messages the browser glue sends,
//! checking the commands it answers with. Batches are checked with the
//! server's own parser.

use invigil_schemas::api::{ConfigResponse, CredentialsResponse, PostForm};
use invigil_schemas::config::ProctorConfig;
use invigil_schemas::event::{BlockReason, CaptureKind, EventBody};
use invigil_schemas::names::WireName;
use invigil_schemas::validate::{parse_batch, Limits};
use invigil_sdk::engine::{Phase, CREDENTIAL_ATTEMPTS};
use invigil_sdk::protocol::{Command, Input, Store};
use invigil_sdk::token::Identity;
use invigil_sdk::Engine;

const T0: i64 = 1_795_000_000_000;
/// The claims the glue reads from the candidate's token.
fn identity() -> Option<Identity> {
    Some(Identity { candidate_id: "cand-7".into(), test_id: "exam-1".into() })
}

fn input(json: &str) -> Input {
    invigil_sdk::json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// An engine plus the commands it has issued, answering nothing by itself.
struct Harness {
    engine: Engine,
    now: i64,
    log: Vec<Command>,
}

impl Harness {
    fn new() -> Self {
        Self { engine: Engine::new("http://ingest.test/", identity(), 42, T0), now: T0, log: Vec::new() }
    }

    fn send(&mut self, json: &str) -> Vec<Command> {
        let out = self.engine.handle(self.now, input(json));
        self.log.extend(out.clone());
        out
    }

    fn advance(&mut self, ms: i64) -> Vec<Command> {
        let mut out = Vec::new();
        for _ in 0..ms / 250 {
            self.now += 250;
            out.extend(self.engine.tick(self.now));
        }
        self.log.extend(out.clone());
        out
    }

    fn respond(&mut self, req: u64, status: u16, body: &str) -> Vec<Command> {
        let json = serde_json::json!({ "response": [req, status, body, null] });
        self.send(&json.to_string())
    }

    /// Brings a fresh engine to `Running` with every device granted.
    fn running(config: ProctorConfig) -> Self {
        let mut h = Self::new();
        let out = h.send(
            r#"{"start":{"user_agent":"test","screen_w":1920,"screen_h":1080,"displays":1,"missing_features":[]}}"#,
        );
        let req = fetch_req(&out, "/api/v1/config").expect("config is fetched at start");
        let reply = serde_json::to_string(&ConfigResponse { config_version: 3, config }).unwrap();
        let out = h.respond(req, 200, &reply);
        assert!(out.contains(&Command::AcquireDevices));
        assert!(matches!(h.engine.phase, Phase::Setup));
        for device in ["camera", "microphone", "screen"] {
            h.send(&format!(r#"{{"permission":["{device}","granted"]}}"#));
        }
        h.send(r#"{"fullscreen":"entered"}"#);
        assert_eq!(h.engine.phase, Phase::Running);
        // Acknowledge everything sent so far (each ack may release the next batch).
        let mut unanswered = batches(&h.log.clone());
        while let Some((req, _)) = unanswered.pop() {
            let out = h.respond(req, 200, &ok_reply(3));
            unanswered.extend(batches(&out));
        }
        h
    }
}

fn fetch_req(commands: &[Command], path: &str) -> Option<u64> {
    commands.iter().find_map(|c| match c {
        Command::Fetch { req, url, .. } if url.ends_with(path) => Some(*req),
        _ => None,
    })
}

fn batches(commands: &[Command]) -> Vec<(u64, invigil_schemas::batch::EventBatch)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Fetch { req, url, body: Some(body), .. } if url.ends_with("/api/v1/events") => {
                Some((*req, parse_batch(body.as_bytes(), &Limits::default()).expect("the server accepts SDK batches")))
            }
            _ => None,
        })
        .collect()
}

/// Upload credentials for cand-7's prefix, valid 4 h from T0.
fn credentials() -> CredentialsResponse {
    CredentialsResponse {
        access_key_id: "ASIA1".into(),
        secret_access_key: "secret".into(),
        session_token: "token".into(),
        expiration: T0 + 4 * 3_600_000,
        bucket: "media".into(),
        region: "us-east-1".into(),
        endpoint: "http://s3.test".into(),
        prefix: "2026-11-19/exam-1/cand-7/".into(),
        forms: Vec::new(),
    }
}

fn ok_reply(version: u64) -> String {
    format!(r#"{{"status":"ok","accepted":1,"config_version":{version}}}"#)
}

#[test]
fn setup_then_captures_on_a_fixed_grid() {
    let mut config = ProctorConfig::default();
    config.capture_intervals.face_ms = 10_000;
    let mut h = Harness::running(config);
    let overlay_cleared = h.log.iter().any(|c| matches!(c, Command::Overlay { reasons, .. } if reasons.is_empty()));
    assert!(overlay_cleared, "setup ends with the overlay removed");
    let out = h.advance(35_000);
    let face: Vec<(String, u64)> = h
        .log
        .iter()
        .chain(&out)
        .filter_map(|c| match c {
            Command::Capture { kind: CaptureKind::Face, key, capture_seq, .. } => Some((key.clone(), *capture_seq)),
            _ => None,
        })
        .collect();
    let mut face: Vec<_> = face.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    face.sort_by_key(|(_, seq)| *seq);
    assert_eq!(face.len(), 4, "t=0, 10, 20, 30 s: {face:?}");
    assert!(face[0].0.starts_with("camera/base_truth_"), "{face:?}");
    assert!(face[1..].iter().all(|(k, _)| k.starts_with("camera/") && k.ends_with(".jpg")));
    let audio = h.log.iter().filter(|c| matches!(c, Command::Capture { kind: CaptureKind::Audio, .. })).count();
    assert_eq!(audio, 2, "30 s chunks: t=0 and t=30 s");
}

/// A test that blocks on a second screen waits for the screens at setup,
/// and blocks while a second one is plugged in, on the timeline too.
#[test]
fn a_second_screen_blocks_a_test_that_says_so_until_it_is_gone() {
    let mut config = ProctorConfig::default();
    config.blocking.on_second_screen = true;
    let mut h = Harness::new();
    let out =
        h.send(r#"{"start":{"user_agent":"test","screen_w":1920,"screen_h":1080,"displays":1,"missing_features":[]}}"#);
    let req = fetch_req(&out, "/api/v1/config").unwrap();
    h.respond(req, 200, &serde_json::to_string(&ConfigResponse { config_version: 3, config }).unwrap());
    for device in ["camera", "microphone", "screen"] {
        h.send(&format!(r#"{{"permission":["{device}","granted"]}}"#));
    }
    let out = h.send(r#"{"fullscreen":"entered"}"#);
    assert_eq!(h.engine.phase, Phase::Setup, "the screens are not known yet");
    let overlay = |out: &[Command]| {
        out.iter().rev().find_map(|c| match c {
            Command::Overlay { reasons, checks, .. } => Some((reasons.clone(), checks.clone())),
            _ => None,
        })
    };
    let (reasons, checks) = overlay(&out).expect("the setup overlay");
    assert_eq!(reasons, [BlockReason::SecondScreen]);
    assert!(checks.contains(&BlockReason::SecondScreen), "a step of this test's checklist");
    h.send(r#"{"display":[1,false,"prompt"]}"#);
    assert_eq!(h.engine.phase, Phase::Running);
    let out = h.send(r#"{"display":[2,true,"prompt"]}"#);
    assert_eq!(overlay(&out).map(|o| o.0), Some(vec![BlockReason::SecondScreen]));
    let out = h.send(r#"{"display":[1,false,"granted"]}"#);
    assert_eq!(overlay(&out).map(|o| o.0), Some(vec![]));
    // Every batch so far and those the next seconds send, each acknowledged.
    let mut sent = batches(&h.log.clone());
    let mut events = Vec::new();
    for _ in 0..8 {
        for (req, batch) in std::mem::take(&mut sent) {
            events.extend(batch.events);
            sent.extend(batches(&h.respond(req, 200, &ok_reply(3))));
        }
        sent.extend(batches(&h.advance(1_000)));
    }
    let reasons: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Blocked(b) => Some(format!("blocked {}", b.reason.as_str())),
            EventBody::Unblocked(b) => Some(format!("unblocked {}", b.reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["blocked second_screen", "unblocked second_screen"], "setup's wait is not on the timeline");
}

/// Typing reaches the server as counts per interval: its keys, its
/// busiest second and its seconds far above the candidate's own rate.
#[test]
fn a_stream_of_keys_far_above_the_candidates_typing_is_reported_as_burst_seconds() {
    let mut h = Harness::running(ProctorConfig::default());
    let mut intervals = Vec::new();
    // 25 seconds of ordinary typing, then 3 seconds at 45 keys a second.
    for second in 0..30 {
        let keys = match second {
            0..25 => 5,
            25..28 => 45,
            _ => 0,
        };
        if keys > 0 {
            h.send(&format!(r#"{{"keys":{keys}}}"#));
        }
        let out = h.advance(1_000);
        for (req, batch) in batches(&out) {
            intervals.extend(batch.events.iter().filter_map(|e| match &e.body {
                EventBody::KeyActivity(k) => Some(k.clone()),
                _ => None,
            }));
            h.respond(req, 200, r#"{"status":"ok","accepted":1,"config_version":1}"#);
        }
    }
    let keys: u32 = intervals.iter().map(|k| k.keys).sum();
    let bursts: u32 = intervals.iter().map(|k| k.burst_s).sum();
    let peak = intervals.iter().map(|k| k.peak_per_s).max();
    assert_eq!((keys, bursts, peak), (25 * 5 + 3 * 45, 3, Some(45)), "{intervals:?}");
    assert!(intervals.iter().all(|k| k.peak_per_s <= k.keys && k.burst_s * 1_000 <= k.interval_ms));
}

#[test]
fn events_are_retried_in_order_until_acknowledged() {
    let mut h = Harness::running(ProctorConfig::default());
    h.send(r#"{"keys":12}"#);
    h.send("\"context_menu\"");
    let out = h.advance(5_000);
    let sent = batches(&out);
    assert_eq!(sent.len(), 1, "one batch in flight");
    let (req, first) = &sent[0];
    let first_seq = first.events[0].seq;
    let kinds: Vec<_> = first.events.iter().map(|e| e.body.kind().as_str()).collect();
    assert!(kinds.contains(&"context_menu") && kinds.contains(&"key_activity"), "{kinds:?}");
    let keys: u32 = first
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::KeyActivity(k) => Some(k.keys),
            _ => None,
        })
        .sum();
    assert_eq!(keys, 12);

    // No response (offline): the same events go again after a backoff, in a new batch.
    h.respond(*req, 0, "");
    let retry = batches(&h.advance(2_000));
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].1.events[0].seq, first_seq, "retries resend from the first unacknowledged event");
    assert!(retry[0].1.batch_seq > first.batch_seq);
    let out = h.respond(retry[0].0, 200, &ok_reply(3));
    let forgotten: usize = out
        .iter()
        .map(|c| match c {
            Command::Forget { store: Store::Events, keys } => keys.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(forgotten, retry[0].1.events.len(), "acknowledged events leave IndexedDB");
    assert_eq!(h.engine.queued_events(), 0);
}

#[test]
fn a_rejected_batch_is_dropped_and_reported() {
    let mut h = Harness::running(ProctorConfig::default());
    let (req, batch) = batches(&h.advance(5_000)).remove(0);
    let out = h.respond(req, 400, r#"{"error":{"code":"invalid_request","message":"bad"}}"#);
    let out = [out, h.advance(5_000)].concat();
    let (_, next) = batches(&out).remove(0);
    assert!(next.events[0].seq > batch.events.last().unwrap().seq, "the rejected events are not resent");
    assert!(next.events.iter().any(|e| matches!(&e.body, EventBody::SdkError(s) if s.code == "batch_rejected")));
}

#[test]
fn credentials_failing_three_times_disable_uploads_but_not_events() {
    let mut h = Harness::running(ProctorConfig::default());
    let since_running = h.log.len();
    let mut failures = 0;
    if let Some(req) = fetch_req(&h.log.clone(), "/api/v1/credentials") {
        h.respond(req, 503, "");
        failures += 1;
    }
    for _ in 0..40 {
        let out = h.advance(1_000);
        if let Some(req) = fetch_req(&out, "/api/v1/credentials") {
            h.respond(req, 503, "");
            failures += 1;
        }
        for (req, _) in batches(&out) {
            h.respond(req, 200, &ok_reply(3));
        }
    }
    assert_eq!(failures, CREDENTIAL_ATTEMPTS, "then a pause of minutes");
    assert!(h.engine.uploads_disabled());
    let overlays = h.log[since_running..].iter().filter(|c| matches!(c, Command::Overlay { .. })).count();
    assert_eq!(overlays, 0, "infrastructure failures never show the overlay");
    let out = h.advance(10_000);
    assert!(!batches(&out).is_empty(), "events keep flowing");
    assert!(h
        .log
        .iter()
        .any(|c| matches!(c, Command::Notify { name: "uploads", detail } if detail.state == Some("disabled"))));
    // The lifecycle stays what it was: uploads have their own notice.
    assert!(!h.log.iter().any(|c| matches!(c, Command::Notify { name: "status", detail }
        if !matches!(detail.state, Some("configuring" | "setup" | "running" | "stopping" | "stopped")))));
}

/// The first capture event of the batches sent in the next 5 s.
fn first_capture_event(h: &mut Harness) -> invigil_schemas::event::Capture {
    let sent = batches(&h.advance(5_000));
    sent.iter()
        .flat_map(|(_, b)| &b.events)
        .find_map(|e| match &e.body {
            EventBody::Capture(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a capture event")
}

/// Answers the credentials request with `creds`, then stores the first face
/// capture as the glue would; its key, and what the core asked for next.
fn face_capture_stored(h: &mut Harness, creds: &CredentialsResponse) -> (String, Vec<Command>) {
    let req = fetch_req(&h.log.clone(), "/api/v1/credentials")
        .or_else(|| fetch_req(&h.advance(1_000), "/api/v1/credentials"));
    h.respond(req.expect("a credentials request"), 200, &serde_json::to_string(creds).unwrap());
    let (key, capture_seq, session_id, ts) = h
        .log
        .iter()
        .find_map(|c| match c {
            Command::Capture { kind: CaptureKind::Face, key, capture_seq, session_id, ts } => {
                Some((key.clone(), *capture_seq, *session_id, *ts))
            }
            _ => None,
        })
        .expect("a face capture");
    let item = serde_json::json!({ "captured": {
        "key": key, "kind": "face", "session_id": session_id, "capture_seq": capture_seq, "ts": ts, "bytes": 21000 } });
    let out = h.send(&item.to_string());
    (key, out)
}

#[test]
fn uploads_sign_for_the_prefix_and_report_the_capture() {
    let mut h = Harness::running(ProctorConfig::default());
    let (capture, out) = face_capture_stored(&mut h, &credentials());
    let (req, url, sign) = out
        .iter()
        .find_map(|c| match c {
            Command::Put { req, url, sign, .. } => Some((*req, url.clone(), sign.clone())),
            _ => None,
        })
        .expect("the capture is uploaded at once");
    assert_eq!(url, format!("http://s3.test/media/2026-11-19/exam-1/cand-7/{}", capture));
    assert_eq!(
        (sign.access_key_id.as_str(), sign.secret_access_key.as_str(), sign.session_token.as_str()),
        ("ASIA1", "secret", "token")
    );
    assert_eq!(sign.region, "us-east-1");
    h.respond(req, 503, "");
    let retry = h.advance(2_000).into_iter().find_map(|c| match c {
        Command::Put { req, .. } => Some(req),
        _ => None,
    });
    h.respond(retry.expect("retried after a 503"), 200, "");
    let uploaded = first_capture_event(&mut h);
    assert_eq!(uploaded.key.as_deref(), Some(format!("2026-11-19/exam-1/cand-7/{}", capture).as_str()));
    assert_eq!((uploaded.bytes, uploaded.attempts), (Some(21_000), 2));
}

#[test]
fn with_post_forms_uploads_are_form_posts_of_the_matching_folder() {
    let mut h = Harness::running(ProctorConfig::default());
    let prefix = "2026-11-19/exam-1/cand-7/";
    let form = |folder: &str, content_type: &str| PostForm {
        key_prefix: format!("{prefix}{folder}"),
        content_type: content_type.into(),
        fields: vec![("policy".into(), format!("policy-of-{folder}")), ("x-amz-signature".into(), "sig".into())],
    };
    let creds = CredentialsResponse {
        access_key_id: String::new(),
        secret_access_key: String::new(),
        session_token: String::new(),
        forms: vec![form("screen/", "image/jpeg"), form("camera/", "image/jpeg"), form("audio/", "audio/webm")],
        ..credentials()
    };
    let (capture, out) = face_capture_stored(&mut h, &creds);
    assert!(!out.iter().any(|c| matches!(c, Command::Put { .. })), "no signed PUT without keys");
    let (req, url, fields, media) = out
        .iter()
        .find_map(|c| match c {
            Command::Post { req, url, fields, media } => Some((*req, url.clone(), fields.clone(), media.clone())),
            _ => None,
        })
        .expect("the capture is posted at once");
    assert_eq!(url, "http://s3.test/media", "path-style, to the bucket");
    assert_eq!(media, capture);
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(field("policy").as_deref(), Some("policy-of-camera/"), "the camera folder's form");
    assert_eq!(field("Content-Type").as_deref(), Some("image/jpeg"));
    assert_eq!(field("key"), Some(format!("{prefix}{}", capture)));
    assert_eq!(fields.first().map(|(n, _)| n.as_str()), Some("policy"), "the form's own fields come first");
    h.respond(req, 204, "");
    let uploaded = first_capture_event(&mut h);
    assert_eq!(uploaded.status, invigil_schemas::event::CaptureStatus::Uploaded);
    assert_eq!(uploaded.key.as_deref(), Some(format!("{prefix}{}", capture).as_str()));
}

#[test]
fn shutdown_tears_down_and_forgets_the_queue() {
    let mut h = Harness::running(ProctorConfig::default());
    let (req, _) = batches(&h.advance(5_000)).remove(0);
    let out =
        h.respond(req, 200, r#"{"status":"shutdown","reason":"candidate_bypassed","action":"graceful_shutdown"}"#);
    assert!(out.contains(&Command::Teardown { keep_audio: false }));
    assert_eq!(h.engine.phase, Phase::Stopped);
    assert_eq!(h.engine.queued_events(), 0);
    assert!(h.advance(30_000).is_empty(), "a stopped SDK does nothing more");
}

#[test]
fn compliance_blocks_are_recorded_only_while_running() {
    let mut h = Harness::running(ProctorConfig::default());
    // Every overlay carries the test's whole list of checks (the default
    // test asks for all four), so the candidate sees which apply.
    let checks = vec![
        BlockReason::CameraPermission,
        BlockReason::MicrophonePermission,
        BlockReason::ScreenPermission,
        BlockReason::FullscreenExited,
    ];
    let exited = h.send(r#"{"fullscreen":"exited"}"#);
    let shown = Command::Overlay { reasons: vec![BlockReason::FullscreenExited], setup: false, checks: checks.clone() };
    assert!(exited.contains(&shown), "{exited:?}");
    assert!(exited.contains(&Command::PauseAudio));
    let entered = h.send(r#"{"fullscreen":"entered"}"#);
    assert!(entered.contains(&Command::Overlay { reasons: vec![], setup: false, checks }));
    // Both leave at once (the second after the first's answer).
    let mut sent = ack_batches(&mut h, &exited);
    sent.extend(ack_batches(&mut h, &entered));
    let kinds: Vec<_> = sent.iter().flat_map(|b| &b.events).map(|e| e.body.kind().as_str()).collect();
    let blocked = kinds.iter().filter(|k| **k == "blocked").count();
    assert_eq!(blocked, 1, "setup was not a block; the exit was: {kinds:?}");
    assert!(kinds.contains(&"unblocked"));
}

#[test]
fn leftovers_of_an_earlier_page_go_first_and_are_closed() {
    let mut h = Harness::new();
    let old = "01900000-0000-7000-8000-000000000001";
    let other = "01900000-0000-7000-8000-000000000002";
    let event = |sid: &str, seq: u64| {
        serde_json::json!({ "session_id": sid, "seq": seq,
            "json": format!(r#"{{"id":"01900000-0000-7000-8000-{seq:012}","seq":{seq},"ts":1719000000000,"type":"context_menu"}}"#) })
    };
    let meta = |sid: &str, candidate: &str| {
        serde_json::json!({ "session_id": sid, "test_id": "exam-1", "candidate_id": candidate,
            "started_at": 1, "next_seq": 2, "next_batch_seq": 5 })
    };
    let restored = serde_json::json!({ "restored": {
        "sessions": [meta(old, "cand-7"), meta(other, "someone-else")],
        "events": [event(old, 0), event(old, 1), event(other, 0)],
        "media": [] } });
    // The glue reports IndexedDB's contents before starting, so leftovers lead.
    h.send(&restored.to_string());
    h.send(r#"{"start":{"user_agent":"t","screen_w":1,"screen_h":1,"displays":1,"missing_features":[]}}"#);
    let sent = batches(&h.log.clone());
    let (_, first) = sent.first().expect("leftovers are flushed at once");
    assert_eq!(first.session_id.to_string(), old, "the older session goes first");
    assert_eq!(first.batch_seq, 5, "its batch numbering continues");
    let kinds: Vec<_> = first.events.iter().map(|e| (e.seq, e.body.kind().as_str())).collect();
    assert_eq!(kinds, [(0, "context_menu"), (1, "context_menu"), (2, "session_ended")]);
    assert!(sent.iter().all(|(_, b)| b.session_id.to_string() != other), "another candidate's leftovers stay put");
}

/// Acknowledges every batch in `commands` and in what the acks release;
/// returns all of them.
fn ack_batches(h: &mut Harness, commands: &[Command]) -> Vec<invigil_schemas::batch::EventBatch> {
    let mut seen = Vec::new();
    let mut unanswered = batches(commands);
    while let Some((req, batch)) = unanswered.pop() {
        seen.push(batch);
        let out = h.respond(req, 200, &ok_reply(3));
        unanswered.extend(batches(&out));
    }
    seen
}

/// Answers every `capture` command as the glue would: stored, `bytes` long.
fn store_captures(h: &mut Harness, commands: &[Command], bytes: u64) -> usize {
    let mut stored = 0;
    for command in commands {
        if let Command::Capture { kind, key, capture_seq, session_id, ts } = command {
            let item = serde_json::json!({ "captured": {
                "key": key, "kind": kind, "session_id": session_id, "capture_seq": capture_seq, "ts": ts, "bytes": bytes } });
            h.send(&item.to_string());
            stored += 1;
        }
    }
    stored
}

/// The default config with bundled uploads every `bundle_ms`.
fn bundled_every(bundle_ms: u32) -> ProctorConfig {
    let mut config = ProctorConfig::default();
    config.uploads.mode = invigil_schemas::config::UploadMode::Bundled;
    config.uploads.bundle_ms = bundle_ms;
    config
}

#[test]
fn bundled_mode_joins_a_bundle_interval_of_captures_into_one_upload_and_reports_each_part() {
    let mut h = Harness::running(bundled_every(60_000));
    let creds = credentials();
    let req = fetch_req(&h.log.clone(), "/api/v1/credentials").expect("credentials asked for while running");
    h.respond(req, 200, &serde_json::to_string(&creds).unwrap());

    // A minute of captures at the default 30-s cadence: nothing is uploaded
    // on its own, then one bundle is asked for.
    let so_far = h.log.clone();
    let mut stored = store_captures(&mut h, &so_far, 1_000);
    let mut bundle = None;
    for _ in 0..70 {
        let out = h.advance(1_000);
        assert!(!out.iter().any(|c| matches!(c, Command::Put { .. })), "no single capture is uploaded");
        ack_batches(&mut h, &out);
        let asked = out.iter().find_map(|c| match c {
            Command::Bundle { key, parts } => Some((key.clone(), parts.clone())),
            _ => None,
        });
        // Captures the glue has not stored yet are not in this bundle.
        let now_stored = store_captures(&mut h, &out, 1_000);
        if asked.is_some() {
            bundle = asked;
            break;
        }
        stored += now_stored;
    }
    let (bundle, parts) = bundle.expect("a bundle once the oldest capture is 60 s old");
    assert!(bundle.starts_with("bundle/") && bundle.ends_with(".bin"), "{bundle}");
    assert!(parts.len() >= 5, "face, screen and audio of a minute: {}", parts.len());
    assert_eq!(parts.len(), stored, "every stored capture is in it");

    // The glue joined them: the bundle is the one upload, then every part is reported.
    let out = h.send(&serde_json::json!({ "bundled": [bundle, []] }).to_string());
    let (req, url) = out
        .iter()
        .find_map(|c| match c {
            Command::Put { req, url, media, .. } if *media == bundle => Some((*req, url.clone())),
            _ => None,
        })
        .expect("the bundle is uploaded");
    assert_eq!(url, format!("http://s3.test/media/2026-11-19/exam-1/cand-7/{bundle}"));
    let out = h.respond(req, 200, "");
    assert!(out.contains(&Command::Forget { store: Store::Media, keys: vec![bundle.clone()] }));
    let mut sent = ack_batches(&mut h, &out);
    let later = h.advance(6_000);
    sent.extend(ack_batches(&mut h, &later));
    let events: Vec<_> = sent
        .into_iter()
        .flat_map(|b| b.events)
        .filter_map(|e| match e.body {
            EventBody::Capture(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), stored, "one capture event per part");
    let object = format!("2026-11-19/exam-1/cand-7/{bundle}");
    for (i, event) in events.iter().enumerate() {
        let first = 1_000 * i as u64;
        assert_eq!(event.key.as_deref(), Some(format!("{object}#bytes={first}-{}", first + 999).as_str()));
        assert_eq!(event.bytes, Some(1_000));
    }
    let kinds: std::collections::BTreeSet<_> = events.iter().map(|e| format!("{:?}", e.kind)).collect();
    assert_eq!(kinds.len(), 3, "face, screen and audio: {kinds:?}");
}

#[test]
fn a_bundle_whose_part_vanished_reports_it_failed_and_bundles_the_rest_again() {
    let mut h = Harness::running(bundled_every(30_000));
    let so_far = h.log.clone();
    store_captures(&mut h, &so_far, 500);
    let bundle = h
        .advance(31_000)
        .into_iter()
        .find_map(|c| match c {
            Command::Bundle { key, parts } => Some((key, parts)),
            _ => None,
        })
        .expect("a bundle after 30 s");
    let gone = bundle.1[0].clone();
    let mut out = h.send(&serde_json::json!({ "bundled": [bundle.0, [gone]] }).to_string());
    out.extend(h.advance(1_000));
    let again = out
        .into_iter()
        .find_map(|c| match c {
            Command::Bundle { key, parts } => Some((key, parts)),
            _ => None,
        })
        .expect("the rest is bundled again");
    assert_eq!(again.1.len(), bundle.1.len() - 1);
    assert!(!again.1.contains(&gone));
    assert_ne!(again.0, bundle.0);
}

#[test]
fn capture_events_recorded_while_stopping_are_sent_without_waiting_for_an_interval() {
    let mut h = Harness::running(ProctorConfig::default());
    let req = fetch_req(&h.log.clone(), "/api/v1/credentials").expect("credentials asked for while running");
    h.respond(req, 200, &serde_json::to_string(&credentials()).unwrap());
    let so_far = h.log.clone();
    assert!(store_captures(&mut h, &so_far, 2_000) >= 1);
    // The host stops; the queued events go out and are acknowledged.
    let out = h.send(r#""stop""#);
    let put = out
        .iter()
        .chain(h.log.iter())
        .find_map(|c| match c {
            Command::Put { req, .. } => Some(*req),
            _ => None,
        })
        .expect("an upload in flight");
    ack_batches(&mut h, &out);
    assert_eq!(h.engine.phase, Phase::Stopping, "the upload still runs");
    // The upload finishes: its capture event leaves at once, not at a tick
    // that never comes while stopping.
    let out = h.respond(put, 200, "");
    let sent = ack_batches(&mut h, &out);
    let uploaded = sent.iter().flat_map(|b| &b.events).filter(|e| matches!(&e.body, EventBody::Capture(_))).count();
    assert_eq!(uploaded, 1, "{sent:?}");
}

/// Issue 17: a tab switch reaches the wall without waiting for the next
/// events interval, also when a batch is in flight at that moment.
#[test]
fn a_tab_switch_leaves_at_once_or_right_after_the_batch_in_flight() {
    let mut h = Harness::running(ProctorConfig::default());
    let has = |batch: &invigil_schemas::batch::EventBatch, pick: fn(&EventBody) -> bool| {
        batch.events.iter().any(|e| pick(&e.body))
    };

    // Nothing in flight: the switch is posted with the input itself.
    let sent = batches(&h.send(r#"{"visibility":"hidden"}"#));
    assert_eq!(sent.len(), 1, "sent at once, not at the next interval");
    assert!(has(&sent[0].1, |b| matches!(b, EventBody::Visibility(_))));

    // The blur that follows finds that batch in flight: one batch at a
    // time, so it waits — for the answer, not for the interval.
    assert!(batches(&h.send(r#"{"focus":"blur"}"#)).is_empty());
    h.now += 40;
    let follow_up = batches(&h.respond(sent[0].0, 200, &ok_reply(3)));
    assert_eq!(follow_up.len(), 1, "the follow-up leaves with the answer");
    assert!(has(&follow_up[0].1, |b| matches!(b, EventBody::Focus(_))));
    let out = h.respond(follow_up[0].0, 200, &ok_reply(3));
    assert!(batches(&out).is_empty(), "nothing else was waiting");

    // Counts do not jump the queue: a key press waits for the interval.
    assert!(batches(&h.send(r#"{"keys":3}"#)).is_empty());
    assert!(batches(&h.send(r#"{"clipboard":["paste",4,"text"]}"#)).is_empty());
}

/// The video segments `commands` start: track, key, segment_seq, ts, kbps.
fn segments_started(commands: &[Command]) -> Vec<(invigil_schemas::event::RecordingTrack, String, u64, i64, u32)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Record { track, key, segment_seq, ts, kbps, .. } => {
                Some((*track, key.clone(), *segment_seq, *ts, *kbps))
            }
            _ => None,
        })
        .collect()
}

/// Answers every events batch until one carries a `recording` event, and
/// returns it with its time.
fn first_recording_event(h: &mut Harness) -> (i64, invigil_schemas::event::Recording) {
    let mut sent = batches(&h.log.clone());
    for _ in 0..40 {
        if sent.is_empty() {
            sent.extend(batches(&h.advance(5_000)));
        }
        let Some((req, batch)) = sent.pop() else { continue };
        let recording = batch.events.into_iter().find_map(|e| match e.body {
            EventBody::Recording(r) => Some((e.ts, r)),
            _ => None,
        });
        if let Some(recording) = recording {
            return recording;
        }
        sent.extend(batches(&h.respond(req, 200, &ok_reply(3))));
    }
    panic!("no recording event in 40 batches")
}

/// `recording = "video"`: a segment of each live track on the grid from the
/// start of `Running`, blocked or not; a stored segment is uploaded on its
/// own (even in bundled mode) and reported as a `recording` event with its
/// duration; a track that is not live starts no segment.
#[test]
fn video_mode_records_segments_on_a_grid_and_reports_their_seconds() {
    use invigil_schemas::config::{RecordingMode, UploadMode};
    use invigil_schemas::event::RecordingTrack;
    let mut config = ProctorConfig::default();
    config.recording.mode = RecordingMode::Video;
    config.recording.segment_ms = 10_000;
    config.uploads.mode = UploadMode::Bundled;
    config.recording.screen.fps = 3;
    let mut h = Harness::running(config);
    h.advance(25_000);
    let segments = segments_started(&h.log);
    // Each track is recorded at its own shape, the test's.
    let shapes: Vec<_> = h
        .log
        .iter()
        .filter_map(|c| match c {
            Command::Record { track, width, height, fps, .. } => Some((*track, *width, *height, *fps)),
            _ => None,
        })
        .take(2)
        .collect();
    assert_eq!(shapes, [(RecordingTrack::Camera, 320, 240, 5), (RecordingTrack::Screen, 1280, 800, 3)]);
    let camera: Vec<_> = segments.iter().filter(|s| s.0 == RecordingTrack::Camera).collect();
    let screen: Vec<_> = segments.iter().filter(|s| s.0 == RecordingTrack::Screen).collect();
    assert_eq!(camera.iter().map(|s| s.2).collect::<Vec<_>>(), [0, 1, 2], "{segments:?}");
    assert_eq!(screen.len(), 3);
    assert_eq!(camera[1].3 - camera[0].3, 10_000, "on the grid");
    assert_eq!((camera[0].4, screen[0].4), (50, 100), "150 kbps: a third to the camera");
    assert!(screen[2].1.starts_with("video/screen/") && screen[2].1.ends_with("/seg_00002.webm"), "{}", screen[2].1);

    // The screen share stops: the overlay goes up, the camera goes on, the screen starts no segment.
    h.send(r#"{"screen_share_ended":null}"#);
    let started: Vec<_> = segments_started(&h.advance(10_000)).into_iter().map(|s| s.0).collect();
    assert_eq!(started, [RecordingTrack::Camera], "blocked, the camera still records");
    // Shared again: the block lifts, and the screen records at once, not at the next grid point.
    let mut out = h.send(r#"{"permission":["screen","granted"]}"#);
    out.extend(h.advance(1_000));
    assert!(out.iter().any(|c| matches!(c, Command::Overlay { reasons, .. } if reasons.is_empty())), "{out:?}");
    assert!(
        out.iter().any(|c| matches!(c, Command::Record { track: RecordingTrack::Screen, segment_seq: 3, .. })),
        "{out:?}"
    );

    // The glue stored the first camera segment: it goes up alone and is reported with its seconds.
    let req = fetch_req(&h.log.clone(), "/api/v1/credentials").expect("credentials are fetched while running");
    h.respond(req, 200, &serde_json::to_string(&credentials()).unwrap());
    let session_id = h.engine.session_id();
    let (_, key, seq, ts, _) = camera[0];
    let stored = serde_json::json!({ "captured": { "key": key, "kind": "camera_video", "session_id": session_id,
        "capture_seq": seq, "ts": ts, "bytes": 150_000, "duration_ms": 9_990 } });
    let out = h.send(&stored.to_string());
    let out = if out.iter().any(|c| matches!(c, Command::Put { .. })) { out } else { h.advance(1_000) };
    let req = out
        .iter()
        .find_map(|c| match c {
            Command::Put { req, media, .. } if media == key => Some(*req),
            _ => None,
        })
        .expect("the segment is uploaded without waiting for a bundle");
    h.respond(req, 200, "");
    let recording = first_recording_event(&mut h);
    assert_eq!(recording.0, *ts, "at the segment's start");
    assert_eq!(recording.1.track, RecordingTrack::Camera);
    assert_eq!(recording.1.duration_ms, 9_990);
    assert_eq!(recording.1.bytes, Some(150_000));
    assert_eq!(recording.1.key.as_deref(), Some(format!("2026-11-19/exam-1/cand-7/{key}").as_str()));
}

#[test]
fn snapshot_mode_records_no_video() {
    let mut h = Harness::running(ProctorConfig::default());
    h.advance(30_000);
    assert!(!h.log.iter().any(|c| matches!(c, Command::Record { .. })));
}

/// Answers every upload in `commands` with 200 and acknowledges every
/// batch that follows, until nothing more is sent.
fn finish_uploads_and_batches(h: &mut Harness, commands: &[Command]) {
    let mut pending: Vec<Command> = commands.to_vec();
    while let Some(command) = pending.pop() {
        let out = match command {
            Command::Put { req, .. } | Command::Post { req, .. } => h.respond(req, 200, ""),
            Command::Fetch { req, url, body: Some(_), .. } if url.ends_with("/api/v1/events") => {
                h.respond(req, 200, &ok_reply(3))
            }
            _ => continue,
        };
        pending.extend(out);
    }
}

/// A stop in snapshot mode waits for the audio chunk the teardown cuts
/// short, and for nothing else: once it is stored, uploaded and its event
/// acknowledged, the session is stopped at once — not a fixed 3 s later.
/// A chunk that never reports holds the stop 3 s at most.
#[test]
fn a_stop_waits_for_the_cut_audio_chunk_and_no_longer() {
    for chunk_reports in [true, false] {
        let mut h = Harness::running(ProctorConfig::default());
        let req = fetch_req(&h.log.clone(), "/api/v1/credentials").expect("credentials asked for while running");
        let out = h.respond(req, 200, &serde_json::to_string(&credentials()).unwrap());
        finish_uploads_and_batches(&mut h, &out);
        // Photos are stored; the audio chunk keeps recording until the stop.
        let photos: Vec<Command> = h
            .log
            .iter()
            .filter(|c| matches!(c, Command::Capture { kind, .. } if *kind != CaptureKind::Audio))
            .cloned()
            .collect();
        store_captures(&mut h, &photos, 2_000);
        let chunk = h
            .log
            .iter()
            .find(|c| matches!(c, Command::Capture { kind: CaptureKind::Audio, .. }))
            .cloned()
            .expect("an audio chunk is being recorded");
        let mut everything = h.log.clone();
        everything.extend(h.send(r#""stop""#));
        finish_uploads_and_batches(&mut h, &everything);
        assert_eq!(h.engine.phase, Phase::Stopping, "the cut chunk is not stored yet");
        if chunk_reports {
            let started = h.now;
            store_captures(&mut h, &[chunk], 1_500);
            let out = h.log.clone();
            finish_uploads_and_batches(&mut h, &out);
            assert_eq!(h.engine.phase, Phase::Stopped, "stopped as soon as the chunk is in");
            assert_eq!(h.now, started, "without waiting for a tick");
            let uploaded = h
                .log
                .iter()
                .filter_map(|c| match c {
                    Command::Put { url, .. } => Some(url.clone()),
                    _ => None,
                })
                .filter(|url| url.contains("/audio/"))
                .count();
            assert_eq!(uploaded, 1, "the cut chunk was uploaded before the stop");
        } else {
            h.advance(2_500);
            assert_eq!(h.engine.phase, Phase::Stopping, "waiting for the chunk a while");
            h.advance(750);
            assert_eq!(h.engine.phase, Phase::Stopped, "but not for ever");
        }
    }
}

/// Behind a balancer, one replica can read the config log a moment after
/// another: the SDK follows only newer versions, never an older answer.
#[test]
fn config_versions_only_move_forward() {
    let mut h = Harness::running(ProctorConfig::default());
    let tab_switch = |h: &mut Harness| batches(&h.send(r#"{"visibility":"hidden"}"#)).pop().expect("a batch").0;

    // An ack from a replica still at version 2 asks for nothing.
    let req = tab_switch(&mut h);
    let out = h.respond(req, 200, &ok_reply(2));
    assert!(fetch_req(&out, "/api/v1/config").is_none() && fetch_req(&h.advance(2_000), "/api/v1/config").is_none());

    // An ack naming version 5 fetches; the answer comes from a replica at
    // version 2 whose document would stop proctoring: it is not taken.
    let req = tab_switch(&mut h);
    let mut out = h.respond(req, 200, &ok_reply(5));
    out.extend(h.advance(1_000));
    let fetch = fetch_req(&out, "/api/v1/config").expect("a newer version is fetched");
    let mut older = ProctorConfig::default();
    older.proctoring_enabled = false;
    h.respond(fetch, 200, &serde_json::to_string(&ConfigResponse { config_version: 2, config: older }).unwrap());
    assert_eq!(h.engine.phase, Phase::Running, "an older document is ignored");

    // The next ack naming 5 fetches again, and version 5 is taken.
    let req = tab_switch(&mut h);
    let mut out = h.respond(req, 200, &ok_reply(5));
    out.extend(h.advance(1_000));
    let fetch = fetch_req(&out, "/api/v1/config").expect("fetched again");
    let mut newer = ProctorConfig::default();
    newer.proctoring_enabled = false;
    let out =
        h.respond(fetch, 200, &serde_json::to_string(&ConfigResponse { config_version: 5, config: newer }).unwrap());
    assert!(out.iter().any(|c| matches!(c, Command::Teardown { .. })), "version 5 is in force: {out:?}");
    assert_ne!(h.engine.phase, Phase::Running);
}

#[test]
fn face_checks_run_on_their_grid_only_when_on_and_not_while_blocked() {
    use invigil_schemas::config::FaceCheckMode;
    let checks = |commands: &[Command]| commands.iter().filter(|c| matches!(c, Command::CheckFace { .. })).count();
    let mut off = Harness::running(ProctorConfig::default());
    off.advance(30_000);
    assert_eq!(checks(&off.log), 0, "off unless the test turns them on");

    let mut config = ProctorConfig::default();
    config.face_check.mode = FaceCheckMode::Presence;
    config.face_check.every_ms = 5_000;
    config.face_check.min_confidence = 0.65;
    let mut h = Harness::running(config);
    let out = h.advance(20_000);
    ack_batches(&mut h, &out);
    assert_eq!(checks(&out), 4, "every 5 s: {out:?}");
    assert!(out.contains(&Command::CheckFace { min_confidence: 650, identity: false }));
    // Blocked (fullscreen left): no checks until it is lifted.
    let exited = h.send(r#"{"fullscreen":"exited"}"#);
    ack_batches(&mut h, &exited);
    let out = h.advance(12_000);
    ack_batches(&mut h, &out);
    assert_eq!(checks(&out), 0);
    let entered = h.send(r#"{"fullscreen":"entered"}"#);
    ack_batches(&mut h, &entered);
    let out = h.advance(5_000);
    ack_batches(&mut h, &out);
    assert!(checks(&out) >= 1);

    // The glue's answer becomes a face event with the fractions restored.
    let out = h.send(r#"{"face":[0,412,0,31,18,null,false]}"#);
    let sent = ack_batches(&mut h, &out);
    let faces = face_events(&mut h, sent);
    assert_eq!(faces.len(), 1, "{out:?}");
    let fractions = (faces[0].confidence.as_f64(), faces[0].face_size.as_f64(), faces[0].light.as_f64());
    assert_eq!((faces[0].faces, fractions, faces[0].ms), (0, (0.412, 0.0, 0.031), 18));
}

#[test]
fn identity_is_asked_of_every_check_until_one_compares_then_on_its_own_grid() {
    use invigil_schemas::config::FaceCheckMode;
    let asked = |commands: &[Command]| {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::CheckFace { identity, .. } => Some(*identity),
                _ => None,
            })
            .collect::<Vec<bool>>()
    };
    let mut config = ProctorConfig::default();
    config.face_check.mode = FaceCheckMode::Identity;
    config.face_check.every_ms = 5_000;
    config.face_check.identity_every_ms = 20_000;
    let mut h = Harness::running(config);
    let mut sent = Vec::new();
    // No suitable face yet (nobody in view): every check keeps asking.
    let out = h.advance(10_000);
    sent.extend(ack_batches(&mut h, &out));
    assert_eq!(asked(&out), [true, true], "{out:?}");
    // A check takes the reference: the next comparison is 20 s later.
    let out = h.send(r#"{"face":[1,930,280,450,150,null,true]}"#);
    sent.extend(ack_batches(&mut h, &out));
    let out = h.advance(15_000);
    sent.extend(ack_batches(&mut h, &out));
    assert_eq!(asked(&out), [false, false, false], "{out:?}");
    let out = h.advance(5_000);
    sent.extend(ack_batches(&mut h, &out));
    assert_eq!(asked(&out), [true]);
    // That one saw a turned head (nothing compared): the next check asks again.
    let out = h.send(r#"{"face":[1,700,280,450,40,null,false]}"#);
    sent.extend(ack_batches(&mut h, &out));
    let out = h.advance(5_000);
    sent.extend(ack_batches(&mut h, &out));
    assert_eq!(asked(&out), [true]);
    let out = h.send(r#"{"face":[1,920,280,450,160,214,false]}"#);
    sent.extend(ack_batches(&mut h, &out));
    let out = h.advance(5_000);
    sent.extend(ack_batches(&mut h, &out));
    assert_eq!(asked(&out), [false]);
    let faces: Vec<_> =
        face_events(&mut h, sent).into_iter().map(|f| (f.similarity.map(|s| s.get()), f.reference)).collect();
    assert_eq!(faces, [(None, true), (None, false), (Some(214), false)]);
}

/// The `face` events of the batches `sent` and of those the next ten
/// seconds send (each acknowledged).
fn face_events(
    h: &mut Harness,
    mut sent: Vec<invigil_schemas::batch::EventBatch>,
) -> Vec<invigil_schemas::event::Face> {
    for _ in 0..10 {
        let out = h.advance(1_000);
        sent.extend(ack_batches(h, &out));
    }
    sent.into_iter()
        .flat_map(|b| b.events)
        .filter_map(|e| match e.body {
            invigil_schemas::event::EventBody::Face(f) => Some(f),
            _ => None,
        })
        .collect()
}

//! The scripted exam: one candidate, ten minutes, every kind of trouble the
//! windows must measure, with its truth worked out by hand in
//! `tests/windows_golden.rs` (and summarised here).
//!
//! Time is `T0 + s` seconds, `T0` a minute boundary, so minute *m* is the
//! window `[60m, 60m + 60)`. Unit tests use the fixed [`T0`]; tests that
//! write to a store use [`records_at`] a recent minute, because the tables'
//! 30-day TTL deletes older rows as soon as a merge runs. Config: the defaults, with the test's
//! `alert_score` lowered to 1.5 so anomalies appear.
//!
//! - Batches every 5 s (`k = 0..=120`, sent at `5k`, holding events in
//!   `(5k − 5, 5k]`), received 100 ms later — except batches 49–84, held by
//!   the SDK while offline from 240 s and all received at 420.1 s: a
//!   **3-minute network gap** (240.1 → 420.1) whose minute-4 and minute-5
//!   events arrive **late**.
//! - `key_activity` every 5 s (10 keys; 50 keys at 125 s and 130 s: two
//!   **key bursts**).
//! - Captures of all three kinds in 30 s slots, uploaded 400 ms after the
//!   slot; none while blocked (slots at 330 s and 450 s); **4 face captures
//!   missing** (slots 180, 210, 390, 480 s; the 480 s one failed once).
//! - Tab switches: hidden 65–80 s (its blur 64.5–80.5 s is part of it), 170–190 s; copy 100 s,
//!   paste 101 s; fullscreen exit 329 s, blocked 329–335 s; camera revoked
//!   450 s, blocked 450–460 s; ended at 599 s.
//! - **Two hours later** a last batch delivers what the SDK had kept back:
//!   a paste at 500 s and a tab switch 505–520 s (minute 8 is corrected).
//! - Face checks (the test's `face_check.mode = identity`) in minute 2 at
//!   120.2 s + 5j: one face, one face, **no face ×4** (130–145 s: a flagged
//!   run of 15 s), two faces once (150 s: one frame, no flag), a dark frame
//!   with no face (155 s: too dark to tell), then one face to 175 s; one
//!   no-face check at 455 s, while the camera was blocked (unscored). And
//!   identity comparisons every 30 s from 180.2 s: the reference face, the
//!   same person (0.712), **a different person ×3** (0.118, 0.095, 0.130 at
//!   240.2–300.2 s: a flagged run of 60 s), and at 345.2 s the candidate
//!   again (0.690; after the block at 329–335 s).
//! - The environment: one screen and SwiftShader graphics reported at the
//!   start (the `software_renderer` hint, weighted 0: seen, not scored);
//!   **100 characters pasted into a marked answer** at 545 s; **a second
//!   screen plugged in** at 550 s (49 s of two screens, weighted 0); **a
//!   second tab** of the exam 560–570 s; **3 burst seconds** of typing in
//!   the interval ending 585 s.

use invigil_schemas::batch::EventBatch;
use invigil_schemas::config::ConfigDocument;
use invigil_schemas::event::*;
use invigil_schemas::ids::{event_id_v7, CandidateId, TestId, Uuid};
use invigil_schemas::record::KafkaRecord;

/// Start of the exam: a minute boundary (2025-11-24T16:00:00Z).
pub const T0: i64 = 1_764_000_000_000;
pub const TEST: &str = "exam-scripted";
pub const CANDIDATE: &str = "cand-1";
/// When the kept-back batch arrives, after `T0`: two hours after the end.
pub const LATE_RECEIPT_AFTER: i64 = 600_000 + 7_200_000;

pub fn session_id(t0: i64) -> Uuid {
    event_id_v7(t0 as u64, [0x5c; 10])
}

/// A minute boundary `minutes_ago` minutes before now.
pub fn recent_t0(minutes_ago: i64) -> i64 {
    let now = invigil_schemas::clock::now_ms();
    (now / 60_000 - minutes_ago) * 60_000
}

/// The config document the truth assumes.
pub fn config() -> ConfigDocument {
    let mut document = ConfigDocument::default();
    document.tests.insert(
        TEST.to_owned().try_into().expect("valid id"),
        serde_json::json!({"anomaly": {"alert_score": 1.5}, "face_check": {"mode": "identity"}}),
    );
    document
}

/// The exam's events, `(client ts offset in ms, body)`, before seq numbering.
fn timeline() -> Vec<(i64, EventBody, bool)> {
    let s = |secs: f64| (secs * 1000.0).round() as i64;
    let mut events: Vec<(i64, EventBody, bool)> = Vec::new();
    let mut on_time = |ts: i64, body: EventBody| events.push((ts, body, false));
    on_time(
        0,
        EventBody::SessionStarted(SessionStarted {
            sdk_version: "0.1.0-scripted".into(),
            user_agent: "scripted".into(),
            screen_w: 1920,
            screen_h: 1080,
            displays: 1,
        }),
    );
    for k in 1..=119 {
        let keys = if k == 25 || k == 26 { 50 } else { 10 };
        // 585 s: three seconds far above this candidate's pace.
        let (keys, peak_per_s, burst_s) = if k == 117 { (95, 30, 3) } else { (keys, 0, 0) };
        on_time(k * 5_000, EventBody::KeyActivity(KeyActivity { keys, interval_ms: 5_000, peak_per_s, burst_s }));
    }
    // The environment: one screen and software graphics at the start (a
    // hint, unweighted); a second screen plugged in at 550 s; a second tab
    // of the exam open 560–570 s; 100 characters pasted into an answer at
    // 545 s.
    on_time(500, EventBody::Display(Display { count: 1, extended: false, permission: DisplayPermission::Prompt }));
    on_time(
        1_000,
        EventBody::Environment(Environment {
            renderer: "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)".into(),
            vendor: "Google Inc. (Google)".into(),
            cores: 8,
            memory_mb: 8_192,
            screen_w: 1_920,
            screen_h: 1_080,
            window_w: 1_920,
            window_h: 1_040,
            pointer: PointerKind::Fine,
            hover: true,
            share_surface: None,
            share_w: 0,
            share_h: 0,
        }),
    );
    on_time(s(550.0), EventBody::Display(Display { count: 2, extended: true, permission: DisplayPermission::Prompt }));
    on_time(s(560.0), EventBody::OtherTabs(OtherTabs { tabs: 1 }));
    on_time(s(570.0), EventBody::OtherTabs(OtherTabs { tabs: 0 }));
    on_time(
        s(545.0),
        EventBody::Clipboard(Clipboard {
            action: ClipboardAction::Paste,
            chars: 100,
            target: Some(PasteTarget::Answer),
        }),
    );
    for (ts, body) in captures() {
        on_time(ts, body);
    }
    // (faces, light in thousandths) of the minute-2 checks, then the blocked one.
    let seen: [(u32, u32); 12] = [
        (1, 500),
        (1, 500),
        (0, 500),
        (0, 480),
        (0, 510),
        (0, 500),
        (2, 520),
        (0, 40),
        (1, 500),
        (1, 500),
        (1, 490),
        (1, 500),
    ];
    let face = |faces, light| {
        let confidence = Thousandths::new(if faces == 0 { 120 } else { 910 });
        let face_size = Thousandths::new(if faces == 0 { 0 } else { 280 });
        let light = Thousandths::new(light);
        EventBody::Face(Face { faces, confidence, face_size, light, ms: 22, similarity: None, reference: false })
    };
    for (j, (faces, light)) in seen.into_iter().enumerate() {
        on_time(120_200 + j as i64 * 5_000, face(faces, light));
    }
    // Identity: the reference at 180.2 s, then a comparison every 30 s: the
    // same person, then someone else three times running (a flag over
    // 240.2–300.2 s), then the candidate again.
    let compared = |similarity: Option<u32>| {
        let mut body = face(1, 500);
        if let EventBody::Face(f) = &mut body {
            f.similarity = similarity.map(Thousandths::new);
            f.reference = similarity.is_none();
            f.ms = 160;
        }
        body
    };
    let identity = [(180.2, None), (210.2, Some(712)), (240.2, Some(118)), (270.2, Some(95)), (300.2, Some(130))];
    for (at, similarity) in identity.into_iter().chain([(345.2, Some(690))]) {
        on_time(s(at), compared(similarity));
    }
    on_time(s(455.0), face(0, 500));
    let vis = |state| EventBody::Visibility(Visibility { state });
    on_time(s(65.0), vis(VisibilityState::Hidden));
    on_time(s(80.0), vis(VisibilityState::Visible));
    on_time(s(170.0), vis(VisibilityState::Hidden));
    on_time(s(190.0), vis(VisibilityState::Visible));
    on_time(s(64.5), EventBody::Focus(Focus { state: FocusState::Blur }));
    on_time(s(80.5), EventBody::Focus(Focus { state: FocusState::Focus }));
    on_time(s(100.0), EventBody::Clipboard(Clipboard { action: ClipboardAction::Copy, chars: 12, target: None }));
    on_time(s(101.0), EventBody::Clipboard(Clipboard { action: ClipboardAction::Paste, chars: 12, target: None }));
    on_time(s(329.0), EventBody::Fullscreen(Fullscreen { state: FullscreenState::Exited }));
    on_time(s(329.0), EventBody::Blocked(Blocked { reason: BlockReason::FullscreenExited }));
    on_time(s(335.0), EventBody::Fullscreen(Fullscreen { state: FullscreenState::Entered }));
    on_time(s(335.0), EventBody::Unblocked(Unblocked { reason: BlockReason::FullscreenExited }));
    on_time(s(450.0), EventBody::Permission(Permission { device: Device::Camera, state: PermissionState::Revoked }));
    on_time(s(450.0), EventBody::Blocked(Blocked { reason: BlockReason::CameraPermission }));
    on_time(s(460.0), EventBody::Permission(Permission { device: Device::Camera, state: PermissionState::Granted }));
    on_time(s(460.0), EventBody::Unblocked(Unblocked { reason: BlockReason::CameraPermission }));
    on_time(s(599.0), EventBody::SessionEnded(SessionEnded { reason: SessionEndReason::HostStopped }));
    // Kept back by the SDK and delivered two hours later.
    events.push((
        s(500.0),
        EventBody::Clipboard(Clipboard { action: ClipboardAction::Paste, chars: 3, target: None }),
        true,
    ));
    events.push((s(505.0), vis(VisibilityState::Hidden), true));
    events.push((s(520.0), vis(VisibilityState::Visible), true));
    events
}

/// The exam's captures: face, screen and audio every 30 s, none in the two
/// blocked slots, four faces missing (one of them reported failed).
fn captures() -> Vec<(i64, EventBody)> {
    let mut captures = Vec::new();
    let blocked_slots = [11, 15];
    let missing_face = [6, 7, 13, 16];
    for j in 0..20_i64 {
        if blocked_slots.contains(&j) {
            continue;
        }
        for kind in [CaptureKind::Face, CaptureKind::Screen, CaptureKind::Audio] {
            let ts = j * 30_000 + 400;
            let capture = Capture { kind, capture_seq: j as u64, attempts: 1, ..Capture::default() };
            if kind == CaptureKind::Face && missing_face.contains(&j) {
                if j == 16 {
                    let failed = Capture { status: CaptureStatus::Failed, error: Some("network".into()), ..capture };
                    captures.push((ts, EventBody::Capture(failed)));
                }
                continue;
            }
            let uploaded = Capture {
                status: CaptureStatus::Uploaded,
                key: Some(format!("{kind:?}/{ts}.jpg").to_lowercase()),
                bytes: Some(25_000),
                ..capture
            };
            captures.push((ts, EventBody::Capture(uploaded)));
        }
    }
    captures
}

/// The exam starting at [`T0`], as ingest would have produced it, in Kafka order.
pub fn records() -> Vec<KafkaRecord> {
    records_at(T0)
}

/// The exam starting at `t0` (a minute boundary).
pub fn records_at(t0: i64) -> Vec<KafkaRecord> {
    records_for(t0, CANDIDATE, session_id(t0))
}

/// The same exam taken by another candidate: candidate `cand-{n}` (n ≥ 1),
/// with a session id of its own. Candidate 1 is [`records_at`].
pub fn records_of_candidate(t0: i64, n: u32) -> Vec<KafkaRecord> {
    if n == 1 {
        return records_at(t0);
    }
    let mut random = [0x5c; 10];
    random[..4].copy_from_slice(&n.to_be_bytes());
    records_for(t0, &format!("cand-{n}"), event_id_v7(t0 as u64, random))
}

fn records_for(t0: i64, candidate: &str, session_id: Uuid) -> Vec<KafkaRecord> {
    assert_eq!(t0 % 60_000, 0, "the script assumes minute-aligned windows");
    let mut timeline = timeline();
    // Sequence numbers follow client time (the SDK numbers events as it
    // observes them), so the kept-back events have seqs in the middle.
    timeline.sort_by_key(|(ts, _, _)| *ts);
    let events: Vec<(Event, bool)> = timeline
        .into_iter()
        .enumerate()
        .map(|(seq, (offset, body, late))| {
            let ts = t0 + offset;
            // Unique per candidate too: seq, then the session id's random part.
            let mut random = [0u8; 10];
            random[..4].copy_from_slice(&(seq as u32).to_be_bytes());
            random[4..].copy_from_slice(&session_id.as_bytes()[6..12]);
            (Event { id: event_id_v7(ts as u64, random), seq: seq as u64, ts, body }, late)
        })
        .collect();
    let record = |batch_seq: u64, received_at: i64, sent_at: i64, events: Vec<Event>| KafkaRecord {
        received_at,
        test_id: TestId::try_from(TEST.to_owned()).expect("valid id"),
        candidate_id: CandidateId::try_from(candidate.to_owned()).expect("valid id"),
        ingest_node: "ingest-scripted".into(),
        client_ip_hash: 42,
        client_net_hash: 42,
        user_agent: "scripted".into(),
        batch: EventBatch { v: 1, session_id, batch_seq, sent_at, events },
    };
    let mut records = Vec::new();
    for k in 0..=120_i64 {
        let (from, to) = (t0 + (k - 1) * 5_000, t0 + k * 5_000);
        let batch: Vec<Event> = events
            .iter()
            .filter(|(e, late)| !late && (e.ts > from || k == 0) && e.ts <= to)
            .map(|(e, _)| e.clone())
            .collect();
        let received_at = if (49..=84).contains(&k) { t0 + 420_100 } else { to + 100 };
        records.push(record(k as u64, received_at, to, batch));
    }
    let kept_back = events.iter().filter(|(_, late)| *late).map(|(e, _)| e.clone()).collect();
    records.push(record(121, t0 + LATE_RECEIPT_AFTER, t0 + LATE_RECEIPT_AFTER - 50, kept_back));
    records
}

/// The rows an uninterrupted pipeline ends with for one candidate's records
/// (every window closed): the truth crash and outage tests compare with.
pub fn expected_rows(records: &[KafkaRecord], lateness_ms: i64) -> crate::emit::Emission {
    let config = config().for_test(&TEST.to_owned().try_into().expect("valid id")).expect("valid config");
    let mut tracked: Option<crate::emit::Tracked> = None;
    for record in records {
        let rows: Vec<crate::rows::EventRow> =
            record.batch.events.iter().map(|e| crate::rows::EventRow::new(record, e)).collect();
        if let Some(batch) = crate::session::FactBatch::from_rows(&rows) {
            tracked.get_or_insert_with(|| crate::emit::Tracked::new(batch.key.clone())).add(&batch, lateness_ms);
        }
    }
    let mut out = crate::emit::Emission::default();
    if let Some(mut tracked) = tracked {
        tracked.emit(&config, i64::MAX, 0, &mut out);
    }
    out
}

//! The core's own JSON (`invigil_sdk::json`) against serde_json, the
//! server's: what the core writes is what serde_json writes, byte for byte,
//! and what the core reads is what the types' serde forms say.

use std::path::Path;

use invigil_schemas::api::{CredentialsResponse, PostForm, ShutdownReason};
use invigil_schemas::event::{BlockReason, CaptureKind, Event, EventBody};
use invigil_schemas::ids::Uuid;
use invigil_schemas::validate::{parse_batch, Limits};
use invigil_sdk::json;
use invigil_sdk::media::{MediaItem, MediaKind, Part};
use invigil_sdk::protocol::{Command, Input, Notice, SessionMeta, Store, StoredEvent};
use invigil_sdk::s3::PutSigning;

const SESSION: &str = "019a0000-0000-7000-8000-000000000001";

fn session() -> Uuid {
    SESSION.parse().unwrap()
}

/// Every event of the golden batches, as the server decodes them.
fn golden_events() -> Vec<Event> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures/valid");
    let mut events = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let body = std::fs::read(entry.unwrap().path()).unwrap();
        events.extend(parse_batch(&body, &Limits::default()).unwrap().events);
    }
    assert!(events.len() > 20, "the fixtures hold {} events", events.len());
    events
}

#[test]
fn events_are_written_byte_for_byte_as_serde_json_writes_them() {
    let mut kinds = std::collections::BTreeSet::new();
    for event in golden_events() {
        kinds.insert(event.body.kind());
        let ours = json::to_string(&event);
        assert_eq!(ours, serde_json::to_string(&event).unwrap());
        // And the server reads it back as the same event.
        let batch = format!(r#"{{"v":1,"session_id":"{SESSION}","batch_seq":0,"sent_at":1,"events":[{ours}]}}"#);
        assert_eq!(parse_batch(batch.as_bytes(), &Limits::default()).unwrap().events, vec![event]);
    }
    assert!(kinds.len() >= 15, "the fixtures cover {} kinds", kinds.len());
}

#[test]
fn commands_and_records_are_written_as_serde_json_writes_them() {
    let meta = SessionMeta {
        session_id: session(),
        test_id: "exam \"1\"".into(),
        candidate_id: "cand-é".into(),
        started_at: -5,
        next_seq: 7,
        next_batch_seq: 2,
        ended: true,
    };
    let commands = vec![
        Command::Fetch { req: 1, method: "POST", url: "http://x/api".into(), body: Some("{}".into()), keepalive: true },
        Command::Fetch { req: 2, method: "GET", url: "http://x/c".into(), body: None, keepalive: false },
        Command::Put {
            req: 3,
            url: "u".into(),
            sign: PutSigning {
                access_key_id: "ASIA1".into(),
                secret_access_key: "s/\"".into(),
                session_token: "t".into(),
                region: "eu-west-1".into(),
            },
            media: "camera/1.jpg".into(),
        },
        Command::Post { req: 4, url: "u".into(), fields: vec![("policy".into(), "p\n".into())], media: "m".into() },
        Command::Bundle { key: "bundle/1.bin".into(), parts: vec!["a".into(), "b".into()] },
        Command::Forget { store: Store::Media, keys: vec![] },
        meta.persist(),
        Command::AcquireDevices,
        Command::Overlay {
            reasons: vec![BlockReason::FullscreenExited],
            setup: false,
            checks: vec![BlockReason::CameraPermission, BlockReason::FullscreenExited],
        },
        Command::Capture {
            kind: CaptureKind::Audio,
            key: "audio/1.webm".into(),
            capture_seq: 3,
            session_id: session(),
            ts: 9,
        },
        Command::Record {
            track: invigil_schemas::event::RecordingTrack::Screen,
            key: "video/screen/1/seg_00000.webm".into(),
            segment_seq: 0,
            session_id: session(),
            ts: 9,
            kbps: 100,
            width: 1280,
            height: 800,
            fps: 1,
        },
        Command::PauseAudio,
        Command::Notify {
            name: "status",
            detail: Notice { state: Some("running"), session_id: Some(session()), ..Notice::default() },
        },
        Command::Notify {
            name: "status",
            detail: Notice {
                shutdown: Some(ShutdownReason::CandidateBypassed),
                http_status: Some(401),
                ..Notice::default()
            },
        },
        Command::Teardown { keep_audio: true },
    ];
    assert_eq!(json::to_string(&commands), serde_json::to_string(&commands).unwrap());
    assert_eq!(json::to_string(&meta), serde_json::to_string(&meta).unwrap());
}

fn item(parts: Vec<Part>) -> MediaItem {
    MediaItem {
        key: "bundle/5_x.bin".into(),
        kind: MediaKind::Screen,
        session_id: session(),
        capture_seq: 4,
        ts: 1_795_000_000_000,
        bytes: 12_345,
        duration_ms: 0,
        attempts: 2,
        parts,
    }
}

#[test]
fn records_are_read_back_as_they_were_written() {
    let part = |key: &str, offset| Part {
        key: key.into(),
        kind: CaptureKind::Face,
        capture_seq: 1,
        ts: -1,
        offset,
        bytes: 10,
    };
    for media in [item(vec![]), item(vec![part("camera/1.jpg", 0), part("camera/2.jpg", 10)])] {
        assert_eq!(json::from_str::<MediaItem>(&serde_json::to_string(&media).unwrap()), Ok(media));
    }
    // What the glue writes for a new capture: no attempts, no parts.
    let fresh = format!(
        r#"{{"key":"screen/1.jpg","kind":"screen","session_id":"{SESSION}","capture_seq":0,"ts":5,"bytes":3,"blob_type":"image/jpeg"}}"#
    );
    let read: MediaItem = json::from_str(&fresh).unwrap();
    assert_eq!((read.attempts, read.parts.len(), read.kind, read.duration_ms), (0, 0, MediaKind::Screen, 0));
    // A video segment as the glue stores it: its kind and duration.
    let segment = fresh.replace(r#""kind":"screen""#, r#""kind":"screen_video","duration_ms":9980"#);
    let read: MediaItem = json::from_str(&segment).unwrap();
    assert_eq!((read.kind, read.duration_ms), (MediaKind::ScreenVideo, 9_980));
    let video = MediaItem { kind: MediaKind::CameraVideo, duration_ms: 10_000, ..item(vec![]) };
    assert_eq!(json::from_str::<MediaItem>(&serde_json::to_string(&video).unwrap()), Ok(video));
    assert!(json::from_str::<MediaItem>(&fresh.replace(r#""ts":5"#, r#""ts":5.5"#)).is_err());
    assert!(json::from_str::<MediaItem>(&fresh.replace(r#""kind":"screen""#, r#""kind":"video""#)).is_err());

    let meta = SessionMeta {
        session_id: session(),
        test_id: "exam-1".into(),
        candidate_id: "cand-7".into(),
        started_at: 1,
        next_seq: 2,
        next_batch_seq: 3,
        ended: false,
    };
    assert_eq!(json::from_str::<SessionMeta>(&json::to_string(&meta)), Ok(meta.clone()));
    let older = json::to_string(&meta).replace(r#","ended":false"#, "");
    assert_eq!(json::from_str::<SessionMeta>(&older), Ok(meta));

    let stored = format!(r#"{{"session_id":"{SESSION}","seq":9,"json":"{{\"a\":1}}"}}"#);
    let stored: StoredEvent = json::from_str(&stored).unwrap();
    assert_eq!((stored.seq, stored.json.as_str()), (9, r#"{"a":1}"#));
    assert!(json::from_str::<StoredEvent>(r#"{"session_id":"not-a-uuid","seq":9,"json":""}"#).is_err());
}

#[test]
fn credentials_are_read_as_the_server_writes_them() {
    let mut creds = CredentialsResponse {
        access_key_id: "ASIA1".into(),
        secret_access_key: "s/e+c=".into(),
        session_token: "t".into(),
        expiration: 1_795_000_000_000,
        bucket: "media".into(),
        region: "us-east-1".into(),
        endpoint: "http://127.0.0.1:9000".into(),
        prefix: "2026-12-03/exam-1/cand-7/".into(),
        forms: Vec::new(),
    };
    let wire = serde_json::to_string(&creds).unwrap();
    assert_eq!(json::from_str::<CredentialsResponse>(&wire), Ok(creds.clone()));
    creds.forms = vec![PostForm {
        key_prefix: "2026-12-03/exam-1/cand-7/camera/".into(),
        content_type: "image/jpeg".into(),
        fields: vec![("policy".into(), "eyJ…".into()), ("x-amz-signature".into(), "ab".into())],
    }];
    let wire = serde_json::to_string_pretty(&creds).unwrap();
    assert_eq!(json::from_str::<CredentialsResponse>(&wire), Ok(creds));
    assert!(json::from_str::<CredentialsResponse>(r#"{"access_key_id":"a"}"#)
        .unwrap_err()
        .to_string()
        .contains("secret_access_key"));
}

/// Every input the glue sends (`sdk/js/*.js`), in the form it sends it.
#[test]
fn every_input_the_glue_sends_is_read() {
    let media =
        format!(r#"{{"key":"camera/1.jpg","kind":"face","session_id":"{SESSION}","capture_seq":0,"ts":5,"bytes":3}}"#);
    let meta = format!(
        r#"{{"session_id":"{SESSION}","test_id":"e","candidate_id":"c","started_at":1,"next_seq":2,"next_batch_seq":3}}"#
    );
    let cases = [
        (
            r#"{"start":{"user_agent":"UA","screen_w":1920,"screen_h":1080,"displays":1,"missing_features":["x"]}}"#
                .to_owned(),
            r#"Start { user_agent: "UA", screen_w: 1920, screen_h: 1080, displays: 1, missing_features: ["x"] }"#,
        ),
        (format!(r#"{{"restored":{{"sessions":[{meta}],"events":[],"media":[{media}]}}}}"#), "Restored {"),
        (
            r#"{"response":[7,200,"{\"status\":\"ok\"}",null]}"#.into(),
            r#"Response(7, 200, "{\"status\":\"ok\"}", None)"#,
        ),
        (r#"{"response":[8,503,"",30000]}"#.into(), r#"Response(8, 503, "", Some(30000))"#),
        (r#"{"permission":["camera","revoked"]}"#.into(), "Permission(Camera, Revoked)"),
        (r#"{"fullscreen":"exited"}"#.into(), "Fullscreen(Exited)"),
        (r#""screen_share_ended""#.into(), "ScreenShareEnded"),
        (r#"{"visibility":"hidden"}"#.into(), "Visibility(Hidden)"),
        (r#"{"focus":"blur"}"#.into(), "Focus(Blur)"),
        (r#"{"clipboard":["paste",12,"answer"]}"#.into(), "Clipboard(Paste, 12, Some(Answer))"),
        (r#"{"clipboard":["copy",3,null]}"#.into(), "Clipboard(Copy, 3, None)"),
        (r#"{"display":[2,true,"granted"]}"#.into(), "Display(Display { count: 2, extended: true, permission: Granted })"),
        // Held to what the server takes: never a lost batch for one odd value.
        (r#"{"display":[99,true,"prompt"]}"#.into(), "Display(Display { count: 16,"),
        (r#"{"other_tabs":2}"#.into(), "OtherTabs(2)"),
        (
            r#"{"environment":["SwiftShader","Google",[4,8192,1280,800,99999,700,640,480],"fine",true,null]}"#.into(),
            r#"Environment(Environment { renderer: "SwiftShader", vendor: "Google", cores: 4, memory_mb: 8192, screen_w: 1280, screen_h: 800, window_w: 16384, window_h: 700, pointer: Fine, hover: true, share_surface: None, share_w: 0, share_h: 0 })"#,
        ),
        (
            r#"{"environment":["","",[0,0,0,0,0,0,640,480],"coarse",false,"window"]}"#.into(),
            "Environment(Environment { renderer: \"\", vendor: \"\", cores: 0, memory_mb: 0, screen_w: 0, screen_h: 0, window_w: 0, window_h: 0, pointer: Coarse, hover: false, share_surface: Some(Window), share_w: 640, share_h: 480 })",
        ),
        (r#""context_menu""#.into(), "ContextMenu"),
        (r#"{"keys":41}"#.into(), "Keys(41)"),
        (r#"{"network":"offline"}"#.into(), "Network(Offline)"),
        (format!(r#"{{"captured":{media}}}"#), "Captured(MediaItem {"),
        (
            r#"{"capture_failed":["audio",3,"NotReadableError"]}"#.into(),
            r#"CaptureFailed(Audio, 3, "NotReadableError")"#,
        ),
        (r#"{"bundled":["bundle/1.bin",["camera/1.jpg"]]}"#.into(), r#"Bundled("bundle/1.bin", ["camera/1.jpg"])"#),
        (
            r#"{"custom":["question", {"q": 4, "s": [1, "a"]}]}"#.into(),
            r#"Custom("question", CustomData("{\"q\": 4, \"s\": [1, \"a\"]}"))"#,
        ),
        (
            r#"{"face":[2,938,250,1000,21,null,false]}"#.into(),
            "Face(Face { faces: 2, confidence: Thousandths(938), face_size: Thousandths(250), light: Thousandths(1000), ms: 21, similarity: None, reference: false })",
        ),
        (
            r#"{"face":[1,901,300,450,160,712,false]}"#.into(),
            "Face(Face { faces: 1, confidence: Thousandths(901), face_size: Thousandths(300), light: Thousandths(450), ms: 160, similarity: Some(Thousandths(712)), reference: false })",
        ),
        // An identity finding about two faces cannot be: dropped, not sent.
        (
            r#"{"face":[2,901,300,450,160,712,true]}"#.into(),
            "Face(Face { faces: 2, confidence: Thousandths(901), face_size: Thousandths(300), light: Thousandths(450), ms: 160, similarity: None, reference: false })",
        ),
        (r#"{"sdk_error":["glue","put: TypeError"]}"#.into(), r#"SdkError("glue", "put: TypeError")"#),
        (r#""token""#.into(), "Token"),
        (r#""stop""#.into(), "Stop"),
        (r#"{"stop":null}"#.into(), "Stop"),
        (r#""page_hide""#.into(), "PageHide"),
    ];
    for (text, expected) in &cases {
        let input: Input = json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let debug = format!("{input:?}");
        assert!(debug.starts_with(expected), "{text} read as {debug}");
    }
    for bad in [
        r#""start""#,
        r#"{"keys":-1}"#,
        r#"{"keys":1.5}"#,
        r#"{"focus":"away"}"#,
        r#"{"permission":["camera"]}"#,
        r#"{"stop":1}"#,
        r#"{"teleport":1}"#,
        r#"{"keys":1,"focus":"blur"}"#,
        r#"{"clipboard":["paste",12]}"#,
        r#"{"clipboard":["paste",12,"desk"]}"#,
        r#"{"display":[1,true,"maybe"]}"#,
        r#"{"environment":{"renderer":"x"}}"#,
        r#"{"environment":["x","y",[1,2,3],"fine",true,null]}"#,
        r#"{"response":[1,70000,"",null]}"#,
    ] {
        assert!(json::from_str::<Input>(bad).is_err(), "{bad} was read");
    }
}

/// The engine writes what the server accepts for every event it records
/// from a glue input, custom data included.
#[test]
fn a_custom_event_reaches_the_server_with_its_data_unchanged() {
    let input: Input = json::from_str(r#"{"custom":["q",{"answer":[1,"two",null,true]}]}"#).unwrap();
    let Input::Custom(name, data) = input else { panic!("not custom") };
    let body: EventBody = invigil_schemas::event::Custom { name, data }.into();
    let event = Event { id: session(), seq: 0, ts: 1, body };
    let text = json::to_string(&event);
    assert!(text.contains(r#""data":{"answer":[1,"two",null,true]}"#), "{text}");
    assert_eq!(text, serde_json::to_string(&event).unwrap());
}

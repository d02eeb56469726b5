//! Every setting of a test's configuration ([`ProctorConfig`]) with what an
//! admin needs to set it: a label, an explanation, its unit and its bounds.
//!
//! One list serves three readers: the document's validation
//! ([`check_bounds`], so the bounds cannot drift from what is enforced),
//! the admin page's forms (`GET /api/v1/admin/config/settings`), and the
//! test below that fails when a field is added to [`ProctorConfig`]
//! without an entry here.

use serde::Serialize;
use serde_json::Value;

use crate::config::{ProctorConfig, MAX_BUNDLE_MS, MAX_SEGMENT_MS};
use crate::validate::{FieldProblem, ProblemCode};

/// One setting, named by its dotted path inside a layer
/// (`capture_intervals.face_ms`).
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub path: &'static str,
    /// The admin page's section for it.
    pub group: &'static str,
    pub label: &'static str,
    /// What it does and what changing it costs, in a sentence or two.
    pub explain: &'static str,
    /// What the number counts (`ms`, `days`, `points per second`); empty
    /// for switches and choices.
    pub unit: &'static str,
    pub kind: Kind,
}

/// The values a setting takes.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    Switch,
    /// A whole number in `min..=max` (no `max`: any u32); `max_why` says
    /// why the ceiling is there.
    Integer {
        min: u32,
        max: Option<u32>,
        max_why: &'static str,
    },
    /// A number in `min..=max` (either end may be open); `why` explains
    /// the range when it has one.
    Number {
        min: Option<f64>,
        max: Option<f64>,
        why: &'static str,
    },
    /// One of the listed names.
    Choice {
        choices: &'static [&'static str],
    },
}

const WEIGHT_EACH: &str = "points each";
const WEIGHT_SECOND: &str = "points per second";
const WEIGHT: Kind = Kind::Number { min: Some(0.0), max: None, why: "" };

/// A recorded picture's bounds, the same for camera and screen.
const WIDTH: Kind = integer(64, Some(3_840), "4K");
const HEIGHT: Kind = integer(48, Some(2_160), "4K");
const FPS: Kind = integer(1, Some(30), "30 fps");

const fn integer(min: u32, max: Option<u32>, max_why: &'static str) -> Kind {
    Kind::Integer { min, max, max_why }
}

const fn fraction(min: f64, max: f64) -> Kind {
    Kind::Number { min: Some(min), max: Some(max), why: "" }
}

macro_rules! settings {
    ($( $group:literal { $( $path:literal, $label:literal, $unit:expr, $kind:expr, $explain:literal; )* } )*) => {
        /// Every setting, in the admin page's order.
        pub const SETTINGS: &[Setting] = &[
            $( $( Setting { path: $path, group: $group, label: $label, explain: $explain, unit: $unit, kind: $kind }, )* )*
        ];
    };
}

settings! {
    "Proctoring" {
        "proctoring_enabled", "Proctoring on", "", Kind::Switch,
            "Off: every candidate of the test is told proctoring is disabled, and the SDK stops at once.";
        "live_video", "Live video", "", Kind::Switch,
            "Proctors may watch this test's candidates live and write to them. Off: the SDK never sends video.";
        "retention_days", "Keep after the verdicts are final", "days", integer(0, None, ""),
            "Days a test's events, scores, verdicts and media are kept after an admin marks its verdicts final (after grading and appeals); then the retention sweep erases them. 0: at the next sweep. The tables' TTL (30 days from each event) still applies.";
    }
    "Captures" {
        "capture_intervals.face_ms", "Face photo every", "ms", integer(1_000, None, ""),
            "Time between two camera photos. Shorter shows more and costs more uploads (S3 PUTs are most of a session's cost).";
        "capture_intervals.screen_ms", "Screenshot every", "ms", integer(1_000, None, ""),
            "Time between two screenshots of the shared screen.";
        "capture_intervals.audio_chunk_ms", "Audio chunk length", "ms", integer(1_000, None, ""),
            "Length of one recorded audio chunk (Opus); each is uploaded when it ends.";
        "events_interval_ms", "Send events every", "ms", integer(500, None, ""),
            "How often the SDK posts a batch of events. Shorter makes the live wall fresher and costs more requests.";
    }
    "Uploads" {
        "uploads.mode", "Upload mode", "", Kind::Choice { choices: &["per_capture", "bundled"] },
            "per_capture: one object per photo, screenshot and chunk. bundled: everything captured in one bundle period as one object (fewer PUTs; live thumbnails lag by up to that period).";
        "uploads.bundle_ms", "Bundle period", "ms", integer(5_000, Some(MAX_BUNDLE_MS), "15 min"),
            "With bundled uploads: how long captures gather before they are sent together.";
    }
    "Blocking" {
        "blocking.on_permission_denied", "Block on a denied camera, microphone or screen", "", Kind::Switch,
            "The test waits, behind the SDK's overlay, until the candidate grants the permission again.";
        "blocking.on_fullscreen_exit", "Block when fullscreen is left", "", Kind::Switch,
            "The test waits until the candidate returns to fullscreen.";
        "blocking.on_screen_share_stop", "Block when the screen share stops", "", Kind::Switch,
            "The test waits until the candidate shares the screen again.";
        "blocking.on_second_screen", "Block while a second screen is attached", "", Kind::Switch,
            "The test waits until the candidate unplugs (or mirrors) every other screen. Off: screens are a signal for the score only.";
    }
    "Score" {
        "anomaly.alert_score", "Alert at score", "points", Kind::Number { min: None, max: None, why: "" },
            "A window whose score reaches this raises an alert on the proctor wall.";
        "anomaly.key_burst_keys", "Key burst above", "keys", integer(0, None, ""),
            "Keys within one key-activity interval above which the interval counts as a burst.";
        "anomaly.weights.tab_switch", "Weight: tab switch", WEIGHT_EACH, WEIGHT,
            "Added to a window's score for each switch away from the exam's tab.";
        "anomaly.weights.hidden_second", "Weight: second hidden", WEIGHT_SECOND, WEIGHT,
            "Per second the exam's tab was hidden.";
        "anomaly.weights.blur", "Weight: focus lost", WEIGHT_EACH, WEIGHT,
            "Per time the exam's window lost focus (another window, a notification).";
        "anomaly.weights.fullscreen_exit", "Weight: fullscreen left", WEIGHT_EACH, WEIGHT,
            "Per exit from fullscreen.";
        "anomaly.weights.clipboard", "Weight: copy, cut or paste", WEIGHT_EACH, WEIGHT,
            "Per clipboard action (counted, never read).";
        "anomaly.weights.key_burst", "Weight: key burst", WEIGHT_EACH, WEIGHT,
            "Per key-activity interval above the key burst threshold.";
        "anomaly.weights.permission_revoked", "Weight: permission revoked", WEIGHT_EACH, WEIGHT,
            "Per camera, microphone or screen permission taken back mid-exam.";
        "anomaly.weights.blocked_second", "Weight: second blocked", WEIGHT_SECOND, WEIGHT,
            "Per second the candidate spent blocked by the overlay.";
        "anomaly.weights.missing_capture", "Weight: missing capture", WEIGHT_EACH, WEIGHT,
            "Per photo, screenshot or chunk that was due and never arrived.";
        "anomaly.weights.no_face_second", "Weight: second without a face", WEIGHT_SECOND, WEIGHT,
            "Per second of a flagged run of face checks that found nobody.";
        "anomaly.weights.several_faces_second", "Weight: second with several faces", WEIGHT_SECOND, WEIGHT,
            "Per second of a flagged run of face checks that found more than one face.";
        "anomaly.weights.different_person_second", "Weight: second as someone else", WEIGHT_SECOND, WEIGHT,
            "Per second of a flagged run of identity comparisons that found a different person.";
        "anomaly.weights.paste_char", "Weight: character pasted", WEIGHT_EACH, WEIGHT,
            "Per character pasted into the page's answers, text fields and editors (the length only; the text is never read).";
        "anomaly.weights.answer_paste_char", "Weight: character pasted into an answer", WEIGHT_EACH, WEIGHT,
            "On top of the above, per character pasted into a field the host marked with data-invigil-answer.";
        "anomaly.weights.burst_second", "Weight: second of typing burst", WEIGHT_SECOND, WEIGHT,
            "Per second with more than 15 keys and three times the candidate's own typing rate (text arriving faster than this person types).";
        "anomaly.weights.screen_added", "Weight: screen plugged in", WEIGHT_EACH, WEIGHT,
            "Per screen attached after the exam began.";
        "anomaly.weights.extra_screen_second", "Weight: second with several screens", WEIGHT_SECOND, WEIGHT,
            "Per second the computer had more than one screen. 0 by default: many candidates work on a laptop with a monitor.";
        "anomaly.weights.other_tab_second", "Weight: second with a second tab", WEIGHT_SECOND, WEIGHT,
            "Per second another tab or window of the same browser ran this candidate's session of this test (the SDK sees it). 0 by default: the next weight scores the same time.";
        "anomaly.weights.concurrent_second", "Weight: second with a second session", WEIGHT_SECOND, WEIGHT,
            "Per second another session of this candidate in this test ran at the same time, in another tab, browser or device (the pipeline finds it; a reload is not one).";
        "anomaly.weights.virtual_gpu", "Weight: virtual machine graphics", WEIGHT_EACH, WEIGHT,
            "Once per session when the graphics adapter is a hypervisor's. 0 by default: a school's lab image or a virtual desktop is a VM by design.";
        "anomaly.weights.software_renderer", "Weight: software graphics", WEIGHT_EACH, WEIGHT,
            "Once per session when the browser draws without a GPU. 0 by default: Linux without drivers and remote desktops used for accessibility do too.";
        "anomaly.weights.vm_screen_size", "Weight: screen at a VM's default size", WEIGHT_EACH, WEIGHT,
            "Once per session for a screen of exactly 800x600 or 1024x768. 0 by default: old monitors, projectors and low-vision settings.";
        "anomaly.weights.small_machine", "Weight: machine sized like a small VM", WEIGHT_EACH, WEIGHT,
            "Once per session for two cores or fewer and 2 GiB or less. 0 by default: inexpensive laptops and Chromebooks.";
        "anomaly.weights.share_other_screen", "Weight: shared screen of another shape", WEIGHT_EACH, WEIGHT,
            "Once per session when the shared screen's shape is not the exam's screen's (another monitor, a remote session). 0 by default.";
        "anomaly.weights.no_hover", "Weight: pointer that cannot hover", WEIGHT_EACH, WEIGHT,
            "Once per session for a touch or remote pointer. 0 by default: tablets, touch laptops and assistive pointers.";
    }
    "Recording" {
        "recording.mode", "Recording", "", Kind::Choice { choices: &["snapshots", "video"] },
            "snapshots: photos, screenshots and audio only. video: also continuous low-bitrate camera and screen video (more CPU in the browser, more storage).";
        "recording.video_kbps", "Video bitrate", "kbit/s", integer(30, Some(4_000), "4 Mbit/s"),
            "Camera and screen together; the screen gets two thirds.";
        "recording.segment_ms", "Segment length", "ms", integer(2_000, Some(MAX_SEGMENT_MS), "5 min"),
            "A video segment is uploaded once it is cut: longer keeps review waiting.";
        "recording.camera.width", "Camera width", "px", WIDTH,
            "The largest camera picture recorded (scaled down from the device's).";
        "recording.camera.height", "Camera height", "px", HEIGHT,
            "The largest camera picture recorded.";
        "recording.camera.fps", "Camera frame rate", "fps", FPS,
            "Frames per second of the camera recording; the encoder's CPU grows with it.";
        "recording.screen.width", "Screen width", "px", WIDTH,
            "The largest screen picture recorded; text needs about 1280.";
        "recording.screen.height", "Screen height", "px", HEIGHT,
            "The largest screen picture recorded.";
        "recording.screen.fps", "Screen frame rate", "fps", FPS,
            "Frames per second of the screen recording.";
    }
    "Face checks" {
        "face_check.mode", "Face checks", "", Kind::Choice { choices: &["off", "presence", "identity"] },
            "presence: a detector in the browser counts faces. identity: also compares the face with the page's first one — biometric processing; turn on only with a legal basis.";
        "face_check.every_ms", "Check every", "ms", integer(1_000, Some(600_000), "10 min"),
            "Time between two face checks.";
        "face_check.min_confidence", "Detector confidence", "0–1", fraction(0.3, 0.99),
            "A detection scoring below this is not a face.";
        "face_check.flag_after_checks", "Flag after checks", "checks", integer(2, Some(100), "a flag must be reachable"),
            "Consecutive checks without a face (or with several) that make a flag; never one frame.";
        "face_check.flag_after_ms", "Or flag after", "ms", integer(0, Some(3_600_000), "1 h"),
            "Or a run of at least two checks spanning this long.";
        "face_check.dark_below", "Too dark below", "0–1", fraction(0.0, 0.5),
            "Mean brightness under which a frame without a face is too dark to tell, not 'no face'.";
        "face_check.identity_every_ms", "Compare identity every", "ms", integer(1_000, Some(600_000), "10 min"),
            "identity mode: time between two comparisons with the reference face.";
        "face_check.min_similarity", "Same person above", "0–1", fraction(0.1, 0.9),
            "identity mode: a similarity below this is a different person (SFace's published threshold is 0.363).";
    }
    "Learning platform" {
        "lms.end_assessment_return", "Platform ends proctoring", "", Kind::Switch,
            "An LTI launch asks the platform to say when the attempt ends, which stops proctoring at once.";
        "lms.identity_wait_ms", "Wait for the reference face", "ms", integer(0, Some(120_000), "2 min: the candidate is waiting"),
            "identity mode with an LTI launch: how long the page waits for the reference face before opening the assessment. 0: never wait.";
    }
    "Notifications" {
        "notify.capture_missing_below_pct", "capture.missing below", "%",
            Kind::Number { min: Some(0.0), max: Some(100.0), why: "a percentage; 0 never notifies" },
            "A capture.missing webhook is sent once a session's share of filled capture slots falls below this. 0: never.";
    }
}

/// The setting at `path`, if there is one.
pub fn setting(path: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.path == path)
}

/// The value at a dotted path of a JSON object.
pub fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |value, key| value.get(key))
}

/// Every setting of `config` outside its bounds, each named
/// `{layer}.{path}` (`tests.t1.capture_intervals.face_ms`).
pub fn check_bounds(config: &ProctorConfig, layer: &str) -> Vec<FieldProblem> {
    let root = serde_json::to_value(config).expect("config serializes");
    let mut problems = Vec::new();
    for setting in SETTINGS {
        let Some(value) = value_at(&root, setting.path) else { continue };
        let message = match setting.kind {
            Kind::Integer { min, max, max_why } => {
                let v = value.as_u64().unwrap_or(0);
                if v < u64::from(min) {
                    Some(format!("is {v}; must be at least {min}"))
                } else {
                    max.filter(|&max| v > u64::from(max))
                        .map(|max| format!("is {v}; must be at most {max} ({max_why})"))
                }
            }
            Kind::Number { min, max, why } => {
                let v = value.as_f64().unwrap_or(f64::NAN);
                let low = min.is_some_and(|min| v < min);
                let high = max.is_some_and(|max| v > max);
                let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
                match (min, max) {
                    _ if !v.is_finite() => Some("must be a finite number".to_string()),
                    (Some(min), Some(max)) if low || high => Some(format!("is {v}; must be within {min}..={max}{why}")),
                    (Some(min), None) if low => Some(format!("is {v}; must be at least {min}{why}")),
                    (None, Some(max)) if high => Some(format!("is {v}; must be at most {max}{why}")),
                    _ => None,
                }
            }
            Kind::Switch | Kind::Choice { .. } => None,
        };
        if let Some(message) = message {
            problems.push(FieldProblem {
                field: format!("{layer}.{}", setting.path),
                code: ProblemCode::InvalidValue,
                message,
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every leaf of a JSON object, as dotted paths.
    fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    leaves(inner, &path, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_field_of_the_config_has_exactly_one_setting() {
        let mut fields = Vec::new();
        leaves(&serde_json::to_value(ProctorConfig::default()).unwrap(), "", &mut fields);
        let mut listed: Vec<String> = SETTINGS.iter().map(|s| s.path.to_string()).collect();
        fields.sort();
        listed.sort();
        assert_eq!(listed, fields, "config/catalogue drift: add or remove entries in SETTINGS");
        for s in SETTINGS {
            assert!(!s.label.is_empty() && s.explain.len() > 10, "{} needs a label and an explanation", s.path);
        }
    }

    /// Each setting's own default is within its bounds and of its kind.
    #[test]
    fn defaults_fit_their_settings() {
        let defaults = serde_json::to_value(ProctorConfig::default()).unwrap();
        assert!(check_bounds(&ProctorConfig::default(), "defaults").is_empty());
        for s in SETTINGS {
            let value = value_at(&defaults, s.path).unwrap();
            let fits = match s.kind {
                Kind::Switch => value.is_boolean(),
                Kind::Integer { .. } => value.is_u64(),
                Kind::Number { .. } => value.is_number(),
                Kind::Choice { choices } => value.as_str().is_some_and(|c| choices.contains(&c)),
            };
            assert!(fits, "{}: default {value} does not fit {:?}", s.path, s.kind);
        }
    }

    /// What a choice lists is what the config accepts, and nothing else is.
    #[test]
    fn choices_are_the_ones_the_config_decodes() {
        for s in SETTINGS {
            let Kind::Choice { choices } = s.kind else { continue };
            let with = |choice: &str| {
                let mut patch = json!(choice);
                for key in s.path.rsplit('.') {
                    patch = json!({ key: patch });
                }
                serde_json::from_value::<ProctorConfig>(patch)
            };
            for choice in choices {
                assert!(with(choice).is_ok(), "{}: {choice} is refused", s.path);
            }
            assert!(with("not_a_choice").is_err(), "{}: accepts anything", s.path);
        }
    }

    /// The ends of each range are accepted and one step past them is
    /// refused, named by its path.
    #[test]
    fn bounds_hold_at_their_edges() {
        for s in SETTINGS {
            let set = |value: Value| {
                let mut root = serde_json::to_value(ProctorConfig::default()).unwrap();
                let (parent, leaf) = s.path.rsplit_once('.').map_or(("", s.path), |(p, l)| (p, l));
                let target = if parent.is_empty() {
                    &mut root
                } else {
                    parent.split('.').fold(&mut root, |v, k| v.get_mut(k).unwrap())
                };
                target[leaf] = value;
                let config: ProctorConfig = serde_json::from_value(root).unwrap();
                check_bounds(&config, "defaults").into_iter().map(|p| p.field).collect::<Vec<_>>()
            };
            let field = vec![format!("defaults.{}", s.path)];
            match s.kind {
                Kind::Integer { min, max, .. } => {
                    assert!(set(json!(min)).is_empty(), "{} at its minimum", s.path);
                    if min > 0 {
                        assert_eq!(set(json!(min - 1)), field);
                    }
                    if let Some(max) = max {
                        assert!(set(json!(max)).is_empty(), "{} at its maximum", s.path);
                        assert_eq!(set(json!(max + 1)), field);
                    }
                }
                Kind::Number { min, max, .. } => {
                    if let Some(min) = min {
                        assert!(set(json!(min)).is_empty(), "{} at its minimum", s.path);
                        assert_eq!(set(json!(min - 0.01)), field);
                    }
                    if let Some(max) = max {
                        assert!(set(json!(max)).is_empty(), "{} at its maximum", s.path);
                        assert_eq!(set(json!(max + 0.01)), field);
                    }
                }
                Kind::Switch | Kind::Choice { .. } => {}
            }
        }
    }
}

//! The scripted exam's windows against truth computed by hand (see
//! `invigil_pipeline::scripted` for the script). Every number below was
//! worked out from the script, not read from the code's output; the golden
//! file additionally pins every field of every row.

mod common;

use invigil_pipeline::emit::{Emission, Tracked};
use invigil_pipeline::rows::EventRow;
use invigil_pipeline::scoring::{self, WindowValue};
use invigil_pipeline::scripted::{self, T0};
use invigil_pipeline::session::{FactBatch, Session};
use invigil_schemas::config::ProctorConfig;
use invigil_schemas::record::KafkaRecord;

const LATENESS_MS: i64 = 15_000;

fn config() -> ProctorConfig {
    scripted::config().for_test(&scripted::TEST.to_owned().try_into().unwrap()).unwrap()
}

fn digest(records: &[KafkaRecord]) -> Session {
    let mut session: Option<Session> = None;
    for record in records {
        let rows: Vec<EventRow> = record.batch.events.iter().map(|e| EventRow::new(record, e)).collect();
        let batch = FactBatch::from_rows(&rows).unwrap();
        session.get_or_insert_with(|| Session::new(batch.key.clone())).add_batch(&batch, LATENESS_MS);
    }
    session.unwrap()
}

fn minute(windows: &[WindowValue], m: i64) -> &WindowValue {
    windows.iter().find(|w| w.start == T0 + m * 60_000).unwrap_or_else(|| panic!("no window for minute {m}"))
}

fn components(w: &WindowValue) -> Vec<(&'static str, f64)> {
    w.components.clone()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn scripted_exam_windows_equal_hand_computed_truth() {
    let config = config();
    let session = digest(&scripted::records());
    let windows = scoring::compute(&session, &config, None);
    assert_eq!(windows.len(), 10, "minutes 0..=9 (ended at 599 s)");
    assert!(windows.iter().all(|w| w.end - w.start == 60_000));

    // Captures: two 30 s slots a minute; minutes 5 and 7 lose one slot each
    // to blocking; face misses 180, 210 (min 3), 390 (min 6), 480 (min 8).
    let expected = [2, 2, 2, 2, 2, 1, 2, 1, 2, 2];
    let face_up = [2, 2, 2, 0, 2, 1, 1, 1, 1, 2];
    for (m, w) in windows.iter().enumerate() {
        assert_eq!(w.expected, [expected[m]; 3], "minute {m} expected");
        assert_eq!(w.uploaded, [face_up[m], expected[m], expected[m]], "minute {m} uploaded");
    }

    let m1 = minute(&windows, 1);
    assert_eq!(
        (m1.tab_switches, m1.hidden_ms, m1.blur_count, m1.blur_ms, m1.clipboard_actions),
        (1, 15_000, 1, 16_000, 2)
    );
    // The blur at 64.5 s is the switch at 65 s (within 1 s): shown, not scored.
    assert_eq!(m1.blurs_in_switch, 1);
    // The paste at 101 s came from an SDK that did not say where: its 12
    // characters count as pasted into the page (0.002 each).
    assert_eq!((m1.paste_chars, m1.answer_paste_chars), (12, 0));
    assert!(close(m1.score, 1.0 + 0.75 + 1.0 + 0.024), "{}", m1.score);
    let names: Vec<_> = components(m1).iter().map(|c| c.0).collect();
    assert_eq!(names, ["tab_switch", "hidden_second", "clipboard", "paste_char"]);

    let m2 = minute(&windows, 2);
    assert_eq!((m2.tab_switches, m2.hidden_ms, m2.key_bursts), (1, 10_000, 2));
    // Face checks: 12; no face at 130.2–145.2 s (four in a row: a 15 s flag,
    // 0.02 a second), two faces once (not a flag), one dark frame (labelled).
    assert_eq!((m2.face_checks, m2.no_face_checks, m2.several_faces_checks, m2.dark_checks), (12, 4, 1, 1));
    assert_eq!((m2.no_face_ms, m2.several_faces_ms, m2.face_flags, m2.unscored_face_checks), (15_000, 0, 1, 0));
    assert!(close(m2.score, 1.0 + 0.5 + 0.5 + 0.3), "{}", m2.score);

    let m3 = minute(&windows, 3);
    assert_eq!((m3.tab_switches, m3.hidden_ms, m3.missing_captures()), (0, 10_000, 2));
    assert!(close(m3.score, 0.5 + 1.0));
    // Identity: the reference at 180.2 s, the same person at 210.2 s.
    assert_eq!((m3.face_checks, m3.identity_checks, m3.different_person_checks, m3.face_references), (2, 1, 0, 1));

    // A different person at 240.2, 270.2 and 300.2 s: three comparisons in a
    // row, a flag over 240.2–300.2 s (59.8 s of it in minute 4, 0.05 a
    // second), counted where it began; the candidate again at 345.2 s.
    let m4 = minute(&windows, 4);
    assert_eq!(
        (m4.identity_checks, m4.different_person_checks, m4.different_person_ms, m4.face_flags),
        (2, 2, 59_800, 1)
    );
    let m5 = minute(&windows, 5);
    assert_eq!((m5.identity_checks, m5.different_person_checks, m5.different_person_ms, m5.face_flags), (2, 1, 200, 0));
    assert_eq!((m4.no_face_ms, m4.several_faces_ms), (0, 0), "one face was in view throughout");

    // The gap began at 240.1 s: counted in minute 4, its 180 s spread over
    // minutes 4–7. It is a label: minute 4 scores only the different person.
    let gap_ms: Vec<u64> = windows.iter().map(|w| w.network_gap_ms).collect();
    assert_eq!(gap_ms, [0, 0, 0, 0, 59_900, 60_000, 60_000, 100, 0, 0]);
    let gaps: Vec<u32> = windows.iter().map(|w| w.network_gaps).collect();
    assert_eq!(gaps, [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert!(close(m4.score, 59.8 * 0.05), "{}", m4.score);

    // Late: minute-4 events received at 420.1 > 300 + 15 (11 key events +
    // 6 captures + 2 face checks); minute 5 (12 keys + 3 captures + 4
    // fullscreen/block events + 2 face checks, window closed at 375); the
    // kept-back batch's 3 in minute 8.
    let late: Vec<u32> = windows.iter().map(|w| w.late_events).collect();
    assert_eq!(late, [0, 0, 0, 0, 19, 21, 0, 0, 3, 0]);

    let m5 = minute(&windows, 5);
    // No switch near the exit at 329 s: the exit and its overlay score.
    assert_eq!((m5.fullscreen_exits, m5.exits_in_switch, m5.blocked_ms, m5.blocked_in_switch_ms), (1, 0, 6_000, 0));
    assert!(close(m5.score, 1.0 + 0.12 + 0.2 * 0.05), "{}", m5.score);

    assert!(close(minute(&windows, 6).score, 0.5));

    let m7 = minute(&windows, 7);
    assert_eq!((m7.permission_revocations, m7.blocked_ms), (1, 10_000));
    // The no-face check at 455 s came while the camera was blocked: labelled, not scored.
    assert_eq!((m7.face_checks, m7.unscored_face_checks, m7.no_face_checks, m7.face_flags), (1, 1, 0, 0));
    assert!(close(m7.score, 2.0 + 0.2));

    // Minute 8 as corrected by the batch that came two hours late.
    let m8 = minute(&windows, 8);
    assert_eq!((m8.tab_switches, m8.hidden_ms, m8.clipboard_actions, m8.uploads_failed), (1, 15_000, 1, 1));
    assert!(close(m8.score, 1.0 + 0.75 + 0.5 + 0.5 + 0.006));

    // Minute 9, the environment: 100 characters into a marked answer at
    // 545 s (a clipboard action 0.5, 0.002 + 0.008 a character), a screen
    // plugged in at 550 s (2.0; its 49 s of two screens weigh 0), a
    // second tab 560–570 s (weighted 0: the pipeline's concurrent sessions
    // score that time, and this exam has one session), 3 burst seconds
    // (0.25 each) in an interval of 95 keys (also a key burst over 40
    // keys, 0.25).
    let m9 = minute(&windows, 9);
    assert_eq!((m9.paste_chars, m9.answer_paste_chars, m9.clipboard_actions), (100, 100, 1));
    assert_eq!((m9.screens_added, m9.extra_screen_ms, m9.other_tab_ms), (1, 49_000, 10_000));
    assert_eq!((m9.burst_s, m9.key_bursts), (3, 1));
    assert!(close(m9.score, 0.5 + 0.2 + 0.8 + 2.0 + 0.75 + 0.25), "{}", m9.score);
    let names: Vec<_> = components(m9).iter().map(|c| c.0).collect();
    assert_eq!(names, ["clipboard", "key_burst", "paste_char", "answer_paste_char", "burst_second", "screen_added"]);
    // The software renderer reported at 1 s is a hint of minute 0 (bit 2),
    // weighted 0 by default: seen, not scored.
    let m0 = minute(&windows, 0);
    assert_eq!(
        (m0.new_hints, m0.score, m0.screens_added),
        (2, 0.0, 0),
        "the first report is the start, not an addition"
    );
}

#[test]
fn scripted_exam_totals_equal_hand_computed_truth() {
    let config = config();
    let session = digest(&scripted::records());
    let windows = scoring::compute(&session, &config, None);
    let total = scoring::totals(&windows, &session, &config);
    assert_eq!((total.start, total.end), (T0, T0 + 599_000));
    assert_eq!(
        (total.tab_switches, total.hidden_ms, total.blur_count, total.blur_ms, total.fullscreen_exits),
        (3, 50_000, 1, 16_000, 1)
    );
    assert_eq!(
        (total.clipboard_actions, total.key_bursts, total.permission_revocations, total.blocked_ms),
        (4, 3, 1, 16_000)
    );
    assert_eq!((total.paste_chars, total.answer_paste_chars, total.burst_s), (115, 100, 3));
    assert_eq!(
        (total.screens_added, total.extra_screen_ms, total.other_tab_ms, total.new_hints),
        (1, 49_000, 10_000, 2)
    );
    assert_eq!((total.expected, total.uploaded, total.uploads_failed), ([18; 3], [14, 18, 18], 1));
    assert_eq!((total.network_gaps, total.network_gap_ms, total.late_events), (1, 180_000, 43));
    assert_eq!((total.face_checks, total.face_flags, total.no_face_ms, total.unscored_face_checks), (19, 2, 15_000, 1));
    assert_eq!((total.identity_checks, total.different_person_checks, total.different_person_ms), (5, 3, 60_000));
    let environment = 0.5 + 0.25 + 0.23 + 0.8 + 0.75 + 2.0;
    assert!(
        close(total.score, 3.0 + 2.5 + 1.0 + 1.5 + 0.5 + 2.0 + 0.32 + 2.0 + 0.3 + 3.0 + environment),
        "{}",
        total.score
    );
    assert_eq!((session.events, session.batches.len()), (216, 122));
    assert_eq!(session.ended.as_deref(), Some("host_stopped"));
    assert_eq!(session.sdk_version, "0.1.0-scripted");

    common::rendered::check("scripted_windows.json", &golden::render(&windows, &total));
}

/// The same truth as the rows a pipeline writes: the file the integration
/// tests compare the store's `FINAL` contents with.
#[test]
fn scripted_exam_rows_are_the_golden_rows() {
    let config = config();
    let session = digest(&scripted::records());
    let mut tracked = Tracked::new(session.key.clone());
    for record in scripted::records() {
        let rows: Vec<EventRow> = record.batch.events.iter().map(|e| EventRow::new(&record, e)).collect();
        tracked.add(&FactBatch::from_rows(&rows).unwrap(), LATENESS_MS);
    }
    let mut out = Emission::default();
    tracked.emit(&config, i64::MAX, 0, &mut out);
    assert_eq!(out.windows.len(), 11, "10 minutes + the session total");
    common::rendered::check(
        "scripted_rows.json",
        &common::rendered::render(T0, &out.windows, &out.anomalies, &out.sessions),
    );
}

#[test]
fn before_the_late_batch_minute_8_reads_what_was_known() {
    let config = config();
    let mut records = scripted::records();
    let kept_back = records.pop().unwrap();
    let mut session = digest(&records);
    let before = scoring::compute(&session, &config, None);
    let m8 = minute(&before, 8);
    assert_eq!((m8.tab_switches, m8.hidden_ms, m8.clipboard_actions), (0, 0, 0));
    assert!(close(m8.score, 0.5));

    // The correction touches minute 8 and nothing earlier.
    let rows: Vec<EventRow> = kept_back.batch.events.iter().map(|e| EventRow::new(&kept_back, e)).collect();
    let changed_from = session.add_batch(&FactBatch::from_rows(&rows).unwrap(), LATENESS_MS).unwrap();
    assert_eq!(changed_from, T0 + 8 * 60_000);
    let after = scoring::compute(&session, &config, None);
    for (a, b) in before.iter().zip(&after) {
        if a.start != changed_from {
            assert_eq!(a, b, "window {} changed", a.start);
        }
    }
    assert!(close(minute(&after, 8).score, 2.756));
}

#[test]
fn windows_do_not_depend_on_delivery_order_or_duplicates() {
    let config = config();
    let records = scripted::records();
    let truth = scoring::compute(&digest(&records), &config, None);
    // Reversed, and every record delivered twice (a retried produce).
    let mut shuffled: Vec<KafkaRecord> = records.iter().rev().cloned().collect();
    shuffled.extend(records.iter().step_by(3).cloned());
    let session = digest(&shuffled);
    assert_eq!(session.events, 216);
    assert_eq!(scoring::compute(&session, &config, None), truth);
}

#[test]
fn computing_from_a_window_equals_the_tail_of_a_full_computation() {
    let config = config();
    let session = digest(&scripted::records());
    let full = scoring::compute(&session, &config, None);
    let tail = scoring::compute(&session, &config, Some(T0 + 5 * 60_000 + 1_234));
    assert_eq!(tail.as_slice(), &full[5..]);
    // "Everything" (what a config change asks for) is the full computation:
    // rounding i64::MIN down to a window overflowed and stopped the pipeline.
    assert_eq!(scoring::compute(&session, &config, Some(i64::MIN)), full);
    assert_eq!(scoring::compute(&session, &config, Some(T0 - 3_600_000)), full);
}

mod golden {
    use super::*;

    pub fn render(windows: &[WindowValue], total: &WindowValue) -> String {
        let row = |w: &WindowValue| {
            serde_json::json!({
                "start": w.start - T0, "end": w.end - T0,
                "tab_switches": w.tab_switches, "hidden_ms": w.hidden_ms,
                "blur_count": w.blur_count, "blur_ms": w.blur_ms,
                "fullscreen_exits": w.fullscreen_exits, "clipboard_actions": w.clipboard_actions,
                "key_bursts": w.key_bursts, "permission_revocations": w.permission_revocations,
                "blocked_ms": w.blocked_ms, "uploads_failed": w.uploads_failed,
                "expected": w.expected, "uploaded": w.uploaded,
                "face_checks": [w.face_checks, w.no_face_checks, w.several_faces_checks, w.dark_checks, w.unscored_face_checks],
                "face_flags": w.face_flags, "no_face_ms": w.no_face_ms, "several_faces_ms": w.several_faces_ms,
                "paste_chars": [w.paste_chars, w.answer_paste_chars], "burst_s": w.burst_s,
                "screens_added": w.screens_added, "extra_screen_ms": w.extra_screen_ms,
                "other_tab_ms": w.other_tab_ms, "new_hints": w.new_hints,
                "network_gaps": w.network_gaps, "network_gap_ms": w.network_gap_ms,
                "late_events": w.late_events, "score": w.score,
                "components": w.components.iter().map(|(n, v)| serde_json::json!([n, v])).collect::<Vec<_>>(),
            })
        };
        let doc = serde_json::json!({
            "minutes": windows.iter().map(row).collect::<Vec<_>>(),
            "session": row(total),
        });
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    }
}

/// An environment hint adds nothing unless the test weighs it, and then
/// once per session, in the window where it was first seen.
#[test]
fn a_hint_scores_only_with_a_weight_and_once_per_session() {
    let session = digest(&scripted::records());
    let unweighted = config();
    let mut weighted = config();
    weighted.anomaly.weights.software_renderer = 1.5;
    let (before, after) = (scoring::compute(&session, &unweighted, None), scoring::compute(&session, &weighted, None));
    for (a, b) in before.iter().zip(&after) {
        let extra = if a.start == T0 { 1.5 } else { 0.0 };
        assert!(close(b.score, a.score + extra), "window {}: {} -> {}", a.start, a.score, b.score);
    }
    assert!(components(minute(&after, 0))
        .iter()
        .any(|(name, value)| *name == "software_renderer" && close(*value, 1.5)));
    let (total_before, total_after) =
        (scoring::totals(&before, &session, &unweighted), scoring::totals(&after, &session, &weighted));
    assert!(close(total_after.score, total_before.score + 1.5));
    // Other hints the evidence does not support stay out at any weight.
    weighted.anomaly.weights.virtual_gpu = 9.0;
    let again = scoring::totals(&scoring::compute(&session, &weighted, None), &session, &weighted);
    assert!(close(again.score, total_after.score));
}

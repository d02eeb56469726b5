//! Window values: a pure function of a [`Session`] digest and the test's
//! config. No clock, no I/O — what the golden tests pin down.
//!
//! Definitions (SPEC §6), per 1-minute window `[start, start + 60 s)` of
//! client time, within the session's open span `[first_ts, last_ts]`:
//!
//! - **durations** (`hidden_ms`, `blur_ms`, `blocked_ms`): overlap of the
//!   window with the intervals a dimension was on; an interval still open is
//!   closed at `last_ts`. Blocked means "any block reason active".
//! - **counts** (tab switches = `visibility: hidden` events, blurs, fullscreen
//!   exits, clipboard actions, permission revocations, failed uploads, late
//!   events) by the event's own time.
//! - **key bursts**: `key_activity` events with more than
//!   `anomaly.key_burst_keys` keys.
//! - **capture slots** of a kind with interval `I`: `first_ts + j·I`
//!   (j ≥ 0, ≤ `last_ts`), each counted in the window it falls in.
//!   A capture's time is when it was taken (an audio chunk's: its start),
//!   not when it was uploaded. Captures are **credited** to slots in time
//!   order, each to the earliest free slot in `(ts − I, ts + I/2]`: the SDK's
//!   capture grid starts when setup ends, anywhere within an interval of
//!   `first_ts`, so a capture may lie up to one interval after its slot (and
//!   half of one before, for timer jitter). A slot's credit lands in the
//!   slot's window, even when the capture's own time is in the next minute
//!   (the window is corrected if it had closed).
//! - **expected** = credited slots + uncredited slots outside a blocked
//!   interval whose capture had its whole interval to arrive
//!   (`slot + I ≤ last_ts`): a slot near the end of what we know is not
//!   missing yet, and a blocked candidate is already accounted for by
//!   `blocked_ms` (counting their captures as missing would penalise twice).
//!   Missing = expected − uploaded, so every delivered capture counts.
//! - **recorded time** (`recording.mode = "video"`): per track, the
//!   window's milliseconds covered by delivered segments, against the
//!   milliseconds a recording was **expected**: the *recordable span* minus
//!   blocked intervals. The span starts at the first segment of either track
//!   (or [`SETUP_ALLOWANCE_MS`] after `first_ts`, if that is earlier: a
//!   recording that never starts is all missing) and ends at `last_ts` once
//!   the session ended, else [`recording_grace_ms`] before it (a segment is
//!   reported once it is cut and uploaded). Segment time outside the
//!   expected intervals is not credited, so recorded ≤ expected.
//! - **face checks** (`face_check.mode = "presence"`): each check is
//!   *unscored* when it falls in a blocked interval (camera denied,
//!   fullscreen left: the candidate is already accounted for), else *dark*
//!   when it found no face in a frame darker than `face_check.dark_below`
//!   ("too dark to tell", never "no face"), else *no face*, *one face* or
//!   *several faces*. A **run** is consecutive checks of the same finding,
//!   no two more than [`FACE_RUN_GAP_CHECKS`] intervals apart (a missing
//!   stretch of checks ends a run rather than bridging it). A run of no face
//!   or several faces is **flagged** once it holds `flag_after_checks`
//!   checks, or at least two checks spanning `flag_after_ms`: never one
//!   frame. A flagged run covers `[first check, last check]`; its
//!   milliseconds are spread over the windows it overlaps and scored per
//!   second (`no_face_second`, `several_faces_second`), and it counts as one
//!   flag in the window where it began.
//! - **identity** (`face_check.mode = "identity"`): a check that compared
//!   its single face with the page's reference face carries a similarity;
//!   one under `min_similarity` is *a different person*. Comparisons (not
//!   while blocked) form runs by the same rule, with `identity_every_ms` as
//!   their interval: a persisted run of different-person comparisons is
//!   flagged and scored per second (`different_person_second`). A
//!   comparison at or over the threshold ends a run. Reference faces taken
//!   are counted (`face_references`): a second one means the page was
//!   reloaded, and the reviewer is shown where.
//! - **network gaps**: consecutive batch receipts (server clock) more than
//!   3 × `events_interval_ms` apart. The gap's milliseconds are spread over
//!   the windows it overlaps; it is counted once, in the window where it
//!   began. Gaps are labels, never score components.
//! - **score**: Σ weight × measure over the components, in a fixed order; a
//!   component appears in the row only when non-zero, so the row itself
//!   explains its score.
//! - **one action, one score**: a tab switch in fullscreen also blurs the
//!   window, leaves fullscreen and raises the overlay. The switch is the
//!   root cause and is scored (`tab_switch`, `hidden_second`); a blur or a
//!   fullscreen exit within [`SWITCH_CAUSE_MS`] of a switch, and the blocked
//!   time of a fullscreen overlay that began within it, are not scored again.
//!   They stay in the row's counts (`blur_count`, `fullscreen_exits`,
//!   `blocked_ms`) as context. A fullscreen exit or blur on its own scores
//!   as before.

use std::collections::HashSet;

use invigil_schemas::config::{FaceCheckMode, ProctorConfig, RecordingMode};
use invigil_schemas::environment::Hint;
use invigil_schemas::names::WireName;

use crate::session::{window_start, Dimension, FaceCheck, Session, Transition, FULLSCREEN_BLOCK, WINDOW_MS};

/// One window's measures and score.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowValue {
    pub start: i64,
    pub end: i64,
    pub tab_switches: u32,
    pub hidden_ms: u64,
    pub blur_count: u32,
    pub blur_ms: u64,
    pub fullscreen_exits: u32,
    /// Blurs and fullscreen exits a tab switch caused, and the blocked time
    /// of the fullscreen overlays it raised: shown, not scored again.
    pub blurs_in_switch: u32,
    pub exits_in_switch: u32,
    pub blocked_in_switch_ms: u64,
    pub clipboard_actions: u32,
    pub key_bursts: u32,
    pub permission_revocations: u32,
    pub blocked_ms: u64,
    pub uploads_failed: u32,
    /// Per capture kind: face, screen, audio.
    pub expected: [u32; 3],
    pub uploaded: [u32; 3],
    /// Video recording: expected milliseconds (the same for each track) and
    /// those delivered, per track (camera, screen).
    pub recording_expected_ms: u64,
    pub recorded_ms: [u64; 2],
    /// Face checks in the window (by check time), by finding: one face is
    /// what `face_checks` has besides the others.
    pub face_checks: u32,
    pub no_face_checks: u32,
    pub several_faces_checks: u32,
    pub dark_checks: u32,
    pub unscored_face_checks: u32,
    /// Milliseconds of flagged runs in the window, and the flags begun in it.
    pub no_face_ms: u64,
    pub several_faces_ms: u64,
    pub face_flags: u32,
    /// Identity mode: comparisons in the window (not while blocked), those
    /// under `min_similarity`, milliseconds of their flagged runs, and
    /// reference faces taken.
    pub identity_checks: u32,
    pub different_person_checks: u32,
    pub different_person_ms: u64,
    pub face_references: u32,
    /// Characters pasted into the page's fields, and of them into answers.
    pub paste_chars: u64,
    pub answer_paste_chars: u64,
    /// Seconds of typing far above the candidate's own rate.
    pub burst_s: u32,
    /// Screens plugged in after the session's first report, and the
    /// milliseconds with more than one screen.
    pub screens_added: u32,
    pub extra_screen_ms: u64,
    /// Milliseconds another tab of this browser ran the same test for the
    /// candidate.
    pub other_tab_ms: u64,
    /// Environment hints first seen in this window, as bits in
    /// `Hint::ALL`'s order (so each scores once per session).
    pub new_hints: u8,
    /// Milliseconds another session of the same candidate in the same test
    /// was open at the same time (another tab, browser or device), and the
    /// most such sessions at once.
    pub concurrent_ms: u64,
    pub concurrent_sessions: u32,
    pub network_gaps: u32,
    pub network_gap_ms: u64,
    pub late_events: u32,
    pub score: f64,
    /// `(weight name, weight × measure)`, non-zero components only.
    pub components: Vec<(&'static str, f64)>,
}

impl WindowValue {
    pub fn missing_captures(&self) -> u32 {
        (0..3).map(|k| self.expected[k].saturating_sub(self.uploaded[k])).sum()
    }

    /// Adds another window's measures (for session totals); the score is
    /// recomputed by the caller.
    fn accumulate(&mut self, other: &WindowValue) {
        self.tab_switches += other.tab_switches;
        self.hidden_ms += other.hidden_ms;
        self.blur_count += other.blur_count;
        self.blur_ms += other.blur_ms;
        self.blurs_in_switch += other.blurs_in_switch;
        self.exits_in_switch += other.exits_in_switch;
        self.blocked_in_switch_ms += other.blocked_in_switch_ms;
        self.fullscreen_exits += other.fullscreen_exits;
        self.clipboard_actions += other.clipboard_actions;
        self.key_bursts += other.key_bursts;
        self.permission_revocations += other.permission_revocations;
        self.blocked_ms += other.blocked_ms;
        self.uploads_failed += other.uploads_failed;
        for k in 0..3 {
            self.expected[k] += other.expected[k];
            self.uploaded[k] += other.uploaded[k];
        }
        self.recording_expected_ms += other.recording_expected_ms;
        for k in 0..2 {
            self.recorded_ms[k] += other.recorded_ms[k];
        }
        self.face_checks += other.face_checks;
        self.no_face_checks += other.no_face_checks;
        self.several_faces_checks += other.several_faces_checks;
        self.dark_checks += other.dark_checks;
        self.unscored_face_checks += other.unscored_face_checks;
        self.no_face_ms += other.no_face_ms;
        self.several_faces_ms += other.several_faces_ms;
        self.face_flags += other.face_flags;
        self.identity_checks += other.identity_checks;
        self.different_person_checks += other.different_person_checks;
        self.different_person_ms += other.different_person_ms;
        self.face_references += other.face_references;
        self.paste_chars += other.paste_chars;
        self.answer_paste_chars += other.answer_paste_chars;
        self.burst_s += other.burst_s;
        self.screens_added += other.screens_added;
        self.extra_screen_ms += other.extra_screen_ms;
        self.other_tab_ms += other.other_tab_ms;
        self.new_hints |= other.new_hints;
        self.concurrent_ms += other.concurrent_ms;
        self.concurrent_sessions = self.concurrent_sessions.max(other.concurrent_sessions);
        self.network_gaps += other.network_gaps;
        self.network_gap_ms += other.network_gap_ms;
        self.late_events += other.late_events;
    }

    /// Fills `score` and `components` from the measures.
    fn score_with(&mut self, config: &ProctorConfig) {
        let w = &config.anomaly.weights;
        let measures: [(&'static str, f64, f64); 19] = [
            ("tab_switch", w.tab_switch, f64::from(self.tab_switches)),
            ("hidden_second", w.hidden_second, self.hidden_ms as f64 / 1000.0),
            ("blur", w.blur, f64::from(self.blur_count.saturating_sub(self.blurs_in_switch))),
            (
                "fullscreen_exit",
                w.fullscreen_exit,
                f64::from(self.fullscreen_exits.saturating_sub(self.exits_in_switch)),
            ),
            ("clipboard", w.clipboard, f64::from(self.clipboard_actions)),
            ("key_burst", w.key_burst, f64::from(self.key_bursts)),
            ("permission_revoked", w.permission_revoked, f64::from(self.permission_revocations)),
            ("blocked_second", w.blocked_second, (self.blocked_ms - self.blocked_in_switch_ms) as f64 / 1000.0),
            ("missing_capture", w.missing_capture, f64::from(self.missing_captures())),
            ("no_face_second", w.no_face_second, self.no_face_ms as f64 / 1000.0),
            ("several_faces_second", w.several_faces_second, self.several_faces_ms as f64 / 1000.0),
            ("different_person_second", w.different_person_second, self.different_person_ms as f64 / 1000.0),
            ("paste_char", w.paste_char, self.paste_chars as f64),
            ("answer_paste_char", w.answer_paste_char, self.answer_paste_chars as f64),
            ("burst_second", w.burst_second, f64::from(self.burst_s)),
            ("screen_added", w.screen_added, f64::from(self.screens_added)),
            ("extra_screen_second", w.extra_screen_second, self.extra_screen_ms as f64 / 1000.0),
            ("other_tab_second", w.other_tab_second, self.other_tab_ms as f64 / 1000.0),
            ("concurrent_second", w.concurrent_second, self.concurrent_ms as f64 / 1000.0),
        ];
        let hints = Hint::ALL
            .iter()
            .enumerate()
            .map(|(bit, hint)| (hint.as_str(), w.hint(*hint), f64::from(u8::from(self.new_hints & 1 << bit != 0))));
        self.components.clear();
        self.score = 0.0;
        for (name, weight, measure) in measures.into_iter().chain(hints) {
            let value = weight * measure;
            if value != 0.0 {
                self.components.push((name, value));
                self.score += value;
            }
        }
    }
}

/// Half-open intervals `[from, to)` during which something was on, sorted.
type Intervals = Vec<(i64, i64)>;

/// Total overlap of `intervals` with `[start, end)`.
fn overlap(intervals: &Intervals, start: i64, end: i64) -> u64 {
    let first = intervals.partition_point(|(_, to)| *to <= start);
    intervals[first..]
        .iter()
        .take_while(|(from, _)| *from < end)
        .map(|(from, to)| (to.min(&end) - from.max(&start)).max(0) as u64)
        .sum()
}

fn contains(intervals: &Intervals, t: i64) -> bool {
    let at = intervals.partition_point(|(_, to)| *to <= t);
    intervals.get(at).is_some_and(|(from, _)| *from <= t)
}

/// The on-intervals of the dimensions selected by `pick`, merged: on while
/// any selected dimension is on.
fn intervals_of(session: &Session, pick: impl Fn(Dimension) -> bool) -> Intervals {
    intervals_from(session.transitions.iter().filter(|t| pick(t.dimension)), session.last_ts)
}

/// The spans during which any of the `transitions`' dimensions was on; a
/// span still open is closed at `last_ts`.
fn intervals_from<'a>(transitions: impl Iterator<Item = &'a Transition>, last_ts: i64) -> Intervals {
    let mut active: HashSet<Dimension> = HashSet::new();
    let mut out = Intervals::new();
    let mut since = None;
    for t in transitions {
        if t.on {
            active.insert(t.dimension);
        } else {
            active.remove(&t.dimension);
        }
        match (since, active.is_empty()) {
            (None, false) => since = Some(t.ts),
            (Some(from), true) => {
                if t.ts > from {
                    out.push((from, t.ts));
                }
                since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        if last_ts > from {
            out.push((from, last_ts));
        }
    }
    out
}

/// `a` without the time in `b` (both sorted and disjoint).
fn subtract(a: &Intervals, b: &Intervals) -> Intervals {
    let mut out = Intervals::new();
    for &(from, to) in a {
        let mut from = from;
        let first = b.partition_point(|(_, end)| *end <= from);
        for &(cut_from, cut_to) in b[first..].iter().take_while(|(start, _)| *start < to) {
            if cut_from > from {
                out.push((from, cut_from));
            }
            from = from.max(cut_to);
        }
        if from < to {
            out.push((from, to));
        }
    }
    out
}

/// The time in both `a` and `b` (both sorted and disjoint).
fn intersect(a: &Intervals, b: &Intervals) -> Intervals {
    let mut out = Intervals::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (from, to) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if from < to {
            out.push((from, to));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Segments sorted by start, merged where they overlap or meet.
fn merged(segments: &[(i64, i64)]) -> Intervals {
    let mut out: Intervals = Vec::with_capacity(segments.len());
    for &(from, to) in segments {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// How long after `first_ts` a video recording is expected to have begun at
/// the latest: setup (permission prompts, sharing the screen) comes first,
/// and it is not blocked time on the timeline.
pub const SETUP_ALLOWANCE_MS: i64 = 120_000;

/// How far behind the newest event a segment may still be on its way: it is
/// reported once cut (a segment's length) and sent with the next batches.
pub fn recording_grace_ms(config: &ProctorConfig) -> i64 {
    i64::from(config.recording.segment_ms) + 2 * i64::from(config.events_interval_ms)
}

/// The intervals a video recording was expected, and per track the part
/// of them its delivered segments cover.
fn recording_credit(session: &Session, config: &ProctorConfig, blocked: &Intervals) -> (Intervals, [Intervals; 2]) {
    if config.recording.mode != RecordingMode::Video || session.is_empty() {
        return (Intervals::new(), Default::default());
    }
    let first_segment = session.segments.iter().filter_map(|s| s.first().map(|(from, _)| *from)).min();
    let from = first_segment.unwrap_or(i64::MAX).min(session.first_ts.saturating_add(SETUP_ALLOWANCE_MS));
    let to = if session.ended.is_some() { session.last_ts } else { session.last_ts - recording_grace_ms(config) };
    let span = if from < to { vec![(from, to)] } else { Intervals::new() };
    let expected = subtract(&span, blocked);
    let recorded = std::array::from_fn(|k| intersect(&merged(&session.segments[k]), &expected));
    (expected, recorded)
}

/// How near a tab switch (`visibility: hidden`) a blur, a fullscreen exit
/// or a fullscreen overlay must begin to be the switch's consequence: the
/// browser fires them within milliseconds of each other, in any order.
pub const SWITCH_CAUSE_MS: i64 = 1_000;

/// Whether some time in `sorted` lies within `within` of `t`.
fn near(sorted: &[i64], t: i64, within: i64) -> bool {
    let at = sorted.partition_point(|s| *s < t - within);
    sorted.get(at).is_some_and(|s| *s <= t + within)
}

/// What one tab switch set off besides itself: the blurs and fullscreen
/// exits near a switch, and the blocked spans without the fullscreen
/// overlays that began near one (the other reasons' spans stay).
struct SwitchEffects {
    blurs: Vec<i64>,
    exits: Vec<i64>,
    blocked_apart: Intervals,
}

impl SwitchEffects {
    fn of(session: &Session) -> Self {
        let switches: Vec<i64> =
            session.transitions.iter().filter(|t| t.dimension == Dimension::Hidden && t.on).map(|t| t.ts).collect();
        let caused = |t: i64| near(&switches, t, SWITCH_CAUSE_MS);
        let blurs = session
            .transitions
            .iter()
            .filter(|t| t.dimension == Dimension::Blurred && t.on && caused(t.ts))
            .map(|t| t.ts)
            .collect();
        let exits = session.fullscreen_exits.iter().copied().filter(|t| caused(*t)).collect();
        // A fullscreen overlay raised by a switch is left out from its block
        // to its unblock.
        let mut in_caused_overlay = false;
        let apart = session.transitions.iter().filter(|t| {
            match t.dimension {
                Dimension::Blocked(FULLSCREEN_BLOCK) if t.on => in_caused_overlay = caused(t.ts),
                Dimension::Blocked(FULLSCREEN_BLOCK) if in_caused_overlay => {
                    in_caused_overlay = false;
                    return false;
                }
                Dimension::Blocked(_) => {}
                _ => return false,
            }
            !(t.on && in_caused_overlay)
        });
        Self { blurs, exits, blocked_apart: intervals_from(apart, session.last_ts) }
    }
}

/// Network gaps on the server clock: `(from, to)` between batch receipts.
pub fn network_gaps(session: &Session, config: &ProctorConfig) -> Intervals {
    let threshold = 3 * i64::from(config.events_interval_ms);
    let open_until = session.ended_receipt.unwrap_or(i64::MAX);
    session
        .receipts
        .windows(2)
        .filter(|pair| pair[0] < open_until && pair[1] - pair[0] > threshold)
        .map(|pair| (pair[0], pair[1]))
        .collect()
}

/// How many check intervals may lie between two checks of one run: a
/// check that comes late (a throttled timer, a slow frame) continues it,
/// a stretch with no checks at all (camera off, page closed) ends it.
pub const FACE_RUN_GAP_CHECKS: i64 = 3;

/// What one face check found, as windows count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    OneFace,
    NoFace,
    SeveralFaces,
    /// No face in a frame too dark to tell.
    Dark,
    /// Taken while the candidate was blocked.
    Unscored,
}

fn finding(check: &FaceCheck, config: &ProctorConfig, blocked: &Intervals) -> Finding {
    let dark_below = (config.face_check.dark_below * 1000.0).round() as u16;
    match check.faces {
        _ if contains(blocked, check.ts) => Finding::Unscored,
        0 if check.light < dark_below => Finding::Dark,
        0 => Finding::NoFace,
        1 => Finding::OneFace,
        _ => Finding::SeveralFaces,
    }
}

/// Each check's finding, each identity comparison's, and the flagged runs:
/// `[no face, several faces, different person]` as intervals, and when
/// each flag began.
struct FaceRuns {
    findings: Vec<(i64, Finding)>,
    /// Scored identity comparisons: `(ts, a different person)`.
    comparisons: Vec<(i64, bool)>,
    /// When a check took the reference face.
    references: Vec<i64>,
    flagged: [Intervals; 3],
    flag_starts: Vec<i64>,
}

impl FaceRuns {
    fn of(session: &Session, config: &ProctorConfig, blocked: &Intervals) -> Self {
        let face = &config.face_check;
        let findings: Vec<(i64, Finding)> =
            session.face_checks.iter().map(|c| (c.ts, finding(c, config, blocked))).collect();
        let min_similarity = (face.min_similarity * 1000.0).round() as u16;
        let comparisons: Vec<(i64, bool)> = session
            .face_checks
            .iter()
            .filter(|c| !contains(blocked, c.ts))
            .filter_map(|c| c.similarity.map(|s| (c.ts, s < min_similarity)))
            .collect();
        let references = session.face_checks.iter().filter(|c| c.reference).map(|c| c.ts).collect();
        let mut out = FaceRuns {
            findings: Vec::new(),
            comparisons: Vec::new(),
            references,
            flagged: Default::default(),
            flag_starts: Vec::new(),
        };
        let mut flag = |slot: usize, first: i64, last: i64| {
            out.flagged[slot].push((first, last));
            out.flag_starts.push(first);
        };
        persisted_runs(&findings, face, face.every_ms, |what, first, last| match what {
            Finding::NoFace => flag(0, first, last),
            Finding::SeveralFaces => flag(1, first, last),
            _ => {}
        });
        persisted_runs(&comparisons, face, face.identity_every_ms, |different, first, last| {
            if different {
                flag(2, first, last)
            }
        });
        out.findings = findings;
        out.comparisons = comparisons;
        out
    }
}

/// Calls `flag(what, first, last)` for each run of equal findings (in time
/// order, consecutive ones at most [`FACE_RUN_GAP_CHECKS`] intervals of
/// `every_ms` apart) that persisted: `flag_after_checks` of them, or at
/// least two spanning `flag_after_ms`. Never one check.
fn persisted_runs<T: Copy + PartialEq>(
    items: &[(i64, T)],
    face: &invigil_schemas::config::FaceCheck,
    every_ms: u32,
    mut flag: impl FnMut(T, i64, i64),
) {
    let max_gap = FACE_RUN_GAP_CHECKS * i64::from(every_ms.max(1));
    let mut close = |run: Option<(T, i64, i64, u32)>| {
        let Some((what, first, last, count)) = run else { return };
        let persisted =
            count >= face.flag_after_checks.max(2) || (count >= 2 && last - first >= i64::from(face.flag_after_ms));
        if persisted && last > first {
            flag(what, first, last);
        }
    };
    // (finding, first ts, last ts, checks) of the run being read.
    let mut run: Option<(T, i64, i64, u32)> = None;
    for &(ts, what) in items {
        run = match run {
            Some((current, first, last, count)) if current == what && ts - last <= max_gap => {
                Some((current, first, ts, count + 1))
            }
            previous => {
                close(previous);
                Some((what, ts, ts, 1))
            }
        };
    }
    close(run);
}

/// How far before a changed face check the flags may change: a check can
/// complete, split or join a run, and a run shorter than a flag reaches
/// back at most `flag_after_checks` gaps (of comparisons, in identity mode).
fn face_reach_ms(config: &ProctorConfig) -> i64 {
    let face = &config.face_check;
    let every_ms = match face.mode {
        FaceCheckMode::Off => return 0,
        FaceCheckMode::Presence => face.every_ms,
        FaceCheckMode::Identity => face.every_ms.max(face.identity_every_ms),
    };
    i64::from(face.flag_after_checks) * FACE_RUN_GAP_CHECKS * i64::from(every_ms)
}

/// What every window of a computation shares.
struct Context {
    hidden: Intervals,
    blurred: Intervals,
    blocked: Intervals,
    gaps: Intervals,
    switch_effects: SwitchEffects,
    /// Capture interval per kind, and the slots credited with an upload.
    intervals: [i64; 3],
    credited: [HashSet<i64>; 3],
    /// When a video recording was expected, and what each track delivered of it.
    recording_expected: Intervals,
    recorded: [Intervals; 2],
    faces: FaceRuns,
    /// When more than one screen was attached, and when another tab ran
    /// the test; when each screen was added; when each hint was first seen.
    extra_screens: Intervals,
    other_tabs: Intervals,
    screens_added: Vec<(i64, u32)>,
    first_hints: Vec<(i64, u8)>,
    /// This session's time shared with each other session of the
    /// candidate, and all of it merged (both empty when all of it together
    /// is under [`CONCURRENT_MIN_MS`]).
    shared_with: Vec<(i64, i64)>,
    concurrent: Intervals,
}

/// How much time two sessions of one candidate must share to be
/// concurrent: a reload hands over from the old page to the new within
/// seconds (and the devices' clocks differ by some), a second device or
/// tab runs alongside for longer.
pub const CONCURRENT_MIN_MS: i64 = 30_000;

/// The siblings' spans (already within this session's own, see
/// [`Session::siblings`]), none when together they are under
/// [`CONCURRENT_MIN_MS`]; and their union.
fn concurrent_spans(session: &Session) -> (Vec<(i64, i64)>, Intervals) {
    let total: i64 = session.siblings.iter().map(|(from, to)| to - from).sum();
    if total < CONCURRENT_MIN_MS {
        return (Vec::new(), Intervals::new());
    }
    (session.siblings.clone(), merged(&session.siblings))
}

/// The spans during which a reported value held and `on` said yes: a
/// report holds until the next one, the last until `last_ts`.
fn spans_of<T: Copy>(reports: &[(i64, u64, T)], last_ts: i64, on: impl Fn(T) -> bool) -> Intervals {
    let mut out = Intervals::new();
    for (i, &(ts, _, value)) in reports.iter().enumerate() {
        let until = reports.get(i + 1).map_or(last_ts, |next| next.0);
        if on(value) && until > ts {
            match out.last_mut() {
                Some(last) if last.1 >= ts => last.1 = last.1.max(until),
                _ => out.push((ts, until)),
            }
        }
    }
    out
}

/// The slots `first_ts + j·I` credited with one kind's uploads (sorted
/// capture times): in time order, each capture takes the earliest slot that
/// is not yet taken and lies in `(ts − I, ts + I/2]`. A capture with no such
/// slot (a second one within an interval) credits nothing. A blocked slot
/// may be credited: an audio chunk restarted at the unblock belongs to it.
fn credit_slots(uploads: &[i64], first_ts: i64, interval: i64) -> HashSet<i64> {
    let mut credited = HashSet::new();
    let mut free = 0_i64;
    for &ts in uploads {
        let lowest = (ts - interval - first_ts).div_euclid(interval) + 1;
        let highest = (ts + interval / 2 - first_ts).div_euclid(interval);
        let j = lowest.max(free).max(0);
        if j <= highest {
            credited.insert(j);
            free = j + 1;
        }
    }
    credited
}

/// How far before a changed event a window's capture credit may change:
/// a capture reaches back one interval to its slot, and a change of the
/// blocked spans or of the session's end moves credits within two.
pub fn capture_reach_ms(config: &ProctorConfig) -> i64 {
    let c = &config.capture_intervals;
    let captures = (2 * i64::from(c.face_ms.max(c.screen_ms).max(c.audio_chunk_ms))).max(face_reach_ms(config));
    if config.recording.mode != RecordingMode::Video {
        return captures;
    }
    // The recordable span ends a grace before the newest event: a newer one
    // moves it forward in windows up to that far back.
    captures.max(recording_grace_ms(config) + WINDOW_MS)
}

impl Context {
    fn new(session: &Session, config: &ProctorConfig) -> Self {
        let c = &config.capture_intervals;
        let intervals = [i64::from(c.face_ms), i64::from(c.screen_ms), i64::from(c.audio_chunk_ms)];
        let credited =
            std::array::from_fn(|k| credit_slots(&session.uploads[k], session.first_ts, intervals[k].max(1)));
        let blocked = intervals_of(session, |d| matches!(d, Dimension::Blocked(_)));
        let (recording_expected, recorded) = recording_credit(session, config, &blocked);
        let faces = FaceRuns::of(session, config, &blocked);
        let (shared_with, concurrent) = concurrent_spans(session);
        Self {
            hidden: intervals_of(session, |d| d == Dimension::Hidden),
            blurred: intervals_of(session, |d| d == Dimension::Blurred),
            blocked,
            gaps: network_gaps(session, config),
            switch_effects: SwitchEffects::of(session),
            intervals,
            credited,
            recording_expected,
            recorded,
            faces,
            shared_with,
            concurrent,
            extra_screens: spans_of(&session.displays, session.last_ts, |count| count > 1),
            other_tabs: spans_of(&session.other_tabs, session.last_ts, |tabs| tabs > 0),
            // The first report is what the candidate started with; more
            // screens in a later one were plugged in during the exam.
            screens_added: session
                .displays
                .windows(2)
                .filter(|pair| pair[1].2 > pair[0].2)
                .map(|pair| (pair[1].0, u32::from(pair[1].2 - pair[0].2)))
                .collect(),
            first_hints: {
                let mut seen = 0u8;
                let mut first = Vec::new();
                for &(ts, _, bits) in &session.hint_reports {
                    if bits & !seen != 0 {
                        first.push((ts, bits & !seen));
                        seen |= bits;
                    }
                }
                first
            },
        }
    }
}

/// The minute windows of `session` from the one starting at `from` (or the
/// session's first) to its last, in order. Empty for an empty session.
pub fn compute(session: &Session, config: &ProctorConfig, from: Option<i64>) -> Vec<WindowValue> {
    if session.is_empty() {
        return Vec::new();
    }
    let first = window_start(session.first_ts);
    let last = window_start(session.last_ts);
    // `from` may be i64::MIN ("everything", after a config change): clamp
    // before rounding down, which would overflow below the first window.
    let from = from.map_or(first, |f| window_start(f.max(first)));
    let context = Context::new(session, config);
    (0..)
        .map(|i| from + i * WINDOW_MS)
        .take_while(|start| *start <= last)
        .map(|start| window(session, config, &context, start, first, last))
        .collect()
}

fn window(session: &Session, config: &ProctorConfig, cx: &Context, start: i64, first: i64, last: i64) -> WindowValue {
    let end = start + WINDOW_MS;
    let mut value = WindowValue { start, end, ..WindowValue::default() };
    if let Some(counts) = session.minutes.get(&start) {
        value.tab_switches = counts.tab_switches;
        value.blur_count = counts.blur_count;
        value.fullscreen_exits = counts.fullscreen_exits;
        value.clipboard_actions = counts.clipboard_actions;
        value.permission_revocations = counts.permission_revocations;
        value.uploads_failed = counts.uploads_failed;
        value.late_events = counts.late_events;
        value.key_bursts = counts.key_counts.iter().filter(|k| **k > config.anomaly.key_burst_keys).count() as u32;
        value.burst_s = counts.burst_s;
        value.paste_chars = counts.paste_chars;
        value.answer_paste_chars = counts.answer_paste_chars;
    }
    // What is counted once (a report, a flag, a gap) counts in the window
    // of its time, clamped to the session's windows so that nothing on a
    // skewed clock is lost.
    let ours = |ts: i64| window_start(ts).clamp(first, last) == start;
    value.screens_added = cx.screens_added.iter().filter(|(ts, _)| ours(*ts)).map(|(_, n)| n).sum();
    value.new_hints = cx.first_hints.iter().filter(|(ts, _)| ours(*ts)).fold(0, |bits, (_, b)| bits | b);
    value.extra_screen_ms = overlap(&cx.extra_screens, start, end);
    value.other_tab_ms = overlap(&cx.other_tabs, start, end);
    value.concurrent_ms = overlap(&cx.concurrent, start, end);
    value.concurrent_sessions = cx.shared_with.iter().filter(|(from, to)| *from < end && *to > start).count() as u32;
    value.hidden_ms = overlap(&cx.hidden, start, end);
    value.blur_ms = overlap(&cx.blurred, start, end);
    value.blocked_ms = overlap(&cx.blocked, start, end);
    let effects = &cx.switch_effects;
    let within = |t: &&i64| (start..end).contains(*t);
    value.blurs_in_switch = effects.blurs.iter().filter(within).count() as u32;
    value.exits_in_switch = effects.exits.iter().filter(within).count() as u32;
    value.blocked_in_switch_ms = value.blocked_ms.saturating_sub(overlap(&effects.blocked_apart, start, end));

    // Capture slots in [max(start, first_ts), min(end, last_ts + 1)).
    let span_from = start.max(session.first_ts);
    let span_to = end.min(session.last_ts + 1);
    for k in 0..3 {
        // 0: not captured for this candidate (a waived screen), so not expected.
        let interval = cx.intervals[k];
        if interval <= 0 {
            continue;
        }
        let mut j = (span_from - session.first_ts + interval - 1).div_euclid(interval);
        loop {
            let t = session.first_ts + j * interval;
            if t >= span_to {
                break;
            }
            if cx.credited[k].contains(&j) {
                value.expected[k] += 1;
                value.uploaded[k] += 1;
            } else if !contains(&cx.blocked, t) && t + interval <= session.last_ts {
                value.expected[k] += 1;
            }
            j += 1;
        }
    }

    let first_check = cx.faces.findings.partition_point(|(ts, _)| *ts < start);
    for (_, what) in cx.faces.findings[first_check..].iter().take_while(|(ts, _)| *ts < end) {
        value.face_checks += 1;
        match what {
            Finding::OneFace => {}
            Finding::NoFace => value.no_face_checks += 1,
            Finding::SeveralFaces => value.several_faces_checks += 1,
            Finding::Dark => value.dark_checks += 1,
            Finding::Unscored => value.unscored_face_checks += 1,
        }
    }
    let in_window = |ts: i64| (start..end).contains(&ts);
    for &(_, different) in cx.faces.comparisons.iter().filter(|(ts, _)| in_window(*ts)) {
        value.identity_checks += 1;
        value.different_person_checks += u32::from(different);
    }
    value.face_references = cx.faces.references.iter().filter(|ts| in_window(**ts)).count() as u32;
    value.no_face_ms = overlap(&cx.faces.flagged[0], start, end);
    value.several_faces_ms = overlap(&cx.faces.flagged[1], start, end);
    value.different_person_ms = overlap(&cx.faces.flagged[2], start, end);
    value.face_flags = cx.faces.flag_starts.iter().filter(|t| ours(**t)).count() as u32;

    value.recording_expected_ms = overlap(&cx.recording_expected, start, end);
    value.recorded_ms = std::array::from_fn(|k| overlap(&cx.recorded[k], start, end));

    // Gaps: ms by overlap; each counted in the window it began in, clamped to
    // the session's windows so a gap on a skewed server clock is not lost.
    value.network_gap_ms = overlap(&cx.gaps, start, end);
    value.network_gaps = cx.gaps.iter().filter(|(from, _)| ours(*from)).count() as u32;

    value.score_with(config);
    value
}

/// The session-total row: the sum of its minute windows, scored on the sums.
pub fn totals<'a>(
    windows: impl IntoIterator<Item = &'a WindowValue>,
    session: &Session,
    config: &ProctorConfig,
) -> WindowValue {
    let mut total = WindowValue { start: session.first_ts, end: session.last_ts, ..WindowValue::default() };
    for window in windows {
        total.accumulate(window);
    }
    total.score_with(config);
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Fact, FactBatch, SessionKey, What};
    use invigil_schemas::config::ConfigDocument;
    use invigil_schemas::ids::{CandidateId, TestId, Uuid};

    fn session_of(facts: Vec<(i64, What)>) -> Session {
        let key = SessionKey {
            test_id: TestId::new("exam").unwrap(),
            candidate_id: CandidateId::new("cand").unwrap(),
            session_id: Uuid::nil(),
        };
        let facts = facts.into_iter().enumerate().map(|(seq, (ts, what))| Fact { seq: seq as u64, ts, what }).collect();
        let mut session = Session::new(key.clone());
        session.add_batch(
            &FactBatch {
                key,
                received_at: 0,
                batch_seq: 0,
                user_agent: String::new(),
                client: Default::default(),
                facts,
            },
            15_000,
        );
        session
    }

    fn video_config() -> ProctorConfig {
        let mut config = ConfigDocument::default().for_test(&TestId::new("exam").unwrap()).unwrap();
        config.recording.mode = RecordingMode::Video;
        config.recording.segment_ms = 10_000;
        config.events_interval_ms = 5_000;
        config
    }

    /// Ten-second segments of both tracks from 5 s to 115 s, the camera's
    /// 45–55 s segment lost; a camera block from 70 s to 80 s.
    fn recorded_session(ended: bool) -> Session {
        let camera = (0..11).filter(|j| *j != 4).map(|j| (5_000 + j * 10_000, What::Recorded(0, 10_000)));
        let screen = (0..11).map(|j| (5_000 + j * 10_000, What::Recorded(1, 10_000)));
        let blocked = Dimension::Blocked(0);
        let last = if ended { What::Ended { reason: "host_stopped".into() } } else { What::Keys(0, 0) };
        session_of(
            [(0, What::Started { sdk_version: "t".into() }), (70_000, What::Toggle(blocked, true))]
                .into_iter()
                .chain(camera)
                .chain(screen)
                .chain([(80_000, What::Toggle(blocked, false)), (115_000, last)])
                .collect(),
        )
    }

    fn face_config() -> ProctorConfig {
        let mut config = ConfigDocument::default().for_test(&TestId::new("exam").unwrap()).unwrap();
        config.face_check.mode = FaceCheckMode::Presence;
        config.face_check.every_ms = 5_000;
        config
    }

    /// A check every 5 s from `at`, each `(faces, light in thousandths)`.
    fn checks(at: i64, seen: &[(u8, u16)]) -> Vec<(i64, What)> {
        seen.iter()
            .enumerate()
            .map(|(i, &(faces, light))| {
                (at + i as i64 * 5_000, What::Face { faces, light, similarity: None, reference: false })
            })
            .collect()
    }

    #[test]
    fn one_frame_never_flags_and_a_persistent_run_does() {
        let config = face_config();
        let lit = 500;
        // 0–5 s one face; 10–20 s no face (3 checks: a flag); 25 s one face;
        // 30–35 s two faces (2 checks: not yet); 40 s no face alone; 45 s a
        // dark frame; 50 s one face.
        let seen = [
            (1, lit),
            (1, lit),
            (0, lit),
            (0, lit),
            (0, lit),
            (1, lit),
            (2, lit),
            (2, lit),
            (0, lit),
            (0, 50),
            (1, lit),
        ];
        let mut facts = vec![(0, What::Started { sdk_version: "t".into() })];
        facts.extend(checks(0, &seen));
        let session = session_of(facts);
        let windows = compute(&session, &config, None);
        assert_eq!(windows.len(), 1);
        let w = &windows[0];
        assert_eq!((w.face_checks, w.no_face_checks, w.several_faces_checks, w.dark_checks), (11, 4, 2, 1));
        assert_eq!((w.no_face_ms, w.several_faces_ms, w.face_flags), (10_000, 0, 1));
        assert!(w.components.contains(&("no_face_second", 10.0 * config.anomaly.weights.no_face_second)));
        assert!(!w.components.iter().any(|(n, _)| *n == "several_faces_second"));
    }

    #[test]
    fn dark_frames_blocked_spans_and_silences_break_runs_instead_of_scoring() {
        let config = face_config();
        let camera = Dimension::Blocked(0);
        // Two no-face checks, a dark one, two more: no run reaches three.
        let mut facts = checks(0, &[(0, 500), (0, 500), (0, 40), (0, 500), (0, 500)]);
        // Then no face at 60 and 65 s, nothing for a minute, no face at 125 s.
        facts.extend(checks(60_000, &[(0, 500), (0, 500)]));
        facts.extend(checks(125_000, &[(0, 500)]));
        // And four no-face checks while the camera was blocked.
        facts.push((200_000, What::Toggle(camera, true)));
        facts.extend(checks(201_000, &[(0, 500), (0, 500), (0, 500), (0, 500)]));
        facts.push((230_000, What::Toggle(camera, false)));
        let session = session_of(facts);
        let windows = compute(&session, &config, None);
        let sum = |f: fn(&WindowValue) -> u64| windows.iter().map(f).sum::<u64>();
        assert_eq!(sum(|w| u64::from(w.face_flags)), 0, "{windows:#?}");
        assert_eq!(sum(|w| w.no_face_ms), 0);
        assert_eq!(sum(|w| u64::from(w.dark_checks)), 1);
        assert_eq!(sum(|w| u64::from(w.unscored_face_checks)), 4);
        assert_eq!(sum(|w| u64::from(w.no_face_checks)), 7);
    }

    #[test]
    fn a_run_spanning_flag_after_ms_flags_with_fewer_checks() {
        let mut config = face_config();
        config.face_check.every_ms = 10_000;
        config.face_check.flag_after_checks = 5;
        config.face_check.flag_after_ms = 15_000;
        // Three checks 10 s apart with two faces: 20 s ≥ 15 s.
        let facts = (0..3)
            .map(|i| (i * 10_000, What::Face { faces: 2, light: 400, similarity: None, reference: false }))
            .collect();
        let windows = compute(&session_of(facts), &config, None);
        assert_eq!((windows[0].several_faces_ms, windows[0].face_flags), (20_000, 1));
        // A flag spread over two windows counts once, where it began.
        let facts = (0..4)
            .map(|i| (50_000 + i * 10_000, What::Face { faces: 0, light: 400, similarity: None, reference: false }))
            .collect();
        let windows = compute(&session_of(facts), &config, None);
        assert_eq!(
            windows.iter().map(|w| (w.no_face_ms, w.face_flags)).collect::<Vec<_>>(),
            [(10_000, 1), (20_000, 0)]
        );
    }

    /// Identity mode: a check every 5 s, a comparison every 10 s; the
    /// reference at 0 s, then `similarities` (thousandths) at 10, 20, … s.
    fn compared(similarities: &[u16]) -> (ProctorConfig, Vec<(i64, What)>) {
        let mut config = face_config();
        config.face_check.mode = FaceCheckMode::Identity;
        config.face_check.identity_every_ms = 10_000;
        let one = |similarity, reference| What::Face { faces: 1, light: 500, similarity, reference };
        let mut facts = vec![(0, one(None, true))];
        for (i, &s) in similarities.iter().enumerate() {
            let at = 10_000 * (i as i64 + 1);
            facts.extend([(at - 5_000, one(None, false)), (at, one(Some(s), false))]);
        }
        (config, facts)
    }

    #[test]
    fn a_different_person_is_flagged_only_by_a_persistent_run_of_comparisons() {
        // 0.71, then one low comparison (a turned head: no flag), 0.70, then
        // three low ones in a row (a flag over 50–70 s), then 0.69.
        let (config, facts) = compared(&[710, 120, 700, 90, 150, 110, 690]);
        let windows = compute(&session_of(facts), &config, None);
        let sum = |f: fn(&WindowValue) -> u64| windows.iter().map(f).sum::<u64>();
        assert_eq!(sum(|w| u64::from(w.identity_checks)), 7, "{windows:#?}");
        assert_eq!(sum(|w| u64::from(w.different_person_checks)), 4);
        assert_eq!(sum(|w| u64::from(w.face_references)), 1);
        assert_eq!(sum(|w| w.different_person_ms), 20_000);
        assert_eq!(sum(|w| u64::from(w.face_flags)), 1);
        assert_eq!(windows.iter().map(|w| w.different_person_ms).collect::<Vec<_>>(), [20_000, 0]);
        let weight = config.anomaly.weights.different_person_second;
        assert!(windows[0].components.contains(&("different_person_second", 20.0 * weight)), "{windows:#?}");
        // No presence flag came of it: one face was in view throughout.
        assert_eq!(sum(|w| w.no_face_ms + w.several_faces_ms), 0);

        // The same comparisons while the candidate was blocked: unscored.
        let (config, mut facts) = compared(&[710, 90, 150, 110, 690]);
        let blocked = Dimension::Blocked(0);
        facts.extend([(15_000, What::Toggle(blocked, true)), (45_000, What::Toggle(blocked, false))]);
        let windows = compute(&session_of(facts), &config, None);
        assert_eq!((windows[0].identity_checks, windows[0].different_person_ms, windows[0].face_flags), (2, 0, 0));

        // At the threshold is the same person; a second reference is counted.
        let (mut config, mut facts) = compared(&[363, 363, 363]);
        config.face_check.min_similarity = 0.363;
        facts.push((40_000, What::Face { faces: 1, light: 500, similarity: None, reference: true }));
        let windows = compute(&session_of(facts), &config, None);
        assert_eq!((windows[0].different_person_checks, windows[0].face_references), (0, 2));
    }

    #[test]
    fn recorded_time_is_credited_against_the_unblocked_span_per_track() {
        let config = video_config();
        let session = recorded_session(true);
        let windows = compute(&session, &config, None);
        let got: Vec<_> = windows.iter().map(|w| (w.recording_expected_ms, w.recorded_ms)).collect();
        // Minute 0: expected from the first segment (5 s); the camera lost 10 s.
        // Minute 1: the blocked 10 s are neither expected nor credited, though recorded.
        assert_eq!(got, [(55_000, [45_000, 55_000]), (45_000, [45_000, 45_000])]);
        let total = totals(&windows, &session, &config);
        assert_eq!((total.recording_expected_ms, total.recorded_ms), (100_000, [90_000, 100_000]));

        // Still open: the last grace (a segment plus two batches) is not expected yet.
        let open = recorded_session(false);
        let windows = compute(&open, &config, None);
        assert_eq!(windows[1].recording_expected_ms, 10_000 + (95_000 - 80_000));

        // Snapshots only: nothing expected, nothing credited.
        let snapshots = ConfigDocument::default().for_test(&TestId::new("exam").unwrap()).unwrap();
        assert!(compute(&session, &snapshots, None)
            .iter()
            .all(|w| w.recording_expected_ms == 0 && w.recorded_ms == [0, 0]));
    }

    #[test]
    fn a_recording_that_never_starts_is_all_missing_after_setup() {
        let config = video_config();
        let session = session_of(vec![
            (0, What::Started { sdk_version: "t".into() }),
            (170_000, What::Ended { reason: "host_stopped".into() }),
        ]);
        let total = totals(&compute(&session, &config, None), &session, &config);
        assert_eq!((total.recording_expected_ms, total.recorded_ms), (50_000, [0, 0]), "from 120 s to the end");
    }

    #[test]
    fn interval_arithmetic_cuts_and_meets() {
        assert_eq!(subtract(&vec![(0, 100)], &vec![(10, 20), (30, 40), (90, 120)]), vec![(0, 10), (20, 30), (40, 90)]);
        assert_eq!(subtract(&vec![(0, 10), (20, 30)], &vec![]), vec![(0, 10), (20, 30)]);
        assert_eq!(intersect(&vec![(0, 10), (20, 30)], &vec![(5, 25)]), vec![(5, 10), (20, 25)]);
        assert_eq!(merged(&[(0, 10), (10, 20), (15, 18), (30, 40)]), vec![(0, 20), (30, 40)]);
    }

    #[test]
    fn a_waived_screen_expects_no_screenshots_and_scores_none_missing() {
        use invigil_schemas::config::{Accommodation, Waiver};
        let test_config = ConfigDocument::default().for_test(&TestId::new("exam").unwrap()).unwrap();
        let mut waived = test_config.clone();
        Accommodation { waive: [Waiver::ScreenShare].into(), reason: "magnifier".into() }.apply(&mut waived);
        // Face photos and audio every 30 s for two minutes; no screenshot.
        let captures =
            (0..4).flat_map(|j| [0, 2].map(move |k| (1_000 + j * 30_000, What::Uploaded(k, format!("{k}/{j}")))));
        let session = session_of(
            captures
                .chain([
                    (0, What::Started { sdk_version: "t".into() }),
                    (119_000, What::Ended { reason: "host_stopped".into() }),
                ])
                .collect(),
        );
        let missing = |config: &ProctorConfig| {
            compute(&session, config, None).iter().map(|w| (w.expected[1], w.missing_captures())).collect::<Vec<_>>()
        };
        assert_eq!(missing(&waived), [(0, 0), (0, 0)], "nothing expected of a waived screen");
        // (The 90 s slot is not owed yet: its interval runs past the end.)
        assert_eq!(missing(&test_config), [(2, 2), (1, 1)], "the test's own candidates owe their screenshots");
    }

    #[test]
    fn a_tab_switch_in_fullscreen_is_scored_once_and_a_lone_exit_or_blur_as_before() {
        let config = ConfigDocument::default().for_test(&TestId::new("exam").unwrap()).unwrap();
        let toggle = |d, on| What::Toggle(d, on);
        let overlay = Dimension::Blocked(FULLSCREEN_BLOCK);
        // Every capture delivered (default 30 s intervals), so only the
        // signals under test score.
        let captures =
            (0..4).flat_map(|j| (0..3).map(move |k| (1_000 + j * 30_000, What::Uploaded(k, format!("{k}/{j}")))));
        let session = session_of(
            captures
                .chain([
                    (0, What::Started { sdk_version: "t".into() }),
                    // Minute 0: one switch away from a fullscreen exam. The browser
                    // blurs first, then hides the page and leaves fullscreen; the
                    // overlay stays until the candidate is back in fullscreen.
                    (9_970, toggle(Dimension::Blurred, true)),
                    (10_000, toggle(Dimension::Hidden, true)),
                    (10_020, What::FullscreenExit),
                    (10_020, toggle(overlay, true)),
                    (15_000, toggle(Dimension::Hidden, false)),
                    (15_010, toggle(Dimension::Blurred, false)),
                    (18_000, toggle(overlay, false)),
                    // Minute 1: a fullscreen exit (Esc) and a blur (another window),
                    // each on its own.
                    (70_000, What::FullscreenExit),
                    (70_000, toggle(overlay, true)),
                    (73_000, toggle(overlay, false)),
                    (90_000, toggle(Dimension::Blurred, true)),
                    (92_000, toggle(Dimension::Blurred, false)),
                    (119_000, What::Ended { reason: "host_stopped".into() }),
                ])
                .collect(),
        );
        let windows = compute(&session, &config, None);

        let switch = &windows[0];
        assert_eq!(
            (switch.tab_switches, switch.hidden_ms, switch.blur_count, switch.fullscreen_exits, switch.blocked_ms),
            (1, 5_000, 1, 1, 7_980),
            "the consequences stay visible"
        );
        assert_eq!(switch.components, [("tab_switch", 1.0), ("hidden_second", 0.25)], "scored once, as a switch");
        assert!((switch.score - 1.25).abs() < 1e-9, "{}", switch.score);

        let alone = &windows[1];
        let names: Vec<&str> = alone.components.iter().map(|c| c.0).collect();
        assert_eq!(names, ["blur", "fullscreen_exit", "blocked_second"]);
        assert!((alone.score - (0.5 + 1.0 + 3.0 * 0.02)).abs() < 1e-9, "{}", alone.score);

        let total = totals(&windows, &session, &config);
        assert_eq!((total.blur_count, total.fullscreen_exits, total.blocked_ms), (2, 2, 10_980));
        assert!((total.score - (1.25 + 1.56)).abs() < 1e-9, "{}", total.score);
    }
}

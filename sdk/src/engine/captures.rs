//! The capture grids (not a channel: the glue takes the captures, the
//! upload channel sends them): face, screen and audio captures on a grid from
//! the start of `Running`, and the video recording's segments per track.
//! It owns which recordings (audio chunks, video segments) were started and
//! not yet reported, which is exactly what a stopping session waits for.
//! What a capture becomes once stored is the upload channel's business.

use invigil_schemas::config::VideoShape;
use invigil_schemas::event::{Capture, CaptureKind, CaptureStatus, Face, RecordingTrack};
use invigil_schemas::ids::event_id_v7;
use invigil_schemas::media_key::{capture_key, recording_key};

use super::{next_on_grid, Engine};
use crate::protocol::Command;

/// How long a stopping session waits at most for its last audio chunk and
/// video segments to be stored and reported (IndexedDB writes take
/// milliseconds; this is for a recording that never reports).
pub(super) const RECORDINGS_FINISH_MS: i64 = 3_000;

/// The capture grid, per kind (face, screen, audio), and the segment grid
/// of the video recording, per track (camera, screen).
#[derive(Debug)]
pub(super) struct Captures {
    pub(super) due: [i64; 3],
    seq: [u64; 3],
    pub(super) audio_recording: bool,
    pub(super) segment_due: [i64; 2],
    segment_seq: [u64; 2],
    /// When the next face check is due (`face_check.mode = "presence"`).
    pub(super) face_check_due: i64,
    /// When the next identity comparison is due (`mode = "identity"`): from
    /// the start, every check asks for one until a check answers with a
    /// comparison or a new reference; then `identity_every_ms` after that
    /// check was asked for (`identity_asked`), so the comparisons keep
    /// their cadence however long a check takes.
    identity_due: i64,
    identity_asked: i64,
    /// Audio chunks and video segments started and not yet reported stored
    /// (or failed), by key: the glue joins their last slices and reports
    /// them asynchronously, so a stopping session waits for exactly these.
    unreported: Vec<Unreported>,
    /// While stopping with recordings unreported, the latest moment the
    /// session waits for them: a recording that never reports (it held no
    /// data) must not hold the stop for ever.
    finishing_until: i64,
}

/// A recording (an audio chunk or a video segment) the glue was told to
/// make and has not reported yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unreported {
    key: String,
    kind: RecordingKind,
    seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordingKind {
    Audio,
    Video(RecordingTrack),
}

impl Captures {
    pub(super) fn new() -> Self {
        Self {
            due: [i64::MAX; 3],
            seq: [0; 3],
            audio_recording: false,
            unreported: Vec::new(),
            segment_due: [i64::MAX; 2],
            segment_seq: [0; 2],
            face_check_due: i64::MAX,
            identity_due: i64::MIN,
            identity_asked: i64::MIN,
            finishing_until: i64::MIN,
        }
    }

    /// A recording started; of its kind, only the one before it may still
    /// be finishing (its last slices being joined), so older ones that never
    /// reported are forgotten.
    fn started(&mut self, kind: RecordingKind, seq: u64, key: String) {
        self.unreported.retain(|r| r.kind != kind || r.seq + 1 >= seq);
        self.unreported.push(Unreported { key, kind, seq });
    }

    /// The glue reported the recording stored under `key` (or any media:
    /// only recordings are tracked).
    pub(super) fn reported(&mut self, key: &str) {
        self.unreported.retain(|r| r.key != key);
    }

    /// The session is stopping now: what is still being recorded (the chunk
    /// or segment the teardown cuts short) is waited for, and only until it
    /// reports or [`RECORDINGS_FINISH_MS`] pass.
    pub(super) fn stopping(&mut self, now: i64) {
        if !self.unreported.is_empty() {
            self.finishing_until = now + RECORDINGS_FINISH_MS;
        }
    }

    /// Whether a stopping session has nothing left to wait for here.
    pub(super) fn finished(&self, now: i64) -> bool {
        self.unreported.is_empty() || now >= self.finishing_until
    }
}

pub(super) fn kind_index(kind: CaptureKind) -> usize {
    match kind {
        CaptureKind::Face => 0,
        CaptureKind::Screen => 1,
        CaptureKind::Audio => 2,
    }
}

impl Engine {
    /// Starts every capture that is due, on a fixed grid from the start of
    /// `Running` (a slot missed while throttled is skipped, not made up).
    pub(super) fn capture(&mut self, now: i64) {
        let intervals = &self.config.capture_intervals;
        let plan = [
            (CaptureKind::Face, intervals.face_ms, self.devices.camera_live()),
            (CaptureKind::Screen, intervals.screen_ms, self.devices.screen_live()),
            (CaptureKind::Audio, intervals.audio_chunk_ms, self.devices.microphone_live()),
        ];
        for (kind, every, live) in plan {
            let i = kind_index(kind);
            if every == 0 || now < self.captures.due[i] {
                continue;
            }
            self.captures.due[i] = next_on_grid(self.captures.due[i], i64::from(every), now);
            if !live {
                continue;
            }
            let capture_seq = self.captures.seq[i];
            self.captures.seq[i] += 1;
            let unique = event_id_v7(now.max(0) as u64, self.rng.bytes10());
            let key = capture_key(kind, now, capture_seq, self.session.started_at, unique);
            if kind == CaptureKind::Audio {
                self.captures.audio_recording = true;
                self.captures.started(RecordingKind::Audio, capture_seq, key.clone());
            }
            let session_id = self.session.session_id;
            self.commands.push(Command::Capture { kind, key, capture_seq, session_id, ts: now });
        }
    }

    /// Asks the glue for a face check when one is due, on a grid from the
    /// start of `Running`; not while blocked (the caller's rule, as for
    /// captures) or without a live camera.
    pub(super) fn check_face(&mut self, now: i64) {
        let face = &self.config.face_check;
        if !face.on || face.every_ms == 0 || now < self.captures.face_check_due {
            return;
        }
        self.captures.face_check_due = next_on_grid(self.captures.face_check_due, i64::from(face.every_ms), now);
        if self.devices.camera_live() {
            let identity = face.identity && now >= self.captures.identity_due;
            if identity {
                self.captures.identity_asked = now;
            }
            self.commands.push(Command::CheckFace { min_confidence: face.min_confidence, identity });
        }
    }

    /// A face check's answer: recorded as an event; one that compared a
    /// face (or took the reference) puts the next comparison off by
    /// `identity_every_ms` from when it was asked for, one that could not
    /// (no single frontal face) leaves it due at the next check.
    pub(super) fn on_face(&mut self, now: i64, face: Face) {
        if face.similarity.is_some() || face.reference {
            // An answer nobody asked for (a glue that compares on its own) counts from now.
            let asked = if self.captures.identity_asked == i64::MIN { now } else { self.captures.identity_asked };
            self.captures.identity_due = asked.saturating_add(i64::from(self.config.face_check.identity_every_ms));
        }
        self.record(now, face.into());
    }

    /// Starts the next video segment of each live track when one is due
    /// (`recording = "video"`), on a grid from the start of `Running`.
    pub(super) fn record_video(&mut self, now: i64) {
        let recording = &self.config.recording;
        if !recording.video || recording.segment_ms == 0 {
            return;
        }
        let every = i64::from(recording.segment_ms);
        // Two thirds of the bitrate to the screen: text needs it more than a face.
        let screen_kbps = recording.video_kbps * 2 / 3;
        let plan = [
            (RecordingTrack::Camera, recording.video_kbps - screen_kbps, recording.camera, self.devices.camera_live()),
            (RecordingTrack::Screen, screen_kbps, recording.screen, self.devices.screen_live()),
        ];
        for (i, (track, kbps, shape, live)) in plan.into_iter().enumerate() {
            if now < self.captures.segment_due[i] {
                continue;
            }
            if !live {
                // Asked again each tick: a track that comes back (the screen
                // shared again) records at once, on a grid from then.
                self.captures.segment_due[i] = now + 1;
                continue;
            }
            self.captures.segment_due[i] = next_on_grid(self.captures.segment_due[i], every, now);
            let segment_seq = self.captures.segment_seq[i];
            self.captures.segment_seq[i] += 1;
            let key = recording_key(track, self.session.started_at, segment_seq);
            self.captures.started(RecordingKind::Video(track), segment_seq, key.clone());
            let session_id = self.session.session_id;
            let VideoShape { width, height, fps } = shape;
            let record = Command::Record { track, key, segment_seq, session_id, ts: now, kbps, width, height, fps };
            self.commands.push(record);
        }
    }

    /// The glue could not take a capture: recorded as a failed `capture`
    /// (an audio chunk that failed will not report either).
    pub(super) fn on_capture_failed(&mut self, now: i64, kind: CaptureKind, capture_seq: u64, error: String) {
        if kind == CaptureKind::Audio {
            self.captures.unreported.retain(|r| (r.kind, r.seq) != (RecordingKind::Audio, capture_seq));
        }
        let body =
            Capture { kind, status: CaptureStatus::Failed, capture_seq, error: Some(error), ..Capture::default() };
        self.record(now, body.into());
    }
}

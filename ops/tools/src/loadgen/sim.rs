//! One simulated candidate: what the SDK would observe and send, tick by tick,
//! from a seed. Deterministic, so a chaos run can be replayed and its truth
//! recomputed from the log.

use invigil_schemas::event::CaptureKind;
use invigil_schemas::ids::{event_id_v7, CandidateId, TestId};
use invigil_schemas::media_key::{candidate_prefix, capture_key, utc_date};
use serde_json::{json, Value};

/// A small, fast, seedable generator (xorshift64*); not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn bytes10(&mut self) -> [u8; 10] {
        let a = self.next_u64().to_le_bytes();
        let b = self.next_u64().to_le_bytes();
        [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]]
    }
}

/// Cadence of the simulated SDK (the config's defaults unless told otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub events_interval_ms: i64,
    pub face_ms: i64,
    pub screen_ms: i64,
    pub audio_chunk_ms: i64,
}

impl Default for Cadence {
    fn default() -> Self {
        Self { events_interval_ms: 5_000, face_ms: 30_000, screen_ms: 30_000, audio_chunk_ms: 30_000 }
    }
}

/// Objects the candidate "uploaded", by kind (for `invigil cost`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Uploads {
    pub face: u64,
    pub screen: u64,
    pub audio: u64,
}

/// One candidate's session in simulated time.
pub struct Candidate {
    pub test: String,
    pub id: String,
    pub session: String,
    rng: Rng,
    cadence: Cadence,
    /// Simulated Unix ms now.
    pub clock: i64,
    started_at: i64,
    next_seq: u64,
    next_batch: u64,
    hidden: bool,
    next_face: i64,
    next_screen: i64,
    next_audio: i64,
    capture_seq: u64,
    pub uploads: Uploads,
    started: bool,
}

/// Behaviour mix, per tick of `events_interval_ms`.
const TAB_SWITCH_P: f64 = 0.02;
const BLUR_P: f64 = 0.03;
const CLIPBOARD_P: f64 = 0.005;
const UPLOAD_FAIL_P: f64 = 0.01;
const KEY_BURST_P: f64 = 0.01;

impl Candidate {
    pub fn new(test: &str, id: &str, seed: u64, cadence: Cadence, start_ms: i64) -> Self {
        let mut rng = Rng::new(seed);
        let session = event_id_v7(start_ms as u64, rng.bytes10()).to_string();
        Self {
            test: test.into(),
            id: id.into(),
            session,
            rng,
            cadence,
            clock: start_ms,
            started_at: start_ms,
            next_seq: 0,
            next_batch: 0,
            hidden: false,
            next_face: start_ms,
            next_screen: start_ms,
            next_audio: start_ms + cadence.audio_chunk_ms,
            capture_seq: 0,
            uploads: Uploads::default(),
            started: false,
        }
    }

    fn event(&mut self, ts: i64, body: Value) -> Value {
        let id = event_id_v7(ts as u64, self.rng.bytes10());
        let mut event = json!({"id": id, "seq": self.next_seq, "ts": ts});
        self.next_seq += 1;
        let (Value::Object(head), Value::Object(fields)) = (&mut event, body) else { unreachable!("objects") };
        head.extend(fields);
        event
    }

    fn capture(&mut self, ts: i64, kind: &str) -> Value {
        self.capture_seq += 1;
        let capture_seq = self.capture_seq;
        if self.rng.chance(UPLOAD_FAIL_P) {
            return self.event(
                ts,
                json!({"type": "capture", "kind": kind, "status": "failed", "capture_seq": capture_seq, "attempts": 3, "error": "network"}),
            );
        }
        let uuid = event_id_v7(ts as u64, self.rng.bytes10());
        let test = TestId::new(&self.test).expect("loadgen's test ids are valid");
        let candidate = CandidateId::new(&self.id).expect("loadgen's candidate ids are valid");
        let prefix = candidate_prefix(&utc_date(ts / 1000), &test, &candidate);
        let (capture_kind, bytes) = match kind {
            "face" => (CaptureKind::Face, 24_000 + self.rng.below(3_000)),
            "screen" => (CaptureKind::Screen, 24_000 + self.rng.below(3_000)),
            _ => (CaptureKind::Audio, 45_000),
        };
        // Face photos are numbered from 1 here, so none is a base truth.
        let key = format!("{prefix}{}", capture_key(capture_kind, ts, capture_seq, self.started_at, uuid));
        match kind {
            "face" => self.uploads.face += 1,
            "screen" => self.uploads.screen += 1,
            _ => self.uploads.audio += 1,
        }
        self.event(
            ts,
            json!({"type": "capture", "kind": kind, "status": "uploaded", "key": key, "bytes": bytes, "capture_seq": capture_seq, "attempts": 1}),
        )
    }

    /// Advances one events interval and returns that interval's events.
    pub fn tick(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        let t = self.clock;
        if !self.started {
            self.started = true;
            events.push(self.event(
                t,
                json!({"type": "session_started", "sdk_version": "loadgen", "user_agent": "invigil-loadgen", "screen_w": 1920, "screen_h": 1080, "displays": 1}),
            ));
            for device in ["camera", "microphone", "screen"] {
                events.push(self.event(t, json!({"type": "permission", "device": device, "state": "granted"})));
            }
            events.push(self.event(t, json!({"type": "fullscreen", "state": "entered"})));
        }
        let end = t + self.cadence.events_interval_ms;
        if self.hidden {
            self.hidden = false;
            events.push(self.event(t + 100, json!({"type": "visibility", "state": "visible"})));
        } else if self.rng.chance(TAB_SWITCH_P) {
            self.hidden = true;
            // Hidden within this interval, so the next interval's `visible`
            // comes after it on the client clock (whatever the cadence).
            let interval = self.cadence.events_interval_ms;
            let at = t + (interval / 25).min(200) + self.rng.below((interval * 3 / 5).clamp(1, 2_000) as u64) as i64;
            events.push(self.event(at, json!({"type": "visibility", "state": "hidden"})));
        }
        if self.rng.chance(BLUR_P) {
            let at = t + self.rng.below(3_000) as i64;
            events.push(self.event(at, json!({"type": "focus", "state": "blur"})));
            events.push(self.event(at + 800, json!({"type": "focus", "state": "focus"})));
        }
        if self.rng.chance(CLIPBOARD_P) {
            let chars = 1 + self.rng.below(200);
            events.push(self.event(t + 1_000, json!({"type": "clipboard", "action": "paste", "chars": chars})));
        }
        while self.next_face < end {
            let at = self.next_face.max(t);
            events.push(self.capture(at, "face"));
            self.next_face += self.cadence.face_ms;
        }
        while self.next_screen < end {
            let at = self.next_screen.max(t);
            events.push(self.capture(at, "screen"));
            self.next_screen += self.cadence.screen_ms;
        }
        while self.next_audio < end {
            let at = self.next_audio.max(t);
            events.push(self.capture(at, "audio"));
            self.next_audio += self.cadence.audio_chunk_ms;
        }
        // Mostly ordinary typing; now and then a burst above the default
        // `key_burst_keys` (40), so windows have key bursts to count.
        let keys = if self.rng.chance(KEY_BURST_P) { 41 + self.rng.below(80) } else { self.rng.below(40) } as u32;
        events.push(self.event(
            end - 1,
            json!({
                "type": "key_activity", "keys": keys, "interval_ms": self.cadence.events_interval_ms,
                "peak_per_s": keys.min(keys.div_ceil(5).max(1)), "burst_s": 0,
            }),
        ));
        self.clock = end;
        events
    }

    /// The last events of the session.
    pub fn finish(&mut self) -> Vec<Value> {
        let t = self.clock;
        vec![self.event(t, json!({"type": "session_ended", "reason": "host_stopped"}))]
    }

    /// Wraps events into a batch body (splitting is the caller's job).
    pub fn batch(&mut self, events: Vec<Value>, sent_at: i64) -> (u64, Value) {
        let batch_seq = self.next_batch;
        self.next_batch += 1;
        (
            batch_seq,
            json!({"v": 1, "session_id": self.session, "batch_seq": batch_seq, "sent_at": sent_at, "events": events}),
        )
    }

    /// A network event, for the start and end of an offline spell.
    pub fn network(&mut self, ts: i64, online: bool) -> Value {
        self.event(ts, json!({"type": "network", "state": if online { "online" } else { "offline" }}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_simulated_batch_passes_ingest_validation() {
        let limits = invigil_schemas::validate::Limits::default();
        let mut candidate = Candidate::new("exam-1", "cand-1", 42, Cadence::default(), 1_795_305_600_000);
        let mut events_seen = 0;
        let mut ticks = Vec::new();
        for _ in 0..(3 * 3600 / 5) {
            ticks.push(candidate.tick());
        }
        ticks.push(candidate.finish());
        for events in ticks {
            events_seen += events.len();
            let (_, body) = candidate.batch(events, candidate.clock);
            let bytes = serde_json::to_vec(&body).unwrap();
            if let Err(problems) = invigil_schemas::validate::parse_batch(&bytes, &limits) {
                panic!("{problems:?}\n{body}");
            }
        }
        // A 3 h session at 30 s cadence: 360 objects of each kind (±1 at the edges).
        let u = candidate.uploads;
        assert!(
            (340..=361).contains(&u.face) && (340..=361).contains(&u.screen) && (340..=361).contains(&u.audio),
            "{u:?}"
        );
        assert!(events_seen > 2160, "{events_seen}");
    }

    #[test]
    fn the_same_seed_gives_the_same_session() {
        let a = Candidate::new("t", "c", 7, Cadence::default(), 1_000_000).tick();
        let b = Candidate::new("t", "c", 7, Cadence::default(), 1_000_000).tick();
        assert_eq!(a, b);
    }
}

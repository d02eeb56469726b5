//! The SDK's state machine: every decision, no I/O.
//!
//! Phases: `Configuring` (waiting, at most [`CONFIG_WAIT_MS`], for the test's
//! config) → `Setup` (the candidate grants camera, microphone, screen and
//! fullscreen; the overlay says how) → `Running` (captures on a fixed grid,
//! compliance blocks) → `Stopping` (host `stop()`: devices released, queues
//! drain) → `Stopped`. A server `shutdown` reply jumps straight to `Stopped`.
//!
//! Four channels run beside the phases, each a struct holding its state and
//! a [`Channel`] (one request in flight, its own backoff): config (until an
//! answer is taken), events (one batch in flight, oldest first), credentials
//! (refreshed at 80 % of their lifetime; 3 failures in a row disable uploads
//! for [`UPLOADS_RETRY_MS`], events keep flowing) and uploads (one object in
//! flight, oldest first). None of them can block the candidate.
//!
//! With `uploads.mode = "bundled"`, captures wait in IndexedDB until the
//! oldest is `bundle_ms` old (at once for an earlier page's session or
//! when stopping); the glue then joins them into one object, which is what
//! the upload channel sends. Each capture's `capture` event names its byte
//! range of that object.

use invigil_schemas::api::{CredentialsResponse, ShutdownReason};
use invigil_schemas::event::{
    BlockReason, Blocked, Capture, CaptureKind, CaptureStatus, Clipboard, ContextMenu, Custom, Device, Event,
    EventBody, Focus, Fullscreen, FullscreenState, KeyActivity, Network, NetworkState, Permission, PermissionState,
    Recording, RecordingTrack, ScreenShareEnded, SdkError, SessionEndReason, SessionEnded, SessionStarted, Unblocked,
    Visibility, MAX_SEGMENT_DURATION_MS,
};
use invigil_schemas::ids::{event_id_v7, Uuid};
use invigil_schemas::validate::Limits;

use crate::compliance::{self, Devices};
use crate::config::{ConfigReply, SdkConfig};
use crate::media::{MediaItem, MediaQueue, MAX_BUNDLE_BYTES};
use crate::outbox::{Cut, Outbox, QueuedEvent};
use crate::protocol::{event_key, Command, Input, Notice, SessionMeta, Store};
use crate::retry::{Channel, Outcome, Rng};
use crate::sigv4::{self, ObjectTarget};
use crate::token::{self, Identity};
use crate::vecmap::VecMap;
use invigil_schemas::media_key::{capture_key, recording_key};

mod replies;
mod restore;

pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Longest wait for the config before setup starts with the defaults.
pub const CONFIG_WAIT_MS: i64 = 3_000;
/// After 3 credential failures, uploads pause this long before one more try.
pub const UPLOADS_RETRY_MS: i64 = 5 * 60_000;
/// Consecutive credential failures that disable uploads.
pub const CREDENTIAL_ATTEMPTS: u32 = 3;
/// Media kept in IndexedDB before the least valuable captures are dropped.
pub const MEDIA_CAP_BYTES: u64 = 64 << 20;
/// The largest body `fetch(…, {keepalive: true})` may carry.
pub const KEEPALIVE_BYTES: usize = 64 * 1024;
/// A bundle the glue has not answered for this long (IndexedDB failed or
/// stalled) is asked for again; a late answer is still taken.
const BUNDLE_TIMEOUT_MS: i64 = 30_000;
/// Credentials this close to expiry are not used for a new upload.
const EXPIRY_MARGIN_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Configuring { until: i64 },
    Setup,
    Running,
    Stopping,
    Stopped,
}

/// What a request in flight was for.
#[derive(Debug)]
enum Pending {
    Config,
    Events(Cut),
    Credentials,
    Upload { ts: i64, key: String },
}

/// Upload credentials and their schedule.
#[derive(Debug)]
struct Issued {
    response: CredentialsResponse,
    refresh_at: i64,
}

/// `GET /config`: asked until an answer is taken, and again when an events
/// ack names another version than the one held.
#[derive(Debug)]
struct ConfigChannel {
    link: Channel,
    version: Option<u64>,
}

/// Events: recorded into the outbox, sent a batch at a time.
#[derive(Debug)]
struct EventsChannel {
    link: Channel,
    outbox: Outbox,
    /// Send what waits as soon as the link is ready (an interval passed, or
    /// something the proctor wall shows was recorded).
    flush_requested: bool,
    /// When the next `key_activity` interval ends.
    next_interval: i64,
    /// Keys pressed in the current interval.
    keys: u32,
}

/// Upload credentials: fetched before they are needed, refreshed at 80 %.
#[derive(Debug)]
struct CredentialsChannel {
    link: Channel,
    issued: Option<Issued>,
    /// Paused after [`CREDENTIAL_ATTEMPTS`] failures in a row.
    disabled: bool,
}

/// Uploads: the media waiting in IndexedDB, one object in flight.
#[derive(Debug)]
struct UploadsChannel {
    link: Channel,
    media: MediaQueue,
    /// Bundles asked of the glue and not yet answered, with when: the last
    /// is the one in progress; older ones timed out but may still answer.
    bundling: Vec<(MediaItem, i64)>,
}

/// The capture grid, per kind (face, screen, audio), and the segment grid
/// of the video recording, per track (camera, screen).
#[derive(Debug)]
struct Captures {
    due: [i64; 3],
    seq: [u64; 3],
    audio_recording: bool,
    segment_due: [i64; 2],
    segment_seq: [u64; 2],
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
    /// A recording started; of its kind, only the one before it may still
    /// be finishing (its last slices being joined), so older ones that never
    /// reported are forgotten.
    fn started(&mut self, kind: RecordingKind, seq: u64, key: String) {
        self.unreported.retain(|r| r.kind != kind || r.seq + 1 >= seq);
        self.unreported.push(Unreported { key, kind, seq });
    }

    /// The glue reported the recording stored under `key` (or any media:
    /// only recordings are tracked).
    fn reported(&mut self, key: &str) {
        self.unreported.retain(|r| r.key != key);
    }
}

/// How long a stopping session waits at most for its last audio chunk and
/// video segments to be stored and reported (IndexedDB writes take
/// milliseconds; this is for a recording that never reports).
const RECORDINGS_FINISH_MS: i64 = 3_000;

/// HTTP requests handed to the glue and not yet answered.
#[derive(Debug)]
struct Requests {
    pending: VecMap<u64, Pending>,
    next: u64,
}

#[derive(Debug)]
pub struct Engine {
    endpoint: String,
    identity: Option<Identity>,
    limits: Limits,
    rng: Rng,
    pub phase: Phase,
    config: SdkConfig,
    session: SessionMeta,
    /// Restored sessions of this candidate with events or media still queued.
    old_sessions: VecMap<Uuid, SessionMeta>,
    config_channel: ConfigChannel,
    events: EventsChannel,
    credentials: CredentialsChannel,
    uploads: UploadsChannel,
    devices: Devices,
    /// The reasons the overlay shows now.
    shown: Vec<BlockReason>,
    captures: Captures,
    requests: Requests,
    commands: Vec<Command>,
}

fn kind_index(kind: CaptureKind) -> usize {
    match kind {
        CaptureKind::Face => 0,
        CaptureKind::Screen => 1,
        CaptureKind::Audio => 2,
    }
}

impl Engine {
    /// A new session for `token`, talking to `endpoint`; `seed` comes from a
    /// cryptographic source and makes ids unique across browsers.
    pub fn new(endpoint: &str, token: &str, seed: u64, now: i64) -> Self {
        let mut rng = Rng::new(seed);
        let identity = token::identity(token);
        let session_id = event_id_v7(now.max(0) as u64, rng.bytes10());
        let session = SessionMeta {
            session_id,
            test_id: identity.as_ref().map(|i| i.test_id.clone()).unwrap_or_default(),
            candidate_id: identity.as_ref().map(|i| i.candidate_id.clone()).unwrap_or_default(),
            started_at: now,
            next_seq: 0,
            next_batch_seq: 0,
            ended: false,
        };
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            identity,
            limits: Limits::default(),
            rng,
            phase: Phase::Idle,
            config: SdkConfig::default(),
            session,
            old_sessions: VecMap::default(),
            config_channel: ConfigChannel { link: Channel::new(1_000, 30_000), version: None },
            events: EventsChannel {
                link: Channel::new(1_000, 30_000),
                outbox: Outbox::default(),
                flush_requested: false,
                next_interval: i64::MAX,
                keys: 0,
            },
            credentials: CredentialsChannel { link: Channel::new(1_000, 8_000), issued: None, disabled: false },
            uploads: UploadsChannel {
                link: Channel::new(1_000, 60_000),
                media: MediaQueue::default(),
                bundling: Vec::new(),
            },
            devices: Devices::default(),
            shown: Vec::new(),
            captures: Captures {
                due: [i64::MAX; 3],
                seq: [0; 3],
                audio_recording: false,
                unreported: Vec::new(),
                segment_due: [i64::MAX; 2],
                segment_seq: [0; 2],
                finishing_until: i64::MIN,
            },
            requests: Requests { pending: VecMap::default(), next: 1 },
            commands: Vec::new(),
        }
    }

    pub fn session_id(&self) -> Uuid {
        self.session.session_id
    }

    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    pub fn queued_events(&self) -> usize {
        self.events.outbox.len()
    }

    pub fn queued_media(&self) -> usize {
        self.uploads.media.len()
    }

    pub fn uploads_disabled(&self) -> bool {
        self.credentials.disabled
    }

    /// Handles one input and returns what to do.
    pub fn handle(&mut self, now: i64, input: Input) -> Vec<Command> {
        self.apply(now, input);
        self.drive(now);
        std::mem::take(&mut self.commands)
    }

    /// Timers: call about once a second.
    pub fn tick(&mut self, now: i64) -> Vec<Command> {
        self.drive(now);
        std::mem::take(&mut self.commands)
    }

    fn apply(&mut self, now: i64, input: Input) {
        if self.phase == Phase::Stopped && !matches!(input, Input::Response(..)) {
            return;
        }
        match input {
            Input::Start { user_agent, screen_w, screen_h, displays, missing_features } => {
                if self.phase != Phase::Idle {
                    return;
                }
                self.persist_session();
                self.record(
                    now,
                    SessionStarted { sdk_version: SDK_VERSION.into(), user_agent, screen_w, screen_h, displays }.into(),
                );
                self.events.flush_requested = true;
                if !missing_features.is_empty() {
                    self.devices.unsupported = true;
                    // By hand rather than `join`: its generic copy loop is
                    // ~1 KB of wasm for this one message.
                    let mut message = String::from("missing:");
                    for (i, feature) in missing_features.iter().enumerate() {
                        message.push_str(if i == 0 { " " } else { ", " });
                        message.push_str(feature);
                    }
                    self.record(now, SdkError { code: "unsupported_browser".into(), message }.into());
                }
                self.phase = Phase::Configuring { until: now + CONFIG_WAIT_MS };
                self.notify_status();
            }
            Input::Restored { sessions, events, media } => self.restore(now, sessions, events, media),
            Input::Response(req, status, body, retry_after_ms) => {
                if let Some(pending) = self.requests.pending.remove(&req) {
                    self.on_response(now, pending, Outcome::of(status, retry_after_ms), status, &body);
                }
            }
            Input::Permission(device, state) => {
                let slot = match device {
                    Device::Camera => &mut self.devices.camera,
                    Device::Microphone => &mut self.devices.microphone,
                    Device::Screen => &mut self.devices.screen,
                };
                // A grant after a revocation stays a grant; a denial of
                // something granted is a revocation.
                let state = match (*slot, state) {
                    (Some(PermissionState::Granted), PermissionState::Denied) => PermissionState::Revoked,
                    (_, state) => state,
                };
                // Sharing again after a stopped share is a grant of what was
                // granted already: no new permission event, but the share is on.
                if device == Device::Screen && state == PermissionState::Granted {
                    self.devices.screen_share_stopped = false;
                }
                if *slot != Some(state) {
                    *slot = Some(state);
                    self.record(now, Permission { device, state }.into());
                }
            }
            Input::Fullscreen(state) => {
                let entered = state == FullscreenState::Entered;
                if self.devices.fullscreen != Some(entered) {
                    self.devices.fullscreen = Some(entered);
                    self.record(now, Fullscreen { state }.into());
                }
            }
            Input::ScreenShareEnded => {
                if !self.devices.screen_share_stopped {
                    self.devices.screen_share_stopped = true;
                    self.record(now, ScreenShareEnded {}.into());
                }
            }
            Input::Visibility(state) => self.record(now, Visibility { state }.into()),
            Input::Focus(state) => self.record(now, Focus { state }.into()),
            Input::Clipboard(action, chars) => self.record(now, Clipboard { action, chars }.into()),
            Input::ContextMenu => self.record(now, ContextMenu {}.into()),
            Input::Keys(count) => self.events.keys = self.events.keys.saturating_add(count),
            Input::Network(state) => {
                self.record(now, Network { state }.into());
                if state == NetworkState::Online {
                    for link in [&mut self.events.link, &mut self.uploads.link, &mut self.config_channel.link] {
                        link.wake();
                    }
                    self.events.flush_requested = true;
                }
            }
            Input::Captured(item) => {
                self.captures.reported(&item.key);
                self.on_captured(item)
            }
            Input::Bundled(key, missing) => self.on_bundled(&key, &missing),
            Input::CaptureFailed(kind, capture_seq, error) => {
                if kind == CaptureKind::Audio {
                    self.captures.unreported.retain(|r| (r.kind, r.seq) != (RecordingKind::Audio, capture_seq));
                }
                let body = Capture {
                    kind,
                    status: CaptureStatus::Failed,
                    capture_seq,
                    error: Some(error),
                    ..Capture::default()
                };
                self.record(now, body.into());
            }
            Input::Custom(name, data) => self.record(now, Custom { name, data }.into()),
            Input::SdkError(code, message) => self.record(now, SdkError { code, message }.into()),
            Input::Token => {
                self.events.link.wake();
                self.config_channel.link.wake();
                self.credentials.link.wake();
                self.events.flush_requested = true;
            }
            Input::Stop => self.stop(now, SessionEndReason::HostStopped),
            Input::PageHide => self.page_hide(now),
        }
    }

    // ------------------------------------------------------------ timers --

    fn drive(&mut self, now: i64) {
        match self.phase {
            Phase::Idle | Phase::Stopped => return,
            Phase::Configuring { until } if now >= until => self.enter_setup(now),
            _ => {}
        }
        if self.config_channel.version.is_none() && self.config_channel.link.ready(now) {
            self.config_channel.link.sent();
            let url = format!("{}/api/v1/config", self.endpoint);
            self.fetch(Pending::Config, "GET", url, None, false);
        }
        if matches!(self.phase, Phase::Setup | Phase::Running) && now >= self.events.next_interval {
            let interval_ms = self.config.events_interval_ms.max(1_000);
            let keys = std::mem::take(&mut self.events.keys);
            self.record(now, KeyActivity { keys, interval_ms }.into());
            self.events.flush_requested = true;
            self.events.next_interval = next_on_grid(self.events.next_interval, i64::from(interval_ms), now);
        }
        self.update_blocks(now);
        if self.phase == Phase::Running && self.shown.is_empty() {
            self.capture(now);
        }
        if self.phase == Phase::Running {
            // Blocked or not: what happens while the overlay is up is worth
            // having on video, and a segment must not grow without end.
            self.record_video(now);
        }
        // No interval ticks while stopping: whatever is recorded now (the
        // capture events of the last uploads) goes out at once.
        if self.phase == Phase::Stopping && !self.events.outbox.is_empty() {
            self.events.flush_requested = true;
        }
        self.send_events(now);
        self.bundle_media(now);
        self.send_media(now);
        if self.phase == Phase::Stopping
            && self.events.outbox.is_empty()
            && self.uploads.media.is_empty()
            && (self.captures.unreported.is_empty() || now >= self.captures.finishing_until)
        {
            self.phase = Phase::Stopped;
            self.notify_status();
        }
    }

    fn enter_setup(&mut self, now: i64) {
        self.phase = Phase::Setup;
        self.events.next_interval = now + i64::from(self.config.events_interval_ms.max(1_000));
        if !self.devices.unsupported {
            self.commands.push(Command::AcquireDevices);
        }
        self.notify_status();
    }

    /// Recomputes the overlay; in `Running`, records and announces changes.
    fn update_blocks(&mut self, now: i64) {
        let setup = match self.phase {
            Phase::Setup => true,
            Phase::Running => false,
            _ => return,
        };
        let reasons = compliance::reasons(&self.devices, &self.config, setup);
        if setup && reasons.is_empty() {
            self.phase = Phase::Running;
            self.captures.due = [now; 3];
            self.captures.segment_due = [now; 2];
            self.commands.push(Command::Overlay { reasons: Vec::new(), setup: false });
            for reason in std::mem::take(&mut self.shown) {
                self.notify("unblock", Notice { reason: Some(reason), ..Notice::default() });
            }
            self.notify_status();
            return;
        }
        if reasons == self.shown {
            return;
        }
        // The host hears of every block, setup included; the timeline records
        // only those of a running session (setup is not time lost to a block).
        for reason in self.shown.clone().into_iter().filter(|r| !reasons.contains(r)) {
            if !setup {
                self.record(now, Unblocked { reason }.into());
            }
            self.notify("unblock", Notice { reason: Some(reason), ..Notice::default() });
        }
        let added: Vec<BlockReason> = reasons.iter().copied().filter(|r| !self.shown.contains(r)).collect();
        for reason in added {
            if !setup {
                self.record(now, Blocked { reason }.into());
            }
            self.notify("block", Notice { reason: Some(reason), ..Notice::default() });
        }
        if !setup {
            if !reasons.is_empty() && self.captures.audio_recording {
                self.captures.audio_recording = false;
                self.commands.push(Command::PauseAudio);
            }
            if reasons.is_empty() {
                // Resume on the grid, but start a fresh audio chunk now.
                self.captures.due[kind_index(CaptureKind::Audio)] = now;
            }
        }
        self.commands.push(Command::Overlay { reasons: reasons.clone(), setup });
        self.shown = reasons;
    }

    /// Starts every capture that is due, on a fixed grid from the start of
    /// `Running` (a slot missed while throttled is skipped, not made up).
    fn capture(&mut self, now: i64) {
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

    /// Starts the next video segment of each live track when one is due
    /// (`recording = "video"`), on a grid from the start of `Running`.
    fn record_video(&mut self, now: i64) {
        let recording = &self.config.recording;
        if !recording.video || recording.segment_ms == 0 {
            return;
        }
        let every = i64::from(recording.segment_ms);
        // Two thirds of the bitrate to the screen: text needs it more than a face.
        let screen_kbps = recording.video_kbps * 2 / 3;
        let plan = [
            (RecordingTrack::Camera, recording.video_kbps - screen_kbps, self.devices.camera_live()),
            (RecordingTrack::Screen, screen_kbps, self.devices.screen_live()),
        ];
        for (i, (track, kbps, live)) in plan.into_iter().enumerate() {
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
            self.commands.push(Command::Record { track, key, segment_seq, session_id, ts: now, kbps });
        }
    }

    // ------------------------------------------------------------ events --

    /// Records an event in the current session.
    fn record(&mut self, now: i64, body: EventBody) {
        let session_id = self.session.session_id;
        self.record_in(session_id, now, body);
    }

    fn record_in(&mut self, session_id: Uuid, now: i64, body: EventBody) {
        let random = self.rng.bytes10();
        let meta = if session_id == self.session.session_id {
            &mut self.session
        } else if let Some(meta) = self.old_sessions.get_mut(&session_id) {
            meta
        } else {
            return;
        };
        let seq = meta.next_seq;
        meta.next_seq += 1;
        // What a proctor watches live leaves now, or as soon as the batch in
        // flight is answered, instead of at the next interval.
        if moves_the_wall(&body) {
            self.events.flush_requested = true;
        }
        let event = Event { id: event_id_v7(now.max(0) as u64, random), seq, ts: now, body };
        let json = crate::json::to_string(&event).expect("events hold no floats");
        self.commands.push(Command::Persist {
            store: Store::Events,
            key: event_key(session_id, seq),
            value: json.clone(),
        });
        self.events.outbox.push(session_id, QueuedEvent { seq, json });
    }

    fn send_events(&mut self, now: i64) {
        if !self.events.flush_requested || !self.events.link.ready(now) {
            return;
        }
        match self.next_cut(now, usize::MAX) {
            Some(cut) => self.post_events(cut, false),
            None => self.events.flush_requested = false,
        }
    }

    fn post_events(&mut self, cut: Cut, keepalive: bool) {
        let url = format!("{}/api/v1/events", self.endpoint);
        let body = cut.body.clone();
        self.events.link.sent();
        self.fetch(Pending::Events(cut), "POST", url, Some(body), keepalive);
    }

    /// Cuts the next batch and advances its session's `batch_seq` (persisted,
    /// so a reload never reuses one).
    fn next_cut(&mut self, now: i64, max_body: usize) -> Option<Cut> {
        let current = self.session.session_id;
        let old = &self.old_sessions;
        let next_batch = |id: Uuid| {
            if id == current {
                self.session.next_batch_seq
            } else {
                old.get(&id).map_or(0, |m| m.next_batch_seq)
            }
        };
        let cut = self.events.outbox.cut(next_batch, now, &self.limits, max_body)?;
        let meta =
            if cut.session_id == current { &mut self.session } else { self.old_sessions.get_mut(&cut.session_id)? };
        meta.next_batch_seq += 1;
        let persist = meta.persist();
        self.commands.push(persist);
        Some(cut)
    }

    fn page_hide(&mut self, now: i64) {
        if matches!(self.phase, Phase::Setup | Phase::Running | Phase::Configuring { .. }) {
            self.stop(now, SessionEndReason::PageClosed);
        }
        // Whatever fits in one keepalive request goes now; the rest waits in
        // IndexedDB for the next page.
        if let Some(cut) = self.next_cut(now, KEEPALIVE_BYTES) {
            self.post_events(cut, true);
        }
    }

    fn stop(&mut self, now: i64, reason: SessionEndReason) {
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            return;
        }
        self.record(now, SessionEnded { reason }.into());
        self.session.ended = true;
        self.persist_session();
        self.phase = Phase::Stopping;
        self.events.flush_requested = true;
        self.events.link.wake();
        self.shown.clear();
        self.commands.push(Command::Teardown { keep_audio: true });
        // Only what is still being recorded is waited for (the chunk or
        // segment the teardown cuts short), and only until it reports.
        if !self.captures.unreported.is_empty() {
            self.captures.finishing_until = now + RECORDINGS_FINISH_MS;
        }
        self.notify_status();
    }

    /// The server said stop: nothing more of this candidate will be
    /// accepted, so the queues are dropped with the UI.
    fn shutdown(&mut self, reason: ShutdownReason) {
        self.phase = Phase::Stopped;
        self.shown.clear();
        self.commands.push(Command::Teardown { keep_audio: false });
        let sessions: Vec<Uuid> =
            std::iter::once(self.session.session_id).chain(self.old_sessions.keys().copied()).collect();
        for session_id in sessions {
            let keys = self
                .events
                .outbox
                .discard_session(session_id)
                .into_iter()
                .map(|seq| event_key(session_id, seq))
                .collect();
            self.commands.push(Command::Forget { store: Store::Events, keys });
            let keys = self.uploads.media.discard_session(session_id).into_iter().map(|item| item.key).collect();
            self.commands.push(Command::Forget { store: Store::Media, keys });
            self.commands.push(Command::Forget { store: Store::Sessions, keys: vec![session_id.to_string()] });
        }
        self.old_sessions.clear();
        self.notify("status", Notice { state: Some("stopped"), shutdown: Some(reason), ..Notice::default() });
    }

    // ------------------------------------------------------------- media --

    fn on_captured(&mut self, item: MediaItem) {
        for dropped in self.uploads.media.push(item, MEDIA_CAP_BYTES) {
            self.commands.push(Command::Forget { store: Store::Media, keys: vec![dropped.key.clone()] });
            self.report(&dropped, CaptureStatus::Skipped, Some("local storage cap reached".into()));
        }
    }

    /// Records a `capture` event for each capture `item` holds: itself, or
    /// every part of a bundle (an uploaded part's key names its byte range);
    /// for a video segment, its `recording` event.
    pub(super) fn report(&mut self, item: &MediaItem, status: CaptureStatus, error: Option<String>) {
        let uploaded = status == CaptureStatus::Uploaded;
        let object =
            self.credentials.issued.as_ref().map_or(String::new(), |c| format!("{}{}", c.response.prefix, item.key));
        let kind = match (item.kind.capture(), item.kind.track()) {
            (Some(kind), _) => kind,
            (None, Some(track)) => {
                let body = Recording {
                    track,
                    status,
                    key: uploaded.then_some(object),
                    bytes: uploaded.then_some(item.bytes),
                    segment_seq: item.capture_seq,
                    // The page's clock may jump (a laptop asleep mid-segment):
                    // the event stays valid whatever the glue measured.
                    duration_ms: item.duration_ms.clamp(1, MAX_SEGMENT_DURATION_MS),
                    attempts: item.attempts,
                    error,
                };
                // At the segment's start, like a capture's time.
                self.record_in(item.session_id, item.ts, body.into());
                return;
            }
            (None, None) => unreachable!("every media kind is a capture or a track"),
        };
        let single = [crate::media::Part {
            key: String::new(),
            kind,
            capture_seq: item.capture_seq,
            ts: item.ts,
            offset: 0,
            bytes: item.bytes,
        }];
        let parts = if item.is_bundle() { &item.parts[..] } else { &single[..] };
        for part in parts {
            let key = if item.is_bundle() {
                invigil_schemas::event::part_key(&object, part.offset, part.bytes)
            } else {
                object.clone()
            };
            let body = Capture {
                kind: part.kind,
                status,
                key: uploaded.then_some(key),
                bytes: uploaded.then_some(part.bytes),
                capture_seq: part.capture_seq,
                attempts: item.attempts,
                error: error.clone(),
            };
            // The event's time is the capture's (an audio chunk's start),
            // not the upload's: the pipeline credits captures to the slot
            // they were taken for, however late the upload got through.
            self.record_in(item.session_id, part.ts, body.into());
        }
    }

    /// Asks the glue for a bundle when one is due (bundled mode only).
    fn bundle_media(&mut self, now: i64) {
        if !self.config.uploads.bundled()
            || self.uploads.bundling.last().is_some_and(|(_, at)| now < at + BUNDLE_TIMEOUT_MS)
        {
            return;
        }
        let Some(oldest) = self.uploads.media.oldest_unbundled() else { return };
        let session_id = oldest.session_id;
        let due = oldest.ts + i64::from(self.config.uploads.bundle_ms) <= now
            || session_id != self.session.session_id
            || self.phase == Phase::Stopping;
        if !due {
            return;
        }
        let parts = self.uploads.media.unbundled(session_id, MAX_BUNDLE_BYTES);
        let unique = event_id_v7(now.max(0) as u64, self.rng.bytes10());
        let key = invigil_schemas::media_key::bundle_key(parts[0].ts, unique);
        let item = MediaItem::bundle(key, &parts).expect("at least one part, captures only");
        let keys = item.parts.iter().map(|part| part.key.clone()).collect();
        self.commands.push(Command::Bundle { key: item.key.clone(), parts: keys });
        if self.uploads.bundling.len() >= 4 {
            self.uploads.bundling.remove(0);
        }
        self.uploads.bundling.push((item, now));
    }

    fn on_bundled(&mut self, key: &str, missing: &[String]) {
        // A late answer to a timed-out request counts too: the glue wrote
        // that bundle and deleted its parts.
        let Some(at) = self.uploads.bundling.iter().position(|(b, _)| b.key == key) else { return };
        let (mut bundle, _) = self.uploads.bundling.remove(at);
        if !missing.is_empty() {
            // Nothing was written: the gone parts are failures, the rest
            // are bundled again on the next tick.
            for part in bundle.parts.iter().filter(|p| missing.contains(&p.key)) {
                if let Some(item) = self.uploads.media.remove(part.ts, &part.key) {
                    self.report(&item, CaptureStatus::Failed, Some("the stored capture is gone".into()));
                }
            }
            return;
        }
        // A part dropped (storage cap) or discarded (shutdown) while the
        // glue worked was reported then; its bytes stay in the object but
        // it is not reported again.
        bundle.parts.retain(|part| self.uploads.media.remove(part.ts, &part.key).is_some());
        if bundle.parts.is_empty() {
            self.commands.push(Command::Forget { store: Store::Media, keys: vec![bundle.key] });
        } else {
            self.on_captured(bundle);
        }
    }

    fn send_media(&mut self, now: i64) {
        let wants_credentials = !self.uploads.media.is_empty() || self.phase == Phase::Running;
        let fresh = self.credentials.issued.as_ref().is_some_and(|c| now < c.refresh_at);
        if wants_credentials && !fresh && self.credentials.link.ready(now) {
            self.credentials.link.sent();
            let url = format!("{}/api/v1/credentials", self.endpoint);
            self.fetch(Pending::Credentials, "POST", url, None, false);
        }
        if !self.uploads.link.ready(now) {
            return;
        }
        // In bundled mode single captures wait for their bundle (video
        // segments go on their own).
        let next = if self.config.uploads.bundled() {
            self.uploads.media.next_where(MediaItem::travels_alone)
        } else {
            self.uploads.media.next()
        };
        let (Some(issued), Some(item)) = (&self.credentials.issued, next) else { return };
        if now >= issued.response.expiration - EXPIRY_MARGIN_MS {
            return;
        }
        let (ts, media) = (item.ts, item.key.clone());
        let req = self.take_req(Pending::Upload { ts, key: media.clone() });
        let response = &self.credentials.issued.as_ref().expect("checked above").response;
        let key = format!("{}{media}", response.prefix);
        // With presigned POST forms (no keys), the form of the object's
        // folder; a key no form covers falls through to a PUT signed with
        // the empty keys, which S3 refuses like any other failed upload.
        let command = match response.forms.iter().find(|form| key.starts_with(&form.key_prefix)) {
            Some(form) => {
                let mut fields = form.fields.clone();
                fields.push(("Content-Type".into(), form.content_type.clone()));
                fields.push(("key".into(), key));
                let url = format!("{}/{}", response.endpoint.trim_end_matches('/'), response.bucket);
                Command::Post { req, url, fields, media }
            }
            None => {
                let credentials = sigv4::Credentials {
                    access_key_id: response.access_key_id.clone(),
                    secret_access_key: response.secret_access_key.clone(),
                    session_token: response.session_token.clone(),
                };
                let target = ObjectTarget {
                    endpoint: &response.endpoint,
                    region: &response.region,
                    bucket: &response.bucket,
                    key: &key,
                };
                let signed = sigv4::sign_put(&credentials, &target, now);
                Command::Put { req, url: signed.url, headers: signed.headers, media }
            }
        };
        self.uploads.link.sent();
        self.commands.push(command);
    }

    // ----------------------------------------------------------- helpers --

    fn persist_session(&mut self) {
        self.commands.push(self.session.persist());
    }

    fn take_req(&mut self, pending: Pending) -> u64 {
        let req = self.requests.next;
        self.requests.next += 1;
        self.requests.pending.insert(req, pending);
        req
    }

    fn fetch(&mut self, pending: Pending, method: &'static str, url: String, body: Option<String>, keepalive: bool) {
        let req = self.take_req(pending);
        self.commands.push(Command::Fetch { req, method, url, body, keepalive });
    }

    fn notify(&mut self, name: &'static str, detail: Notice) {
        self.commands.push(Command::Notify { name, detail });
    }

    fn notify_status(&mut self) {
        let state = match self.phase {
            Phase::Idle => "idle",
            Phase::Configuring { .. } => "configuring",
            Phase::Setup => "setup",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        };
        let session_id = Some(self.session.session_id);
        self.notify("status", Notice { state: Some(state), session_id, ..Notice::default() });
    }
}

/// Events the proctor wall shows as they happen (tab switches, focus,
/// fullscreen, blocks, permissions): sent without waiting for an interval.
/// Counts (keys, clipboard) and captures ride the next regular batch.
fn moves_the_wall(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::Visibility(_)
            | EventBody::Focus(_)
            | EventBody::Fullscreen(_)
            | EventBody::Blocked(_)
            | EventBody::Unblocked(_)
            | EventBody::Permission(_)
            | EventBody::ScreenShareEnded(_)
    )
}

/// The first point of the grid `anchor + k·every` (k ≥ 1) after `now`.
fn next_on_grid(anchor: i64, every: i64, now: i64) -> i64 {
    if now < anchor {
        return anchor;
    }
    anchor + ((now - anchor) / every + 1) * every
}

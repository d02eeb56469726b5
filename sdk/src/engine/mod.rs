//! The SDK's state machine: every decision, no I/O.
//!
//! Phases: `Configuring` (waiting, at most [`CONFIG_WAIT_MS`], for the test's
//! config) → `Setup` (the candidate grants camera, microphone, screen and
//! fullscreen; the overlay says how) → `Running` (captures on a fixed grid,
//! compliance blocks) → `Stopping` (host `stop()`: devices released, queues
//! drain) → `Stopped`. A server `shutdown` reply jumps straight to `Stopped`.
//! This file holds the phases and hands each input and reply to its module.
//!
//! Beside the phases run four channels, each a module owning its state, a
//! [`Channel`](crate::retry::Channel) (one request in flight, its own backoff), what it sends and
//! how it reads its replies. None of them can block the candidate.
//! - [`config`]: `GET /config` until an answer is taken;
//! - [`events`]: the outbox, one batch in flight, oldest first;
//! - [`credentials`]: refreshed at 80 % of their
//!   lifetime; 3 failures in a row pause uploads, events keep flowing;
//! - [`uploads`]: one S3 object in flight, oldest first,
//!   and the bundles of `uploads.mode = "bundled"`.
//!
//! And three that send nothing themselves: [`captures`] (the
//! capture and segment grids), [`blocks`] (devices and the
//! overlay) and [`restore`] (earlier pages' leftovers).

use invigil_schemas::api::ShutdownReason;
use invigil_schemas::event::{
    BlockReason, Clipboard, ContextMenu, Custom, Focus, Network, NetworkState, OtherTabs, SdkError, SessionEndReason,
    SessionEnded, SessionStarted, Visibility,
};
use invigil_schemas::ids::{event_id_v7, Uuid};
use invigil_schemas::validate::Limits;

use crate::compliance::Devices;
use crate::config::SdkConfig;
use crate::outbox::Cut;
use crate::protocol::{event_keys, Command, Input, Notice, SessionMeta, Store};
use crate::retry::{Outcome, Rng};
use crate::token::Identity;
use crate::vecmap::VecMap;

mod blocks;
mod captures;
mod config;
mod credentials;
mod events;
mod restore;
mod uploads;

pub use credentials::{CREDENTIAL_ATTEMPTS, UPLOADS_RETRY_MS};
pub use uploads::MEDIA_CAP_BYTES;

pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Longest wait for the config before setup starts with the defaults.
pub const CONFIG_WAIT_MS: i64 = 3_000;
/// The largest body `fetch(…, {keepalive: true})` may carry.
pub const KEEPALIVE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Configuring { until: i64 },
    Setup,
    Running,
    Stopping,
    Stopped,
}

/// What a request in flight was for: the channel its reply goes to.
#[derive(Debug)]
enum Pending {
    Config,
    Events(Cut),
    Credentials,
    Upload { ts: i64, key: String },
}

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
    config_channel: config::ConfigChannel,
    events: events::EventsChannel,
    credentials: credentials::CredentialsChannel,
    uploads: uploads::UploadsChannel,
    devices: Devices,
    /// The reasons the overlay shows now.
    shown: Vec<BlockReason>,
    captures: captures::Captures,
    requests: Requests,
    commands: Vec<Command>,
}

impl Engine {
    /// A new session of `identity` (the candidate token's claims, read by
    /// the glue; `None` if it could not), talking to `endpoint`; `seed`
    /// comes from a cryptographic source and makes ids unique across browsers.
    pub fn new(endpoint: &str, identity: Option<Identity>, seed: u64, now: i64) -> Self {
        let mut rng = Rng::new(seed);
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
            endpoint: invigil_schemas::text::without_trailing_slashes(endpoint).to_owned(),
            identity,
            limits: Limits::default(),
            rng,
            phase: Phase::Idle,
            config: SdkConfig::default(),
            session,
            old_sessions: VecMap::default(),
            config_channel: config::ConfigChannel::new(),
            events: events::EventsChannel::new(),
            credentials: credentials::CredentialsChannel::new(),
            uploads: uploads::UploadsChannel::new(),
            devices: Devices::default(),
            shown: Vec::new(),
            captures: captures::Captures::new(),
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

    /// Hands an input to whoever owns it.
    fn apply(&mut self, now: i64, input: Input) {
        if self.phase == Phase::Stopped && !matches!(input, Input::Response(..)) {
            return;
        }
        match input {
            Input::Start { user_agent, screen_w, screen_h, displays, missing_features } => {
                let started =
                    SessionStarted { sdk_version: SDK_VERSION.into(), user_agent, screen_w, screen_h, displays };
                self.start(now, started, &missing_features);
            }
            Input::Restored { sessions, events, media } => self.restore(now, sessions, events, media),
            Input::Response(req, status, body, retry_after_ms) => {
                if let Some(pending) = self.requests.pending.remove(&req) {
                    self.on_response(now, pending, Outcome::of(status, retry_after_ms), status, &body);
                }
            }
            Input::Permission(device, state) => self.on_permission(now, device, state),
            Input::Fullscreen(state) => self.on_fullscreen(now, state),
            Input::ScreenShareEnded => self.on_screen_share_ended(now),
            Input::Visibility(state) => self.record(now, Visibility { state }.into()),
            Input::Focus(state) => self.record(now, Focus { state }.into()),
            Input::Clipboard(action, chars, target) => self.record(now, Clipboard { action, chars, target }.into()),
            Input::ContextMenu => self.record(now, ContextMenu {}.into()),
            Input::Face(face) => self.on_face(now, face),
            Input::Keys(count) => {
                self.events.keys = self.events.keys.saturating_add(count);
                self.events.typing.second(count);
            }
            Input::Display(display) => {
                self.devices.screens = display.count;
                self.record(now, display.into());
            }
            Input::Environment(environment) => self.record(now, environment.into()),
            Input::OtherTabs(tabs) => self.record(now, OtherTabs { tabs }.into()),
            Input::Network(state) => self.on_network(now, state),
            Input::Captured(item) => {
                self.captures.reported(&item.key);
                self.on_captured(item)
            }
            Input::Bundled(key, missing) => self.on_bundled(&key, &missing),
            Input::CaptureFailed(kind, capture_seq, error) => self.on_capture_failed(now, kind, capture_seq, error),
            Input::Custom(name, data) => self.record(now, Custom { name, data }.into()),
            Input::SdkError(code, message) => self.record(now, SdkError { code, message }.into()),
            Input::Token => self.on_token(),
            Input::Stop => self.stop(now, SessionEndReason::HostStopped),
            Input::PageHide => self.page_hide(now),
        }
    }

    /// Hands a reply to the channel that asked. The jitter draw comes first,
    /// whatever the reply, so the id and jitter sequence depends only on the
    /// order of inputs.
    fn on_response(&mut self, now: i64, pending: Pending, outcome: Outcome, status: u16, body: &str) {
        let unit = self.rng.unit();
        match pending {
            Pending::Config => self.on_config_reply(now, unit, outcome, body),
            Pending::Events(cut) => self.on_events_reply(now, unit, cut, outcome, status, body),
            Pending::Credentials => self.on_credentials_reply(now, unit, outcome, status, body),
            Pending::Upload { ts, key } => self.on_upload_reply(now, unit, ts, key, outcome, status),
        }
    }

    /// What time alone moves, in order: the config wait, the key interval,
    /// the overlay, captures and segments, then each channel's next request.
    fn drive(&mut self, now: i64) {
        match self.phase {
            Phase::Idle | Phase::Stopped => return,
            Phase::Configuring { until } if now >= until => self.enter_setup(now),
            _ => {}
        }
        self.ask_config(now);
        if matches!(self.phase, Phase::Setup | Phase::Running) {
            self.close_key_interval(now);
        }
        self.update_blocks(now);
        if self.phase == Phase::Running && self.shown.is_empty() {
            self.capture(now);
            self.check_face(now);
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
        self.refresh_credentials(now);
        self.send_media(now);
        if self.phase == Phase::Stopping
            && self.events.outbox.is_empty()
            && self.uploads.media.is_empty()
            && self.captures.finished(now)
        {
            self.phase = Phase::Stopped;
            self.notify_status();
        }
    }

    // ------------------------------------------------------------ phases --

    /// The host's `start()`: the session begins, waiting for the config.
    fn start(&mut self, now: i64, started: SessionStarted, missing_features: &[String]) {
        if self.phase != Phase::Idle {
            return;
        }
        self.persist_session();
        self.record(now, started.into());
        self.events.flush_requested = true;
        if !missing_features.is_empty() {
            self.devices.unsupported = true;
            // By hand rather than `join`: its generic copy loop is ~1 KB of
            // wasm for this one message.
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

    fn enter_setup(&mut self, now: i64) {
        self.phase = Phase::Setup;
        self.events.next_interval = now + i64::from(self.config.events_interval_ms.max(1_000));
        if !self.devices.unsupported {
            self.commands.push(Command::AcquireDevices);
        }
        self.notify_status();
    }

    fn page_hide(&mut self, now: i64) {
        if matches!(self.phase, Phase::Setup | Phase::Running | Phase::Configuring { .. }) {
            self.stop(now, SessionEndReason::PageClosed);
        }
        self.send_last_events(now);
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
        self.captures.stopping(now);
        self.notify_status();
    }

    /// The server said stop: nothing more of this candidate will be
    /// accepted, so the queues are dropped with the UI.
    fn shutdown(&mut self, reason: ShutdownReason) {
        self.phase = Phase::Stopped;
        self.shown.clear();
        self.commands.push(Command::Teardown { keep_audio: false });
        let mut sessions = vec![self.session.session_id];
        for session_id in self.old_sessions.keys() {
            sessions.push(*session_id);
        }
        for session_id in sessions {
            let keys = event_keys(session_id, self.events.outbox.discard_session(session_id));
            self.commands.push(Command::Forget { store: Store::Events, keys });
            let mut keys = Vec::new();
            for item in self.uploads.media.discard_session(session_id) {
                keys.push(item.key);
            }
            self.commands.push(Command::Forget { store: Store::Media, keys });
            self.commands.push(Command::Forget {
                store: Store::Sessions,
                keys: vec![invigil_schemas::text::uuid_string(session_id)],
            });
        }
        self.old_sessions.clear();
        self.notify("status", Notice { state: Some("stopped"), shutdown: Some(reason), ..Notice::default() });
    }

    // ----------------------------------------------- every channel at once --

    fn on_network(&mut self, now: i64, state: NetworkState) {
        self.record(now, Network { state }.into());
        if state == NetworkState::Online {
            for link in [&mut self.events.link, &mut self.uploads.link, &mut self.config_channel.link] {
                link.wake();
            }
            self.events.flush_requested = true;
        }
    }

    /// The host handed over a fresh token: whatever waited on an expired
    /// one tries again now.
    fn on_token(&mut self) {
        self.events.link.wake();
        self.config_channel.link.wake();
        self.credentials.link.wake();
        self.events.flush_requested = true;
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

/// A server's `Retry-After`, when the outcome carries one.
fn retry_after(outcome: Outcome) -> Option<u64> {
    match outcome {
        Outcome::Transient { retry_after_ms } => retry_after_ms,
        _ => None,
    }
}

/// The first point of the grid `anchor + k·every` (k ≥ 1) after `now`.
fn next_on_grid(anchor: i64, every: i64, now: i64) -> i64 {
    if now < anchor {
        return anchor;
    }
    anchor + ((now - anchor) / every + 1) * every
}

//! What crosses between the engine and the browser glue, as JSON (read and
//! written by [`crate::json`]).
//!
//! The engine is sans-IO: the JS side reports what happened ([`Input`]) and
//! carries out what the engine decides ([`Command`]). One tagged enum each
//! way keeps the wasm-bindgen surface to three functions and lets native
//! tests drive the engine with the same messages the browser sends.

use invigil_schemas::api::ShutdownReason;
use invigil_schemas::event::{
    BlockReason, CaptureKind, ClipboardAction, CustomData, Device, Display, Environment, Face, FocusState,
    FullscreenState, NetworkState, PasteTarget, PermissionState, RecordingTrack, Thousandths, VisibilityState,
    MAX_CORES, MAX_DISPLAYS, MAX_EVIDENCE_BYTES, MAX_MEMORY_MB, MAX_OTHER_TABS, MAX_PIXELS_PER_SIDE,
};
use invigil_schemas::ids::Uuid;
use invigil_schemas::text;
use serde::Serialize;

use crate::json::{Error, FromJson, Node, ToJson, Writer};
use crate::media::MediaItem;
use crate::s3::PutSigning;

/// Something the page observed or the glue finished, in serde's externally
/// tagged form with snake_case names: `{"focus":"blur"}`,
/// `{"permission":["camera","granted"]}`, `"stop"` (a unit input may also
/// come as `{"stop":null}`). Tuple variants are JSON arrays, in order. Read
/// by [`Input::from_json`].
#[derive(Debug)]
pub enum Input {
    /// The page's facts, once, before anything else.
    Start {
        user_agent: String,
        screen_w: u32,
        screen_h: u32,
        displays: u32,
        missing_features: Vec<String>,
    },
    /// What IndexedDB held when the page loaded.
    Restored {
        sessions: Vec<SessionMeta>,
        events: Vec<StoredEvent>,
        media: Vec<MediaItem>,
    },
    /// An HTTP request finished: `[req, status, body, retry_after_ms]`;
    /// `status` 0 means no response, `retry_after_ms` may be null.
    Response(u64, u16, String, Option<u64>),
    /// `[device, state]`.
    Permission(Device, PermissionState),
    Fullscreen(FullscreenState),
    ScreenShareEnded,
    Visibility(VisibilityState),
    Focus(FocusState),
    /// `[action, chars, target]`; `target` is null but for a paste.
    Clipboard(ClipboardAction, u32, Option<PasteTarget>),
    ContextMenu,
    /// Keys pressed since the last report, one report a second (counted
    /// in JS, never their values).
    Keys(u32),
    /// The screens, at start and when they change: `[count, extended, permission]`.
    Display(Display),
    /// The computer's evidence, at start and when it changes: `[renderer,
    /// vendor, [cores, memory_mb, screen_w, screen_h, window_w, window_h,
    /// share_w, share_h], pointer, hover, share_surface]` (`share_surface`
    /// null without a share).
    Environment(Environment),
    /// Other tabs of this candidate's test in this browser, when their
    /// number changes.
    OtherTabs(u32),
    Network(NetworkState),
    /// A capture was encoded and stored in IndexedDB under `item.key`.
    Captured(MediaItem),
    /// `[kind, capture_seq, error]`.
    CaptureFailed(CaptureKind, u64, String),
    /// The glue answered [`Command::Bundle`]: with `missing` empty, the
    /// bundle is stored under `key` and its parts are gone, in one
    /// transaction; otherwise nothing was written and these parts' blobs
    /// were not found. (If IndexedDB itself fails the glue reports an
    /// `sdk_error` instead and the core asks again later.)
    /// `[key, missing]`.
    Bundled(String, Vec<String>),
    /// `invigil.track(name, data)` from the host app.
    /// `[name, data]`.
    Custom(String, CustomData),
    /// A face check's result: `[faces, confidence, face_size, light, ms,
    /// similarity, reference]`, the fractions in thousandths (the core
    /// parses no floats); `similarity` is null when nothing was compared.
    Face(Face),
    /// `[code, message]`.
    SdkError(String, String),
    /// `invigil.setToken(jwt)`: the host app replaced an expired token (the
    /// glue holds it and signs requests with it); retry now.
    Token,
    /// `invigil.stop()`.
    Stop,
    /// `pagehide`: the page may be gone in a moment.
    PageHide,
}

impl FromJson for Input {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        let (name, value) = node.tagged()?;
        let unit =
            |input: Input| if value.is_null() { Ok(input) } else { Err(Error::new("a unit input carries no value")) };
        let input = match name {
            "start" => Input::Start {
                user_agent: value.read("user_agent")?,
                screen_w: value.field("screen_w")?.u32()?,
                screen_h: value.field("screen_h")?.u32()?,
                displays: value.field("displays")?.u32()?,
                missing_features: value.read("missing_features")?,
            },
            "restored" => Input::Restored {
                sessions: value.read("sessions")?,
                events: value.read("events")?,
                media: value.read("media")?,
            },
            "response" => {
                let [req, status, body, retry_after_ms] = value.tuple()?;
                Input::Response(req.u64()?, status.u16()?, body.string()?, FromJson::from_json(retry_after_ms)?)
            }
            "permission" => {
                let [device, state] = value.tuple()?;
                Input::Permission(device.variant()?, state.variant()?)
            }
            "fullscreen" => Input::Fullscreen(value.variant()?),
            "screen_share_ended" => unit(Input::ScreenShareEnded)?,
            "visibility" => Input::Visibility(value.variant()?),
            "focus" => Input::Focus(value.variant()?),
            "clipboard" => {
                let [action, chars, target] = value.tuple()?;
                let target = if target.is_null() { None } else { Some(target.variant()?) };
                Input::Clipboard(action.variant()?, chars.u32()?, target)
            }
            "context_menu" => unit(Input::ContextMenu)?,
            "keys" => Input::Keys(value.u32()?),
            "display" => {
                let [count, extended, permission] = value.tuple()?;
                let count = count.u32()?.clamp(1, MAX_DISPLAYS);
                Input::Display(Display { count, extended: extended.bool()?, permission: permission.variant()? })
            }
            "environment" => Input::Environment(environment(value)?),
            "other_tabs" => Input::OtherTabs(value.u32()?.min(MAX_OTHER_TABS)),
            "network" => Input::Network(value.variant()?),
            "captured" => Input::Captured(MediaItem::from_json(value)?),
            "capture_failed" => {
                let [kind, capture_seq, error] = value.tuple()?;
                Input::CaptureFailed(kind.variant()?, capture_seq.u64()?, error.string()?)
            }
            "bundled" => {
                let [key, missing] = value.tuple()?;
                Input::Bundled(key.string()?, FromJson::from_json(missing)?)
            }
            "custom" => {
                let [name, data] = value.tuple()?;
                // The parser checked the data; its text goes on as it came.
                Input::Custom(name.string()?, CustomData::from_parsed(data.text().to_owned()))
            }
            "face" => {
                let [faces, confidence, face_size, light, ms, similarity, reference] = value.tuple()?;
                let faces = faces.u32()?.min(invigil_schemas::event::MAX_FACES);
                let similarity = if similarity.is_null() { None } else { Some(Thousandths::new(similarity.u32()?)) };
                let reference = reference.bool()?;
                // An identity finding is only ever about one face, and a
                // reference is not compared with itself (the schema's rule).
                let single = faces == 1;
                Input::Face(Face {
                    faces,
                    confidence: Thousandths::new(confidence.u32()?),
                    face_size: Thousandths::new(face_size.u32()?),
                    light: Thousandths::new(light.u32()?),
                    ms: ms.u32()?.min(60_000),
                    similarity: similarity.filter(|_| single && !reference),
                    reference: reference && single,
                })
            }
            "sdk_error" => {
                let [code, message] = value.tuple()?;
                Input::SdkError(code.string()?, message.string()?)
            }
            "token" => unit(Input::Token)?,
            "stop" => unit(Input::Stop)?,
            "page_hide" => unit(Input::PageHide)?,
            _ => return Err(Error::new("an unknown input")),
        };
        Ok(input)
    }
}

/// An `environment` input, held to what the server accepts, so that one
/// odd value of a browser never costs the batch it travels in. Positional,
/// its numbers in one array: read in a loop, not field by field.
fn environment(value: &Node<'_>) -> Result<Environment, Error> {
    let [renderer, vendor, numbers, pointer, hover, share_surface] = value.tuple()?;
    const SIDE: u32 = MAX_PIXELS_PER_SIDE;
    let limits = [MAX_CORES, MAX_MEMORY_MB, SIDE, SIDE, SIDE, SIDE, SIDE, SIDE];
    let mut n = [0u32; 8];
    for ((slot, node), limit) in n.iter_mut().zip(numbers.tuple::<8>()?).zip(limits) {
        *slot = node.u32()?.min(limit);
    }
    let share_surface = if share_surface.is_null() { None } else { Some(share_surface.variant()?) };
    let [cores, memory_mb, screen_w, screen_h, window_w, window_h, share_w, share_h] = n;
    let shared = share_surface.is_some();
    Ok(Environment {
        renderer: text::prefix(renderer.str()?, MAX_EVIDENCE_BYTES).to_owned(),
        vendor: text::prefix(vendor.str()?, MAX_EVIDENCE_BYTES).to_owned(),
        cores,
        memory_mb,
        screen_w,
        screen_h,
        window_w,
        window_h,
        pointer: pointer.variant()?,
        hover: hover.bool()?,
        share_surface,
        share_w: if shared { share_w } else { 0 },
        share_h: if shared { share_h } else { 0 },
    })
}

/// Something for the glue to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// An HTTP request to ingest; answer with [`Input::Response`].
    Fetch {
        req: u64,
        method: &'static str,
        url: String,
        body: Option<String>,
        /// Survive the page closing (`fetch(…, {keepalive: true})`, ≤ 64 KiB).
        keepalive: bool,
    },
    /// Upload the stored capture `media` to `url`, signed with `sign`
    /// (the glue signs, [`crate::s3`]).
    Put { req: u64, url: String, sign: PutSigning, media: String },
    /// Upload the stored capture `media` as a multipart form: `fields` in
    /// order, then its blob as `file` (an S3 presigned POST policy).
    Post { req: u64, url: String, fields: Vec<(String, String)>, media: String },
    /// Join the stored captures `parts` (in this order) into one blob stored
    /// under `key`, with a record laid out as [`MediaItem::bundle`] does
    /// (each part's offset is the sum of the sizes before it), and delete
    /// the parts; answer with [`Input::Bundled`].
    Bundle { key: String, parts: Vec<String> },
    /// Write to an IndexedDB store.
    Persist { store: Store, key: String, value: String },
    /// Delete from an IndexedDB store.
    Forget { store: Store, keys: Vec<String> },
    /// Open camera and microphone (no user gesture needed).
    AcquireDevices,
    /// Show the overlay for these reasons, or hide it if empty. `setup` is
    /// the first run, before proctoring starts. `checks` is every step this
    /// test asks of a candidate (the setup's whole list), so the overlay can
    /// say which apply and which are done.
    Overlay { reasons: Vec<BlockReason>, setup: bool, checks: Vec<BlockReason> },
    /// Take a face photo or screenshot now, or start the audio chunk `key`
    /// (closing the previous one).
    Capture { kind: CaptureKind, key: String, capture_seq: u64, session_id: Uuid, ts: i64 },
    /// Start the video segment `key` of `track` (`recording = "video"`):
    /// a new MediaRecorder at `kbps`, persisted second by second, and only
    /// then stop the track's previous segment, so segments meet without a
    /// gap. A stopped segment is stored whole and reported with
    /// [`Input::Captured`] (kind `camera_video` / `screen_video`, its
    /// `duration_ms`); if the track is not live, the previous one just ends.
    /// The recorder records a clone of the track scaled to at most
    /// `width`×`height` at `fps` (the test's `recording.camera` or `.screen`).
    Record {
        track: RecordingTrack,
        key: String,
        segment_seq: u64,
        session_id: Uuid,
        ts: i64,
        kbps: u32,
        width: u32,
        height: u32,
        fps: u32,
    },
    /// Run the face detector on a camera frame (loading it the first time)
    /// and answer with [`Input::Face`]; `min_confidence` in thousandths.
    /// With `identity`, also compare a single frontal face with the
    /// reference face (taking it as the reference if there is none yet).
    CheckFace { min_confidence: u32, identity: bool },
    /// Stop audio recording (blocked, or stopping).
    PauseAudio,
    /// Call the host's `on(name)` listeners.
    Notify { name: &'static str, detail: Notice },
    /// Release every device and listener and remove every UI element.
    /// `keep_audio`: finish the audio chunk and video segments being
    /// recorded and report them (a host `stop()`); otherwise discard them
    /// (the server said stop).
    Teardown { keep_audio: bool },
}

/// The serde form above (`{"type":"fetch",…}`), written by hand.
impl ToJson for Command {
    fn write_json(&self, out: &mut Writer) {
        out.open_object().key("type");
        match self {
            Command::Fetch { req, method, url, body, keepalive } => {
                out.name("fetch").key("req").u64(*req).key("method").name(method).key("url").string(url);
                out.key("body").opt_string(body.as_deref()).key("keepalive").bool(*keepalive);
            }
            Command::Put { req, url, sign, media } => {
                out.name("put").key("req").u64(*req).key("url").string(url).key("sign");
                sign.write_json(out);
                out.key("media").string(media);
            }
            Command::Post { req, url, fields, media } => {
                out.name("post").key("req").u64(*req).key("url").string(url).key("fields").open_array();
                for (name, value) in fields {
                    out.open_array().string(name).string(value).close_array();
                }
                out.close_array().key("media").string(media);
            }
            Command::Bundle { key, parts } => {
                out.name("bundle").key("key").string(key).key("parts");
                parts.write_json(out);
            }
            Command::Persist { store, key, value } => {
                out.name("persist").key("store").variant(*store).key("key").string(key);
                out.key("value").string(value);
            }
            Command::Forget { store, keys } => {
                out.name("forget").key("store").variant(*store).key("keys");
                keys.write_json(out);
            }
            Command::AcquireDevices => {
                out.name("acquire_devices");
            }
            Command::Overlay { reasons, setup, checks } => {
                out.name("overlay").key("reasons");
                write_reasons(out, reasons);
                out.key("setup").bool(*setup).key("checks");
                write_reasons(out, checks);
            }
            Command::Capture { kind, key, capture_seq, session_id, ts } => {
                out.name("capture").key("kind").variant(*kind).key("key").string(key);
                out.key("capture_seq").u64(*capture_seq).key("session_id").uuid(*session_id).key("ts").i64(*ts);
            }
            Command::Record { track, key, segment_seq, session_id, ts, kbps, width, height, fps } => {
                out.name("record").key("track").variant(*track).key("key").string(key);
                out.key("segment_seq").u64(*segment_seq).key("session_id").uuid(*session_id).key("ts").i64(*ts);
                out.key("kbps").u64(u64::from(*kbps)).key("width").u64(u64::from(*width));
                out.key("height").u64(u64::from(*height)).key("fps").u64(u64::from(*fps));
            }
            Command::CheckFace { min_confidence, identity } => {
                out.name("check_face").key("min_confidence").u64(u64::from(*min_confidence));
                out.key("identity").bool(*identity);
            }
            Command::PauseAudio => {
                out.name("pause_audio");
            }
            Command::Notify { name, detail } => {
                out.name("notify").key("name").name(name).key("detail");
                detail.write_json(out);
            }
            Command::Teardown { keep_audio } => {
                out.name("teardown").key("keep_audio").bool(*keep_audio);
            }
        }
        out.close_object();
    }
}

/// What the host's listeners receive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// For `status` (the lifecycle): `configuring`, `setup`, `running`,
    /// `stopping`, `stopped`. For `uploads`: `enabled`, `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// For `error`: what went wrong (`unauthorized`: the token expired or
    /// was refused; call `setToken`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// For `block` / `unblock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<BlockReason>,
    /// Why the server stopped the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<ShutdownReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// The HTTP status behind an `unauthorized` error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

impl ToJson for Notice {
    fn write_json(&self, out: &mut Writer) {
        out.open_object();
        if let Some(state) = self.state {
            out.key("state").name(state);
        }
        if let Some(code) = self.code {
            out.key("code").name(code);
        }
        if let Some(reason) = self.reason {
            out.key("reason").variant(reason);
        }
        if let Some(shutdown) = self.shutdown {
            out.key("shutdown").variant(shutdown);
        }
        if let Some(session_id) = self.session_id {
            out.key("session_id").uuid(session_id);
        }
        if let Some(status) = self.http_status {
            out.key("http_status").u64(u64::from(status));
        }
        out.close_object();
    }
}

/// The IndexedDB object stores the engine writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// Key `{session_id}/{seq:020}`, value the event's JSON.
    Events,
    /// Key `session_id`, value a [`SessionMeta`].
    Sessions,
    /// Key the media key; the glue wrote the blob, the engine only forgets it.
    Media,
}

// The stores' names, as the glue's IndexedDB knows them.
invigil_schemas::wire_names!(Store { Events => "events", Sessions => "sessions", Media => "media" });

/// What the engine needs to resume a session after a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionMeta {
    pub session_id: Uuid,
    pub test_id: String,
    pub candidate_id: String,
    pub started_at: i64,
    pub next_seq: u64,
    pub next_batch_seq: u64,
    /// Whether `session_ended` was recorded (absent: `false`).
    pub ended: bool,
}

impl FromJson for SessionMeta {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self {
            session_id: node.field("session_id")?.uuid()?,
            test_id: node.read("test_id")?,
            candidate_id: node.read("candidate_id")?,
            started_at: node.field("started_at")?.i64()?,
            next_seq: node.read("next_seq")?,
            next_batch_seq: node.read("next_batch_seq")?,
            ended: node.or("ended", false, Node::bool)?,
        })
    }
}

impl ToJson for SessionMeta {
    fn write_json(&self, out: &mut Writer) {
        out.open_object().key("session_id").uuid(self.session_id);
        out.key("test_id").string(&self.test_id).key("candidate_id").string(&self.candidate_id);
        out.key("started_at").i64(self.started_at).key("next_seq").u64(self.next_seq);
        out.key("next_batch_seq").u64(self.next_batch_seq).key("ended").bool(self.ended);
        out.close_object();
    }
}

impl SessionMeta {
    /// The command that saves this meta to IndexedDB.
    pub fn persist(&self) -> Command {
        let value = crate::json::to_string(self);
        Command::Persist { store: Store::Sessions, key: text::uuid_string(self.session_id), value }
    }
}

/// An event as stored in IndexedDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub session_id: Uuid,
    pub seq: u64,
    pub json: String,
}

impl FromJson for StoredEvent {
    fn from_json(node: &Node<'_>) -> Result<Self, Error> {
        Ok(Self { session_id: node.field("session_id")?.uuid()?, seq: node.read("seq")?, json: node.read("json")? })
    }
}

/// A list of block reasons as a JSON array of their names.
fn write_reasons(out: &mut Writer, reasons: &[BlockReason]) {
    out.open_array();
    for reason in reasons {
        out.variant(*reason);
    }
    out.close_array();
}

/// The IndexedDB keys of a session's events `seqs`.
pub fn event_keys(session_id: Uuid, seqs: Vec<u64>) -> Vec<String> {
    // A loop, not `map(…).collect()`: each collect is its own few hundred
    // bytes of wasm.
    let mut keys = Vec::with_capacity(seqs.len());
    for seq in seqs {
        keys.push(event_key(session_id, seq));
    }
    keys
}

/// The IndexedDB key of an event: sorts by session, then seq.
pub fn event_key(session_id: Uuid, seq: u64) -> String {
    let mut key = String::with_capacity(57);
    text::push_uuid(&mut key, session_id);
    key.push('/');
    text::push_padded(&mut key, seq, 20);
    key
}

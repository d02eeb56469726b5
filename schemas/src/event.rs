//! Events: what the SDK observed, one struct per kind (SPEC §3).
//!
//! An [`Event`] is a common head (`id`, `seq`, `ts`) plus a typed
//! [`EventBody`]. It has two encodings, chosen by the serializer:
//!
//! - **JSON** (human-readable): one flat object, `{"id":…, "seq":…, "ts":…,
//!   "type":"capture", "kind":"face", …}`. This is what the SDK posts. Decoding
//!   goes through [`crate::validate`], which rejects unknown fields and reports
//!   every problem with its path.
//! - **binary** (postcard and friends): a positional tuple `(id, seq, ts,
//!   kind tag, body)`. Field names are not repeated per event, which is most of
//!   the size win of the Kafka record (see [`crate::record`]).
//!
//! Optional fields are written as `null` rather than skipped: a positional
//! format cannot skip a field, and both encodings share one derive.

use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::wire_names;

/// One observation from the SDK.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUIDv7, unique across all events; the dedup key with `seq`.
    pub id: Uuid,
    /// Monotonic per session, starting at 0; `session_id`+`seq` identifies an
    /// event for idempotent storage.
    pub seq: u64,
    /// Client clock, Unix milliseconds, when the SDK observed it.
    pub ts: i64,
    /// What was observed.
    pub body: EventBody,
}

/// Keys of the flat JSON object that belong to the head, not the body.
pub const HEAD_FIELDS: [&str; 4] = ["id", "seq", "ts", "type"];

// ---------------------------------------------------------------- bodies ---

/// The SDK started: environment facts a reviewer may want.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStarted {
    pub sdk_version: String,
    pub user_agent: String,
    pub screen_w: u32,
    pub screen_h: u32,
    /// Displays attached, when the browser can tell (Window Management API); 1 otherwise.
    pub displays: u32,
}

/// The SDK stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEnded {
    pub reason: SessionEndReason,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    /// The host app called `invigil.stop()`.
    #[default]
    HostStopped,
    /// The server answered `shutdown` (proctoring disabled or candidate bypassed).
    ServerShutdown,
    /// The page was closed or navigated away.
    PageClosed,
    /// The SDK hit an unrecoverable error.
    Error,
}

wire_names!(SessionEndReason { HostStopped => "host_stopped", ServerShutdown => "server_shutdown", PageClosed => "page_closed", Error => "error" });

/// A permission changed state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub device: Device,
    pub state: PermissionState,
}

/// A capture device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Camera,
    Microphone,
    Screen,
}

wire_names!(Device { Camera => "camera", Microphone => "microphone", Screen => "screen" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionState {
    #[default]
    Granted,
    Denied,
    Revoked,
}

wire_names!(PermissionState { Granted => "granted", Denied => "denied", Revoked => "revoked" });

/// The page became hidden (tab switch, minimise) or visible again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visibility {
    pub state: VisibilityState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisibilityState {
    #[default]
    Hidden,
    Visible,
}

wire_names!(VisibilityState { Hidden => "hidden", Visible => "visible" });

/// The window lost or regained focus.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Focus {
    pub state: FocusState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusState {
    #[default]
    Blur,
    Focus,
}

wire_names!(FocusState { Blur => "blur", Focus => "focus" });

/// Fullscreen was entered or exited.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fullscreen {
    pub state: FullscreenState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullscreenState {
    #[default]
    Entered,
    Exited,
}

wire_names!(FullscreenState { Entered => "entered", Exited => "exited" });

/// The candidate stopped sharing their screen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenShareEnded {}

/// A clipboard action. Only the action and a character count are recorded,
/// never the content.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clipboard {
    pub action: ClipboardAction,
    pub chars: u32,
    /// Where a paste landed (absent for copy and cut, and from SDKs before
    /// December 2026).
    #[serde(default)]
    pub target: Option<PasteTarget>,
}

/// The kind of element a paste went into. A host marks its answer fields
/// with `data-invigil-answer`, so a paste there is told apart from one into
/// a search box or a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasteTarget {
    /// An element the host marked as an answer (or inside one).
    Answer,
    /// An `<input>` or `<textarea>` the host did not mark.
    Text,
    /// Other editable content (`contenteditable`: rich-text and code editors).
    Editor,
    /// Anything else (the page itself, a button).
    #[default]
    Other,
}

wire_names!(PasteTarget { Answer => "answer", Text => "text", Editor => "editor", Other => "other" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipboardAction {
    #[default]
    Copy,
    Cut,
    Paste,
}

wire_names!(ClipboardAction { Copy => "copy", Cut => "cut", Paste => "paste" });

/// The context menu was opened.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextMenu {}

/// Key presses counted over an interval. Never key values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyActivity {
    pub keys: u32,
    pub interval_ms: u32,
    /// The most keys pressed in one second of the interval.
    #[serde(default)]
    pub peak_per_s: u32,
    /// Seconds of the interval far above the candidate's own typing rate
    /// ([`BURST_FLOOR_PER_S`] and after): text that arrives faster than this person types.
    #[serde(default)]
    pub burst_s: u32,
}

// What makes a second of typing a burst: more keys than both a floor no
// fast typist keeps up (120 words a minute is ~10 keys a second) and a
// multiple of the candidate's own running rate, once that rate rests on
// enough seconds of typing. The SDK applies it (it sees every second; a
// batch carries only the interval's sums) and the review page quotes it.

/// Keys in one second below which nothing is a burst.
pub const BURST_FLOOR_PER_S: u32 = 15;
/// How many times the candidate's running rate a burst second reaches.
pub const BURST_TIMES_BASELINE: u32 = 3;
/// Seconds with keys before the running rate is trusted (until then the
/// floor alone decides).
pub const BURST_WARM_UP_S: u32 = 20;

/// The displays the candidate's computer shows the page on, at start and
/// whenever they change (a screen plugged in mid-exam is a different signal
/// from one present from the start).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Display {
    /// Screens attached: from the Window Management API when the candidate
    /// allowed it, otherwise 2 for an extended desktop and 1 for not.
    pub count: u32,
    /// `screen.isExtended`: the desktop spans more than one screen.
    pub extended: bool,
    /// Whether the count came from the Window Management API.
    pub permission: DisplayPermission,
}

/// The Window Management permission, as far as the SDK asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayPermission {
    /// Granted: `count` is the real number of screens.
    Granted,
    /// The candidate refused it.
    Denied,
    /// Not asked (the test does not ask for it) or not answered yet.
    Prompt,
    /// The browser has no Window Management API.
    #[default]
    Unsupported,
}

wire_names!(DisplayPermission { Granted => "granted", Denied => "denied", Prompt => "prompt", Unsupported => "unsupported" });

/// More screens than any desk holds.
pub const MAX_DISPLAYS: u32 = 16;

/// What the page can observe of the computer it runs on, verbatim: the
/// evidence behind virtual-machine and remote-session hints
/// ([`crate::environment::hints`]). Sent at start and whenever it changes
/// (a screen share starts, the window moves to another screen). Nothing
/// here identifies the candidate beyond what every site can read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// WebGL's unmasked renderer string (`""` when the browser will not say).
    pub renderer: String,
    /// WebGL's unmasked vendor string.
    pub vendor: String,
    /// `navigator.hardwareConcurrency` (0 when absent).
    pub cores: u32,
    /// `navigator.deviceMemory` in MiB (0 when absent; browsers round it to
    /// a power of two and cap it at 8 GiB).
    pub memory_mb: u32,
    pub screen_w: u32,
    pub screen_h: u32,
    /// The browser window's outer size.
    pub window_w: u32,
    pub window_h: u32,
    /// The primary pointer (`pointer` media feature).
    pub pointer: PointerKind,
    /// Whether the primary pointer can hover.
    pub hover: bool,
    /// What the candidate shared (`displaySurface`), absent without a share.
    #[serde(default)]
    pub share_surface: Option<ShareSurface>,
    /// The shared video's size (0 without a share).
    pub share_w: u32,
    pub share_h: u32,
}

/// The `pointer` media feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointerKind {
    #[default]
    Fine,
    Coarse,
    None,
}

wire_names!(PointerKind { Fine => "fine", Coarse => "coarse", None => "none" });

/// A screen share's `displaySurface`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareSurface {
    #[default]
    Monitor,
    Window,
    Browser,
}

wire_names!(ShareSurface { Monitor => "monitor", Window => "window", Browser => "browser" });

/// The longest WebGL renderer or vendor string kept (real ones are under
/// 150 bytes).
pub const MAX_EVIDENCE_BYTES: usize = 256;
/// Wider or taller than any screen made (8K is 7,680).
pub const MAX_PIXELS_PER_SIDE: u32 = 16_384;
/// More logical cores than a workstation browser reports.
pub const MAX_CORES: u32 = 1_024;
/// `deviceMemory` is capped by browsers at 8 GiB; leave room for others.
pub const MAX_MEMORY_MB: u32 = 1 << 20;

/// Other tabs or windows of this browser running a session of the same
/// candidate in the same test (seen over a `BroadcastChannel` of the host's
/// origin), whenever their number changes. The pipeline also finds
/// overlapping sessions from other browsers and devices on its own.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherTabs {
    pub tabs: u32,
}

/// More tabs than a browser holds open.
pub const MAX_OTHER_TABS: u32 = 1_000;

/// The outcome of one media capture.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub kind: CaptureKind,
    pub status: CaptureStatus,
    /// S3 object key, required when `status` is `uploaded`.
    #[serde(default)]
    pub key: Option<String>,
    /// Object size, required when `status` is `uploaded`.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Monotonic per session and kind; gaps reveal captures never attempted.
    pub capture_seq: u64,
    /// Upload attempts made so far.
    pub attempts: u32,
    /// Last error, for `failed`.
    #[serde(default)]
    pub error: Option<String>,
}

/// One segment of a continuous recording (config `recording.mode =
/// "video"`): a self-contained WebM of one track covering
/// `[ts, ts + duration_ms)`. Recorded seconds are credited from these events
/// the way captures are from `capture` events. `key` and `bytes` are
/// required when `status` is `uploaded`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    pub track: RecordingTrack,
    pub status: CaptureStatus,
    /// S3 object key (`{prefix}video/{track}/…`), required when uploaded.
    #[serde(default)]
    pub key: Option<String>,
    /// Object size, required when uploaded.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Monotonic per session and track; gaps reveal segments lost before
    /// they were persisted.
    pub segment_seq: u64,
    /// How much time the segment covers, from the event's `ts`.
    pub duration_ms: u32,
    /// Upload attempts made so far.
    pub attempts: u32,
    /// Last error, for `failed`.
    #[serde(default)]
    pub error: Option<String>,
}

/// What the face detector saw in one camera frame (`face_check.mode =
/// "presence"` or `"identity"`), in the candidate's browser: counts and
/// measures only, no image, no crop, nothing that identifies the face. In
/// identity mode a check may also carry how similar its single face is to
/// the page's reference face, or say that it became the reference.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Face {
    /// Faces scoring at least the test's `face_check.min_confidence`.
    pub faces: u32,
    /// The best detection's score, 0..1 (0 when there was none at all).
    pub confidence: Thousandths,
    /// The largest face's width over the frame's width, 0..1 (0 with no face).
    pub face_size: Thousandths,
    /// The frame's mean brightness, 0 (black) ..1 (white).
    pub light: Thousandths,
    /// How long the check took, in the Worker (detection, and comparison
    /// when there was one).
    pub ms: u32,
    /// Identity mode: the cosine similarity of this check's single face to
    /// the reference face, clamped to 0..1. Absent when nothing was
    /// compared (not due, no single frontal well-lit face, no reference).
    #[serde(default)]
    pub similarity: Option<Thousandths>,
    /// Identity mode: this check's single face became the reference the
    /// later ones are compared with (the first of a page's life; a reload
    /// takes a new one, which the review page shows).
    #[serde(default)]
    pub reference: bool,
}

/// A fraction 0..=1 to three decimals, kept as thousandths: a JSON number
/// on the wire (`0.938`), an integer everywhere else, so the SDK writes it
/// without floating-point code and the events stay `Eq`-comparable. A value
/// with more decimals is rounded to three; one outside 0..=1 is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Thousandths(u16);

impl Thousandths {
    pub const ONE: Thousandths = Thousandths(1000);

    /// `value` thousandths, at most one whole.
    pub fn new(value: u32) -> Thousandths {
        Thousandths(value.min(1000) as u16)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl Serialize for Thousandths {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Thousandths {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(de::Error::custom(format_args!("is {value}; must be within 0..=1")));
        }
        Ok(Thousandths((value * 1000.0).round() as u16))
    }
}

/// More faces than a camera frame of a candidate's desk can hold.
pub const MAX_FACES: u32 = 64;

/// The longest time one recording segment may cover.
pub const MAX_SEGMENT_DURATION_MS: u32 = 10 * 60_000;

/// What a recording shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingTrack {
    #[default]
    Camera,
    Screen,
}

wire_names!(RecordingTrack { Camera => "camera", Screen => "screen" });

/// The key of one capture inside a bundle object (`uploads.mode =
/// "bundled"`): `{object}#bytes={first}-{last}`, the inclusive byte range an
/// HTTP `Range` header takes. Per-capture keys have no `#`.
pub fn part_key(object: &str, first: u64, length: u64) -> String {
    // Built by hand, not with `format!`: the SDK calls this, and `core::fmt`
    // would cost its bundle ~1 KB.
    let mut key = crate::text::cat(&[object, "#bytes="]);
    crate::text::push_u64(&mut key, first);
    key.push('-');
    crate::text::push_u64(&mut key, first + length.max(1) - 1);
    key
}

/// A capture key's object and, for a bundle part, its inclusive byte range.
pub fn split_part_key(key: &str) -> Result<(&str, Option<(u64, u64)>), &'static str> {
    let Some((object, fragment)) = key.split_once('#') else { return Ok((key, None)) };
    let range = fragment.strip_prefix("bytes=").ok_or("a part key ends in #bytes=FIRST-LAST")?;
    let (first, last) = range.split_once('-').ok_or("a part key ends in #bytes=FIRST-LAST")?;
    let (Ok(first), Ok(last)) = (first.parse::<u64>(), last.parse::<u64>()) else {
        return Err("a part key's range must be two whole numbers");
    };
    if first > last || object.is_empty() {
        return Err("a part key's range must not end before it starts");
    }
    Ok((object, Some((first, last))))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureKind {
    #[default]
    Face,
    Screen,
    Audio,
}

wire_names!(CaptureKind { Face => "face", Screen => "screen", Audio => "audio" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureStatus {
    #[default]
    Uploaded,
    Failed,
    /// Dropped by the SDK before upload (storage cap reached).
    Skipped,
}

wire_names!(CaptureStatus { Uploaded => "uploaded", Failed => "failed", Skipped => "skipped" });

/// The browser went online or offline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub state: NetworkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkState {
    #[default]
    Online,
    Offline,
}

wire_names!(NetworkState { Online => "online", Offline => "offline" });

/// The SDK put up its blocking overlay (SPEC §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocked {
    pub reason: BlockReason,
}

/// The SDK removed its blocking overlay.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unblocked {
    pub reason: BlockReason,
}

/// A compliance problem that blocks the test until fixed. Infrastructure
/// failures are never a reason to block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    #[default]
    CameraPermission,
    MicrophonePermission,
    ScreenPermission,
    FullscreenExited,
    ScreenShareStopped,
    UnsupportedBrowser,
    /// More than one screen while the test's `blocking.on_second_screen` is on.
    SecondScreen,
}

wire_names!(BlockReason { CameraPermission => "camera_permission", MicrophonePermission => "microphone_permission", ScreenPermission => "screen_permission", FullscreenExited => "fullscreen_exited", ScreenShareStopped => "screen_share_stopped", UnsupportedBrowser => "unsupported_browser", SecondScreen => "second_screen" });

/// The SDK hit an error worth reporting.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkError {
    pub code: String,
    pub message: String,
}

/// A host-app event (question changed, section submitted, …).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custom {
    pub name: String,
    pub data: CustomData,
}

/// Arbitrary host JSON, held as compact JSON text.
///
/// In JSON it is the value itself; in binary encodings it is a string, since a
/// positional format cannot carry a self-describing value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomData(String);

impl CustomData {
    pub fn new(value: &serde_json::Value) -> Self {
        Self(value.to_string())
    }

    /// From JSON text already parsed once (the SDK's inputs), without
    /// building a `Value`; compact text stays compact.
    pub fn from_raw(raw: &serde_json::value::RawValue) -> Self {
        Self(raw.get().to_owned())
    }

    /// From JSON text the caller has already parsed (the SDK's own reader
    /// checked it); it is carried as it is, so it must be valid JSON.
    pub fn from_parsed(text: String) -> Self {
        Self(text)
    }

    /// The compact JSON text, whose length the limits are checked against.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

impl Default for CustomData {
    fn default() -> Self {
        Self("null".to_owned())
    }
}

/// serde_json's marker for already-written JSON text (its `raw_value` feature).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for CustomData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            // The text is valid JSON by construction; it goes out as it is,
            // through the struct serde_json's `RawValue` serializes as (its
            // writer, and the SDK's, splice the field's text in unquoted),
            // rather than being parsed again to be written.
            let mut raw = s.serialize_struct(RAW_VALUE_TOKEN, 1)?;
            raw.serialize_field(RAW_VALUE_TOKEN, &self.0)?;
            raw.end()
        } else {
            s.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for CustomData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            serde_json::Value::deserialize(d).map(|v| Self::new(&v))
        } else {
            let text = String::deserialize(d)?;
            serde_json::from_str::<&serde_json::value::RawValue>(&text)
                .map_err(|e| de::Error::custom(format_args!("custom data is not JSON: {e}")))?;
            Ok(Self(text))
        }
    }
}

// ------------------------------------------------------------- the kinds ---

/// Declares every event kind once; generates [`EventBody`], [`EventKind`] and
/// the per-kind dispatch both encodings need.
macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// The typed payload of an [`Event`]; the variant is its `type`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventBody {
            $( $(#[$doc])* $variant($variant), )*
        }

        /// The `type` of an event, without its payload. The discriminant is the
        /// binary tag, so variants may be appended but never reordered.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum EventKind {
            $( $variant, )*
        }

        impl EventKind {
            /// Every kind, in tag order.
            pub const ALL: &'static [EventKind] = &[ $( EventKind::$variant, )* ];

            /// The wire name (`"tab"` in `{"type": "tab"}`).
            pub fn as_str(self) -> &'static str {
                match self { $( EventKind::$variant => $name, )* }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $( $name => Some(EventKind::$variant), )* _ => None }
            }

            fn from_tag(tag: u8) -> Option<Self> {
                Self::ALL.get(usize::from(tag)).copied()
            }

            /// A valid body of this kind with default values, as a JSON object:
            /// its keys are the kind's field names, and its values stand in for
            /// broken fields so that validation can go on and find every problem.
            pub fn template(self) -> &'static serde_json::Map<String, serde_json::Value> {
                static TEMPLATES: OnceLock<Vec<serde_json::Map<String, serde_json::Value>>> =
                    OnceLock::new();
                let all = TEMPLATES.get_or_init(|| {
                    vec![ $( to_object(&$variant::default()), )* ]
                });
                &all[self as usize]
            }
        }

        impl EventBody {
            pub fn kind(&self) -> EventKind {
                match self { $( EventBody::$variant(_) => EventKind::$variant, )* }
            }

            /// Decodes the body of `kind` from JSON object fields.
            pub(crate) fn from_fields<'a, D>(
                kind: EventKind,
                fields: D,
            ) -> Result<Self, serde_path_to_error::Error<D::Error>>
            where
                D: Deserializer<'a>,
            {
                match kind {
                    $( EventKind::$variant =>
                        serde_path_to_error::deserialize(fields).map(EventBody::$variant), )*
                }
            }

            fn serialize_flat<S: Serializer>(&self, event: &Event, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( EventBody::$variant(body) => Flat {
                        id: &event.id, seq: event.seq, ts: event.ts, kind: $name, body,
                    }.serialize(s), )*
                }
            }

            fn serialize_element<T: SerializeTuple>(&self, tuple: &mut T) -> Result<(), T::Error> {
                match self { $( EventBody::$variant(body) => tuple.serialize_element(body), )* }
            }

            fn next_element<'de, A: SeqAccess<'de>>(
                kind: EventKind,
                seq: &mut A,
            ) -> Result<Option<Self>, A::Error> {
                if let Some(body) = v1::next_element(kind, seq)? {
                    return Ok(body);
                }
                match kind {
                    $( EventKind::$variant =>
                        Ok(seq.next_element::<$variant>()?.map(EventBody::$variant)), )*
                }
            }
        }

        $(
            impl From<$variant> for EventBody {
                fn from(body: $variant) -> Self {
                    EventBody::$variant(body)
                }
            }
        )*
    };
}

event_kinds! {
    SessionStarted => "session_started",
    SessionEnded => "session_ended",
    Permission => "permission",
    Visibility => "visibility",
    Focus => "focus",
    Fullscreen => "fullscreen",
    ScreenShareEnded => "screen_share_ended",
    Clipboard => "clipboard",
    ContextMenu => "context_menu",
    KeyActivity => "key_activity",
    Capture => "capture",
    Network => "network",
    Blocked => "blocked",
    Unblocked => "unblocked",
    SdkError => "sdk_error",
    Custom => "custom",
    Recording => "recording",
    Face => "face",
    Display => "display",
    Environment => "environment",
    OtherTabs => "other_tabs",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn to_object<T: Serialize>(body: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(body) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => unreachable!("event bodies are structs and serialize to JSON objects"),
    }
}

/// The flat JSON shape of an event.
#[derive(Serialize)]
struct Flat<'a, B: Serialize> {
    id: &'a Uuid,
    seq: u64,
    ts: i64,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a B,
}

// ------------------------------------------------------------- encodings ---

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.body.serialize_flat(self, s)
        } else {
            let mut tuple = s.serialize_tuple(5)?;
            tuple.serialize_element(&self.id)?;
            tuple.serialize_element(&self.seq)?;
            tuple.serialize_element(&self.ts)?;
            tuple.serialize_element(&(self.body.kind() as u8))?;
            self.body.serialize_element(&mut tuple)?;
            tuple.end()
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let value = serde_json::Value::deserialize(d)?;
            let mut problems = Vec::new();
            crate::validate::decode_event(&value, "", &mut problems)
                .ok_or_else(|| de::Error::custom(crate::validate::Problems(problems)))
        } else {
            d.deserialize_tuple(5, BinaryEventVisitor)
        }
    }
}

struct BinaryEventVisitor;

/// The bodies whose binary layout changed since record format 1
/// ([`crate::record::RecordFormat::PostcardV1`]): positional formats cannot
/// skip a field, so a record written before `clipboard.target` and
/// `key_activity.peak_per_s`/`burst_s` existed is read with the old layout
/// (the new fields at their defaults) while [`v1::reading`] says so.
pub(crate) mod v1 {
    use std::cell::Cell;

    use serde::de::SeqAccess;
    use serde::Deserialize;

    use super::{ClipboardAction, EventBody, EventKind};

    thread_local! {
        static READING_V1: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `decode` with format-1 layouts; the flag is cleared however it ends.
    pub(crate) fn reading<T>(decode: impl FnOnce() -> T) -> T {
        struct Clear;
        impl Drop for Clear {
            fn drop(&mut self) {
                READING_V1.set(false);
            }
        }
        READING_V1.set(true);
        let _clear = Clear;
        decode()
    }

    #[derive(Deserialize)]
    struct Clipboard {
        action: ClipboardAction,
        chars: u32,
    }

    #[derive(Deserialize)]
    struct KeyActivity {
        keys: u32,
        interval_ms: u32,
    }

    /// A format-1 body of `kind`, if its layout differs from today's.
    pub(super) fn next_element<'de, A: SeqAccess<'de>>(
        kind: EventKind,
        seq: &mut A,
    ) -> Result<Option<Option<EventBody>>, A::Error> {
        if !READING_V1.get() {
            return Ok(None);
        }
        Ok(match kind {
            EventKind::Clipboard => Some(
                seq.next_element::<Clipboard>()?
                    .map(|b| EventBody::Clipboard(super::Clipboard { action: b.action, chars: b.chars, target: None })),
            ),
            EventKind::KeyActivity => Some(seq.next_element::<KeyActivity>()?.map(|b| {
                EventBody::KeyActivity(super::KeyActivity {
                    keys: b.keys,
                    interval_ms: b.interval_ms,
                    ..Default::default()
                })
            })),
            _ => None,
        })
    }
}

impl<'de> Visitor<'de> for BinaryEventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event tuple (id, seq, ts, kind, body)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Event, A::Error> {
        let missing = |i| de::Error::invalid_length(i, &self);
        let id = seq.next_element()?.ok_or_else(|| missing(0))?;
        let seq_no = seq.next_element()?.ok_or_else(|| missing(1))?;
        let ts = seq.next_element()?.ok_or_else(|| missing(2))?;
        let tag: u8 = seq.next_element()?.ok_or_else(|| missing(3))?;
        let kind = EventKind::from_tag(tag)
            .ok_or_else(|| de::Error::invalid_value(de::Unexpected::Unsigned(tag.into()), &"a known event kind tag"))?;
        let body = EventBody::next_element(kind, &mut seq)?.ok_or_else(|| missing(4))?;
        Ok(Event { id, seq: seq_no, ts, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn part_keys_name_an_inclusive_byte_range() {
        let key = part_key("p/bundle/1.bin", 25_000, 100);
        assert_eq!(key, "p/bundle/1.bin#bytes=25000-25099");
        assert_eq!(split_part_key(&key), Ok(("p/bundle/1.bin", Some((25_000, 25_099)))));
        assert_eq!(split_part_key("p/camera/1.jpg"), Ok(("p/camera/1.jpg", None)));
        for bad in ["p/b.bin#bytes=9-1", "p/b.bin#part=1", "p/b.bin#bytes=a-b", "#bytes=0-1", "p/b.bin#bytes=1"] {
            assert!(split_part_key(bad).is_err(), "{bad}");
        }
    }

    fn capture_event() -> Event {
        Event {
            id: crate::ids::event_id_v7(1_760_000_000_000, [1; 10]),
            seq: 7,
            ts: 1_760_000_000_000,
            body: Capture {
                kind: CaptureKind::Face,
                status: CaptureStatus::Uploaded,
                key: Some("2026-11-22/t1/c1/camera/1_x.jpg".into()),
                bytes: Some(24_000),
                capture_seq: 3,
                attempts: 1,
                error: None,
            }
            .into(),
        }
    }

    #[test]
    fn json_is_flat_with_a_type_tag() {
        let value = serde_json::to_value(capture_event()).unwrap();
        assert_eq!(value["type"], "capture");
        assert_eq!(value["kind"], "face");
        assert_eq!(value["bytes"], 24_000);
        assert_eq!(value["error"], serde_json::Value::Null);
        assert_eq!(value["seq"], 7);
    }

    #[test]
    fn json_and_postcard_round_trip() {
        let event = capture_event();
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        let bytes = postcard::to_allocvec(&event).unwrap();
        assert_eq!(postcard::from_bytes::<Event>(&bytes).unwrap(), event);
    }

    #[test]
    fn custom_data_survives_both_encodings() {
        let event = Event {
            body: Custom { name: "question".into(), data: CustomData::new(&json!({"q": 4, "s": [1, "a"]})) }.into(),
            ..capture_event()
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["data"], json!({"q": 4, "s": [1, "a"]}));
        let bytes = postcard::to_allocvec(&event).unwrap();
        assert_eq!(postcard::from_bytes::<Event>(&bytes).unwrap(), event);
    }

    #[test]
    fn unknown_binary_tag_is_an_error_not_a_panic() {
        let event = capture_event();
        let mut bytes = postcard::to_allocvec(&event).unwrap();
        let head = postcard::to_allocvec(&(event.id, event.seq, event.ts)).unwrap();
        let tag_at = head.len();
        assert_eq!(bytes[tag_at], EventKind::Capture as u8);
        bytes[tag_at] = 200;
        assert!(postcard::from_bytes::<Event>(&bytes).is_err());
    }

    #[test]
    fn kinds_have_unique_names_and_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.as_str()), Some(*kind));
            assert_eq!(EventKind::from_tag(*kind as u8), Some(*kind));
        }
        assert_eq!(EventKind::ALL.len(), 21);
    }
}

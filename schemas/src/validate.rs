//! Request validation: bytes in, an [`EventBatch`] or *every* problem out.
//!
//! A serde derive stops at the first error; a candidate's SDK (or a host
//! developer reading a 400) is better served by the whole list. So the batch is
//! parsed to a JSON tree once, and each part is decoded on its own:
//!
//! 1. the envelope, key by key;
//! 2. each event's head (`id`, `seq`, `ts`, `type`), then its body with the
//!    serde derive of that kind. Unknown keys are reported up front. If the body
//!    fails, the broken field is swapped for a valid stand-in from the kind's
//!    template and decoding goes on, so every broken field is found in at most
//!    one pass per field. The swapping only happens on the error path: a valid
//!    event is decoded once, without copies;
//! 3. semantic rules the types cannot carry (sizes, UUID versions, ordering).
//!
//! A well-formed batch, the common case, never builds the tree: [`fast`]
//! decodes it straight from the bytes in one pass and applies the same rules;
//! only a batch it does not accept takes the route above, so every problem
//! is still named.
//!
//! Paths look like `events[3].bytes`; the envelope's own keys have no prefix.
//! Problems come in a stable order: envelope, then event by event; within an
//! event, head fields, then unknown keys, then body fields by key name.

use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::batch::EventBatch;

mod fast;
use crate::event::{Event, EventBody, EventKind, HEAD_FIELDS};
use crate::ids::is_v7;
use crate::names::WireName;
use crate::PROTOCOL_VERSION;

/// Size limits on what a client may send (SPEC §3). Every field may be set in
/// ingest's configuration file; omitted fields keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in bytes. Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Most events in one batch.
    pub max_events: usize,
    /// Longest string field, in UTF-8 bytes.
    pub max_string_bytes: usize,
    /// Longest `custom.data`, as compact JSON text, in bytes.
    pub max_custom_data_bytes: usize,
    /// Oldest event ingest accepts, as ms before its arrival. Older events
    /// are refused (400 naming `events[i].ts`) rather than accepted and then
    /// dropped by the store's 30-day TTL; the default, 7 days, leaves an SDK
    /// replaying a long offline buffer plenty of room.
    pub max_event_age_ms: u64,
    /// Furthest ahead of its arrival an event's `ts` may be: a client clock
    /// running fast by up to this much is tolerated, a year-2100 `ts` is not.
    pub max_event_lead_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_events: 500,
            max_string_bytes: 1024,
            max_custom_data_bytes: 2048,
            max_event_age_ms: 7 * 24 * 3_600_000,
            max_event_lead_ms: 24 * 3_600_000,
        }
    }
}

/// What a batch is checked against once its caller is known: the token's
/// test and candidate, and the time it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub test: &'a crate::ids::TestId,
    pub candidate: &'a crate::ids::CandidateId,
    /// Server time of arrival, Unix ms.
    pub now_ms: i64,
}

/// The problems of a well-formed batch that only its caller reveals: event
/// times outside `[now − max_event_age_ms, now + max_event_lead_ms]`, and
/// capture keys outside the caller's own media prefix or in another kind's
/// folder. Ingest refuses such a batch whole, so nothing is answered 200 and
/// then dropped, and no capture is credited for someone else's object.
pub fn check_caller(batch: &EventBatch, caller: &Caller<'_>, limits: &Limits) -> Result<(), Problems> {
    let oldest = caller.now_ms.saturating_sub(limits.max_event_age_ms.min(i64::MAX as u64) as i64);
    let newest = caller.now_ms.saturating_add(limits.max_event_lead_ms.min(i64::MAX as u64) as i64);
    let mut problems = Vec::new();
    for (i, event) in batch.events.iter().enumerate() {
        let path = format!("events[{i}]");
        if event.ts < oldest {
            problems.push(FieldProblem::new(
                join(&path, "ts"),
                ProblemCode::InvalidValue,
                format!(
                    "is {} ms before arrival; events older than {} ms are refused",
                    caller.now_ms - event.ts,
                    limits.max_event_age_ms
                ),
            ));
        } else if event.ts > newest {
            problems.push(FieldProblem::new(
                join(&path, "ts"),
                ProblemCode::InvalidValue,
                format!(
                    "is {} ms after arrival; events more than {} ms ahead are refused",
                    event.ts - caller.now_ms,
                    limits.max_event_lead_ms
                ),
            ));
        }
        if let EventBody::Capture(capture) = &event.body {
            let Some(key) = &capture.key else { continue };
            let Ok((object, _)) = crate::event::split_part_key(key) else { continue };
            let owned = crate::media_key::MediaKey::parse(object)
                .filter(|media| media.test == caller.test.as_str() && media.candidate == caller.candidate.as_str());
            let why = match owned.map(|media| media.holds(capture.kind)) {
                None => Some(format!(
                    "must lie under the token's own media prefix {{date}}/{}/{}/",
                    caller.test, caller.candidate
                )),
                Some(None) => Some("must be in a media folder (camera/, screen/, audio/ or bundle/)".to_owned()),
                Some(Some(false)) => Some("is in another kind's folder than the capture's `kind`".to_owned()),
                Some(Some(true)) => None,
            };
            if let Some(why) = why {
                problems.push(FieldProblem::new(join(&path, "key"), ProblemCode::InvalidValue, why));
            }
        }
        if let EventBody::Recording(recording) = &event.body {
            let Some(key) = &recording.key else { continue };
            let owned = crate::media_key::MediaKey::parse(key)
                .filter(|media| media.test == caller.test.as_str() && media.candidate == caller.candidate.as_str());
            let why = match owned {
                None => Some(format!(
                    "must lie under the token's own media prefix {{date}}/{}/{}/",
                    caller.test, caller.candidate
                )),
                Some(media) if !media.is_recording_of(recording.track) => {
                    Some(format!("must be in the folder of its track, video/{}/", recording.track.as_str()))
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                problems.push(FieldProblem::new(join(&path, "key"), ProblemCode::InvalidValue, why));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Problems(problems))
    }
}

/// What kind of problem a field has. The code is part of the API: clients may
/// branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// The body is not JSON.
    InvalidJson,
    /// The body exceeds `max_body_bytes`.
    TooLarge,
    /// A value has the wrong JSON type.
    InvalidType,
    /// A value has the right type but is not allowed.
    InvalidValue,
    MissingField,
    UnknownField,
    /// `type` names no known event kind.
    UnknownKind,
    /// A string exceeds its limit.
    TooLong,
    TooFewEvents,
    TooManyEvents,
    /// An event id is not a version 7 UUID.
    NotUuidV7,
    UnsupportedVersion,
    /// Event `seq` values do not strictly increase within the batch.
    OutOfOrder,
    /// A field that is optional in general is required here.
    Required,
}

/// One problem, named by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldProblem {
    /// JSON path of the offending value (`events[3].bytes`); empty for the body
    /// as a whole.
    pub field: String,
    pub code: ProblemCode,
    pub message: String,
}

impl FieldProblem {
    fn new(field: impl Into<String>, code: ProblemCode, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Every problem found in one input; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<FieldProblem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Envelope keys of an [`EventBatch`].
const BATCH_FIELDS: [&str; 5] = ["v", "session_id", "batch_seq", "sent_at", "events"];

/// Parses and validates a request body.
pub fn parse_batch(body: &[u8], limits: &Limits) -> Result<EventBatch, Problems> {
    if body.len() <= limits.max_body_bytes {
        if let Some(batch) = fast::accept(body, limits) {
            return Ok(batch);
        }
    }
    parse_batch_thoroughly(body, limits)
}

/// [`parse_batch`] without its one-pass fast path: the JSON tree, every
/// field on its own, every problem named. `parse_batch` answers exactly
/// this for every input (tests and the `batch` fuzz target compare them).
pub fn parse_batch_thoroughly(body: &[u8], limits: &Limits) -> Result<EventBatch, Problems> {
    if body.len() > limits.max_body_bytes {
        return Err(Problems(vec![FieldProblem::new(
            "",
            ProblemCode::TooLarge,
            format!("body is {} bytes; the limit is {}", body.len(), limits.max_body_bytes),
        )]));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Problems(vec![FieldProblem::new("", ProblemCode::InvalidJson, format!("body is not JSON: {e}"))])
    })?;
    let mut problems = Vec::new();
    let batch = decode_batch(&value, limits, &mut problems);
    match batch {
        Some(batch) if problems.is_empty() => Ok(batch),
        _ => Err(Problems(problems)),
    }
}

fn decode_batch(value: &Value, limits: &Limits, problems: &mut Vec<FieldProblem>) -> Option<EventBatch> {
    let Value::Object(map) = value else {
        problems.push(FieldProblem::new("", ProblemCode::InvalidType, "expected a JSON object"));
        return None;
    };
    report_unknown_keys(map, "", |key| BATCH_FIELDS.contains(&key), problems);

    let v = field::<u16>(map, "v", "", problems);
    if let Some(v) = v.filter(|v| *v != PROTOCOL_VERSION) {
        problems.push(FieldProblem::new(
            "v",
            ProblemCode::UnsupportedVersion,
            format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"),
        ));
    }
    let session_id = field::<Uuid>(map, "session_id", "", problems);
    if session_id.is_some_and(|id| id.is_nil()) {
        problems.push(FieldProblem::new("session_id", ProblemCode::InvalidValue, "must not be the nil UUID"));
    }
    let batch_seq = field::<u64>(map, "batch_seq", "", problems);
    let sent_at = field::<i64>(map, "sent_at", "", problems);
    if sent_at.is_some_and(|t| t < 0) {
        problems.push(FieldProblem::new("sent_at", ProblemCode::InvalidValue, "must not be negative"));
    }
    let events = decode_events(map.get("events"), limits, problems);

    Some(EventBatch { v: v?, session_id: session_id?, batch_seq: batch_seq?, sent_at: sent_at?, events: events? })
}

fn decode_events(value: Option<&Value>, limits: &Limits, problems: &mut Vec<FieldProblem>) -> Option<Vec<Event>> {
    let items = match value {
        None => {
            problems.push(FieldProblem::new("events", ProblemCode::MissingField, "missing field `events`"));
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            problems.push(FieldProblem::new(
                "events",
                ProblemCode::InvalidType,
                format!("invalid type: {}, expected an array of events", json_type(other)),
            ));
            return None;
        }
    };
    if items.is_empty() {
        problems.push(FieldProblem::new("events", ProblemCode::TooFewEvents, "must hold at least one event"));
        return None;
    }
    if items.len() > limits.max_events {
        problems.push(FieldProblem::new(
            "events",
            ProblemCode::TooManyEvents,
            format!("holds {} events; the limit is {}", items.len(), limits.max_events),
        ));
        return None;
    }

    let mut events = Vec::with_capacity(items.len());
    let mut previous_seq: Option<u64> = None;
    for (i, item) in items.iter().enumerate() {
        let path = format!("events[{i}]");
        let Some(event) = decode_event(item, &path, problems) else { continue };
        check_event(&event, limits, &path, problems);
        if let Some(previous) = previous_seq.filter(|p| event.seq <= *p) {
            problems.push(FieldProblem::new(
                join(&path, "seq"),
                ProblemCode::OutOfOrder,
                format!("is {} but must be greater than the previous event's seq ({previous})", event.seq),
            ));
        }
        previous_seq = Some(event.seq);
        events.push(event);
    }
    (events.len() == items.len()).then_some(events)
}

/// Decodes one event at `path`, appending every problem found. Returns `None`
/// when there was at least one.
pub(crate) fn decode_event(value: &Value, path: &str, problems: &mut Vec<FieldProblem>) -> Option<Event> {
    let Value::Object(map) = value else {
        problems.push(FieldProblem::new(
            path,
            ProblemCode::InvalidType,
            format!("invalid type: {}, expected an event object", json_type(value)),
        ));
        return None;
    };
    let found_before = problems.len();
    let id = field::<Uuid>(map, "id", path, problems);
    let seq = field::<u64>(map, "seq", path, problems);
    let ts = field::<i64>(map, "ts", path, problems);
    let kind = decode_kind(map.get("type"), path, problems)?;

    let template = kind.template();
    report_unknown_keys(map, path, |key| HEAD_FIELDS.contains(&key) || template.contains_key(key), problems);

    let body_fields = map.iter().filter(|(key, _)| template.contains_key(key.as_str()));
    let body =
        match EventBody::from_fields(kind, MapDeserializer::new(body_fields.clone().map(|(k, v)| (k.as_str(), v)))) {
            Ok(body) => Some(body),
            Err(first) => {
                let work = body_fields.map(|(k, v)| (k.clone(), v.clone())).collect();
                collect_body_problems(kind, work, first, path, problems);
                None
            }
        };
    if problems.len() > found_before {
        return None;
    }
    Some(Event { id: id?, seq: seq?, ts: ts?, body: body? })
}

fn decode_kind(value: Option<&Value>, path: &str, problems: &mut Vec<FieldProblem>) -> Option<EventKind> {
    let field = join(path, "type");
    match value {
        None => problems.push(FieldProblem::new(field, ProblemCode::MissingField, "missing field `type`")),
        Some(Value::String(name)) => match EventKind::from_name(name) {
            Some(kind) => return Some(kind),
            None => {
                let known: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                problems.push(FieldProblem::new(
                    field,
                    ProblemCode::UnknownKind,
                    format!("unknown event type {name:?}; expected one of {}", known.join(", ")),
                ));
            }
        },
        Some(other) => problems.push(FieldProblem::new(
            field,
            ProblemCode::InvalidType,
            format!("invalid type: {}, expected a string", json_type(other)),
        )),
    }
    None
}

/// The error path of body decoding: record the failure, replace the broken
/// field with the template's valid value, decode again; until it decodes.
/// Each round fixes one field, so it ends within one round per field.
fn collect_body_problems(
    kind: EventKind,
    work: Map<String, Value>,
    first: serde_path_to_error::Error<serde_json::Error>,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) {
    let template = kind.template();
    let mut work = Value::Object(work);
    let mut error = first;
    for _ in 0..=template.len() {
        let (key, problem) = describe_serde_error(&error, path);
        problems.push(problem);
        let (Some(key), Value::Object(fields)) = (key, &mut work) else { return };
        let Some(stand_in) = template.get(&key) else { return };
        fields.insert(key, stand_in.clone());
        match EventBody::from_fields(kind, &work) {
            Ok(_) => return,
            Err(next) => error = next,
        }
    }
}

/// Turns a serde error inside an event body into a problem, plus the body key
/// it concerns (so the caller can patch it).
fn describe_serde_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
    path: &str,
) -> (Option<String>, FieldProblem) {
    let message = error.inner().to_string();
    let top_key = error.path().iter().find_map(|segment| match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    });
    if let Some(missing) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        let problem = FieldProblem::new(join(path, missing), ProblemCode::MissingField, message.clone());
        return (Some(missing.to_owned()), problem);
    }
    let code = if message.starts_with("invalid type") { ProblemCode::InvalidType } else { ProblemCode::InvalidValue };
    let field = match &top_key {
        Some(key) => join(path, key),
        None => path.to_owned(),
    };
    (top_key, FieldProblem::new(field, code, message))
}

/// Decodes a JSON body into `T`, or names the first problem by its path
/// (`defaults.events_interval_ms`; empty for the body as a whole) with the
/// code that fits: malformed JSON, a wrong type, an unknown or missing field,
/// or a value the type refuses.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let message = error.inner().to_string();
        let code = match error.inner().classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ProblemCode::InvalidJson,
            serde_json::error::Category::Data if message.starts_with("invalid type") => ProblemCode::InvalidType,
            serde_json::error::Category::Data if message.starts_with("unknown field") => ProblemCode::UnknownField,
            serde_json::error::Category::Data if message.starts_with("missing field") => ProblemCode::MissingField,
            serde_json::error::Category::Data => ProblemCode::InvalidValue,
        };
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        FieldProblem { field, code, message }
    })
}

/// Rules the types cannot express.
fn check_event(event: &Event, limits: &Limits, path: &str, problems: &mut Vec<FieldProblem>) {
    if !is_v7(&event.id) {
        problems.push(FieldProblem::new(
            join(path, "id"),
            ProblemCode::NotUuidV7,
            format!("must be a version 7 UUID, got version {}", event.id.get_version_num()),
        ));
    }
    if event.ts < 0 {
        problems.push(FieldProblem::new(join(path, "ts"), ProblemCode::InvalidValue, "must not be negative"));
    }
    let mut check_len = |name: &str, text: &str, limit: usize| {
        if text.len() > limit {
            problems.push(FieldProblem::new(
                join(path, name),
                ProblemCode::TooLong,
                format!("is {} bytes; the limit is {limit}", text.len()),
            ));
        }
    };
    let max = limits.max_string_bytes;
    match &event.body {
        EventBody::SessionStarted(b) => {
            check_len("sdk_version", &b.sdk_version, max);
            check_len("user_agent", &b.user_agent, max);
        }
        EventBody::SdkError(b) => {
            check_len("code", &b.code, max);
            check_len("message", &b.message, max);
        }
        EventBody::Custom(b) => {
            check_len("name", &b.name, max);
            check_len("data", b.data.as_json(), limits.max_custom_data_bytes);
            if b.name.is_empty() {
                problems.push(FieldProblem::new(join(path, "name"), ProblemCode::InvalidValue, "must not be empty"));
            }
        }
        EventBody::Capture(b) => {
            for (name, value) in [("key", &b.key), ("error", &b.error)] {
                value.iter().for_each(|value| check_len(name, value, max));
            }
            check_capture(b, path, problems);
        }
        EventBody::Recording(b) => {
            for (name, value) in [("key", &b.key), ("error", &b.error)] {
                value.iter().for_each(|value| check_len(name, value, max));
            }
            check_recording(b, path, problems);
        }
        EventBody::Face(b) => check_face(b, path, problems),
        EventBody::KeyActivity(b) => check_key_activity(b, path, problems),
        EventBody::Clipboard(b) if b.target.is_some() && b.action != crate::event::ClipboardAction::Paste => {
            problems.push(FieldProblem::new(
                join(path, "target"),
                ProblemCode::InvalidValue,
                "is for a paste only; a copy or cut has none",
            ));
        }
        EventBody::Display(b) => {
            if b.count == 0 {
                problems.push(FieldProblem::new(join(path, "count"), ProblemCode::InvalidValue, "must be at least 1"));
            }
            at_most(path, "count", b.count.into(), crate::event::MAX_DISPLAYS.into(), problems);
        }
        EventBody::Environment(b) => {
            check_len("renderer", &b.renderer, crate::event::MAX_EVIDENCE_BYTES);
            check_len("vendor", &b.vendor, crate::event::MAX_EVIDENCE_BYTES);
            check_environment(b, path, problems);
        }
        EventBody::OtherTabs(b) => at_most(path, "tabs", b.tabs.into(), crate::event::MAX_OTHER_TABS.into(), problems),
        _ => {}
    }
}

/// `value` of field `name` is at most `max`.
fn at_most(path: &str, name: &str, value: u64, max: u64, problems: &mut Vec<FieldProblem>) {
    if value > max {
        problems.push(FieldProblem::new(
            join(path, name),
            ProblemCode::InvalidValue,
            format!("is {value}; must be at most {max}"),
        ));
    }
}

/// An interval's counts agree with each other: its busiest second holds
/// at most all its keys, and it has no more burst seconds than seconds.
fn check_key_activity(keys: &crate::event::KeyActivity, path: &str, problems: &mut Vec<FieldProblem>) {
    if keys.interval_ms == 0 {
        problems.push(FieldProblem::new(join(path, "interval_ms"), ProblemCode::InvalidValue, "must be at least 1"));
    }
    at_most(path, "peak_per_s", keys.peak_per_s.into(), keys.keys.into(), problems);
    at_most(path, "burst_s", keys.burst_s.into(), u64::from(keys.interval_ms.div_ceil(1_000)), problems);
}

/// Sizes and counts a real browser could report; a share's size only with
/// a share.
fn check_environment(env: &crate::event::Environment, path: &str, problems: &mut Vec<FieldProblem>) {
    use crate::event::{MAX_CORES, MAX_MEMORY_MB, MAX_PIXELS_PER_SIDE};
    at_most(path, "cores", env.cores.into(), MAX_CORES.into(), problems);
    at_most(path, "memory_mb", env.memory_mb.into(), MAX_MEMORY_MB.into(), problems);
    let sides = [
        ("screen_w", env.screen_w),
        ("screen_h", env.screen_h),
        ("window_w", env.window_w),
        ("window_h", env.window_h),
        ("share_w", env.share_w),
        ("share_h", env.share_h),
    ];
    for (name, value) in sides {
        at_most(path, name, value.into(), MAX_PIXELS_PER_SIDE.into(), problems);
    }
    if env.share_surface.is_none() && (env.share_w, env.share_h) != (0, 0) {
        problems.push(FieldProblem::new(
            join(path, "share_w"),
            ProblemCode::InvalidValue,
            "must be 0 without a share_surface",
        ));
    }
}

/// A face check's count and time, within what a detector produces (its
/// fractions are held to 0..=1 by their type).
fn check_face(face: &crate::event::Face, path: &str, problems: &mut Vec<FieldProblem>) {
    at_most(path, "faces", face.faces.into(), crate::event::MAX_FACES.into(), problems);
    if (face.similarity.is_some() || face.reference) && face.faces != 1 {
        let field = if face.reference { "reference" } else { "similarity" };
        let message = format!("comes with {} faces; an identity comparison needs exactly one", face.faces);
        problems.push(FieldProblem::new(join(path, field), ProblemCode::InvalidValue, message));
    } else if face.similarity.is_some() && face.reference {
        let message = "is true beside a similarity; a reference face is not compared with itself".to_owned();
        problems.push(FieldProblem::new(join(path, "reference"), ProblemCode::InvalidValue, message));
    }
    at_most(path, "ms", face.ms.into(), 60_000, problems);
}

/// `key` and `bytes` of an uploaded capture or recording segment.
fn require_uploaded(
    status: crate::event::CaptureStatus,
    key: &Option<String>,
    bytes: Option<u64>,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) {
    if status != crate::event::CaptureStatus::Uploaded {
        return;
    }
    for (name, present) in [("key", key.is_some()), ("bytes", bytes.is_some())] {
        if !present {
            problems.push(FieldProblem::new(
                join(path, name),
                ProblemCode::Required,
                "is required when status is \"uploaded\"",
            ));
        }
    }
}

fn check_recording(recording: &crate::event::Recording, path: &str, problems: &mut Vec<FieldProblem>) {
    use crate::event::MAX_SEGMENT_DURATION_MS;
    require_uploaded(recording.status, &recording.key, recording.bytes, path, problems);
    if recording.duration_ms == 0 || recording.duration_ms > MAX_SEGMENT_DURATION_MS {
        problems.push(FieldProblem::new(
            join(path, "duration_ms"),
            ProblemCode::InvalidValue,
            format!("is {}; must be 1..={MAX_SEGMENT_DURATION_MS}", recording.duration_ms),
        ));
    }
    if let Some(key) = &recording.key {
        // A segment is its own object: no bundle part range.
        if let Err(why) = crate::media_key::check(key) {
            problems.push(FieldProblem::new(
                join(path, "key"),
                ProblemCode::InvalidValue,
                format!("must be a canonical object key: {why}"),
            ));
        }
    }
}

fn check_capture(capture: &crate::event::Capture, path: &str, problems: &mut Vec<FieldProblem>) {
    require_uploaded(capture.status, &capture.key, capture.bytes, path, problems);
    let Some(key) = &capture.key else { return };
    let bad_key = |why: String| FieldProblem::new(join(path, "key"), ProblemCode::InvalidValue, why);
    match crate::event::split_part_key(key) {
        Err(why) => problems.push(bad_key(why.into())),
        Ok((object, range)) => {
            if let Err(why) = crate::media_key::check(object) {
                problems.push(bad_key(format!("must be a canonical object key: {why}")));
            } else if let Some((first, last)) = range {
                if capture.bytes.is_some_and(|bytes| bytes != last - first + 1) {
                    problems.push(FieldProblem::new(
                        join(path, "bytes"),
                        ProblemCode::InvalidValue,
                        "must be the length of the key's byte range",
                    ));
                }
            }
        }
    }
}

/// Decodes `map[key]` as `T`, reporting a missing or malformed value.
fn field<T: DeserializeOwned>(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    let Some(value) = map.get(key) else {
        problems.push(FieldProblem::new(join(path, key), ProblemCode::MissingField, format!("missing field `{key}`")));
        return None;
    };
    T::deserialize(value)
        .map_err(|e| {
            let message = e.to_string();
            let code =
                if message.starts_with("invalid type") { ProblemCode::InvalidType } else { ProblemCode::InvalidValue };
            problems.push(FieldProblem::new(join(path, key), code, message));
        })
        .ok()
}

fn report_unknown_keys(
    map: &Map<String, Value>,
    path: &str,
    is_known: impl Fn(&str) -> bool,
    problems: &mut Vec<FieldProblem>,
) {
    for key in map.keys().filter(|key| !is_known(key)) {
        problems.push(FieldProblem::new(join(path, key), ProblemCode::UnknownField, format!("unknown field `{key}`")));
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

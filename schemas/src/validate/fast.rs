//! The common case in one pass: a well-formed batch decoded straight from
//! its bytes, with no JSON tree in between.
//!
//! [`accept`] either returns the batch that the full validator would return
//! for the same bytes, or `None`; it never refuses on its own. Anything it is
//! unsure of (an escaped key, a duplicate, an unknown field, any rule that
//! fails) is `None`, and the caller runs the full validator, which finds and
//! names every problem. The two agree because they share the decoding of
//! each kind's body (`EventBody::from_fields`), the semantic rules
//! (`check_event`) and the head types; only the route to the values differs:
//! here each body field is a borrowed slice of the body (`&RawValue`) rather
//! than a node of a `Value` tree. Proven by the tests below and by the
//! `batch` fuzz target, which asserts the agreement on every input.

use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{check_event, Limits};
use crate::batch::EventBatch;
use crate::event::{Event, EventBody, EventKind};
use crate::PROTOCOL_VERSION;

/// The batch in `body` when it passes every rule, decoded in one pass.
pub(super) fn accept(body: &[u8], limits: &Limits) -> Option<EventBatch> {
    let wire: WireBatch = serde_json::from_slice(body).ok()?;
    let batch = EventBatch {
        v: wire.v,
        session_id: wire.session_id,
        batch_seq: wire.batch_seq,
        sent_at: wire.sent_at,
        events: wire.events.into_iter().map(|event| event.0).collect(),
    };
    let envelope_ok = batch.v == PROTOCOL_VERSION
        && !batch.session_id.is_nil()
        && batch.sent_at >= 0
        && (1..=limits.max_events).contains(&batch.events.len());
    if !envelope_ok {
        return None;
    }
    let mut problems = Vec::new();
    let mut previous_seq: Option<u64> = None;
    for event in &batch.events {
        check_event(event, limits, "", &mut problems);
        if !problems.is_empty() || previous_seq.is_some_and(|previous| event.seq <= previous) {
            return None;
        }
        previous_seq = Some(event.seq);
    }
    Some(batch)
}

/// The envelope as the derive reads it; unknown and duplicate keys fail.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBatch {
    v: u16,
    session_id: Uuid,
    batch_seq: u64,
    sent_at: i64,
    events: Vec<WireEvent>,
}

/// One event, its head read as typed values and its body fields kept as
/// slices of the request until the `type` (which may come last) is known.
struct WireEvent(Event);

impl<'de> Deserialize<'de> for WireEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(WireEventVisitor)
    }
}

struct WireEventVisitor;

impl<'de> Visitor<'de> for WireEventVisitor {
    type Value = WireEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireEvent, A::Error> {
        fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), E> {
            match slot.replace(value) {
                None => Ok(()),
                Some(_) => Err(E::custom(format_args!("duplicate field `{key}`"))),
            }
        }
        let (mut id, mut seq, mut ts, mut kind) = (None, None, None, None);
        let mut body: Vec<(&'de str, &'de RawValue)> = Vec::new();
        // A key with an escape cannot be borrowed: the error sends the batch
        // to the full validator, which handles it.
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "id" => once(&mut id, map.next_value::<Uuid>()?, key)?,
                "seq" => once(&mut seq, map.next_value::<u64>()?, key)?,
                "ts" => once(&mut ts, map.next_value::<i64>()?, key)?,
                "type" => {
                    let name = map.next_value::<&'de str>()?;
                    let known = EventKind::from_name(name).ok_or_else(|| de::Error::custom("unknown event type"))?;
                    once(&mut kind, known, key)?;
                }
                _ => body.push((key, map.next_value::<&'de RawValue>()?)),
            }
        }
        let missing = |name: &'static str| de::Error::missing_field(name);
        let kind = kind.ok_or_else(|| missing("type"))?;
        let template = kind.template();
        if let Some((unknown, _)) = body.iter().find(|(key, _)| !template.contains_key(*key)) {
            return Err(de::Error::custom(format_args!("unknown field `{unknown}`")));
        }
        let fields = MapDeserializer::<_, serde_json::Error>::new(body.into_iter());
        let body = EventBody::from_fields(kind, fields).map_err(|e| de::Error::custom(e.into_inner()))?;
        Ok(WireEvent(Event {
            id: id.ok_or_else(|| missing("id"))?,
            seq: seq.ok_or_else(|| missing("seq"))?,
            ts: ts.ok_or_else(|| missing("ts"))?,
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::accept;
    use crate::validate::{parse_batch, parse_batch_thoroughly, Limits};

    fn fixture(dir: &str, name: &str) -> String {
        let path = format!("{}/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `parse_batch` answers what the full validator answers, problems and all.
    fn agree(body: &str, limits: &Limits) {
        assert_eq!(parse_batch(body.as_bytes(), limits), parse_batch_thoroughly(body.as_bytes(), limits), "{body}");
    }

    /// Every valid fixture takes the one-pass path and reads the same.
    #[test]
    fn valid_batches_are_accepted_in_one_pass_as_the_full_validator_reads_them() {
        let limits = Limits::default();
        for name in ["mixed_batch.json", "single_key_activity.json", "bundle_parts.json"] {
            let body = fixture("valid", name);
            let fast = accept(body.as_bytes(), &limits).unwrap_or_else(|| panic!("{name} took the slow path"));
            assert_eq!(Ok(fast), parse_batch_thoroughly(body.as_bytes(), &limits), "{name}");
        }
    }

    /// Every invalid fixture is left to the full validator, so its problems
    /// are named exactly as before.
    #[test]
    fn invalid_batches_are_left_to_the_full_validator() {
        let limits = Limits::default();
        let dir = format!("{}/fixtures/invalid", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.ends_with(".expected.json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            assert!(accept(&body, &limits).is_none(), "{name} was accepted by the one-pass path");
            assert!(parse_batch(&body, &limits).is_err(), "{name}");
            seen += 1;
        }
        assert!(seen >= 9, "only {seen} invalid fixtures");
    }

    /// Valid shapes a derive might trip on (type last, escapes in values)
    /// still take the fast path; shapes the tree reads differently from a
    /// derive (duplicate keys: the tree keeps the last) are declined.
    #[test]
    fn edge_shapes_agree_and_only_safe_ones_take_the_fast_path() {
        let limits = Limits::default();
        let head = r#"{"v":1,"session_id":"019aaaac-2218-769e-b2a7-4de452e6b438","batch_seq":3,"sent_at":1763800021000,"events":["#;
        let id = r#""id":"019aaaac-2600-7c5c-a6a3-a4506513270e""#;
        let batch = |event: &str| format!("{head}{event}]}}");
        let fast_path = [
            format!(r#"{{"seq":0,"ts":1763800000000,"state":"hidden",{id},"type":"visibility"}}"#),
            format!(
                r#"{{{id},"seq":0,"ts":1763800000000,"type":"custom","name":"q\u00e9\"1","data":{{"a":[1,2.5,"x\n"],"b":null}}}}"#
            ),
            format!(
                r#"{{{id},"seq":0,"ts":1763800000000,"type":"sdk_error","code":"worker","message":"line\tbreak \ud83d\ude00"}}"#
            ),
        ];
        for event in &fast_path {
            let body = batch(event);
            assert!(accept(body.as_bytes(), &limits).is_some(), "{body}");
            agree(&body, &limits);
        }
        let declined = [
            // duplicate keys, in the head and in the body
            format!(r#"{{{id},"seq":0,"seq":1,"ts":1763800000000,"type":"visibility","state":"hidden"}}"#),
            format!(r#"{{{id},"seq":0,"ts":1763800000000,"type":"visibility","state":"hidden","state":"visible"}}"#),
            // an escaped key the tree unescapes to a known field
            format!(r#"{{{id},"seq":0,"ts":1763800000000,"type":"visibility","st\u0061te":"hidden"}}"#),
            // unknown field, unknown type, a float where an integer goes
            format!(r#"{{{id},"seq":0,"ts":1763800000000,"type":"visibility","state":"hidden","x":1}}"#),
            format!(r#"{{{id},"seq":0,"ts":1763800000000,"type":"teleport"}}"#),
            format!(r#"{{{id},"seq":1.0,"ts":1763800000000,"type":"visibility","state":"hidden"}}"#),
            // rules the types cannot carry: UUID version, negative time, interval 0
            r#"{"id":"019aaaac-2600-4c5c-a6a3-a4506513270e","seq":0,"ts":1,"type":"visibility","state":"hidden"}"#
                .to_owned(),
            format!(r#"{{{id},"seq":0,"ts":-1,"type":"visibility","state":"hidden"}}"#),
            format!(r#"{{{id},"seq":0,"ts":1763800000000,"type":"key_activity","keys":3,"interval_ms":0}}"#),
            // seq not increasing
            format!(
                r#"{{{id},"seq":4,"ts":1763800000000,"type":"visibility","state":"hidden"}},{{{id},"seq":4,"ts":1763800000000,"type":"visibility","state":"visible"}}"#
            ),
        ];
        for event in &declined {
            let body = batch(event);
            assert!(accept(body.as_bytes(), &limits).is_none(), "{body}");
            agree(&body, &limits);
        }
        // The envelope: another version, the nil session, an unknown key.
        for body in [
            batch(&fast_path[0]).replacen(r#""v":1"#, r#""v":2"#, 1),
            batch(&fast_path[0]).replacen(
                "019aaaac-2218-769e-b2a7-4de452e6b438",
                "00000000-0000-0000-0000-000000000000",
                1,
            ),
            batch(&fast_path[0]).replacen(r#""batch_seq":3"#, r#""batch_seq":3,"extra":true"#, 1),
        ] {
            assert!(accept(body.as_bytes(), &limits).is_none(), "{body}");
            agree(&body, &limits);
        }
    }
}

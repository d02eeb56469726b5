//! The `proctor_events` table (`clickhouse/001_proctor_events.sql`) holds
//! each event in typed columns (`state`, `capture_kind`, `keys`, …) plus a
//! JSON `payload` only where the columns cannot say everything. This module
//! is both halves of that bargain:
//!
//! - [`needs_payload`]: which events keep their whole JSON (the pipeline's
//!   row builder asks it);
//! - [`wire_event`]: the event as the SDK sent it, rebuilt from a row's
//!   columns (the review timeline serves it), so a reviewer sees every field
//!   an event has — a proctor message's text, a segment's `segment_seq` —
//!   without every row paying for a JSON copy.
//!
//! The column names are the table's; a row is a JSON object as ClickHouse's
//! `JSONEachRow` prints it, with the enum and UUID columns as strings and
//! `ts` in Unix ms (`dashboards/sql/api/timeline_events.sql`).

use serde_json::{json, Map, Value};

use crate::event::{Event, EventBody, EventKind};

/// Whether `event` must be stored with its whole JSON in `payload`: a
/// field of it has no typed column (a session's start, an SDK error's
/// message, custom data, a failed upload's error).
pub fn needs_payload(event: &Event) -> bool {
    match &event.body {
        EventBody::SessionStarted(_)
        | EventBody::SdkError(_)
        | EventBody::Custom(_)
        | EventBody::Display(_)
        | EventBody::Environment(_)
        | EventBody::OtherTabs(_) => true,
        EventBody::Capture(capture) => capture.error.is_some(),
        EventBody::Recording(recording) => recording.error.is_some(),
        _ => false,
    }
}

/// A row that does not hold an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnsError {
    #[error("column {0} is missing or of the wrong type")]
    Column(&'static str),
    #[error("unknown event type {0:?}")]
    Kind(String),
    #[error("the payload is not an event object: {0}")]
    Payload(String),
}

/// The event of one `proctor_events` row, as the SDK sent it (SPEC §3's
/// flat object: `id`, `seq`, `ts`, `type` and the kind's fields, absent
/// optional fields as `null`).
pub fn wire_event(row: &Map<String, Value>) -> Result<Map<String, Value>, ColumnsError> {
    if let Some(payload) = row.get("payload").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        return match serde_json::from_str::<Value>(payload) {
            Ok(Value::Object(event)) => Ok(event),
            Ok(_) => Err(ColumnsError::Payload("not an object".into())),
            Err(e) => Err(ColumnsError::Payload(e.to_string())),
        };
    }
    let name = text(row, "type")?;
    let kind = EventKind::from_name(name).ok_or_else(|| ColumnsError::Kind(name.to_owned()))?;
    let mut event = Map::new();
    event.insert("id".into(), json!(text(row, "event_id")?));
    event.insert("seq".into(), json!(number(row, "seq")?));
    event.insert("ts".into(), json!(integer(row, "ts")?));
    event.insert("type".into(), json!(name));
    event.extend(body_of(kind, row)?);
    Ok(event)
}

/// The fields of a `kind` body from the typed columns; kinds that always
/// carry a payload have none to read here.
fn body_of(kind: EventKind, row: &Map<String, Value>) -> Result<Map<String, Value>, ColumnsError> {
    use EventKind as K;
    // The object key and the object value, and the optional key and size of
    // an upload (stored as '' and 0 when absent).
    let upload = || -> Result<(Value, Value), ColumnsError> {
        let key = text(row, "capture_key")?;
        Ok(if key.is_empty() { (Value::Null, Value::Null) } else { (json!(key), json!(number(row, "capture_bytes")?)) })
    };
    let body = match kind {
        K::Permission => json!({ "device": text(row, "device")?, "state": text(row, "state")? }),
        K::Visibility | K::Focus | K::Fullscreen | K::Network => json!({ "state": text(row, "state")? }),
        K::SessionEnded | K::Blocked | K::Unblocked => json!({ "reason": text(row, "reason")? }),
        K::Clipboard => json!({
            "action": text(row, "action")?,
            "chars": number(row, "chars")?,
            "target": Some(text(row, "paste_target")?).filter(|t| !t.is_empty()),
        }),
        K::KeyActivity => json!({
            "keys": number(row, "keys")?,
            "interval_ms": number(row, "interval_ms")?,
            "peak_per_s": number(row, "peak_keys")?,
            "burst_s": number(row, "burst_s")?,
        }),
        K::Capture => {
            let (key, bytes) = upload()?;
            json!({
                "kind": text(row, "capture_kind")?,
                "status": text(row, "capture_status")?,
                "key": key,
                "bytes": bytes,
                "capture_seq": number(row, "capture_seq")?,
                "attempts": number(row, "attempts")?,
                "error": null,
            })
        }
        K::Recording => {
            let (key, bytes) = upload()?;
            json!({
                "track": text(row, "capture_kind")?,
                "status": text(row, "capture_status")?,
                "key": key,
                "bytes": bytes,
                "segment_seq": number(row, "capture_seq")?,
                "duration_ms": number(row, "duration_ms")?,
                "attempts": number(row, "attempts")?,
                "error": null,
            })
        }
        K::Face => json!({
            "faces": number(row, "faces")?,
            "confidence": fraction(row, "face_confidence")?,
            "face_size": fraction(row, "face_size")?,
            "light": fraction(row, "light")?,
            "ms": number(row, "duration_ms")?,
            // Not compared: the column's -1 (no cosine is stored below 0).
            "similarity": Some(fraction(row, "face_similarity")?).filter(|s| *s >= 0.0),
            "reference": number(row, "face_reference")? != 0,
        }),
        K::ScreenShareEnded | K::ContextMenu => json!({}),
        // Always stored with a payload (`needs_payload`): a row without one
        // lost it, and its typed columns say what they can.
        K::SessionStarted | K::Display | K::Environment | K::OtherTabs => json!({}),
        K::SdkError => json!({ "code": text(row, "name")? }),
        K::Custom => json!({ "name": text(row, "name")? }),
    };
    match body {
        Value::Object(fields) => Ok(fields),
        _ => unreachable!("every body above is an object"),
    }
}

fn text<'a>(row: &'a Map<String, Value>, column: &'static str) -> Result<&'a str, ColumnsError> {
    row.get(column).and_then(Value::as_str).ok_or(ColumnsError::Column(column))
}

fn number(row: &Map<String, Value>, column: &'static str) -> Result<u64, ColumnsError> {
    row.get(column).and_then(Value::as_u64).ok_or(ColumnsError::Column(column))
}

/// A `Float32` column, rounded back to the three decimals the SDK sends
/// (a float column widens 0.938 to 0.93799996…).
fn fraction(row: &Map<String, Value>, column: &'static str) -> Result<f64, ColumnsError> {
    let value = row.get(column).and_then(Value::as_f64).ok_or(ColumnsError::Column(column))?;
    Ok((value * 1000.0).round() / 1000.0)
}

fn integer(row: &Map<String, Value>, column: &'static str) -> Result<i64, ColumnsError> {
    row.get(column).and_then(Value::as_i64).ok_or(ColumnsError::Column(column))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of `kind` whose columns hold defaults, as the table would.
    fn blank_row(kind: EventKind) -> Map<String, Value> {
        let row = json!({
            "event_id": "0190b6e0-0000-7000-8000-000000000001", "seq": 3, "ts": 1_700_000_000_000_i64,
            "type": kind.as_str(), "state": "", "device": "", "action": "", "reason": "",
            "chars": 0, "paste_target": "", "keys": 0, "interval_ms": 0, "peak_keys": 0, "burst_s": 0, "capture_kind": "", "capture_status": "",
            "capture_key": "", "capture_bytes": 0, "capture_seq": 0, "attempts": 0, "duration_ms": 0,
            "faces": 0, "face_confidence": 0.0, "face_size": 0.0, "light": 0.0, "face_similarity": -1.0,
            "face_reference": 0, "name": "", "payload": "",
        });
        row.as_object().unwrap().clone()
    }

    /// Every field of every kind stored without a payload has a column it
    /// is read from: a field added to an event and not to the table fails
    /// here rather than going missing from the review timeline.
    #[test]
    fn every_field_of_a_typed_kind_is_read_from_a_column() {
        for &kind in EventKind::ALL {
            if matches!(
                kind,
                EventKind::SessionStarted
                    | EventKind::SdkError
                    | EventKind::Custom
                    | EventKind::Display
                    | EventKind::Environment
                    | EventKind::OtherTabs
            ) {
                continue;
            }
            let event = wire_event(&blank_row(kind)).unwrap();
            let mut fields: Vec<&String> =
                event.keys().filter(|k| !["id", "seq", "ts", "type"].contains(&k.as_str())).collect();
            let mut expected: Vec<&String> = kind.template().keys().collect();
            fields.sort();
            expected.sort();
            assert_eq!(fields, expected, "{}", kind.as_str());
        }
    }

    #[test]
    fn a_payload_is_the_event_and_a_row_without_a_type_is_an_error() {
        let mut row = blank_row(EventKind::Custom);
        row.insert("payload".into(), json!(r#"{"id":"x","seq":1,"ts":2,"type":"custom","name":"n","data":{"a":1}}"#));
        assert_eq!(wire_event(&row).unwrap()["data"], json!({"a": 1}));
        row.insert("payload".into(), json!("[1]"));
        assert!(matches!(wire_event(&row), Err(ColumnsError::Payload(_))));
        let mut row = blank_row(EventKind::Focus);
        row.insert("type".into(), json!("teleport"));
        assert_eq!(wire_event(&row), Err(ColumnsError::Kind("teleport".into())));
        row.remove("type");
        assert_eq!(wire_event(&row), Err(ColumnsError::Column("type")));
    }
}

//! ClickHouse row types, one per table of `schemas/clickhouse`, and how
//! records become rows.
//!
//! Column types map to RowBinary as: `DateTime64(3)` → `i64` milliseconds,
//! `Enum8` → `i8` (the event kind's tag, which the DDL's enum values match),
//! `LowCardinality(String)` → `String`, `UUID` → [`uuid::Uuid`]. The same
//! struct therefore writes to a modern server and to 18.16 twins.

use clickhouse::Row;
use invigil_schemas::event::{Event, EventBody};
use invigil_schemas::ids::Uuid;
use invigil_schemas::record::KafkaRecord;
use serde::{Deserialize, Serialize};

/// One row of `proctor_events`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct EventRow {
    pub test_id: String,
    pub candidate_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub session_id: Uuid,
    pub seq: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub ts: i64,
    pub received_at: i64,
    pub batch_seq: u64,
    /// `Enum8` tag: [`invigil_schemas::event::EventKind`] as `u8`.
    #[serde(rename = "type")]
    pub kind: i8,
    pub state: String,
    pub device: String,
    pub action: String,
    pub reason: String,
    pub chars: u32,
    pub keys: u32,
    pub interval_ms: u32,
    pub capture_kind: String,
    pub capture_status: String,
    pub capture_key: String,
    pub capture_bytes: u64,
    pub capture_seq: u64,
    pub attempts: u32,
    pub name: String,
    pub payload: String,
    pub ingest_node: String,
    pub client_ip_hash: u64,
    pub user_agent: String,
    pub version: u64,
}

/// The wire name of a unit enum value (`"hidden"`), as the SDK sent it.
fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

impl EventRow {
    /// The row for one event of an accepted record. `version` orders
    /// duplicates in the replacing table: the receipt time, so a re-delivered
    /// copy of the same event replaces rather than adds.
    pub fn new(record: &KafkaRecord, event: &Event) -> Self {
        let mut row = EventRow {
            test_id: record.test_id.to_string(),
            candidate_id: record.candidate_id.to_string(),
            session_id: record.batch.session_id,
            seq: event.seq,
            event_id: event.id,
            ts: event.ts,
            received_at: record.received_at,
            batch_seq: record.batch.batch_seq,
            kind: event.body.kind() as i8,
            state: String::new(),
            device: String::new(),
            action: String::new(),
            reason: String::new(),
            chars: 0,
            keys: 0,
            interval_ms: 0,
            capture_kind: String::new(),
            capture_status: String::new(),
            capture_key: String::new(),
            capture_bytes: 0,
            capture_seq: 0,
            attempts: 0,
            name: String::new(),
            payload: serde_json::to_string(event).unwrap_or_default(),
            ingest_node: record.ingest_node.clone(),
            client_ip_hash: record.client_ip_hash,
            user_agent: record.user_agent.clone(),
            version: u64::try_from(record.received_at).unwrap_or(0),
        };
        match &event.body {
            EventBody::Permission(b) => {
                row.device = wire_name(&b.device);
                row.state = wire_name(&b.state);
            }
            EventBody::Visibility(b) => row.state = wire_name(&b.state),
            EventBody::Focus(b) => row.state = wire_name(&b.state),
            EventBody::Fullscreen(b) => row.state = wire_name(&b.state),
            EventBody::Network(b) => row.state = wire_name(&b.state),
            EventBody::Clipboard(b) => {
                row.action = wire_name(&b.action);
                row.chars = b.chars;
            }
            EventBody::KeyActivity(b) => {
                row.keys = b.keys;
                row.interval_ms = b.interval_ms;
            }
            EventBody::Capture(b) => {
                row.capture_kind = wire_name(&b.kind);
                row.capture_status = wire_name(&b.status);
                row.capture_key = b.key.clone().unwrap_or_default();
                row.capture_bytes = b.bytes.unwrap_or(0);
                row.capture_seq = b.capture_seq;
                row.attempts = b.attempts;
            }
            EventBody::Blocked(b) => row.reason = wire_name(&b.reason),
            EventBody::Unblocked(b) => row.reason = wire_name(&b.reason),
            EventBody::SessionEnded(b) => row.reason = wire_name(&b.reason),
            EventBody::Custom(b) => row.name = b.name.clone(),
            EventBody::SdkError(b) => row.name = b.code.clone(),
            EventBody::SessionStarted(_) | EventBody::ScreenShareEnded(_) | EventBody::ContextMenu(_) => {}
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use invigil_schemas::event::EventKind;
    use invigil_schemas::migrations::MIGRATIONS;

    /// The DDL's `Enum8` must list the kinds with their tags as values, or
    /// rows would land under the wrong type.
    #[test]
    fn event_type_enum_matches_kind_tags() {
        let ddl = MIGRATIONS.iter().find(|m| m.name == "proctor_events").unwrap().sql;
        for kind in EventKind::ALL {
            let entry = format!("'{}' = {}", kind.as_str(), *kind as u8);
            assert!(ddl.contains(&entry), "proctor_events.type lacks {entry}");
        }
    }
}

//! The browser SDK's core (SPEC §5), compiled to `wasm32-unknown-unknown`.
//!
//! Modules arrive with the SDK issue: state machine, scheduling, IndexedDB
//! queues, retry policy, SigV4 signing. What exists now is the piece every one
//! of them builds on: assembling outgoing batches from recorded events with the
//! same types and limits the server validates against, so an SDK batch can
//! never be one the server rejects.

use invigil_schemas::batch::EventBatch;
use invigil_schemas::event::Event;
use invigil_schemas::ids::Uuid;
use invigil_schemas::validate::Limits;
use invigil_schemas::PROTOCOL_VERSION;

/// Cuts queued events into batches that respect `limits`: at most
/// `max_events` each, and each body under `max_body_bytes` once serialized.
pub fn batches(
    session_id: Uuid,
    first_batch_seq: u64,
    sent_at: i64,
    events: Vec<Event>,
    limits: &Limits,
) -> Vec<EventBatch> {
    let mut out: Vec<EventBatch> = Vec::new();
    // `{"v":1,"session_id":"<36>","batch_seq":<≤20>,"sent_at":<≤20>,"events":[]}`
    // is at most ~120 bytes; each event adds its JSON plus a comma.
    let envelope_bytes = 128;
    let mut current: Vec<Event> = Vec::new();
    let mut current_bytes = envelope_bytes;
    for event in events {
        let size = serde_json::to_vec(&event).map(|v| v.len() + 1).unwrap_or(limits.max_body_bytes);
        let full = current.len() == limits.max_events || current_bytes + size > limits.max_body_bytes;
        if full && !current.is_empty() {
            out.push(batch(session_id, first_batch_seq + out.len() as u64, sent_at, std::mem::take(&mut current)));
            current_bytes = envelope_bytes;
        }
        current_bytes += size;
        current.push(event);
    }
    if !current.is_empty() {
        out.push(batch(session_id, first_batch_seq + out.len() as u64, sent_at, current));
    }
    out
}

fn batch(session_id: Uuid, batch_seq: u64, sent_at: i64, events: Vec<Event>) -> EventBatch {
    EventBatch { v: PROTOCOL_VERSION, session_id, batch_seq, sent_at, events }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::event::{ContextMenu, Custom, CustomData};
    use invigil_schemas::ids::event_id_v7;
    use invigil_schemas::validate::parse_batch;

    fn events(n: u64, custom_bytes: usize) -> Vec<Event> {
        (0..n)
            .map(|seq| Event {
                id: event_id_v7(1_763_800_000_000 + seq, [seq as u8; 10]),
                seq,
                ts: 1_763_800_000_000 + seq as i64,
                body: if custom_bytes == 0 {
                    ContextMenu {}.into()
                } else {
                    Custom { name: "n".into(), data: CustomData::new(&serde_json::json!("x".repeat(custom_bytes))) }
                        .into()
                },
            })
            .collect()
    }

    /// Every batch the SDK builds is one the server accepts, in order, nothing lost.
    fn assert_accepted(batches: &[EventBatch], expected_events: u64, limits: &Limits) {
        let mut next_seq = 0;
        for (i, batch) in batches.iter().enumerate() {
            assert_eq!(batch.batch_seq, 7 + i as u64);
            let body = serde_json::to_vec(batch).unwrap();
            let parsed = parse_batch(&body, limits).unwrap_or_else(|p| panic!("batch {i} rejected: {p}"));
            for event in &parsed.events {
                assert_eq!(event.seq, next_seq);
                next_seq += 1;
            }
        }
        assert_eq!(next_seq, expected_events);
    }

    #[test]
    fn splits_on_event_count() {
        let limits = Limits::default();
        let out = batches(Uuid::from_u128(1), 7, 0, events(1_200, 0), &limits);
        assert_eq!(out.iter().map(|b| b.events.len()).collect::<Vec<_>>(), [500, 500, 200]);
        assert_accepted(&out, 1_200, &limits);
    }

    #[test]
    fn splits_on_body_size() {
        let limits = Limits::default();
        let out = batches(Uuid::from_u128(1), 7, 0, events(300, 2_000), &limits);
        assert!(out.len() >= 3, "300 × ~2 KB events need several 256 KiB bodies, got {}", out.len());
        assert_accepted(&out, 300, &limits);
    }
}

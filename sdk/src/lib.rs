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

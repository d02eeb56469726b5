//! Event batches as the SDK sends them.

use invigil_schemas::ids::event_id_v7;
use serde_json::{json, Value};

/// A valid batch of `n` events with sequence numbers from `first_seq`.
pub fn batch(session: &str, batch_seq: u64, first_seq: u64, n: usize) -> Value {
    let now = crate::now_ms();
    let events: Vec<Value> = (0..n as u64)
        .map(|i| {
            let seq = first_seq + i;
            let id = event_id_v7(
                now as u64,
                (seq as u128 * 7919 + batch_seq as u128).to_le_bytes()[..10].try_into().unwrap(),
            );
            match seq % 3 {
                0 => json!({"id": id, "seq": seq, "ts": now, "type": "visibility", "state": "hidden"}),
                1 => json!({"id": id, "seq": seq, "ts": now, "type": "visibility", "state": "visible"}),
                _ => json!({
                    "id": id, "seq": seq, "ts": now, "type": "key_activity",
                    "keys": 12, "interval_ms": 5000, "peak_per_s": 4, "burst_s": 0,
                }),
            }
        })
        .collect();
    json!({"v": 1, "session_id": session, "batch_seq": batch_seq, "sent_at": now, "events": events})
}

/// A fresh session id (a UUIDv7, as the SDK makes one).
pub fn new_session() -> String {
    event_id_v7(crate::now_ms() as u64, rand_bytes()).to_string()
}

fn rand_bytes() -> [u8; 10] {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ^ (std::process::id() as u128) << 64;
    n.to_le_bytes()[..10].try_into().unwrap()
}

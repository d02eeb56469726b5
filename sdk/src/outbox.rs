//! Events waiting for the server's acknowledgement, oldest first.
//!
//! Each event is serialized once, when it is recorded, and kept as JSON text:
//! the same text is written to IndexedDB and spliced into batch bodies, so a
//! replay after a reload sends byte-identical events (and the server's
//! `session_id`+`seq` dedup makes a resend harmless).
//!
//! Events of several sessions can wait at once (leftovers of a page that was
//! closed offline); the oldest session is sent first, in `seq` order, one
//! batch in flight at a time, so the server sees every session in order.

use invigil_schemas::ids::Uuid;
use invigil_schemas::text;
use invigil_schemas::validate::Limits;
use invigil_schemas::PROTOCOL_VERSION;

/// One recorded event: its place and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub seq: u64,
    pub json: String,
}

/// A batch cut from the outbox: which events it carries and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub session_id: Uuid,
    pub batch_seq: u64,
    /// `seq` of the first and last event carried.
    pub first_seq: u64,
    pub last_seq: u64,
    pub events: usize,
    pub body: String,
}

/// Events not yet acknowledged, per session (ordered by the session's UUIDv7,
/// i.e. by start time), then by `seq`. Sorted vectors rather than B-trees:
/// the queue is appended at the end and drained from the front, and every
/// B-tree instantiation costs the wasm bundle several KB.
#[derive(Debug, Default)]
pub struct Outbox {
    sessions: Vec<(Uuid, Vec<QueuedEvent>)>,
    len: usize,
    bytes: usize,
}

impl Outbox {
    pub fn push(&mut self, session_id: Uuid, event: QueuedEvent) {
        let at = match self.sessions.binary_search_by_key(&session_id, |(id, _)| *id) {
            Ok(at) => at,
            Err(at) => {
                self.sessions.insert(at, (session_id, Vec::new()));
                at
            }
        };
        let events = &mut self.sessions[at].1;
        self.bytes += event.json.len();
        match events.binary_search_by_key(&event.seq, |e| e.seq) {
            Ok(same) => self.bytes -= std::mem::replace(&mut events[same], event).json.len(),
            Err(place) => {
                events.insert(place, event);
                self.len += 1;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of queued JSON.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The next batch: the oldest session's first events, as many as fit in
    /// `limits` and in `max_body_bytes` (the smaller of the two; a page being
    /// closed may only send 64 KiB). `None` if nothing waits.
    pub fn cut(
        &self,
        batch_seq_of: impl FnOnce(Uuid) -> u64,
        sent_at: i64,
        limits: &Limits,
        max_body_bytes: usize,
    ) -> Option<Cut> {
        let (session_id, events) = self.sessions.iter().find(|(_, events)| !events.is_empty())?;
        let batch_seq = batch_seq_of(*session_id);
        let mut body = String::from(r#"{"v":"#);
        text::push_u64(&mut body, PROTOCOL_VERSION.into());
        body.push_str(r#","session_id":""#);
        text::push_uuid(&mut body, *session_id);
        body.push_str(r#"","batch_seq":"#);
        text::push_u64(&mut body, batch_seq);
        body.push_str(r#","sent_at":"#);
        text::push_i64(&mut body, sent_at);
        body.push_str(r#","events":["#);
        let budget = limits.max_body_bytes.min(max_body_bytes).saturating_sub(2);
        let mut count = 0;
        for event in events {
            if count == limits.max_events || (count > 0 && body.len() + 1 + event.json.len() > budget) {
                break;
            }
            if count > 0 {
                body.push(',');
            }
            body.push_str(&event.json);
            count += 1;
        }
        body.push_str("]}");
        let (first_seq, last_seq) = (events[0].seq, events[count - 1].seq);
        Some(Cut { session_id: *session_id, batch_seq, first_seq, last_seq, events: count, body })
    }

    /// Removes what the server acknowledged; returns the seqs removed.
    pub fn acknowledge(&mut self, cut: &Cut) -> Vec<u64> {
        let Ok(at) = self.sessions.binary_search_by_key(&cut.session_id, |(id, _)| *id) else { return Vec::new() };
        let events = &mut self.sessions[at].1;
        let start = events.partition_point(|e| e.seq < cut.first_seq);
        let end = events.partition_point(|e| e.seq <= cut.last_seq);
        let mut acked = Vec::with_capacity(end - start);
        for event in events.drain(start..end) {
            self.bytes -= event.json.len();
            acked.push(event.seq);
        }
        self.len -= acked.len();
        if events.is_empty() {
            self.sessions.remove(at);
        }
        acked
    }

    /// Drops every event of a session (the server will never accept them).
    pub fn discard_session(&mut self, session_id: Uuid) -> Vec<u64> {
        let Ok(at) = self.sessions.binary_search_by_key(&session_id, |(id, _)| *id) else { return Vec::new() };
        let (_, events) = self.sessions.remove(at);
        self.len -= events.len();
        let mut seqs = Vec::with_capacity(events.len());
        for event in events {
            self.bytes -= event.json.len();
            seqs.push(event.seq);
        }
        seqs
    }

    /// Highest queued seq of a session, for resuming its numbering.
    pub fn last_seq(&self, session_id: Uuid) -> Option<u64> {
        let at = self.sessions.binary_search_by_key(&session_id, |(id, _)| *id).ok()?;
        self.sessions[at].1.last().map(|e| e.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::event::{ContextMenu, Custom, CustomData, Event};
    use invigil_schemas::ids::event_id_v7;
    use invigil_schemas::validate::parse_batch;

    fn event_json(seq: u64, custom_bytes: usize) -> QueuedEvent {
        let event = Event {
            id: event_id_v7(1_763_800_000_000 + seq, [seq as u8; 10]),
            seq,
            ts: 1_763_800_000_000 + seq as i64,
            body: if custom_bytes == 0 {
                ContextMenu {}.into()
            } else {
                Custom { name: "n".into(), data: CustomData::new(&serde_json::json!("x".repeat(custom_bytes))) }.into()
            },
        };
        QueuedEvent { seq, json: serde_json::to_string(&event).unwrap() }
    }

    /// Drains the outbox as the engine does, checking each body with the
    /// server's own parser; returns the batch sizes.
    fn drain(outbox: &mut Outbox, limits: &Limits, max_body: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut next_seq = 0;
        while let Some(cut) = outbox.cut(|_| 7 + sizes.len() as u64, 5, limits, max_body) {
            assert!(cut.body.len() <= max_body.min(limits.max_body_bytes), "{} bytes", cut.body.len());
            let batch = parse_batch(cut.body.as_bytes(), limits).unwrap_or_else(|p| panic!("rejected: {p}"));
            assert_eq!(batch.batch_seq, 7 + sizes.len() as u64);
            for event in &batch.events {
                assert_eq!(event.seq, next_seq);
                next_seq += 1;
            }
            sizes.push(cut.events);
            assert_eq!(outbox.acknowledge(&cut).len(), cut.events);
        }
        assert!(outbox.is_empty() && outbox.bytes() == 0);
        sizes
    }

    #[test]
    fn splits_on_event_count() {
        let mut outbox = Outbox::default();
        for seq in (0..1_200).rev() {
            outbox.push(Uuid::from_u128(1), event_json(seq, 0));
        }
        assert_eq!(outbox.last_seq(Uuid::from_u128(1)), Some(1_199));
        assert_eq!(drain(&mut outbox, &Limits::default(), usize::MAX), [500, 500, 200]);
    }

    #[test]
    fn splits_on_body_size_and_the_unload_budget() {
        let mut outbox = Outbox::default();
        for seq in 0..300 {
            outbox.push(Uuid::from_u128(1), event_json(seq, 2_000));
        }
        let sizes = drain(&mut outbox, &Limits::default(), usize::MAX);
        assert!(sizes.len() >= 3, "300 × ~2 KB events need several 256 KiB bodies: {sizes:?}");
        for seq in 0..100 {
            outbox.push(Uuid::from_u128(1), event_json(seq, 2_000));
        }
        let sizes = drain(&mut outbox, &Limits::default(), 64 * 1024);
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.len() >= 4, "{sizes:?}");
    }

    #[test]
    fn older_sessions_go_first_and_discard_forgets_one() {
        let mut outbox = Outbox::default();
        let (old, new) = (event_id_v7(1_000, [1; 10]), event_id_v7(2_000, [1; 10]));
        outbox.push(new, event_json(0, 0));
        outbox.push(old, event_json(4, 0));
        outbox.push(old, event_json(4, 0));
        assert_eq!(outbox.len(), 2, "a replayed seq replaces, not duplicates");
        let cut = outbox.cut(|_| 0, 0, &Limits::default(), usize::MAX).unwrap();
        assert_eq!((cut.session_id, cut.first_seq), (old, 4));
        assert_eq!(outbox.discard_session(old), [4]);
        assert_eq!(outbox.cut(|_| 0, 0, &Limits::default(), usize::MAX).unwrap().session_id, new);
    }
}

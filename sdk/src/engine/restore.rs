//! Leftovers of earlier pages of this browser, handed over by the glue from
//! IndexedDB before `start`: their events are sent and their media uploaded
//! beside this page's session, and each is forgotten once all is delivered.

use invigil_schemas::event::{SessionEndReason, SessionEnded};

use super::Engine;
use crate::media::MediaItem;
use crate::outbox::QueuedEvent;
use crate::protocol::{Command, SessionMeta, Store, StoredEvent};

impl Engine {
    /// Takes in this candidate's leftovers from earlier pages: their events
    /// are sent first, their media uploaded, and an unfinished session is
    /// closed with `session_ended{page_closed}`. Other candidates' leftovers
    /// stay where they are.
    pub(super) fn restore(
        &mut self,
        now: i64,
        sessions: Vec<SessionMeta>,
        events: Vec<StoredEvent>,
        media: Vec<MediaItem>,
    ) {
        let Some(identity) = self.identity.clone() else { return };
        for mut meta in sessions {
            if meta.session_id == self.session.session_id
                || meta.test_id != identity.test_id
                || meta.candidate_id != identity.candidate_id
            {
                continue;
            }
            let last = events.iter().filter(|e| e.session_id == meta.session_id).map(|e| e.seq).max();
            meta.next_seq = meta.next_seq.max(last.map_or(0, |s| s + 1));
            self.old_sessions.insert(meta.session_id, meta);
        }
        for event in events {
            if self.old_sessions.contains_key(&event.session_id) {
                self.events.outbox.push(event.session_id, QueuedEvent { seq: event.seq, json: event.json });
            }
        }
        for item in media {
            if self.old_sessions.contains_key(&item.session_id) {
                self.on_captured(item);
            }
        }
        let mut unfinished = Vec::new();
        for meta in self.old_sessions.values() {
            if !meta.ended {
                unfinished.push(meta.session_id);
            }
        }
        for session_id in unfinished {
            self.record_in(session_id, now, SessionEnded { reason: SessionEndReason::PageClosed }.into());
            let meta = self.old_sessions.get_mut(&session_id).expect("present");
            meta.ended = true;
            let persist = meta.persist();
            self.commands.push(persist);
        }
        self.forget_finished_sessions();
        self.events.flush_requested = true;
    }

    /// Restored sessions whose last event and capture are delivered are
    /// forgotten, meta included.
    pub(super) fn forget_finished_sessions(&mut self) {
        let mut done = Vec::new();
        for &id in self.old_sessions.keys() {
            if self.events.outbox.last_seq(id).is_none() && !self.uploads.media.has_session(id) {
                done.push(id);
            }
        }
        for session_id in done {
            self.old_sessions.remove(&session_id);
            self.commands.push(Command::Forget {
                store: Store::Sessions,
                keys: vec![invigil_schemas::text::uuid_string(session_id)],
            });
        }
    }
}

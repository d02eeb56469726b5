//! The events channel: every event is recorded into the outbox and
//! IndexedDB at once, then sent a batch at a time (one in flight, oldest
//! first, each session's `batch_seq` persisted before it leaves). An ack
//! forgets the batch; a reply that can never succeed forgets it too and says
//! so; anything else retries with backoff. Key presses are only counted here
//! and leave as one `key_activity` per interval.

use invigil_schemas::api::{EventsResponse, ShutdownReason};
use invigil_schemas::event::{
    Event, EventBody, KeyActivity, SdkError, BURST_FLOOR_PER_S, BURST_TIMES_BASELINE, BURST_WARM_UP_S,
};
use invigil_schemas::ids::{event_id_v7, Uuid};
use invigil_schemas::text;

use super::{next_on_grid, retry_after, Engine, Pending, KEEPALIVE_BYTES};
use crate::json::{Error, Node};
use crate::outbox::{Cut, Outbox, QueuedEvent};
use crate::protocol::{event_key, event_keys, Command, Notice, Store};
use crate::retry::{Channel, Outcome};

#[derive(Debug)]
pub(super) struct EventsChannel {
    pub(super) link: Channel,
    pub(super) outbox: Outbox,
    /// Send what waits as soon as the link is ready (an interval passed, or
    /// something the proctor wall shows was recorded).
    pub(super) flush_requested: bool,
    /// When the next `key_activity` interval ends.
    pub(super) next_interval: i64,
    /// Keys pressed in the current interval.
    pub(super) keys: u32,
    /// The candidate's typing, second by second.
    pub(super) typing: Typing,
}

/// Typing speed without content: each second's key count (the glue reports
/// one a second) against the candidate's own running rate. A second is a
/// burst when it has more keys than both [`BURST_FLOOR_PER_S`] and
/// [`BURST_TIMES_BASELINE`] times the mean of the typing seconds before it
/// (once there are [`BURST_WARM_UP_S`] of them); a burst second does not
/// raise the mean, so a long injected stream stays a burst.
#[derive(Debug, Default)]
pub(crate) struct Typing {
    /// The current interval's busiest second and its burst seconds.
    pub(crate) peak: u32,
    pub(crate) burst_s: u32,
    /// Ordinary seconds with keys so far, and their keys: the running rate.
    typing_s: u32,
    typing_keys: u64,
}

impl Typing {
    /// One second's keys (> 0).
    pub(crate) fn second(&mut self, keys: u32) {
        self.peak = self.peak.max(keys);
        let warm = self.typing_s >= BURST_WARM_UP_S;
        let above_own =
            u64::from(keys) * u64::from(self.typing_s.max(1)) > u64::from(BURST_TIMES_BASELINE) * self.typing_keys;
        if keys > BURST_FLOOR_PER_S && (!warm || above_own) {
            self.burst_s += 1;
        } else {
            self.typing_s += 1;
            self.typing_keys += u64::from(keys);
        }
    }

    /// The interval's peak and burst seconds, and a fresh interval.
    pub(crate) fn take_interval(&mut self) -> (u32, u32) {
        (std::mem::take(&mut self.peak), std::mem::take(&mut self.burst_s))
    }
}

impl EventsChannel {
    pub(super) fn new() -> Self {
        Self {
            link: Channel::new(1_000, 30_000),
            outbox: Outbox::default(),
            flush_requested: false,
            next_interval: i64::MAX,
            keys: 0,
            typing: Typing::default(),
        }
    }
}

impl Engine {
    /// Records an event in the current session.
    pub(super) fn record(&mut self, now: i64, body: EventBody) {
        let session_id = self.session.session_id;
        self.record_in(session_id, now, body);
    }

    /// Records an event in `session_id`: this page's session or a restored
    /// one still sending (an unknown session records nothing).
    pub(super) fn record_in(&mut self, session_id: Uuid, now: i64, body: EventBody) {
        let random = self.rng.bytes10();
        let meta = if session_id == self.session.session_id {
            &mut self.session
        } else if let Some(meta) = self.old_sessions.get_mut(&session_id) {
            meta
        } else {
            return;
        };
        let seq = meta.next_seq;
        meta.next_seq += 1;
        // What a proctor watches live leaves now, or as soon as the batch in
        // flight is answered, instead of at the next interval.
        if moves_the_wall(&body) {
            self.events.flush_requested = true;
        }
        let event = Event { id: event_id_v7(now.max(0) as u64, random), seq, ts: now, body };
        let json = crate::json::to_string(&event);
        self.commands.push(Command::Persist {
            store: Store::Events,
            key: event_key(session_id, seq),
            value: json.clone(),
        });
        self.events.outbox.push(session_id, QueuedEvent { seq, json });
    }

    /// At the end of each interval: the keys counted in it, as one event,
    /// and a flush of whatever waits.
    pub(super) fn close_key_interval(&mut self, now: i64) {
        if now < self.events.next_interval {
            return;
        }
        let interval_ms = self.config.events_interval_ms.max(1_000);
        let keys = std::mem::take(&mut self.events.keys);
        let (peak_per_s, burst_s) = self.events.typing.take_interval();
        // A late tick may fold two seconds into one report: the interval's
        // sums still hold, its peak is at most its keys.
        let peak_per_s = peak_per_s.min(keys);
        self.record(
            now,
            KeyActivity { keys, interval_ms, peak_per_s, burst_s: burst_s.min(interval_ms.div_ceil(1_000)) }.into(),
        );
        self.events.flush_requested = true;
        self.events.next_interval = next_on_grid(self.events.next_interval, i64::from(interval_ms), now);
    }

    pub(super) fn send_events(&mut self, now: i64) {
        if !self.events.flush_requested || !self.events.link.ready(now) {
            return;
        }
        match self.next_cut(now, usize::MAX) {
            Some(cut) => self.post_events(cut, false),
            None => self.events.flush_requested = false,
        }
    }

    /// The page is going away: whatever fits in one keepalive request goes
    /// now; the rest waits in IndexedDB for the next page.
    pub(super) fn send_last_events(&mut self, now: i64) {
        if let Some(cut) = self.next_cut(now, KEEPALIVE_BYTES) {
            self.post_events(cut, true);
        }
    }

    fn post_events(&mut self, cut: Cut, keepalive: bool) {
        let url = text::cat(&[&self.endpoint, "/api/v1/events"]);
        let body = cut.body.clone();
        self.events.link.sent();
        self.fetch(Pending::Events(cut), "POST", url, Some(body), keepalive);
    }

    /// Cuts the next batch and advances its session's `batch_seq` (persisted,
    /// so a reload never reuses one).
    fn next_cut(&mut self, now: i64, max_body: usize) -> Option<Cut> {
        let current = self.session.session_id;
        let old = &self.old_sessions;
        let next_batch = |id: Uuid| {
            if id == current {
                self.session.next_batch_seq
            } else {
                old.get(&id).map_or(0, |m| m.next_batch_seq)
            }
        };
        let cut = self.events.outbox.cut(next_batch, now, &self.limits, max_body)?;
        let meta =
            if cut.session_id == current { &mut self.session } else { self.old_sessions.get_mut(&cut.session_id)? };
        meta.next_batch_seq += 1;
        let persist = meta.persist();
        self.commands.push(persist);
        Some(cut)
    }

    pub(super) fn on_events_reply(&mut self, now: i64, unit: f64, cut: Cut, outcome: Outcome, status: u16, body: &str) {
        self.events.link.answered();
        match outcome {
            Outcome::Success => match EventsReply::parse(body) {
                Ok(EventsResponse::Ok { config_version, .. }) => {
                    self.events.link.succeeded();
                    self.acknowledge(cut);
                    self.config_channel.server_has(config_version);
                }
                Ok(EventsResponse::Shutdown { reason, .. }) => self.shutdown(reason),
                Err(_) => {
                    self.events.link.failed(now, unit, None);
                }
            },
            Outcome::Rejected => {
                // The batch can never be accepted; keep it from blocking the
                // queue, and say so.
                self.acknowledge(cut);
                let mut message = String::from("events batch rejected with ");
                text::push_u64(&mut message, status.into());
                message.push_str(": ");
                message.push_str(text::prefix(body, 300));
                self.record(now, SdkError { code: "batch_rejected".into(), message }.into());
            }
            Outcome::Unauthorized => {
                self.events.link.failed(now, unit, None);
                let notice = Notice { code: Some("unauthorized"), http_status: Some(status), ..Notice::default() };
                self.notify("error", notice);
            }
            Outcome::NetworkError | Outcome::Transient { .. } => {
                self.events.link.failed(now, unit, retry_after(outcome));
            }
        }
    }

    fn acknowledge(&mut self, cut: Cut) {
        let keys = event_keys(cut.session_id, self.events.outbox.acknowledge(&cut));
        self.commands.push(Command::Forget { store: Store::Events, keys });
        self.forget_finished_sessions();
    }
}

/// Events the proctor wall shows as they happen (tab switches, focus,
/// fullscreen, blocks, permissions): sent without waiting for an interval.
/// Counts (keys, clipboard) and captures ride the next regular batch.
fn moves_the_wall(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::Visibility(_)
            | EventBody::Focus(_)
            | EventBody::Fullscreen(_)
            | EventBody::Blocked(_)
            | EventBody::Unblocked(_)
            | EventBody::Permission(_)
            | EventBody::ScreenShareEnded(_)
            | EventBody::OtherTabs(_)
            | EventBody::Display(_)
    )
}

/// `EventsResponse` (internally tagged by `status`), as the SDK reads it.
struct EventsReply;

impl EventsReply {
    fn parse(body: &str) -> Result<EventsResponse, Error> {
        let node = Node::parse(body)?;
        match node.field("status")?.str()? {
            "ok" => Ok(EventsResponse::Ok {
                accepted: node.or("accepted", 0, Node::u32)?,
                config_version: node.or("config_version", 0, Node::u64)?,
            }),
            "shutdown" => Ok(EventsResponse::Shutdown {
                reason: node.field("reason")?.variant::<ShutdownReason>()?,
                action: Default::default(),
            }),
            _ => Err(Error::new("an unknown status")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::api::ShutdownAction;

    #[test]
    fn events_replies_are_read_as_the_server_writes_them() {
        let replies = [
            EventsResponse::Ok { accepted: 12, config_version: 3 },
            EventsResponse::Shutdown {
                reason: ShutdownReason::ProctoringDisabled,
                action: ShutdownAction::GracefulShutdown,
            },
            EventsResponse::Shutdown {
                reason: ShutdownReason::CandidateBypassed,
                action: ShutdownAction::GracefulShutdown,
            },
        ];
        for reply in replies {
            let wire = serde_json::to_string(&reply).unwrap();
            assert_eq!(EventsReply::parse(&wire), Ok(reply), "{wire}");
        }
        for bad in [r#"{"status":"maybe"}"#, r#"{"status":"shutdown"}"#, r#"{"accepted":1}"#, "[]", ""] {
            assert!(EventsReply::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn steady_typing_has_no_burst_and_a_stream_far_above_it_does() {
        let mut typing = Typing::default();
        for keys in [4, 6, 5, 7, 3].repeat(5) {
            typing.second(keys);
        }
        assert_eq!(typing.take_interval(), (7, 0));
        // Forty a second against this person's ~5: bursts, which do not
        // count towards the rate.
        for _ in 0..4 {
            typing.second(40);
        }
        typing.second(6);
        assert_eq!(typing.take_interval(), (40, 4));
        // The stream did not raise the rate: it is still a burst later.
        typing.second(40);
        assert_eq!(typing.take_interval(), (40, 1));
    }

    #[test]
    fn a_fast_typist_is_measured_against_their_own_rate() {
        let mut typing = Typing::default();
        for _ in 0..30 {
            typing.second(12);
        }
        typing.second(30);
        assert_eq!(typing.take_interval(), (30, 0), "30 is under 3 x 12");
        typing.second(40);
        assert_eq!(typing.take_interval(), (40, 1));
    }

    #[test]
    fn before_the_warm_up_only_the_floor_decides() {
        let mut typing = Typing::default();
        typing.second(15);
        typing.second(16);
        assert_eq!(typing.take_interval(), (16, 1), "15 is the floor itself, 16 is over it");
    }
}

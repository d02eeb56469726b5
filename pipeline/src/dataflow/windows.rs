//! The windows operator: every candidate's sessions in memory (exchanged
//! here by candidate), folded batch by batch; live counters computed at most
//! every `live_interval_ms` and sent on for [`super::live_counters`] to
//! publish; window, anomaly and session rows each time the frontier crosses
//! a minute (or at once for sessions a record stamped off a minute changed);
//! sessions first seen rebuilt from the store ([`super::restore`]); ended,
//! quiet, written sessions evicted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, StreamVec};
use timely::scheduling::Activator;

use super::config_watch::ConfigWatch;
use super::live_counters::Update;
use super::restore::load_sessions;
use super::writer::store_failed;
use super::Shared;
use crate::emit::{Emission, Tracked};
use crate::live;
use crate::metrics::Metrics;
use crate::session::{FactBatch, FastMap, FastSet, SessionKey};
use crate::source::Time;
use crate::store::StoreError;
use invigil_schemas::clock::now_ms;
use invigil_schemas::ids::{CandidateId, TestId, Uuid};
use invigil_schemas::live::LiveCounters;

/// Folds each candidate's facts into their sessions and emits their rows.
pub(super) fn windows<'scope>(
    scope: Scope<'scope, Time>,
    facts: StreamVec<'scope, Time, FactBatch>,
    shared: Shared,
) -> StreamVec<'scope, Time, Update> {
    facts.unary_frontier::<CapacityContainerBuilder<Vec<Update>>, _, _, _>(
        Exchange::new(super::candidate_hash),
        "Windows",
        |capability, info| {
            let mut windows = Windows::new(shared, scope.activator_for(info.address), capability);
            move |(input, frontier), output| {
                let now = now_ms();
                windows.forget_erased();
                input.for_each(|incoming, data| {
                    let time = incoming.least().copied().unwrap_or_default();
                    windows.take(time, data.drain(..));
                });
                windows.settle_load();
                windows.start_load();
                windows.follow_config();
                let lower = frontier.frontier().iter().min().copied();
                // The input is exhausted: the capability goes with this step,
                // so what the interval still held back leaves now.
                let last = lower.is_none();
                let live =
                    |capability: &Capability<Time>, counters| output.session(capability).give(Update::Live(counters));
                windows.live_counters(now, last, live);
                let give =
                    |capability: &Capability<Time>, emission| output.session(capability).give(Update::Rows(emission));
                if windows.advance(lower, now, give) {
                    windows.evict();
                }
            }
        },
    )
}

/// Per-session bookkeeping beyond the digest.
struct Slot {
    tracked: Tracked,
    /// Newest receipt folded in, for live latency.
    received_at: i64,
    touched: Instant,
    /// The candidate has another session in memory: a batch of this one
    /// changes what the others shared with it (most candidates have one,
    /// and their batches skip [`Windows::link_siblings`] at no cost).
    has_siblings: bool,
}

/// The operator's state between activations.
struct Windows {
    shared: Shared,
    activator: Activator,
    lateness: i64,
    ticks_per_window: Time,
    config: ConfigWatch,
    sessions: FastMap<SessionKey, Slot>,
    /// Each candidate's sessions in `sessions`: a candidate with two at once
    /// (another tab, browser or device) has their spans compared.
    by_candidate: FastMap<(TestId, CandidateId), Vec<Uuid>>,
    /// Batches of sessions not yet loaded from the store, by time.
    waiting: Vec<(Time, FactBatch)>,
    live_due: FastSet<SessionKey>,
    /// Sessions changed by a record stamped off a minute boundary (a late
    /// one, at the source's current time, or one rebuilt from the store):
    /// their rows are written at the next frontier step, not the next
    /// minute, or that record's offset could be committed before them.
    urgent: FastSet<SessionKey>,
    last_live: Instant,
    last_evict: Instant,
    load_retry_at: Option<Instant>,
    loading: Option<tokio::task::JoinHandle<Result<Vec<Tracked>, StoreError>>>,
    emitted_through: Option<Time>,
    counted_sessions: i64,
    /// The erasures' generation last looked at ([`Self::forget_erased`]).
    erasures_seen: u64,
    /// Released once the input is exhausted.
    capability: Option<Capability<Time>>,
}

impl Windows {
    fn new(shared: Shared, activator: Activator, capability: Capability<Time>) -> Self {
        let settings = &shared.settings;
        Self {
            lateness: settings.allowed_lateness_ms,
            ticks_per_window: (crate::session::WINDOW_MS / settings.tick_ms.max(1)).max(1) as Time,
            config: ConfigWatch::new(shared.config.clone()),
            sessions: FastMap::default(),
            by_candidate: FastMap::default(),
            waiting: Vec::new(),
            live_due: FastSet::default(),
            urgent: FastSet::default(),
            last_live: Instant::now(),
            last_evict: Instant::now(),
            load_retry_at: None,
            loading: None,
            emitted_through: None,
            counted_sessions: 0,
            erasures_seen: 0,
            capability: Some(capability),
            activator,
            shared,
        }
    }

    /// After a new erasure, drops the erased candidates' sessions from
    /// memory: their counts would otherwise flow into the rows of whatever
    /// the candidate sends next in the same session. A later batch of such
    /// a session is rebuilt from the store like any first sight — from
    /// nothing, since its rows are gone.
    fn forget_erased(&mut self) {
        let Some(erasures) = &self.shared.erasures else { return };
        let generation = erasures.generation();
        if generation == self.erasures_seen {
            return;
        }
        self.erasures_seen = generation;
        let before = self.sessions.len();
        self.sessions
            .retain(|key, slot| !erasures.covers(key.test_id.as_str(), key.candidate_id.as_str(), slot.received_at));
        self.reindex();
        if self.sessions.len() < before {
            tracing::info!(sessions = before - self.sessions.len(), "erased candidates' sessions left memory");
        }
    }

    /// Folds batches that arrived at `time` into their sessions; batches of
    /// sessions not in memory wait for their load.
    fn take(&mut self, time: Time, batches: impl Iterator<Item = FactBatch>) {
        let off_boundary = time % self.ticks_per_window != 0;
        let mut changed = Vec::new();
        for batch in batches {
            match self.sessions.get_mut(&batch.key) {
                Some(slot) => {
                    if slot.tracked.add(&batch, self.lateness) {
                        slot.received_at = slot.received_at.max(batch.received_at);
                        slot.touched = Instant::now();
                        if off_boundary {
                            self.urgent.insert(batch.key.clone());
                        }
                        self.live_due.insert(batch.key.clone());
                        if slot.has_siblings {
                            changed.push(batch.key);
                        }
                    }
                }
                None => self.waiting.push((time, batch)),
            }
        }
        self.link_siblings(changed.iter());
    }

    /// The index of each candidate's sessions, rebuilt after sessions left.
    fn reindex(&mut self) {
        self.by_candidate.clear();
        for key in self.sessions.keys() {
            self.by_candidate.entry((key.test_id.clone(), key.candidate_id.clone())).or_default().push(key.session_id);
        }
        for (key, slot) in self.sessions.iter_mut() {
            let candidate = (key.test_id.clone(), key.candidate_id.clone());
            slot.has_siblings = self.by_candidate.get(&candidate).is_some_and(|ids| ids.len() > 1);
        }
    }

    /// After the sessions `changed` took batches: each session of their
    /// candidates gets the others' spans; one whose siblings changed is
    /// recomputed, written at the next step and shown on the wall at once.
    fn link_siblings<'k>(&mut self, changed: impl Iterator<Item = &'k SessionKey>) {
        let candidates: FastSet<(TestId, CandidateId)> = changed
            .map(|key| (key.test_id.clone(), key.candidate_id.clone()))
            .filter(|candidate| self.by_candidate.get(candidate).is_some_and(|ids| ids.len() > 1))
            .collect();
        for candidate in candidates {
            let keys: Vec<SessionKey> = self.by_candidate[&candidate]
                .iter()
                .map(|id| SessionKey {
                    test_id: candidate.0.clone(),
                    candidate_id: candidate.1.clone(),
                    session_id: *id,
                })
                .collect();
            let spans: Vec<Option<(i64, i64)>> = keys
                .iter()
                .map(|key| {
                    let session = &self.sessions.get(key)?.tracked.session;
                    (!session.is_empty()).then_some((session.first_ts, session.last_ts))
                })
                .collect();
            for (i, key) in keys.iter().enumerate() {
                let others = spans.iter().enumerate().filter(|(j, _)| *j != i).filter_map(|(_, s)| *s).collect();
                if let Some(slot) = self.sessions.get_mut(key) {
                    if slot.tracked.set_siblings(others) {
                        self.urgent.insert(key.clone());
                        self.live_due.insert(key.clone());
                    }
                }
            }
        }
    }

    /// First sight of a session in this process: it is rebuilt from the
    /// store before its new batches apply. One load at a time; batches of
    /// sessions not yet loaded (including ones arriving during a load) wait,
    /// and hold the frontier back, until their session is in memory. This
    /// settles a finished load.
    fn settle_load(&mut self) {
        if !self.loading.as_ref().is_some_and(|handle| handle.is_finished()) {
            return;
        }
        let handle = self.loading.take().expect("checked above");
        let outcome = self
            .shared
            .runtime
            .block_on(handle)
            .unwrap_or_else(|e| Err(StoreError::Unavailable(format!("session load task: {e}"))));
        match outcome {
            Ok(loaded) => {
                self.load_retry_at = None;
                Metrics::add(&self.shared.metrics.sessions_loaded, loaded.len() as u64);
                let mut changed = Vec::new();
                for tracked in loaded {
                    let key = tracked.session.key.clone();
                    let ids = self.by_candidate.entry((key.test_id.clone(), key.candidate_id.clone())).or_default();
                    ids.push(key.session_id);
                    let has_siblings = ids.len() > 1;
                    if has_siblings {
                        // Every session of the candidate has siblings now.
                        for id in ids.clone() {
                            if let Some(slot) = self.sessions.get_mut(&SessionKey { session_id: id, ..key.clone() }) {
                                slot.has_siblings = true;
                            }
                        }
                    }
                    let slot = Slot { tracked, received_at: 0, touched: Instant::now(), has_siblings };
                    self.sessions.insert(key.clone(), slot);
                    changed.push(key);
                }
                let (sessions, urgent, live_due) = (&mut self.sessions, &mut self.urgent, &mut self.live_due);
                let lateness = self.lateness;
                self.waiting.retain(|(_, batch)| {
                    let Some(slot) = sessions.get_mut(&batch.key) else { return true };
                    urgent.insert(batch.key.clone());
                    slot.tracked.add(batch, lateness);
                    slot.received_at = slot.received_at.max(batch.received_at);
                    live_due.insert(batch.key.clone());
                    false
                });
                self.link_siblings(changed.iter());
            }
            Err(error) => {
                store_failed(&self.shared.metrics, &error);
                tracing::warn!(%error, "loading sessions from the store failed; retrying");
                self.load_retry_at = Some(Instant::now() + Duration::from_secs(1));
                self.activator.activate_after(Duration::from_secs(1));
            }
        }
    }

    /// Starts loading the sessions batches wait for, unless a load runs or
    /// the last one failed under a second ago.
    fn start_load(&mut self) {
        let retry_due = self.load_retry_at.is_none_or(|at| Instant::now() >= at);
        if self.loading.is_none() && !self.waiting.is_empty() && retry_due {
            let keys: Vec<SessionKey> =
                self.waiting.iter().map(|(_, b)| b.key.clone()).collect::<HashSet<_>>().into_iter().collect();
            let load = load_sessions(self.shared.store.clone(), keys, self.lateness);
            self.loading = Some(self.shared.runtime.spawn(load));
        }
        if self.loading.is_some() {
            self.activator.activate_after(Duration::from_millis(2));
        }
    }

    /// A changed config document makes every session recompute.
    fn follow_config(&mut self) {
        if self.config.poll() {
            for slot in self.sessions.values_mut() {
                slot.tracked.invalidate();
            }
        }
    }

    /// Live counters of the sessions that changed, at most every
    /// `live_interval_ms` (at once when this is the `last` step), given at
    /// the operator's current time.
    fn live_counters(&mut self, now: i64, last: bool, mut give: impl FnMut(&Capability<Time>, LiveCounters)) {
        let Some(capability) = self.capability.as_ref() else { return };
        if self.live_due.is_empty() || self.shared.live.is_none() {
            self.live_due.clear();
            return;
        }
        let interval = Duration::from_millis(self.shared.settings.live_interval_ms);
        if self.last_live.elapsed() < interval && !last {
            self.activator.activate_after(interval);
            return;
        }
        self.last_live = Instant::now();
        for key in self.live_due.drain() {
            let Some(slot) = self.sessions.get_mut(&key) else { continue };
            let config = self.config.for_session(&key).clone();
            give(capability, live::counters(&mut slot.tracked, &config, slot.received_at, now));
        }
    }

    /// Emits rows when the frontier (`lower`, or the oldest waiting batch)
    /// moved: the watermark in ms is that time; an empty frontier closes
    /// everything and releases the capability. Says whether it moved.
    fn advance(&mut self, lower: Option<Time>, now: i64, mut give: impl FnMut(&Capability<Time>, Emission)) -> bool {
        let Some(capability) = self.capability.as_mut() else { return false };
        let held_back = self.waiting.iter().map(|(t, _)| *t).min();
        let target = match (lower, held_back) {
            (Some(l), Some(h)) => Some(l.min(h)),
            (l, h) => l.or(h),
        };
        if target.is_some() && target == self.emitted_through {
            return false;
        }
        let watermark_ms = target.map_or(i64::MAX, |t| (t as i64).saturating_mul(self.shared.settings.tick_ms));
        // Session-level rows follow every change but are written once per
        // minute of event time: when the frontier passes a minute boundary
        // — which is when records stamped on that boundary become
        // committable — or at once for sessions changed by records stamped
        // off a boundary.
        let ticks_per_window = self.ticks_per_window;
        let minute_of = |t: Time| t / ticks_per_window;
        let crossed = match (self.emitted_through, target) {
            (Some(before), Some(now)) => minute_of(now.saturating_sub(1)) != minute_of(before.saturating_sub(1)),
            _ => true,
        };
        // Minute windows close only at minute boundaries too, so a step
        // within a minute visits the urgent sessions alone.
        let mut emission = Emission::default();
        if crossed {
            self.urgent.clear();
            for slot in self.sessions.values_mut() {
                let config = self.config.for_session(&slot.tracked.session.key);
                slot.tracked.emit(config, watermark_ms, now, &mut emission);
            }
        } else {
            for key in self.urgent.drain() {
                if let Some(slot) = self.sessions.get_mut(&key) {
                    let config = self.config.for_session(&key);
                    slot.tracked.emit(config, watermark_ms, now, &mut emission);
                }
            }
        }
        // The rows leave at the time the frontier stood at until now — no
        // later than any record they reflect — and only then does the
        // capability move up. Given after the move, they would let the
        // records' offsets commit before the store acknowledged them.
        if !emission.is_empty() {
            give(capability, emission);
        }
        if let Some(t) = target {
            if t > *capability.time() {
                capability.downgrade(&t);
            }
        }
        self.emitted_through = target;
        if target.is_none() {
            self.capability = None;
        }
        true
    }

    /// Ended sessions, fully written and quiet, leave memory (looked at
    /// every 10 s, on a frontier step); the gauge follows.
    fn evict(&mut self) {
        if self.last_evict.elapsed() >= Duration::from_secs(10) {
            self.last_evict = Instant::now();
            let quiet = Duration::from_millis(self.shared.settings.evict_after_ms.max(0) as u64);
            let before = self.sessions.len();
            self.sessions.retain(|_, slot| {
                !(slot.tracked.session.ended.is_some() && slot.touched.elapsed() >= quiet && slot.tracked.settled())
            });
            if self.sessions.len() < before {
                self.reindex();
            }
            Metrics::add(&self.shared.metrics.sessions_evicted, (before - self.sessions.len()) as u64);
        }
        let size = self.sessions.len() as i64;
        self.shared.metrics.sessions_in_memory.inc_by(size - self.counted_sessions);
        self.counted_sessions = size;
    }
}

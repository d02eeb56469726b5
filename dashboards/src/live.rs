//! The live wall's source: every candidate's newest [`LiveCounters`], read
//! from the `proctor_live` topic and fanned out to the proctors' SSE streams.
//!
//! Each replica reads the whole topic itself (no consumer group: every
//! replica needs every message, and nothing is committed), from the start on
//! boot so it knows every candidate of a running exam, then follows new
//! messages. A slow or absent broker only makes the wall stale; the hub keeps
//! retrying in its own thread and never touches the request path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use invigil_schemas::kafka_access::KafkaEndpoint;
use invigil_schemas::live::LiveCounters;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::broadcast;

/// How long the hub reads the live-counter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Every message, for as long as the dashboards run.
    Always,
    /// What the topic holds when the hub starts, then no more: a pipeline
    /// in the same process hands it the rest ([`LiveHub::apply`]).
    UntilCaughtUp,
}

/// One candidate's newest counters and when this replica received them.
#[derive(Debug, Clone)]
pub struct Tile {
    pub counters: Arc<LiveCounters>,
    pub seen: Instant,
}

/// One change the hub fans out: a candidate's new counters, and whether the
/// hub had never seen that candidate (a wall seats a newcomer at once).
#[derive(Debug, Clone)]
pub struct Update {
    pub counters: Arc<LiveCounters>,
    pub newcomer: bool,
}

/// The newest counters per test and candidate, and a feed of changes.
pub struct LiveHub {
    tiles: RwLock<HashMap<String, HashMap<String, Tile>>>,
    updates: broadcast::Sender<Update>,
    /// Messages that did not decode (a newer pipeline, a foreign producer).
    pub undecodable: std::sync::atomic::AtomicU64,
}

impl Default for LiveHub {
    fn default() -> Self {
        // A proctor stream that falls this far behind skips ahead: the next
        // snapshot it asks for is complete anyway.
        let (updates, _) = broadcast::channel(4096);
        Self { tiles: RwLock::default(), updates, undecodable: Default::default() }
    }
}

impl LiveHub {
    /// Folds in one message; an older message for the same candidate (the
    /// topic is read from its start, and a new session may race the end of
    /// the previous one) does not replace a newer one. A candidate running
    /// two sessions at once (another tab or device) shows the one with the
    /// newest event: the other's messages do not pull the tile back.
    pub fn apply(&self, counters: LiveCounters) {
        let counters = Arc::new(counters);
        let newcomer = {
            let mut tiles = self.tiles.write().unwrap_or_else(|p| p.into_inner());
            let test = tiles.entry(counters.test_id.clone()).or_default();
            let tile = Tile { counters: Arc::clone(&counters), seen: Instant::now() };
            match test.get_mut(&counters.candidate_id) {
                Some(known) if known.counters.published_at > counters.published_at => return,
                Some(known)
                    if known.counters.session_id != counters.session_id
                        && known.counters.last_event_ts > counters.last_event_ts =>
                {
                    return
                }
                Some(known) => {
                    *known = tile;
                    false
                }
                None => {
                    test.insert(counters.candidate_id.clone(), tile);
                    true
                }
            }
        };
        // No subscribers is fine: nobody is watching.
        let _ = self.updates.send(Update { counters, newcomer });
    }

    /// Drops the tile of `candidate` of `test` (of every candidate of it
    /// with `None`): an erasure. Returns the candidates dropped.
    pub fn forget(&self, test: &str, candidate: Option<&str>) -> Vec<String> {
        let mut tiles = self.tiles.write().unwrap_or_else(|p| p.into_inner());
        let Some(known) = tiles.get_mut(test) else { return Vec::new() };
        match candidate {
            Some(candidate) => known.remove(candidate).map(|_| vec![candidate.to_owned()]).unwrap_or_default(),
            None => tiles.remove(test).map(|all| all.into_keys().collect()).unwrap_or_default(),
        }
    }

    /// Every candidate of `test` with their newest tile.
    pub fn snapshot(&self, test: &str) -> Vec<Tile> {
        let tiles = self.tiles.read().unwrap_or_else(|p| p.into_inner());
        tiles.get(test).map(|t| t.values().cloned().collect()).unwrap_or_default()
    }

    /// Candidate ids of `test`.
    pub fn candidates(&self, test: &str) -> Vec<String> {
        let tiles = self.tiles.read().unwrap_or_else(|p| p.into_inner());
        tiles.get(test).map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    /// How many candidates of `test` the hub knows.
    pub fn count(&self, test: &str) -> usize {
        let tiles = self.tiles.read().unwrap_or_else(|p| p.into_inner());
        tiles.get(test).map_or(0, HashMap::len)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// Reads `topic` from `kafka` into this hub on a thread of its own
    /// until `stop` is raised, or, with [`Follow::UntilCaughtUp`], until it
    /// has read what the topic held when it started.
    pub fn follow(
        self: &Arc<Self>,
        kafka: &KafkaEndpoint,
        topic: &str,
        stop: Arc<AtomicBool>,
        mode: Follow,
    ) -> std::thread::JoinHandle<()> {
        let hub = Arc::clone(self);
        let (kafka, topic) = (kafka.clone(), topic.to_owned());
        std::thread::Builder::new()
            .name("live-hub".into())
            .spawn(move || hub.consume(&kafka, &topic, &stop, mode))
            .expect("spawning the live hub thread")
    }

    fn consume(&self, kafka: &KafkaEndpoint, topic: &str, stop: &AtomicBool, mode: Follow) {
        let consumer: BaseConsumer = match kafka
            .client_config()
            // Required by librdkafka for a consumer; nothing is committed.
            .set("group.id", "invigil-dashboards-live")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "50")
            .set("socket.keepalive.enable", "true")
            .create()
        {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::error!(%error, "cannot create the live-counter consumer; the proctor wall stays empty");
                return;
            }
        };
        let mut assigned = 0usize;
        let mut next_metadata = Instant::now();
        // UntilCaughtUp: per partition, the offset to reach and the next one
        // to read; given up after a while without the topic at all.
        let mut catch_up: Vec<(i64, i64)> = Vec::new();
        let give_up_at = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::Relaxed) {
            if mode == Follow::UntilCaughtUp {
                if assigned > 0 && catch_up.iter().all(|(end, next)| next >= end) {
                    tracing::info!(
                        topic,
                        partitions = assigned,
                        "live counters caught up; the pipeline beside us feeds the rest"
                    );
                    return;
                }
                if assigned == 0 && Instant::now() >= give_up_at {
                    tracing::warn!(
                        topic,
                        "live-counter topic not found in 30 s; following the pipeline beside us only"
                    );
                    return;
                }
            }
            // New partitions (or the topic appearing at all) are picked up
            // on a slow poll of the metadata.
            if Instant::now() >= next_metadata {
                next_metadata = Instant::now() + Duration::from_secs(if assigned == 0 { 1 } else { 30 });
                match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
                    Ok(metadata) => {
                        let partitions =
                            metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len());
                        if partitions > assigned {
                            let mut list = TopicPartitionList::new();
                            for partition in 0..partitions as i32 {
                                list.add_partition_offset(topic, partition, Offset::Beginning)
                                    .expect("a fresh list takes any offset");
                            }
                            // Reassigning from the start re-reads what we
                            // have; `apply` keeps the newer of each pair.
                            match consumer.assign(&list) {
                                Ok(()) => {
                                    tracing::info!(topic, partitions, "following live counters");
                                    assigned = partitions;
                                    if mode == Follow::UntilCaughtUp {
                                        catch_up = (0..partitions as i32)
                                            .map(|p| match consumer.fetch_watermarks(topic, p, Duration::from_secs(5)) {
                                                Ok((low, high)) => (high, low),
                                                Err(error) => {
                                                    tracing::warn!(%error, partition = p, "live counters: no end offset; not catching up this partition");
                                                    (0, 0)
                                                }
                                            })
                                            .collect();
                                    }
                                }
                                Err(error) => tracing::warn!(%error, "assigning live-counter partitions"),
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%error, "live-counter topic metadata not available yet"),
                }
            }
            if assigned == 0 {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    if let Some((_, next)) = catch_up.get_mut(message.partition() as usize) {
                        *next = (*next).max(message.offset() + 1);
                    }
                    match message.payload().map(serde_json::from_slice::<LiveCounters>) {
                        Some(Ok(counters)) => self.apply(counters),
                        // A tombstone: the candidate (key test/candidate) was erased.
                        None => {
                            let key = message.key().and_then(|k| std::str::from_utf8(k).ok()).unwrap_or_default();
                            if let Some((test, candidate)) = key.split_once('/') {
                                self.forget(test, Some(candidate));
                            }
                        }
                        Some(Err(_)) => {
                            self.undecodable.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Some(Err(error)) => tracing::debug!(%error, "live-counter consumer"),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::live::{LiveStatus, LiveTotals};

    fn counters(candidate: &str, published_at: i64, tab_switches: u32) -> LiveCounters {
        LiveCounters {
            v: 1,
            test_id: "t".into(),
            candidate_id: candidate.into(),
            session_id: uuid::Uuid::nil(),
            received_at: published_at,
            published_at,
            last_event_ts: published_at,
            status: LiveStatus::Active,
            counters: LiveTotals { tab_switches, ..Default::default() },
            score: 0.0,
            window_score: 0.0,
            components: Vec::new(),
            face_key: None,
            screen_key: None,
        }
    }

    /// Two sessions of one candidate at once: the tile follows the one
    /// with the newest event, whatever order their messages come in.
    #[test]
    fn a_second_session_does_not_pull_the_tile_back_with_older_news() {
        let hub = LiveHub::default();
        let session = |n: u128, published_at: i64, last_event_ts: i64, status: LiveStatus| LiveCounters {
            session_id: uuid::Uuid::from_u128(n),
            last_event_ts,
            status,
            ..counters("a", published_at, 0)
        };
        hub.apply(session(1, 10, 10, LiveStatus::Active));
        hub.apply(session(2, 11, 5, LiveStatus::Ended));
        let shown = |hub: &LiveHub| hub.tiles.read().unwrap()["t"]["a"].counters.session_id.as_u128();
        assert_eq!(shown(&hub), 1, "the ended session's last news is older than the running one's");
        hub.apply(session(1, 12, 12, LiveStatus::Active));
        hub.apply(session(2, 13, 13, LiveStatus::Active));
        assert_eq!(shown(&hub), 2, "a newer event of the other session moves the tile");
        hub.apply(session(2, 9, 14, LiveStatus::Active));
        assert_eq!(
            hub.tiles.read().unwrap()["t"]["a"].counters.published_at,
            13,
            "an older message never replaces a newer one"
        );
    }

    #[test]
    fn an_erasure_takes_tiles_off_one_candidate_or_a_whole_test() {
        let hub = LiveHub::default();
        for candidate in ["a", "b", "c"] {
            hub.apply(counters(candidate, 1, 0));
        }
        assert_eq!(hub.forget("t", Some("b")), vec!["b".to_owned()]);
        assert_eq!(hub.forget("t", Some("b")), Vec::<String>::new(), "already gone");
        let mut left = hub.candidates("t");
        left.sort();
        assert_eq!(left, ["a", "c"]);
        let mut dropped = hub.forget("t", None);
        dropped.sort();
        assert_eq!(dropped, ["a", "c"]);
        assert_eq!(hub.count("t"), 0);
        assert_eq!(hub.forget("other", None), Vec::<String>::new());
    }

    #[test]
    fn the_newest_message_per_candidate_wins_and_is_broadcast_with_newcomers_marked() {
        let hub = LiveHub::default();
        let mut feed = hub.subscribe();
        hub.apply(counters("a", 20, 2));
        hub.apply(counters("a", 10, 1));
        hub.apply(counters("b", 5, 0));
        hub.apply(counters("a", 30, 3));
        let tiles = hub.snapshot("t");
        assert_eq!(tiles.len(), 2);
        let a = tiles.iter().find(|t| t.counters.candidate_id == "a").unwrap();
        assert_eq!(a.counters.counters.tab_switches, 3);
        let first = feed.try_recv().unwrap();
        assert_eq!((first.counters.published_at, first.newcomer), (20, true));
        // The stale message was not broadcast; a known candidate is no newcomer.
        let b = feed.try_recv().unwrap();
        assert_eq!((b.counters.candidate_id.as_str(), b.newcomer), ("b", true));
        let again = feed.try_recv().unwrap();
        assert_eq!((again.counters.published_at, again.newcomer), (30, false));
        assert!(hub.snapshot("other").is_empty());
    }
}

//! Erasing one candidate's data, and keeping it erased.
//!
//! An erasure deletes the candidate's rows from every table of
//! [`CANDIDATE_TABLES`] and their media objects. The broker still holds the
//! raw records until its retention ends (a week for `proctor_events`), and a
//! replay into a rebuilt store would write them again. So before anything is
//! deleted, an [`Erasure`] is appended to its own topic (the events topic's
//! name plus [`ERASURE_TOPIC_SUFFIX`], kept forever: a few hundred bytes an
//! erasure; compacted, as a candidate's newest erasure covers the older
//! ones). The pipeline reads that topic to its end before it reads any
//! event and follows it afterwards ([`follow::ErasureFollower`]); a record of
//! an erased candidate received at or before the erasure is dropped, counted
//! and never written. Records received after it (a candidate who comes back)
//! are new data.
//!
//! The erasure itself is the audit trail's: it says who erased which
//! candidate when, and why — never what was erased.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::ids::{CandidateId, TestId};

/// Appended to the events topic's name to name the erasures topic.
pub const ERASURE_TOPIC_SUFFIX: &str = "_erasures";

/// The erasures topic that goes with `events_topic`.
pub fn erasure_topic(events_topic: &str) -> String {
    format!("{events_topic}{ERASURE_TOPIC_SUFFIX}")
}

/// Every analytics table that holds rows of one candidate, with the column
/// that orders them in time (an export lists them in that order). A test
/// holds this list to the migrations: a new table with a `candidate_id`
/// column that is missing here fails it, so an erasure cannot forget one.
pub const CANDIDATE_TABLES: [(&str, &str); 7] = [
    ("proctor_events", "ts"),
    ("candidate_windows", "window_start"),
    ("anomalies", "window_start"),
    ("sessions", "started_at"),
    ("reviews", "reviewed_at"),
    ("staff_actions", "at"),
    ("webhook_deliveries", "at"),
];

/// One erasure, as appended to the erasures topic (JSON, keyed like the
/// candidate's events, or by the test alone for a whole test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    pub test_id: TestId,
    /// `None`: every candidate of the test (the retention sweep of a test
    /// whose verdicts have been final long enough).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_id: Option<CandidateId>,
    /// Server clock when it was decided, Unix ms: records received up to
    /// and including this instant are the erased ones.
    pub at: i64,
    /// Who asked: a staff subject, or `retention` for the retention sweep.
    pub by: String,
    /// Why, in the asker's words (a request's reference, "end of retention").
    #[serde(default)]
    pub reason: String,
}

impl Erasure {
    /// The record's key: the candidate's record key, or the test's id.
    pub fn key(&self) -> String {
        match &self.candidate_id {
            Some(candidate) => crate::record::record_key(&self.test_id, candidate),
            None => self.test_id.as_str().to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an erasure always serialises")
    }

    /// Reads a record's value; an error means a record to skip.
    pub fn decode(value: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(value)
    }
}

/// The erasures read so far: per test, the latest erasure of the whole
/// test and of each candidate. Looked up once per record on the
/// pipeline's hot path, by `&str` and without allocating.
#[derive(Debug, Default, Clone)]
pub struct ErasureSet {
    by_test: HashMap<String, TestErasures>,
    len: usize,
}

#[derive(Debug, Default, Clone)]
struct TestErasures {
    whole: Option<i64>,
    candidates: HashMap<String, i64>,
}

impl ErasureSet {
    /// Takes `erasure` in; a later one of the same subject extends it.
    pub fn note(&mut self, erasure: &Erasure) {
        let test = self.by_test.entry(erasure.test_id.as_str().to_owned()).or_default();
        let slot = match &erasure.candidate_id {
            None => &mut test.whole,
            Some(candidate) => match test.candidates.get_mut(candidate.as_str()) {
                Some(at) => {
                    *at = (*at).max(erasure.at);
                    return;
                }
                None => {
                    test.candidates.insert(candidate.as_str().to_owned(), erasure.at);
                    self.len += 1;
                    return;
                }
            },
        };
        if slot.is_none() {
            self.len += 1;
        }
        *slot = Some(slot.map_or(erasure.at, |at| at.max(erasure.at)));
    }

    /// Whether something of `candidate` in `test` received (or done) at
    /// `at` (Unix ms) was erased, with the candidate or with the test.
    pub fn covers(&self, test: &str, candidate: &str, at: i64) -> bool {
        let Some(test) = self.by_test.get(test) else { return false };
        test.whole.is_some_and(|erased_at| at <= erased_at)
            || test.candidates.get(candidate).is_some_and(|erased_at| at <= *erased_at)
    }

    /// How many subjects (candidates, whole tests) have been erased.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(feature = "config-log")]
pub mod follow {
    //! The erasures topic followed by a thread of its own: read from the
    //! start, so a process that has caught up knows every erasure ever
    //! made, then kept up with (a new erasure is seen within a second).

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex, RwLock};
    use std::time::{Duration, Instant};

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};

    use super::{Erasure, ErasureSet};
    use crate::kafka_access::KafkaEndpoint;

    struct Shared {
        set: RwLock<ErasureSet>,
        /// Set once the topic's end at start has been read.
        caught_up: Mutex<bool>,
        reached: Condvar,
        stop: AtomicBool,
        /// Erasures read so far: a reader that keeps state per candidate
        /// looks at its set again only when this moved.
        generation: AtomicU64,
    }

    /// A process's view of every erasure; cheap to clone, the reading
    /// thread stops when the last clone goes.
    #[derive(Clone)]
    pub struct ErasureFollower {
        shared: Arc<Shared>,
        topic: Arc<str>,
        _stop: Arc<StopOnDrop>,
    }

    struct StopOnDrop(Arc<Shared>);

    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Creates `topic` (one partition, compacted) if it is missing.
    /// Compaction keeps each candidate's newest erasure, which covers every
    /// older one, and never ages it out. (Not `delete` with `retention.ms =
    /// -1`: tansu 0.6 reads -1 as "older than now" and deletes everything at
    /// its next maintenance.)
    pub fn create_topic(kafka: &KafkaEndpoint, topic: &str) -> Result<(), crate::kafka_access::TopicError> {
        kafka.create_topic(topic, 1, &[("cleanup.policy", "compact")], Duration::from_secs(5))
    }

    impl ErasureFollower {
        /// Starts reading `topic` from its start (creating it if missing).
        /// Every partition is read, however the topic was made: a broker
        /// that creates topics on first use gives them its default count.
        pub fn start(kafka: &KafkaEndpoint, topic: &str) -> Result<Self, String> {
            if let Err(error) = create_topic(kafka, topic) {
                if error.refused {
                    return Err(error.to_string());
                }
                tracing::warn!(%error, "erasures topic not created yet; reading it anyway");
            }
            let consumer: BaseConsumer = kafka
                .client_config()
                .set("group.id", "invigil-erasures")
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false")
                // Erasures are rare: an idle fetch may wait a second (fewer
                // wake-ups of an idle broker); a new one is still read
                // within the erasure's 1.5-s settling time.
                .set("fetch.wait.max.ms", "1000")
                .set("reconnect.backoff.max.ms", "2000")
                .create()
                .map_err(|e| format!("Kafka client for {topic}: {e}"))?;
            let shared = Arc::new(Shared {
                set: RwLock::default(),
                caught_up: Mutex::new(false),
                reached: Condvar::new(),
                stop: AtomicBool::new(false),
                generation: AtomicU64::new(0),
            });
            let reader = Arc::clone(&shared);
            let (name, kafka) = (topic.to_owned(), kafka.clone());
            std::thread::Builder::new()
                .name("invigil-erasures".into())
                .spawn(move || read_forever(&consumer, &kafka, &name, &reader))
                .map_err(|e| format!("starting the erasures reader: {e}"))?;
            Ok(Self { _stop: Arc::new(StopOnDrop(Arc::clone(&shared))), shared, topic: topic.into() })
        }

        /// Waits until every erasure made before the start has been read:
        /// a replay must not begin before.
        pub fn wait_until_caught_up(&self, timeout: Duration) -> Result<(), String> {
            let caught_up = self.shared.caught_up.lock().unwrap_or_else(|p| p.into_inner());
            let (caught_up, _) = self
                .shared
                .reached
                .wait_timeout_while(caught_up, timeout, |done| !*done)
                .unwrap_or_else(|p| p.into_inner());
            if *caught_up {
                Ok(())
            } else {
                Err(format!(
                    "the erasures topic {} could not be read to its end in {} s",
                    self.topic,
                    timeout.as_secs()
                ))
            }
        }

        /// [`ErasureSet::covers`] on everything read so far (while nothing
        /// was ever erased, one atomic load: the pipeline asks per record).
        pub fn covers(&self, test: &str, candidate: &str, at: i64) -> bool {
            if self.generation() == 0 {
                return false;
            }
            self.shared.set.read().unwrap_or_else(|p| p.into_inner()).covers(test, candidate, at)
        }

        /// Moves with every erasure read (cheap: one atomic load).
        pub fn generation(&self) -> u64 {
            self.shared.generation.load(Ordering::Acquire)
        }

        /// Candidates erased so far.
        pub fn len(&self) -> usize {
            self.shared.set.read().unwrap_or_else(|p| p.into_inner()).len()
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    /// Assigns every partition of `topic` from the start, once it has any
    /// (creating it while it has none); returns each partition's end at
    /// that moment. `None` when stopped first.
    fn assign_all(
        consumer: &BaseConsumer,
        kafka: &KafkaEndpoint,
        topic: &str,
        shared: &Shared,
    ) -> Option<Vec<(i32, i64)>> {
        let mut last_warning: Option<Instant> = None;
        while !shared.stop.load(Ordering::Relaxed) {
            let attempt = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(2))
                .map_err(|e| e.to_string())
                .and_then(|metadata| {
                    let partitions: Vec<i32> = metadata
                        .topics()
                        .iter()
                        .filter(|t| t.name() == topic && t.error().is_none())
                        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                        .collect();
                    if partitions.is_empty() {
                        let _ = create_topic(kafka, topic);
                        return Err("the topic has no partitions yet".to_owned());
                    }
                    let mut ends = Vec::with_capacity(partitions.len());
                    let mut assignment = TopicPartitionList::new();
                    for partition in partitions {
                        let (_, high) = consumer
                            .fetch_watermarks(topic, partition, Duration::from_secs(2))
                            .map_err(|e| e.to_string())?;
                        ends.push((partition, high));
                        assignment
                            .add_partition_offset(topic, partition, Offset::Beginning)
                            .map_err(|e| e.to_string())?;
                    }
                    consumer.assign(&assignment).map_err(|e| e.to_string())?;
                    Ok(ends)
                });
            match attempt {
                Ok(ends) => return Some(ends),
                Err(error) => {
                    if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
                        last_warning = Some(Instant::now());
                        tracing::warn!(%error, topic, "erasures topic not readable yet; retrying");
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        None
    }

    fn read_forever(consumer: &BaseConsumer, kafka: &KafkaEndpoint, topic: &str, shared: &Shared) {
        let Some(ends) = assign_all(consumer, kafka, topic, shared) else { return };
        // Partitions still short of where they ended at start.
        let mut behind: HashMap<i32, i64> = ends.into_iter().filter(|(_, end)| *end > 0).collect();
        let mut last_warning: Option<Instant> = None;
        while !shared.stop.load(Ordering::Relaxed) {
            if behind.is_empty() {
                let mut caught_up = shared.caught_up.lock().unwrap_or_else(|p| p.into_inner());
                if !*caught_up {
                    *caught_up = true;
                    shared.reached.notify_all();
                }
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    if behind.get(&message.partition()).is_some_and(|end| message.offset() + 1 >= *end) {
                        behind.remove(&message.partition());
                    }
                    match message.payload().map(Erasure::decode) {
                        Some(Ok(erasure)) => {
                            shared.set.write().unwrap_or_else(|p| p.into_inner()).note(&erasure);
                            shared.generation.fetch_add(1, Ordering::Release);
                        }
                        Some(Err(error)) => {
                            tracing::error!(%error, offset = message.offset(), topic, "not an erasure; skipped")
                        }
                        None => tracing::error!(offset = message.offset(), topic, "empty erasure record; skipped"),
                    }
                }
                Some(Err(error)) if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) => {
                    last_warning = Some(Instant::now());
                    tracing::warn!(%error, topic, "erasures topic unreadable; the erasures read so far stay in force");
                }
                Some(Err(_)) | None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erasure(test: &str, candidate: &str, at: i64) -> Erasure {
        Erasure {
            test_id: TestId::new(test).unwrap(),
            candidate_id: Some(CandidateId::new(candidate).unwrap()),
            at,
            by: "admin-1".into(),
            reason: "request 42".into(),
        }
    }

    #[test]
    fn an_erasure_covers_what_came_up_to_it_for_that_candidate_only() {
        let mut set = ErasureSet::default();
        assert!(!set.covers("t", "c", 0));
        set.note(&erasure("t", "c", 1_000));
        assert!(set.covers("t", "c", 999) && set.covers("t", "c", 1_000));
        assert!(!set.covers("t", "c", 1_001), "a record after the erasure is new data");
        assert!(!set.covers("t", "c2", 10) && !set.covers("t2", "c", 10) && !set.covers("t", "c1", 10));
        set.note(&erasure("t", "c", 500));
        assert!(set.covers("t", "c", 1_000), "an older erasure read later does not shorten a newer one");
        set.note(&erasure("t", "c", 2_000));
        assert!(set.covers("t", "c", 1_500));
        set.note(&erasure("t2", "c", 10));
        assert_eq!(set.len(), 2);
        let whole = Erasure { candidate_id: None, ..erasure("t3", "c", 50) };
        set.note(&whole);
        assert!(set.covers("t3", "anyone", 50) && !set.covers("t3", "anyone", 51) && !set.covers("t", "anyone", 1));
        set.note(&Erasure { at: 60, ..whole.clone() });
        assert!(set.covers("t3", "x", 60));
        assert_eq!(set.len(), 3);
        assert_eq!(whole.key(), "t3");
        assert_eq!(erasure("t", "c", 1).key(), "t/c");
    }

    #[test]
    fn a_record_reads_back_as_written_and_names_its_topic() {
        let written = erasure("final-exam", "learner-1", 1_764_892_800_123);
        assert_eq!(Erasure::decode(&written.encode()).unwrap(), written);
        assert!(Erasure::decode(br#"{"test_id":"../x","candidate_id":"c","at":1,"by":"a"}"#).is_err());
        let whole = Erasure { candidate_id: None, ..written };
        let text = String::from_utf8(whole.encode()).unwrap();
        assert!(!text.contains("candidate_id"), "{text}");
        assert_eq!(Erasure::decode(text.as_bytes()).unwrap(), whole);
        assert_eq!(erasure_topic("proctor_events"), "proctor_events_erasures");
    }

    /// Every table the migrations create with a `candidate_id` column is
    /// in [`CANDIDATE_TABLES`], with a time column it really has.
    #[test]
    fn the_tables_list_is_every_table_with_candidate_rows() {
        let mut with_candidates = Vec::new();
        for migration in crate::migrations::MIGRATIONS {
            for statement in migration.sql.split(';') {
                let Some(rest) = statement.split("CREATE TABLE IF NOT EXISTS ").nth(1) else { continue };
                let name = rest.split_whitespace().next().unwrap();
                if statement.contains("candidate_id") {
                    with_candidates.push((name.to_owned(), statement.to_owned()));
                }
            }
        }
        let listed: Vec<&str> = CANDIDATE_TABLES.iter().map(|(t, _)| *t).collect();
        let found: Vec<&str> = with_candidates.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(found.len(), listed.len(), "found {found:?}, listed {listed:?}");
        for (table, time) in CANDIDATE_TABLES {
            let (_, ddl) = with_candidates.iter().find(|(t, _)| t == table).unwrap_or_else(|| panic!("{table}"));
            assert!(ddl.lines().any(|l| l.trim_start().starts_with(&format!("{time} "))), "{table}.{time}");
        }
    }
}

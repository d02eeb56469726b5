//! The staff topic into `staff_actions`.
//!
//! A few records an exam (one per control a proctor sends a learning
//! platform), so this is one plain thread beside the dataflow, in the
//! cluster's first process only: it reads every partition of the staff
//! topic from the group's committed offsets, writes what it read as one
//! insert, and commits only after the store acknowledged it. A crash in
//! between writes the same rows again, which the table's `action_id` key
//! absorbs. A record that is not a staff action is logged and
//! skipped: retrying cannot mend it. While the store is away the thread
//! retries with backoff and reads nothing more; on stop it gives up the
//! rows it could not write, uncommitted, for the next start.
//!
//! With webhooks on, a verdict is also a `review.verdict` notice, sent to
//! the outbox before its row is written (under the action's id).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use invigil_schemas::staff::{StaffAction, StaffOutcome};
use invigil_schemas::webhook::{Notice, NoticeKind};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::rows::StaffActionRow;
use crate::settings::PipelineSettings;
use crate::source::{committed_of_all, resume_assignment};
use crate::store::Store;
use crate::webhooks::outbox::Outbox;
use invigil_schemas::erasure::follow::ErasureFollower;

/// Rows gathered into one insert at most …
const MAX_ROWS: usize = 1_000;
/// … or for this long after the first.
const GATHER: Duration = Duration::from_millis(200);
/// How long one wait for a first record lasts: also how long a stop may
/// take to be noticed. Staff actions are rare, so the thread mostly sleeps
/// here, two wake-ups a second.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The running follower, until `stop` or [`StaffLog::join`].
pub struct StaffLog {
    thread: JoinHandle<()>,
    done: Arc<AtomicBool>,
}

impl StaffLog {
    /// Starts following `settings`' staff topic (creating it when missing)
    /// into `store`, until `stop` is raised.
    pub fn start(
        settings: &PipelineSettings,
        store: Store,
        outbox: Option<Arc<Outbox>>,
        erasures: Option<ErasureFollower>,
        runtime: Arc<tokio::runtime::Runtime>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let done = Arc::new(AtomicBool::new(false));
        let follower = Follower {
            topic: invigil_schemas::staff::staff_topic(&settings.topic),
            kafka: settings.kafka.clone(),
            group: format!("{}-staff", settings.group_id),
            store,
            outbox,
            erasures,
            runtime,
            stop,
            done: Arc::clone(&done),
        };
        let thread = std::thread::Builder::new().name("invigil-staff-log".into()).spawn(move || follower.run())?;
        Ok(Self { thread, done })
    }

    /// Stops following (once what was read is written, if the store
    /// takes it) and waits for the thread.
    pub fn join(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

struct Follower {
    topic: String,
    kafka: invigil_schemas::kafka_access::KafkaEndpoint,
    group: String,
    store: Store,
    outbox: Option<Arc<Outbox>>,
    /// An action on an erased candidate done before the erasure is not
    /// written again (the erasure's own record comes after it, and is).
    erasures: Option<ErasureFollower>,
    runtime: Arc<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Follower {
    /// Whether an erasure covers `action`: one of its candidate's, or one
    /// of its test's (a mark on the test is gone with a whole-test erasure).
    fn erased(&self, action: &StaffAction) -> bool {
        let (Some(test), Some(erasures)) = (&action.test_id, &self.erasures) else { return false };
        let candidate = action.candidate_id.as_ref().map_or("", |c| c.as_str());
        erasures.covers(test.as_str(), candidate, action.at)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.done.load(Ordering::Relaxed)
    }

    fn run(self) {
        let Some(consumer) = self.connect() else { return };
        let mut rows = Vec::new();
        let mut notices = Vec::new();
        let mut next: Vec<(i32, i64)> = Vec::new();
        while !self.stopping() {
            // Wait for a first record, then gather what follows it for up
            // to GATHER, into one insert.
            let mut gathering_since: Option<Instant> = None;
            while rows.len() < MAX_ROWS && !self.stopping() {
                let wait = match gathering_since {
                    None => IDLE_POLL,
                    Some(since) => match GATHER.checked_sub(since.elapsed()) {
                        Some(left) if !left.is_zero() => left,
                        _ => break,
                    },
                };
                let Some(message) = consumer.poll(wait) else { continue };
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, topic = %self.topic, "reading staff actions");
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                };
                gathering_since.get_or_insert_with(Instant::now);
                note_offset(&mut next, message.partition(), message.offset() + 1);
                match message.payload().map(StaffAction::decode) {
                    Some(Ok(action)) if self.erased(&action) => {}
                    Some(Ok(action)) => {
                        if self.outbox.is_some() {
                            notices.extend(notice_of(&action));
                        }
                        rows.push(StaffActionRow::from(&action));
                    }
                    Some(Err(error)) => tracing::warn!(
                        %error, partition = message.partition(), offset = message.offset(),
                        "skipping a record of the staff topic that is not a staff action"
                    ),
                    None => tracing::warn!(offset = message.offset(), "skipping an empty staff record"),
                }
            }
            if next.is_empty() {
                continue;
            }
            if !self.announce(&notices) || !self.write(&rows) {
                return;
            }
            rows.clear();
            notices.clear();
            self.commit(&consumer, &next);
            next.clear();
        }
    }

    /// Waits for the topic (creating it), then assigns all its partitions
    /// from the committed offsets. `None` when stopped first.
    fn connect(&self) -> Option<BaseConsumer> {
        let mut wait = Duration::from_millis(250);
        loop {
            if self.stopping() {
                return None;
            }
            match self.try_connect() {
                Ok(consumer) => return Some(consumer),
                Err(error) => {
                    tracing::warn!(%error, topic = %self.topic, "staff actions not followed yet; retrying");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn try_connect(&self) -> Result<BaseConsumer, String> {
        self.kafka.create_topic(&self.topic, 1, &[], Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let consumer: BaseConsumer = self
            .kafka
            .client_config()
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("reconnect.backoff.max.ms", "2000")
            .create()
            .map_err(|e| e.to_string())?;
        let committed = committed_of_all(&consumer, &self.topic)?;
        let partitions = committed.count();
        let assignment = resume_assignment(&self.topic, &committed)
            .map_err(|(partition, error)| format!("partition {partition}: {error}"))?;
        consumer.assign(&assignment).map_err(|e| e.to_string())?;
        tracing::info!(topic = %self.topic, partitions, "following staff actions");
        Ok(consumer)
    }

    /// Sends `notices` to the outbox, retrying with backoff; `false` when
    /// stopped first.
    fn announce(&self, notices: &[Notice]) -> bool {
        let Some(outbox) = self.outbox.as_deref().filter(|_| !notices.is_empty()) else { return true };
        self.until_done("sending verdict notices", notices.len(), || self.runtime.block_on(outbox.send(notices)))
    }

    /// Inserts `rows`, retrying with backoff; `false` when stopped first.
    fn write(&self, rows: &[StaffActionRow]) -> bool {
        self.until_done("writing staff actions", rows.len(), || {
            self.runtime.block_on(self.store.insert(rows)).map_err(|e| e.to_string())
        })
    }

    /// Runs `attempt` until it succeeds, waiting 250 ms, doubling to 5 s,
    /// between failures; `false` when stopped first (what it was doing, on
    /// `records` records, is left for the next start: nothing was committed).
    fn until_done(&self, what: &str, records: usize, mut attempt: impl FnMut() -> Result<(), String>) -> bool {
        let mut wait = Duration::from_millis(250);
        loop {
            match attempt() {
                Ok(()) => return true,
                Err(error) if self.stopping() => {
                    tracing::error!(%error, records, "{what}: left undone at stop; the next start does it");
                    return false;
                }
                Err(error) => {
                    tracing::warn!(%error, records, retry_in_ms = wait.as_millis() as u64, "{what}");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn commit(&self, consumer: &BaseConsumer, next: &[(i32, i64)]) {
        let mut list = TopicPartitionList::new();
        for (partition, offset) in next {
            if list.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset)).is_err() {
                return;
            }
        }
        // A failed commit only means these rows are written again later.
        if let Err(error) = consumer.commit(&list, CommitMode::Sync) {
            tracing::warn!(%error, "committing staff actions");
        }
    }
}

/// The staff actions that are news for webhooks, under the action's own
/// id: a verdict given (`review.verdict`), a candidate erased
/// (`candidate.erased`, so the receiver erases its copies too).
fn notice_of(action: &StaffAction) -> Option<Notice> {
    if action.outcome != StaffOutcome::Done {
        return None;
    }
    let (test, candidate) = (action.test_id.as_ref()?, action.candidate_id.as_ref()?);
    let at = invigil_schemas::clock::rfc3339_ms(action.at);
    let mut data = serde_json::Map::new();
    let kind = match action.action.as_str() {
        "review.verdict" => {
            data.insert("verdict".into(), action.detail.get("verdict").cloned().unwrap_or_default());
            data.insert("reviewer".into(), action.staff.clone().into());
            data.insert("reviewed_at".into(), at.into());
            NoticeKind::ReviewVerdict
        }
        "candidate.erase" => {
            data.insert("erased_at".into(), at.into());
            data.insert("erased_by".into(), action.staff.clone().into());
            NoticeKind::CandidateErased
        }
        _ => return None,
    };
    Some(Notice {
        id: action.id,
        kind,
        at: action.at,
        created_at: action.at,
        test_id: test.to_string(),
        candidate_id: candidate.to_string(),
        session_id: None,
        data,
        only_endpoint: None,
        sent_payload: None,
    })
}

/// Remembers the offset to resume `partition` from.
fn note_offset(next: &mut Vec<(i32, i64)>, partition: i32, offset: i64) {
    match next.iter_mut().find(|(p, _)| *p == partition) {
        Some(entry) => entry.1 = entry.1.max(offset),
        None => next.push((partition, offset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::ids::{CandidateId, TestId};

    fn action(name: &str, outcome: StaffOutcome) -> StaffAction {
        let mut detail = serde_json::Map::new();
        detail.insert("verdict".into(), "flagged".into());
        detail.insert("reason".into(), "request 12".into());
        StaffAction {
            id: invigil_schemas::ids::Uuid::from_u128(9),
            at: 1_796_552_430_000,
            test_id: Some(TestId::new("exam-1").unwrap()),
            candidate_id: Some(CandidateId::new("cand-1").unwrap()),
            staff: "admin-1".into(),
            role: "admin".into(),
            action: name.into(),
            outcome,
            detail,
            node: "ingest-0".into(),
            client_ip_hash: 0,
        }
    }

    #[test]
    fn verdicts_and_erasures_done_are_news_and_nothing_else_is() {
        let verdict = notice_of(&action("review.verdict", StaffOutcome::Done)).unwrap();
        assert_eq!((verdict.kind, verdict.data["verdict"].as_str()), (NoticeKind::ReviewVerdict, Some("flagged")));
        let erased = notice_of(&action("candidate.erase", StaffOutcome::Done)).unwrap();
        assert_eq!(erased.kind, NoticeKind::CandidateErased);
        assert_eq!(erased.id, invigil_schemas::ids::Uuid::from_u128(9), "a replay announces it under the same id");
        let payload: serde_json::Value = serde_json::from_slice(&erased.payload()).unwrap();
        assert_eq!(payload["type"], "candidate.erased");
        assert_eq!(payload["data"]["candidate_id"], "cand-1");
        assert_eq!(payload["data"]["erased_at"], "2026-12-06T10:20:30.000Z");
        assert!(payload["data"].get("reason").is_none(), "the admin's reason stays in the audit trail");
        for quiet in [action("candidate.erase", StaffOutcome::Failed), action("candidate.export", StaffOutcome::Done)] {
            assert!(notice_of(&quiet).is_none(), "{}", quiet.action);
        }
    }
}

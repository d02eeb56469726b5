//! Reading `proctor_events`: partitions spread over timely workers, event
//! time watermarks, and offsets that are committed only once durable.
//!
//! ## Why assign, not group rebalancing
//! Worker `w` of `W` reads partitions `p` with `p % W == w`, assigned
//! directly. A rebalance would move partitions between workers while their
//! records are in flight in the dataflow, and the offsets to commit would
//! then belong to a consumer that no longer owns them; with a fixed
//! assignment the owner of an offset is the worker that commits it, and a
//! restarted cluster with the same shape reads exactly the same partitions.
//! The group id is still used, for committed offsets only. Scaling out
//! means restarting the cluster with a new shape (offsets are per
//! partition, so nothing is lost). It also sidesteps a broker behaviour we
//! hit in tests (tansu 0.6 hangs on the last member leaving a group).
//!
//! ## Timestamps and the watermark
//! A record's dataflow time is the end of the window of its newest event
//! (in ticks), or the source's current time if that is later (a late
//! record). So when the frontier passes a record's time, every window the
//! record touched has closed. The source holds its capability at
//! `min over partitions(max event time − allowed lateness)`; a partition
//! idle for `idle_partition_ms` follows the wall clock instead. The
//! frontier is therefore the watermark.
//!
//! ## The commit barrier
//! Every record read is entered in the [`Ledger`] with its partition, offset
//! and time. Offsets become committable only through
//! [`Ledger::release`], which takes a [`DurableFrontier`] — the frontier of
//! a probe placed *after* the sinks, which hold their capabilities until the
//! store acknowledged their rows. Commit therefore implies: event rows of the
//! record, and every window row it could change, are in the store.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use timely::dataflow::ProbeHandle;

use crate::metrics::Metrics;
use crate::rows::{EventRow, RowBlock};
use crate::session::{is_late, window_start, FactBatch, WINDOW_MS};
use crate::settings::PipelineSettings;
use invigil_schemas::erasure::follow::ErasureFollower;

/// Dataflow time: event-time ticks (`tick_ms` each) since the Unix epoch.
pub type Time = u64;

/// A decoded record on its way into the dataflow: its event rows, already
/// encoded for the store, and what the windows need of them.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub rows: RowBlock<EventRow>,
    pub facts: FactBatch,
    /// `recording.segment_stored` for each segment the record says was
    /// uploaded (sent only when webhooks are on).
    pub notices: Vec<invigil_schemas::webhook::Notice>,
}

/// The frontier after the sinks: everything at earlier times is durable.
/// Only [`DurableFrontier::observe`] makes one, from the probe that follows
/// the sinks' acknowledgements.
pub struct DurableFrontier {
    /// `None`: the frontier is empty (everything is durable).
    lower: Option<Time>,
}

impl DurableFrontier {
    pub fn observe(probe: &ProbeHandle<Time>) -> Self {
        Self { lower: probe.with_frontier(|f| f.iter().min().copied()) }
    }

    fn covers(&self, time: Time) -> bool {
        self.lower.is_none_or(|lower| time < lower)
    }
}

/// Offsets read but not yet committed, per partition, in order.
#[derive(Debug, Default)]
pub struct Ledger {
    pending: BTreeMap<i32, VecDeque<(i64, Time)>>,
    in_flight: usize,
}

impl Ledger {
    pub fn record(&mut self, partition: i32, offset: i64, time: Time) {
        self.pending.entry(partition).or_default().push_back((offset, time));
        self.in_flight += 1;
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The offsets (next to read, per partition) that `durable` makes safe to
    /// commit: a prefix of each partition's pending records whose times are
    /// all behind the durable frontier.
    pub fn release(&mut self, durable: &DurableFrontier) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (partition, queue) in &mut self.pending {
            let mut next = None;
            while let Some(&(offset, time)) = queue.front() {
                if !durable.covers(time) {
                    break;
                }
                queue.pop_front();
                self.in_flight -= 1;
                next = Some(offset + 1);
            }
            if let Some(next) = next {
                out.push((*partition, next));
            }
        }
        out
    }
}

/// Where a worker's records come from. [`PartitionReader`] is Kafka; the
/// benchmark feeds a recorded file through `MemorySource`.
pub trait RecordSource {
    /// Whether this worker has anything to read at all.
    fn has_partitions(&self) -> bool;
    /// Reads up to `max` records without blocking, calling `emit(time,
    /// decoded)` for each; `floor` is the source's current time, below which
    /// nothing may be emitted. Returns how many records were read.
    fn read(&mut self, max: usize, floor: Time, emit: &mut dyn FnMut(Time, Decoded)) -> usize;
    /// The watermark tick, or `None` when the source is finished.
    fn watermark(&self) -> Option<Time>;
    fn ledger(&mut self) -> &mut Ledger;
    /// Commits `(partition, next offset)` pairs; `last` asks for a
    /// synchronous commit before the worker exits.
    fn commit(&self, offsets: &[(i32, i64)], last: bool);
}

struct PartitionClock {
    /// Newest (clamped) event time seen, Unix ms.
    max_event_ms: i64,
    last_record: Instant,
}

/// What every source does with a record's bytes: decode, time, account.
struct Decoder {
    clocks: HashMap<i32, PartitionClock>,
    ledger: Ledger,
    allowed_lateness_ms: i64,
    tick_ms: i64,
    idle_partition: Duration,
    max_clock_skew_ms: i64,
    /// Whether webhooks are on: then uploaded segments become notices.
    announce_segments: bool,
    /// Erasures to honour (`None`: none are known, reading from memory).
    erasures: Option<ErasureFollower>,
    metrics: Arc<Metrics>,
}

/// `recording.segment_stored` for each uploaded segment among `rows`; its
/// id is the event's, so a replay announces it under the same id.
fn segment_notices(rows: &[EventRow]) -> Vec<invigil_schemas::webhook::Notice> {
    use invigil_schemas::event::EventKind;
    use invigil_schemas::webhook::{Notice, NoticeKind};
    let recording = EventKind::Recording as i8;
    rows.iter()
        .filter(|row| row.kind == recording && row.capture_status == "uploaded")
        .map(|row| {
            let data = serde_json::json!({
                "track": row.capture_kind,
                "key": row.capture_key,
                "bytes": row.capture_bytes,
                "segment_seq": row.capture_seq,
                "duration_ms": row.duration_ms,
            });
            let serde_json::Value::Object(data) = data else { unreachable!("an object literal") };
            Notice {
                id: row.event_id,
                kind: NoticeKind::RecordingSegmentStored,
                at: row.ts,
                created_at: row.received_at,
                test_id: row.test_id.clone(),
                candidate_id: row.candidate_id.clone(),
                session_id: Some(row.session_id),
                data,
                only_endpoint: None,
                sent_payload: None,
            }
        })
        .collect()
}

impl Decoder {
    fn new(
        settings: &PipelineSettings,
        partitions: &[i32],
        metrics: Arc<Metrics>,
        erasures: Option<ErasureFollower>,
    ) -> Self {
        Self {
            clocks: partitions
                .iter()
                .map(|p| (*p, PartitionClock { max_event_ms: i64::MIN, last_record: Instant::now() }))
                .collect(),
            ledger: Ledger::default(),
            allowed_lateness_ms: settings.allowed_lateness_ms,
            tick_ms: settings.tick_ms,
            idle_partition: Duration::from_millis(settings.idle_partition_ms.max(0) as u64),
            max_clock_skew_ms: settings.max_clock_skew_ms,
            announce_segments: !settings.webhooks.is_empty(),
            erasures,
            metrics,
        }
    }

    /// Decodes one record and emits it at its time; poison is counted,
    /// logged and entered in the ledger so its offset is committed past.
    /// A record skipped (and committed past, once what is before it is
    /// durable): counted in `poison_records` and logged with `why`, together.
    fn poison(&self, partition: i32, offset: i64, why: &dyn std::fmt::Display) {
        Metrics::add(&self.metrics.poison_records, 1);
        tracing::error!(partition, offset, %why, "record skipped");
    }

    fn accept(
        &mut self,
        partition: i32,
        offset: i64,
        payload: Option<&[u8]>,
        floor: Time,
        emit: &mut dyn FnMut(Time, Decoded),
    ) {
        Metrics::add(&self.metrics.records_read, 1);
        let decoded = payload
            .ok_or_else(|| "empty value".to_owned())
            .and_then(|bytes| invigil_schemas::record::decode(bytes).map_err(|e| e.to_string()));
        let record = match decoded {
            Ok(record) => record,
            Err(error) => {
                self.poison(partition, offset, &format_args!("undecodable: {error}"));
                self.ledger.record(partition, offset, floor);
                return;
            }
        };
        let erased = self.erasures.as_ref().is_some_and(|erasures| {
            erasures.covers(record.test_id.as_str(), record.candidate_id.as_str(), record.received_at)
        });
        if erased {
            Metrics::add(&self.metrics.erased_records, 1);
            self.ledger.record(partition, offset, floor);
            return;
        }
        let rows: Vec<EventRow> = record.batch.events.iter().map(|e| EventRow::new(&record, e)).collect();
        let Some(facts) = FactBatch::from_rows(&rows) else {
            self.poison(partition, offset, &"no events, or invalid ids");
            self.ledger.record(partition, offset, floor);
            return;
        };
        Metrics::add(&self.metrics.events_read, rows.len() as u64);
        let late = rows.iter().filter(|r| is_late(r.ts, r.received_at, self.allowed_lateness_ms)).count();
        Metrics::add(&self.metrics.late_events, late as u64);
        let newest = rows.iter().map(|r| r.ts).max().unwrap_or(record.received_at);
        let newest = newest.min(record.received_at + self.max_clock_skew_ms);
        if let Some(clock) = self.clocks.get_mut(&partition) {
            clock.max_event_ms = clock.max_event_ms.max(newest);
            clock.last_record = Instant::now();
        }
        let time = tick_of(window_start(newest) + WINDOW_MS, self.tick_ms).max(floor);
        self.ledger.record(partition, offset, time);
        let notices = if self.announce_segments { segment_notices(&rows) } else { Vec::new() };
        let rows = match RowBlock::of_rows(&rows) {
            Ok(block) => block,
            Err(error) => {
                // Our own rows always encode; a failure is a bug, not data.
                self.poison(partition, offset, &format_args!("its rows do not encode: {error}"));
                return;
            }
        };
        emit(time, Decoded { rows, facts, notices });
    }

    /// The earliest partition's newest event time minus the allowed
    /// lateness; idle partitions follow the wall clock when `idle_follows_clock`.
    fn watermark(&self, idle_follows_clock: bool) -> Option<Time> {
        let now = now_ms();
        self.clocks
            .values()
            .map(|clock| {
                let mut ms = clock.max_event_ms.saturating_sub(self.allowed_lateness_ms);
                if idle_follows_clock && clock.last_record.elapsed() >= self.idle_partition {
                    ms = ms.max(now - self.allowed_lateness_ms);
                }
                tick_of(ms, self.tick_ms)
            })
            .min()
    }
}

/// Why a worker could not start reading its partitions.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("creating the Kafka consumer: {0}")]
    Consumer(rdkafka::error::KafkaError),
    #[error("assigning partition {partition}: {source}")]
    Assign { partition: i32, source: rdkafka::error::KafkaError },
    #[error("assigning partitions: {0}")]
    AssignAll(rdkafka::error::KafkaError),
    #[error("reading committed offsets (2 min of retries): {0}")]
    Committed(rdkafka::error::KafkaError),
}

/// Hands librdkafka's statistics (every 5 s, served by the worker's own
/// polls) to the lag gauge: per assigned partition, the log's end minus the
/// offset this consumer last committed.
pub struct LagContext {
    metrics: Arc<Metrics>,
    topic: String,
}

impl rdkafka::client::ClientContext for LagContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        for (partition, stats) in &topic.partitions {
            // -1 is librdkafka's internal "unassigned" partition; a log end
            // below 0 is not known yet (nothing fetched).
            if *partition < 0 || !stats.desired || stats.hi_offset < 0 {
                continue;
            }
            // Nothing committed yet (a new group, an empty partition): the
            // whole log is still to be read.
            let committed = if stats.committed_offset >= 0 { stats.committed_offset } else { stats.lo_offset.max(0) };
            self.metrics.set_lag(*partition, (stats.hi_offset - committed).max(0));
            // The position is known once the first fetch returned.
            if stats.app_offset >= 0 {
                self.metrics.set_unread(*partition, (stats.hi_offset - stats.app_offset).max(0));
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for LagContext {}

/// One worker's Kafka consumer and the state of its partitions.
pub struct PartitionReader {
    consumer: BaseConsumer<LagContext>,
    topic: String,
    decoder: Decoder,
    metrics: Arc<Metrics>,
}

use invigil_schemas::clock::now_ms;

/// The tick containing `ms` (times before 1970 clamp to 0).
pub fn tick_of(ms: i64, tick_ms: i64) -> Time {
    u64::try_from(ms.div_euclid(tick_ms)).unwrap_or(0)
}

impl PartitionReader {
    /// Connects, waits for the topic to exist, and assigns this worker's
    /// partitions from their committed offsets (the beginning if none).
    /// Returns `Ok(None)` when `stop` was raised while waiting.
    pub fn connect(
        settings: &PipelineSettings,
        worker: usize,
        workers: usize,
        stop: &AtomicBool,
        metrics: Arc<Metrics>,
        erasures: Option<ErasureFollower>,
    ) -> Result<Option<Self>, SourceError> {
        let consumer: BaseConsumer<LagContext> = settings
            .kafka
            .client_config()
            .set("group.id", &settings.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .set("reconnect.backoff.max.ms", "2000")
            .set("statistics.interval.ms", "5000")
            .create_with_context(LagContext { metrics: Arc::clone(&metrics), topic: settings.topic.clone() })
            .map_err(SourceError::Consumer)?;
        let started = Instant::now();
        let mut last_notice: Option<Instant> = None;
        let partitions = loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match consumer.fetch_metadata(Some(&settings.topic), Duration::from_secs(5)) {
                Ok(metadata) => {
                    let count = partition_count(&metadata, &settings.topic);
                    if count > 0 {
                        break count;
                    }
                }
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    tracing::warn!(error = %e, brokers = %settings.kafka.brokers, "Kafka metadata unavailable; still waiting")
                }
                Err(_) => {}
            }
            if worker == 0 && last_notice.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_notice = Some(Instant::now());
                tracing::info!(topic = %settings.topic, "waiting for the topic to exist");
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        let mine: Vec<i32> = (0..partitions).filter(|p| *p as usize % workers == worker).collect();
        let mut assignment = TopicPartitionList::new();
        if !mine.is_empty() {
            let mut query = TopicPartitionList::new();
            for p in &mine {
                query.add_partition(&settings.topic, *p);
            }
            let committed = retry_committed(&consumer, &query, stop)?;
            let Some(committed) = committed else { return Ok(None) };
            assignment = resume_assignment(&settings.topic, &committed)
                .map_err(|(partition, source)| SourceError::Assign { partition, source })?;
            tracing::info!(worker, partitions = ?mine, from = ?committed.elements().iter().map(|e| (e.partition(), e.offset())).collect::<Vec<_>>(), "assigned");
        }
        consumer.assign(&assignment).map_err(SourceError::AssignAll)?;
        Ok(Some(Self {
            consumer,
            topic: settings.topic.clone(),
            decoder: Decoder::new(settings, &mine, Arc::clone(&metrics), erasures),
            metrics,
        }))
    }
}

impl RecordSource for PartitionReader {
    fn has_partitions(&self) -> bool {
        !self.decoder.clocks.is_empty()
    }

    fn read(&mut self, max: usize, floor: Time, emit: &mut dyn FnMut(Time, Decoded)) -> usize {
        let mut read = 0;
        while read < max {
            let message = match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka consume error");
                    break;
                }
                Some(Ok(message)) => message,
            };
            read += 1;
            self.decoder.accept(message.partition(), message.offset(), message.payload(), floor, emit);
        }
        read
    }

    fn watermark(&self) -> Option<Time> {
        self.decoder.watermark(true)
    }

    fn ledger(&mut self) -> &mut Ledger {
        &mut self.decoder.ledger
    }

    fn commit(&self, offsets: &[(i32, i64)], last: bool) {
        if offsets.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            if list.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset)).is_err() {
                return;
            }
        }
        let mode = if last { CommitMode::Sync } else { CommitMode::Async };
        match self.consumer.commit(&list, mode) {
            Ok(()) => Metrics::add(&self.metrics.offsets_committed, offsets.len() as u64),
            Err(e) => {
                Metrics::add(&self.metrics.commit_errors, 1);
                tracing::warn!(error = %e, "offset commit failed; will retry with the next commit");
            }
        }
    }
}

/// Records held in memory (a recorded batch file), split over workers like
/// Kafka partitions. Finished once every record was read: the watermark then
/// goes away and the dataflow drains. Commits are counted, not sent.
#[cfg(any(test, feature = "testing"))]
pub struct MemorySource {
    /// `(partition, offset, value)` of this worker's records, in order.
    records: std::vec::IntoIter<(i32, i64, Vec<u8>)>,
    decoder: Decoder,
    finished: bool,
}

#[cfg(any(test, feature = "testing"))]
impl MemorySource {
    /// This worker's share of `records` (`(key, value)` in produce order):
    /// record `i` goes to partition `hash(key) % partitions`, partitions to
    /// workers as with Kafka.
    pub fn new(
        settings: &PipelineSettings,
        records: &[(String, Vec<u8>)],
        partitions: i32,
        worker: usize,
        workers: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mine: Vec<i32> = (0..partitions).filter(|p| *p as usize % workers == worker).collect();
        let mut offsets: HashMap<i32, i64> = HashMap::new();
        let mut selected = Vec::new();
        for (key, value) in records {
            let partition = (crate::hash::stable_hash(key.as_bytes()) % partitions as u64) as i32;
            let offset = offsets.entry(partition).or_insert(0);
            if mine.contains(&partition) {
                selected.push((partition, *offset, value.clone()));
            }
            *offset += 1;
        }
        Self { records: selected.into_iter(), decoder: Decoder::new(settings, &mine, metrics, None), finished: false }
    }
}

#[cfg(any(test, feature = "testing"))]
impl RecordSource for MemorySource {
    fn has_partitions(&self) -> bool {
        !self.decoder.clocks.is_empty()
    }

    fn read(&mut self, max: usize, floor: Time, emit: &mut dyn FnMut(Time, Decoded)) -> usize {
        let mut read = 0;
        while read < max {
            let Some((partition, offset, value)) = self.records.next() else {
                self.finished = true;
                break;
            };
            read += 1;
            self.decoder.accept(partition, offset, Some(&value), floor, emit);
        }
        read
    }

    fn watermark(&self) -> Option<Time> {
        if self.finished {
            None
        } else {
            self.decoder.watermark(false)
        }
    }

    fn ledger(&mut self) -> &mut Ledger {
        &mut self.decoder.ledger
    }

    fn commit(&self, offsets: &[(i32, i64)], _last: bool) {
        Metrics::add(&self.decoder.metrics.offsets_committed, offsets.len() as u64);
    }
}

/// How many partitions `topic` has in `metadata` (0: absent, or in error).
pub(crate) fn partition_count(metadata: &rdkafka::metadata::Metadata, topic: &str) -> i32 {
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len() as i32)
}

/// Every partition of `topic` with the offset `consumer`'s group committed
/// there (`Offset::Invalid` where it never did); an error when the topic
/// has no partitions yet.
pub(crate) fn committed_of_all<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
) -> Result<TopicPartitionList, String> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let partitions = partition_count(&metadata, topic);
    if partitions == 0 {
        return Err(format!("the topic {topic} has no partitions yet"));
    }
    let mut query = TopicPartitionList::new();
    for partition in 0..partitions {
        query.add_partition(topic, partition);
    }
    consumer.committed_offsets(query, Duration::from_secs(10)).map_err(|e| e.to_string())
}

/// The assignment that resumes each partition of `committed` where the
/// group left it, or from the beginning if it never committed there. An
/// error names the partition.
pub(crate) fn resume_assignment(
    topic: &str,
    committed: &TopicPartitionList,
) -> Result<TopicPartitionList, (i32, rdkafka::error::KafkaError)> {
    let mut assignment = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(n) => Offset::Offset(n),
            _ => Offset::Beginning,
        };
        assignment.add_partition_offset(topic, element.partition(), offset).map_err(|e| (element.partition(), e))?;
    }
    Ok(assignment)
}

fn retry_committed(
    consumer: &BaseConsumer<LagContext>,
    query: &TopicPartitionList,
    stop: &AtomicBool,
) -> Result<Option<TopicPartitionList>, SourceError> {
    let started = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match consumer.committed_offsets(query.clone(), Duration::from_secs(10)) {
            Ok(list) => return Ok(Some(list)),
            Err(e) if started.elapsed() > Duration::from_secs(120) => {
                return Err(SourceError::Committed(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading committed offsets failed; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_durable_prefix_is_released() {
        let mut ledger = Ledger::default();
        ledger.record(0, 10, 5);
        ledger.record(0, 11, 7);
        ledger.record(0, 12, 6);
        ledger.record(1, 3, 9);
        // Frontier at 7: times 5 and 6 are durable, but 12 sits behind 11.
        let released = ledger.release(&DurableFrontier { lower: Some(7) });
        assert_eq!(released, [(0, 11)]);
        assert_eq!(ledger.in_flight(), 3);
        let released = ledger.release(&DurableFrontier { lower: Some(8) });
        assert_eq!(released, [(0, 13)]);
        let released = ledger.release(&DurableFrontier { lower: None });
        assert_eq!(released, [(1, 4)]);
        assert_eq!(ledger.in_flight(), 0);
    }
}

//! Getting an accepted batch to Kafka, or to disk when Kafka is away.
//!
//! Request path ([`Delivery::deliver`]): if the spool is active the batch
//! queues behind it; otherwise it is produced and acknowledged within
//! `ack_timeout_ms`, and if that fails in any way (queue full, brokers down,
//! timeout, error) it is spooled. A timed-out record may still reach Kafka
//! from librdkafka's queue and then again from the spool: a duplicate, which
//! downstream dedups by `session_id`+`seq`; order per candidate is kept
//! because the copy in librdkafka's queue is ahead of everything spooled.
//!
//! Replay ([`run_replayer`]): a task that, while the spool is active, probes
//! Kafka, produces the next chunk of spooled records in order, waits for
//! every acknowledgement and only then advances the spool's cursor. When
//! some records of a chunk fail (a broker coming back drops a connection),
//! the next attempt sends only those: the ones acknowledged are remembered
//! for the chunk, so a partial failure does not send the rest again.
//! Failures back off exponentially (250 ms → 5 s).

use std::sync::Arc;
use std::time::Duration;

use crate::kafka::{delivered, EventsProducer};
use crate::metrics::Metrics;
use crate::spool::{Spool, SpoolError};

/// Where an accepted batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Produced,
    Spooled,
}

#[derive(Clone)]
pub struct Delivery {
    pub producer: EventsProducer,
    pub spool: Spool,
    metrics: Arc<Metrics>,
    ack_timeout: Duration,
}

impl Delivery {
    pub fn new(producer: EventsProducer, spool: Spool, metrics: Arc<Metrics>, ack_timeout: Duration) -> Self {
        Self { producer, spool, metrics, ack_timeout }
    }

    /// Makes the batch durable (Kafka or spool) before returning `Ok`.
    pub async fn deliver(&self, key: &str, value: &[u8]) -> Result<Outcome, SpoolError> {
        if let Some(waiter) = self.spool.append_if_active(key, value) {
            return self.spooled(waiter).await;
        }
        if !self.producer.brokers_down() {
            if let Ok(future) = self.producer.enqueue(key, value) {
                let enqueued = std::time::Instant::now();
                match tokio::time::timeout(self.ack_timeout, delivered(future)).await {
                    Ok(Ok(())) => {
                        self.metrics.produce_ack.observe(enqueued.elapsed().as_secs_f64());
                        self.producer.mark_up();
                        self.metrics.produced.inc();
                        return Ok(Outcome::Produced);
                    }
                    Ok(Err(error)) => tracing::warn!(%error, "produce failed; spooling"),
                    Err(_) => {
                        tracing::warn!(timeout_ms = self.ack_timeout.as_millis() as u64, "no ack in time; spooling")
                    }
                }
            }
        }
        self.spooled(self.spool.append(key, value)).await
    }

    async fn spooled(
        &self,
        waiter: tokio::sync::oneshot::Receiver<Result<(), SpoolError>>,
    ) -> Result<Outcome, SpoolError> {
        let result = waiter.await.unwrap_or_else(|_| Err(SpoolError::Io("the spool writer stopped".into())));
        self.metrics.spool_bytes.set(self.spool.usage().0 as i64);
        result.map(|()| {
            self.metrics.spooled.inc();
            Outcome::Spooled
        })
    }
}

/// Records per replay chunk; all of a chunk are in flight at once.
const REPLAY_CHUNK_RECORDS: usize = 2000;
const REPLAY_CHUNK_BYTES: u64 = 8 << 20;

/// Drains the spool into Kafka until `stop` is set (see the module docs).
pub async fn run_replayer(delivery: Delivery, stop: tokio::sync::watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(250);
    let spool = delivery.spool.clone();
    let mut progress = ChunkProgress::default();
    loop {
        if *stop.borrow() {
            return;
        }
        if !spool.is_active() {
            spool.wait_written(Duration::from_millis(200)).await;
            continue;
        }
        match replay_chunk(&delivery, &mut progress).await {
            Ok(0) => {
                if !spool.try_deactivate() {
                    spool.wait_written(Duration::from_millis(50)).await;
                } else {
                    tracing::info!("spool drained; producing directly again");
                }
                backoff = Duration::from_millis(250);
            }
            Ok(n) => {
                delivery.metrics.replayed.inc_by(n as u64);
                delivery.metrics.spool_bytes.set(spool.usage().0 as i64);
                backoff = Duration::from_millis(250);
            }
            Err(why) => {
                tracing::warn!(%why, retry_in_ms = backoff.as_millis() as u64, "spool replay paused");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Which records of the chunk being replayed Kafka has acknowledged, so a
/// retry of the chunk sends only the others.
#[derive(Default)]
struct ChunkProgress {
    start: Option<crate::spool::Position>,
    acknowledged: Vec<bool>,
}

impl ChunkProgress {
    /// Forgets a different chunk's progress; sized for `records`.
    fn for_chunk(&mut self, start: crate::spool::Position, records: usize) {
        if self.start != Some(start) {
            *self = Self { start: Some(start), acknowledged: Vec::new() };
        }
        if self.acknowledged.len() < records {
            self.acknowledged.resize(records, false);
        }
    }
}

/// Replays one chunk; the number of records acknowledged and committed.
async fn replay_chunk(delivery: &Delivery, progress: &mut ChunkProgress) -> Result<usize, String> {
    let spool = delivery.spool.clone();
    let chunk = tokio::task::spawn_blocking(move || spool.read_chunk(REPLAY_CHUNK_RECORDS, REPLAY_CHUNK_BYTES))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the spool: {e}"))?;
    if chunk.records.is_empty() {
        return Ok(0);
    }
    let producer = delivery.producer.clone();
    let reachable = tokio::task::spawn_blocking(move || producer.probe(Duration::from_secs(2))).await.unwrap_or(false);
    if !reachable {
        return Err("kafka unreachable".into());
    }
    progress.for_chunk(chunk.start, chunk.records.len());
    let mut futures = Vec::with_capacity(chunk.records.len());
    for (index, record) in chunk.records.iter().enumerate() {
        if progress.acknowledged[index] {
            continue;
        }
        let mut attempt = 0;
        loop {
            match delivery.producer.enqueue(&record.key, &record.value) {
                Ok(future) => break futures.push((index, future)),
                Err(error) if attempt < 50 => {
                    attempt += 1;
                    tracing::debug!(%error, "producer queue busy during replay");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => return Err(format!("enqueue: {error}")),
            }
        }
    }
    let count = futures.len();
    let mut first_error = None;
    for (index, future) in futures {
        match delivered(future).await {
            Ok(()) => progress.acknowledged[index] = true,
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error {
        return Err(format!("delivery: {error}"));
    }
    delivery.producer.mark_up();
    let spool = delivery.spool.clone();
    let next = chunk.next;
    tokio::task::spawn_blocking(move || spool.commit(next))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cursor: {e}"))?;
    *progress = ChunkProgress::default();
    Ok(count)
}

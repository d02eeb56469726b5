//! Delivering the outbox to the endpoints, at least once.
//!
//! One thread with its own runtime, beside the dataflow: nothing here can
//! slow the pipeline, which only appends to the outbox topic. Each endpoint
//! follows the topic in a consumer group of its own, so a dead endpoint
//! falls behind alone, its backlog kept by the broker rather than in
//! memory. Per endpoint:
//!
//! - up to [`READ_AHEAD`] notices are read ahead; each is attempted when
//!   due, at most `concurrency` at once, and retried independently, so one
//!   notice that keeps failing does not hold back the others;
//! - a failed attempt waits `first_backoff`, doubling to `max_backoff`, and
//!   the first failure `give_up_after` the notice was announced is the last
//!   (logged as `gave_up`);
//! - the group's offset advances only past notices that are settled
//!   (delivered, given up, or not for this endpoint). A restart resumes
//!   there and sends again what was in flight: at least once, and the
//!   `webhook-id` lets receivers drop the repeats.
//!
//! Every attempt is a row of `webhook_deliveries` (see [`DeliveryLog`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use invigil_schemas::kafka_access::KafkaEndpoint;
use invigil_schemas::webhook::Notice;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinSet;

use super::endpoint::Endpoint;
use crate::rows::WebhookDeliveryRow;
use crate::source::committed_of_all;
use crate::store::Store;

/// Notices an endpoint holds in memory, read but not settled.
pub const READ_AHEAD: usize = 1_000;
/// How often settled offsets are committed.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// The longest sleep between looks at the topic when nothing is due.
const IDLE_LOOK: Duration = Duration::from_millis(250);
/// Log rows waiting for the store at most; beyond, rows are dropped and
/// counted (the log explains deliveries; the notices themselves are safe
/// in the topic).
const LOG_BUFFER: usize = 100_000;

/// Counts the dispatcher keeps, for tests and metrics.
#[derive(Debug, Default)]
pub struct DispatchCounts {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub gave_up: AtomicU64,
    pub log_rows_dropped: AtomicU64,
    /// Endpoints whose consumer is positioned and reading.
    pub endpoints_ready: AtomicU64,
}

/// The running dispatcher, until `stop` or [`Dispatcher::join`].
pub struct Dispatcher {
    thread: JoinHandle<()>,
    done: Arc<AtomicBool>,
    pub counts: Arc<DispatchCounts>,
}

/// What the dispatcher needs to run.
pub struct DispatchSettings {
    pub kafka: KafkaEndpoint,
    /// The outbox topic.
    pub topic: String,
    /// Each endpoint's group is `{group_prefix}-webhook-{name}`.
    pub group_prefix: String,
    pub endpoints: Vec<Endpoint>,
}

impl Dispatcher {
    /// Starts delivering; `store_runtime` runs the log's inserts (the
    /// store's clients live there).
    pub fn start(
        settings: DispatchSettings,
        store: Store,
        store_runtime: Arc<tokio::runtime::Runtime>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let done = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(DispatchCounts::default());
        let flags = Flags { stop, done: Arc::clone(&done) };
        let thread_counts = Arc::clone(&counts);
        let thread = std::thread::Builder::new().name("invigil-webhooks".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "webhooks: no runtime; nothing will be delivered");
                    return;
                }
            };
            runtime.block_on(dispatch(settings, store, store_runtime, flags, thread_counts));
        })?;
        Ok(Self { thread, done, counts })
    }

    /// Stops (committing what is settled) and waits for the thread.
    pub fn join(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

#[derive(Clone)]
struct Flags {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Flags {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.done.load(Ordering::Relaxed)
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// An HTTP/1 client for http:// and https:// endpoints, trusting the
/// system's roots.
fn client() -> Client {
    let tls = crate::store::http::tls_config(None)
        .expect("with no CA file, only the provider could fail, and aws-lc-rs has the defaults");
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

async fn dispatch(
    settings: DispatchSettings,
    store: Store,
    store_runtime: Arc<tokio::runtime::Runtime>,
    flags: Flags,
    counts: Arc<DispatchCounts>,
) {
    let (log, log_rows) = tokio::sync::mpsc::channel(LOG_BUFFER);
    let log = DeliveryLog { sender: log, counts: Arc::clone(&counts) };
    let writer = tokio::spawn(write_log(log_rows, store, store_runtime));
    let client = client();
    let mut tasks = JoinSet::new();
    for endpoint in settings.endpoints {
        let follower = Follower {
            group: format!("{}-webhook-{}", settings.group_prefix, endpoint.name),
            endpoint: Arc::new(endpoint),
            kafka: settings.kafka.clone(),
            topic: settings.topic.clone(),
            client: client.clone(),
            log: log.clone(),
            flags: flags.clone(),
            counts: Arc::clone(&counts),
        };
        tasks.spawn(follower.run());
    }
    while tasks.join_next().await.is_some() {}
    drop(log);
    let _ = writer.await;
}

/// Where attempts are logged: a bounded queue to the writer task.
#[derive(Clone)]
struct DeliveryLog {
    sender: tokio::sync::mpsc::Sender<WebhookDeliveryRow>,
    counts: Arc<DispatchCounts>,
}

impl DeliveryLog {
    fn record(&self, row: WebhookDeliveryRow) {
        if self.sender.try_send(row).is_err() {
            self.counts.log_rows_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes log rows in batches (what arrived within a second, up to 1,000),
/// retrying with backoff; ends when every sender is gone and the last rows
/// are written (or, at stop, could not be).
async fn write_log(
    mut rows: tokio::sync::mpsc::Receiver<WebhookDeliveryRow>,
    store: Store,
    store_runtime: Arc<tokio::runtime::Runtime>,
) {
    let mut batch = Vec::new();
    loop {
        let Some(first) = rows.recv().await else { return };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while batch.len() < 1_000 {
            match tokio::time::timeout_at(deadline, rows.recv()).await {
                Ok(Some(row)) => batch.push(row),
                Ok(None) | Err(_) => break,
            }
        }
        let mut wait = Duration::from_millis(250);
        for _ in 0..8 {
            let (store, rows) = (store.clone(), std::mem::take(&mut batch));
            let (rows, result) = match store_runtime
                .spawn(async move {
                    let result = store.insert(&rows).await;
                    (rows, result)
                })
                .await
            {
                Ok(done) => done,
                Err(_) => return,
            };
            match result {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, rows = rows.len(), "writing the webhook delivery log; retrying");
                    batch = rows;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        if !batch.is_empty() {
            tracing::error!(rows = batch.len(), "webhook delivery log rows dropped: the store refused them 8 times");
            batch.clear();
        }
    }
}

/// One endpoint's consumer and deliveries.
struct Follower {
    group: String,
    endpoint: Arc<Endpoint>,
    kafka: KafkaEndpoint,
    topic: String,
    client: Client,
    log: DeliveryLog,
    flags: Flags,
    counts: Arc<DispatchCounts>,
}

/// A notice read and not yet settled.
struct Pending {
    notice: Arc<Notice>,
    payload: Bytes,
    /// Attempts made so far.
    attempts: u32,
    due: Instant,
    running: bool,
}

/// What one attempt came to.
struct Attempt {
    status: u16,
    error: Option<String>,
    took: Duration,
}

/// Per partition, the offsets read and not settled, and the next to read:
/// the group may commit the lowest unsettled one (or the next, if none).
#[derive(Default)]
struct Settlement {
    partitions: BTreeMap<i32, (BTreeSet<i64>, i64)>,
    committed: BTreeMap<i32, i64>,
}

impl Settlement {
    fn read(&mut self, partition: i32, offset: i64) {
        let entry = self.partitions.entry(partition).or_insert_with(|| (BTreeSet::new(), offset));
        entry.0.insert(offset);
        entry.1 = entry.1.max(offset + 1);
    }

    fn settle(&mut self, partition: i32, offset: i64) {
        if let Some(entry) = self.partitions.get_mut(&partition) {
            entry.0.remove(&offset);
        }
    }

    /// The offsets to commit that moved since the last call.
    fn due(&mut self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (partition, (unsettled, next)) in &self.partitions {
            let offset = unsettled.first().copied().unwrap_or(*next);
            if self.committed.get(partition) != Some(&offset) {
                out.push((*partition, offset));
            }
        }
        for (partition, offset) in &out {
            self.committed.insert(*partition, *offset);
        }
        out
    }
}

impl Follower {
    async fn run(self) {
        let Some(consumer) = self.connect().await else { return };
        self.counts.endpoints_ready.fetch_add(1, Ordering::Relaxed);
        tracing::info!(endpoint = %self.endpoint.name, topic = %self.topic, "delivering webhooks");
        let mut pending: BTreeMap<(i32, i64), Pending> = BTreeMap::new();
        let mut running: JoinSet<((i32, i64), Attempt)> = JoinSet::new();
        let mut settlement = Settlement::default();
        let mut last_commit = Instant::now();
        while !self.flags.stopping() {
            // Read what fits.
            while pending.len() < READ_AHEAD {
                match consumer.poll(Duration::ZERO) {
                    Some(Ok(message)) => {
                        let at = (message.partition(), message.offset());
                        settlement.read(at.0, at.1);
                        match message.payload().map(Notice::decode) {
                            Some(Ok(notice)) if self.endpoint.wants(&notice) => {
                                let payload = Bytes::from(notice.payload());
                                let notice = Arc::new(notice);
                                pending.insert(
                                    at,
                                    Pending { notice, payload, attempts: 0, due: Instant::now(), running: false },
                                );
                            }
                            Some(Ok(_)) => settlement.settle(at.0, at.1),
                            Some(Err(error)) => {
                                tracing::warn!(%error, partition = at.0, offset = at.1, "skipping an outbox record that is not a notice");
                                settlement.settle(at.0, at.1);
                            }
                            None => settlement.settle(at.0, at.1),
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, endpoint = %self.endpoint.name, "reading the outbox");
                        break;
                    }
                    None => break,
                }
            }
            // Start what is due, oldest first.
            let now = Instant::now();
            for (at, item) in pending.iter_mut() {
                if running.len() >= self.endpoint.concurrency {
                    break;
                }
                if item.running || item.due > now {
                    continue;
                }
                item.running = true;
                let (client, endpoint) = (self.client.clone(), Arc::clone(&self.endpoint));
                let (notice, payload, at) = (Arc::clone(&item.notice), item.payload.clone(), *at);
                running.spawn(async move { (at, attempt(&client, &endpoint, &notice, payload).await) });
            }
            // Wait for an attempt to end, the next due time, or a look at the topic.
            let next_due = pending.values().filter(|p| !p.running).map(|p| p.due).min();
            let wait = next_due.map_or(IDLE_LOOK, |due| due.saturating_duration_since(Instant::now()).min(IDLE_LOOK));
            tokio::select! {
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok((at, outcome)) = done {
                        self.settle_attempt(at, outcome, &mut pending, &mut settlement);
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
            if last_commit.elapsed() >= COMMIT_EVERY {
                last_commit = Instant::now();
                self.commit(&consumer, settlement.due());
            }
        }
        // Attempts still running are sent again after a restart.
        running.abort_all();
        self.commit(&consumer, settlement.due());
    }

    /// Logs one attempt and settles or reschedules its notice.
    fn settle_attempt(
        &self,
        at: (i32, i64),
        outcome: Attempt,
        pending: &mut BTreeMap<(i32, i64), Pending>,
        settlement: &mut Settlement,
    ) {
        let Some(item) = pending.get_mut(&at) else { return };
        item.running = false;
        item.attempts += 1;
        let now_ms = invigil_schemas::clock::now_ms();
        let age = Duration::from_millis(now_ms.saturating_sub(item.notice.created_at).max(0) as u64);
        let (outcome_name, next_attempt_at) = match &outcome.error {
            None => {
                self.counts.delivered.fetch_add(1, Ordering::Relaxed);
                ("delivered", 0)
            }
            Some(_) if age >= self.endpoint.give_up_after => {
                self.counts.failed_attempts.fetch_add(1, Ordering::Relaxed);
                self.counts.gave_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(endpoint = %self.endpoint.name, notice = %item.notice.id, attempts = item.attempts, "webhook given up");
                ("gave_up", 0)
            }
            Some(_) => {
                self.counts.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let wait = self.endpoint.backoff(item.attempts);
                item.due = Instant::now() + wait;
                ("retrying", now_ms + wait.as_millis() as i64)
            }
        };
        let notice = &item.notice;
        self.log.record(WebhookDeliveryRow {
            test_id: notice.test_id.clone(),
            candidate_id: notice.candidate_id.clone(),
            endpoint: self.endpoint.name.clone(),
            notice_id: notice.id,
            event_type: notice.kind.as_str().to_owned(),
            attempt: item.attempts,
            at: now_ms,
            outcome: outcome_name.to_owned(),
            status: outcome.status,
            duration_ms: outcome.took.as_millis().min(u128::from(u32::MAX)) as u32,
            error: outcome.error.unwrap_or_default(),
            next_attempt_at,
            redelivery: u8::from(notice.only_endpoint.is_some()),
            payload: String::from_utf8_lossy(&item.payload).into_owned(),
            version: now_ms.max(0) as u64,
        });
        if outcome_name != "retrying" {
            pending.remove(&at);
            settlement.settle(at.0, at.1);
        }
    }

    fn commit(&self, consumer: &BaseConsumer, offsets: Vec<(i32, i64)>) {
        if offsets.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            if list.add_partition_offset(&self.topic, partition, Offset::Offset(offset)).is_err() {
                return;
            }
        }
        // A commit lost only means some notices are sent again.
        if let Err(error) = consumer.commit(&list, CommitMode::Async) {
            tracing::warn!(%error, endpoint = %self.endpoint.name, "committing webhook progress");
        }
    }

    /// Waits for the topic, then assigns all its partitions: from the
    /// group's committed offsets, or, for an endpoint new to this topic,
    /// from the end (committed at once, so a restart keeps that start).
    async fn connect(&self) -> Option<BaseConsumer> {
        let mut wait = Duration::from_millis(250);
        loop {
            if self.flags.stopping() {
                return None;
            }
            let (kafka, topic, group) = (self.kafka.clone(), self.topic.clone(), self.group.clone());
            match tokio::task::spawn_blocking(move || try_connect(&kafka, &topic, &group)).await {
                Ok(Ok(consumer)) => return Some(consumer),
                Ok(Err(error)) => {
                    tracing::warn!(%error, endpoint = %self.endpoint.name, "webhook endpoint not following the outbox yet; retrying")
                }
                Err(_) => return None,
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }
}

fn try_connect(kafka: &KafkaEndpoint, topic: &str, group: &str) -> Result<BaseConsumer, String> {
    super::outbox::create(kafka, topic)?;
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("queued.max.messages.kbytes", "4096")
        .set("fetch.wait.max.ms", "500")
        .set("reconnect.backoff.max.ms", "2000")
        .create()
        .map_err(|e| e.to_string())?;
    let committed = committed_of_all(&consumer, topic)?;
    let mut assignment = TopicPartitionList::new();
    let mut fresh = TopicPartitionList::new();
    for element in committed.elements() {
        let partition = element.partition();
        let offset = match element.offset() {
            Offset::Offset(n) => n,
            _ => {
                let (_, high) =
                    consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)).map_err(|e| e.to_string())?;
                fresh.add_partition_offset(topic, partition, Offset::Offset(high)).map_err(|e| e.to_string())?;
                high
            }
        };
        assignment.add_partition_offset(topic, partition, Offset::Offset(offset)).map_err(|e| e.to_string())?;
    }
    if fresh.count() > 0 {
        consumer.commit(&fresh, CommitMode::Sync).map_err(|e| format!("recording where a new endpoint starts: {e}"))?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    Ok(consumer)
}

/// One signed POST of `payload`.
async fn attempt(client: &Client, endpoint: &Endpoint, notice: &Notice, payload: Bytes) -> Attempt {
    let started = Instant::now();
    let id = notice.message_id();
    let timestamp = invigil_schemas::clock::now_ms().div_euclid(1000);
    let signature = endpoint.secret.sign(&id, timestamp, &payload);
    let request = http::Request::post(&endpoint.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, concat!("invigil-webhooks/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Full::new(payload));
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return Attempt { status: 0, error: Some(format!("bad request: {error}")), took: started.elapsed() }
        }
    };
    let exchange = async {
        let response = client.request(request).await.map_err(|e| crate::store::http::error_chain(&e))?;
        let status = response.status();
        // Read (and drop) the answer, so the connection can be used again.
        let _ = response.into_body().collect().await;
        Ok::<_, String>(status)
    };
    match tokio::time::timeout(endpoint.timeout, exchange).await {
        Ok(Ok(status)) if status.is_success() => {
            Attempt { status: status.as_u16(), error: None, took: started.elapsed() }
        }
        Ok(Ok(status)) => {
            Attempt { status: status.as_u16(), error: Some(format!("HTTP {status}")), took: started.elapsed() }
        }
        Ok(Err(error)) => Attempt { status: 0, error: Some(error), took: started.elapsed() },
        Err(_) => Attempt {
            status: 0,
            error: Some(format!("no answer in {} ms", endpoint.timeout.as_millis())),
            took: started.elapsed(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_commits_up_to_the_oldest_unsettled_notice() {
        let mut s = Settlement::default();
        for offset in 10..15 {
            s.read(0, offset);
        }
        assert_eq!(s.due(), [(0, 10)]);
        s.settle(0, 11);
        s.settle(0, 13);
        assert_eq!(s.due(), [], "10 still out: nothing moves");
        s.settle(0, 10);
        assert_eq!(s.due(), [(0, 12)]);
        s.settle(0, 12);
        s.settle(0, 14);
        assert_eq!(s.due(), [(0, 15)], "all settled: past the last read");
        s.read(1, 3);
        assert_eq!(s.due(), [(1, 3)]);
    }
}

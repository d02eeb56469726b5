//! Shared harness: an in-process ingest on a free loopback port, wired to the
//! real local services (tansu, moto) or to a private tansu this test owns,
//! plus token minting, batch building and reading a topic back.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use invigil_ingest::app::{AppState, Backends, Ingest};
use invigil_ingest::auth::TokenKey;
use invigil_ingest::settings::{IngestSettings, Secrets};
use invigil_schemas::ids::event_id_v7;
use invigil_schemas::record::{self, KafkaRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

pub const SECRET: &[u8] = b"an-hs256-secret-of-at-least-32-bytes!!";

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

pub fn shared_brokers() -> String {
    std::env::var("INVIGIL_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

pub fn s3_endpoint() -> String {
    std::env::var("INVIGIL_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:15000".into())
}

/// An HS256 token with `claims`.
pub fn sign(claims: Value) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET))
        .unwrap()
}

pub fn candidate_token(test: &str, candidate: &str) -> String {
    let now = now_ms() / 1000;
    sign(json!({"sub": candidate, "test_id": test, "iat": now, "exp": now + 3600}))
}

pub fn staff_token(role: &str, tests: &[&str]) -> String {
    let now = now_ms() / 1000;
    sign(json!({"sub": format!("{role}-1"), "role": role, "tests": tests, "iat": now, "exp": now + 3600}))
}

/// A valid batch of `n` events with sequence numbers from `first_seq`.
pub fn batch(session: &str, batch_seq: u64, first_seq: u64, n: usize) -> Value {
    let now = now_ms();
    let events: Vec<Value> = (0..n as u64)
        .map(|i| {
            let seq = first_seq + i;
            let id = event_id_v7(
                now as u64,
                (seq as u128 * 7919 + batch_seq as u128).to_le_bytes()[..10].try_into().unwrap(),
            );
            match seq % 3 {
                0 => json!({"id": id, "seq": seq, "ts": now, "type": "visibility", "state": "hidden"}),
                1 => json!({"id": id, "seq": seq, "ts": now, "type": "visibility", "state": "visible"}),
                _ => json!({"id": id, "seq": seq, "ts": now, "type": "key_activity", "keys": 12, "interval_ms": 5000}),
            }
        })
        .collect();
    json!({"v": 1, "session_id": session, "batch_seq": batch_seq, "sent_at": now, "events": events})
}

pub fn new_session() -> String {
    event_id_v7(now_ms() as u64, rand_bytes()).to_string()
}

fn rand_bytes() -> [u8; 10] {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() ^ (std::process::id() as u128) << 64;
    n.to_le_bytes()[..10].try_into().unwrap()
}

/// A topic name no other test uses.
pub fn unique_topic(tag: &str) -> String {
    format!("ingest-{tag}-{}-{}", std::process::id(), now_ms() % 1_000_000_000)
}

pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        admin.create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new()),
    )
    .await
    .unwrap_or_else(|_| panic!("Kafka at {brokers} did not answer in 20 s; is `ops/dev/services.sh up` running?"))
    .unwrap_or_else(|e| panic!("Kafka at {brokers} unreachable: {e}"));
    for outcome in result {
        outcome.unwrap_or_else(|(name, e)| panic!("creating {name}: {e}"));
    }
}

/// Reads every record of `topic` from the beginning until `n` arrived or
/// `limit` passed; partitions are assigned, not joined as a group.
pub fn read_topic(brokers: &str, topic: &str, n: usize, limit: Duration) -> Vec<(String, KafkaRecord)> {
    read_topic_until(brokers, topic, limit, |records| records.len() >= n)
}

/// Reads `topic` from the beginning until `done` holds or `limit` passed.
pub fn read_topic_until(
    brokers: &str,
    topic: &str,
    limit: Duration,
    done: impl Fn(&[(String, KafkaRecord)]) -> bool,
) -> Vec<(String, KafkaRecord)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "ingest-tests-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions = metadata.topics()[0].partitions().len();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while !done(&out) && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
            out.push((key, record::decode(message.payload().unwrap()).unwrap()));
        }
    }
    out
}

/// What a test may change before ingest starts.
pub struct Options {
    pub brokers: String,
    pub topic: String,
    pub ack_timeout_ms: u64,
    pub message_timeout_ms: u64,
    pub rate_limit: (f64, f64),
    pub cors_origins: Vec<String>,
    pub sts_endpoint: String,
    pub upload_grant: invigil_ingest::credentials::UploadGrant,
}

impl Options {
    pub fn shared(topic: String) -> Self {
        Self {
            brokers: shared_brokers(),
            topic,
            ack_timeout_ms: 2000,
            message_timeout_ms: 10_000,
            rate_limit: (1000.0, 1000.0),
            cors_origins: vec!["https://exam.example.com".into()],
            sts_endpoint: s3_endpoint(),
            upload_grant: Default::default(),
        }
    }
}

/// A running in-process ingest.
pub struct Running {
    pub base: String,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn settings_for(options: &Options, dir: &std::path::Path) -> IngestSettings {
    let mut settings = IngestSettings::default();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.node = "ingest-test".into();
    settings.config_file = dir.join("config.json");
    settings.cors_origins = options.cors_origins.clone();
    settings.kafka.brokers = options.brokers.clone();
    settings.kafka.topic = options.topic.clone();
    settings.kafka.ack_timeout_ms = options.ack_timeout_ms;
    settings.kafka.message_timeout_ms = options.message_timeout_ms;
    settings.spool.dir = dir.join("spool");
    settings.credentials.bucket = "invigil-ingest-tests".into();
    settings.credentials.s3_endpoint = s3_endpoint();
    settings.credentials.sts_endpoint = s3_endpoint();
    settings.credentials.upload_grant = options.upload_grant;
    settings.rate_limit.per_second = options.rate_limit.0;
    settings.rate_limit.burst = options.rate_limit.1;
    // Each test follows its own live topic (created on first use by the pipeline or the test).
    settings.dashboard.live_topic = format!("{}-live", options.topic);
    settings
}

pub fn sts_client(endpoint: &str) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "static"))
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

impl Running {
    pub async fn start(options: Options) -> Self {
        Self::start_in(options, tempfile::tempdir().unwrap()).await
    }

    pub async fn start_in(options: Options, dir: tempfile::TempDir) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .try_init();
        let settings = settings_for(&options, dir.path());
        let secrets = Secrets { token_key: TokenKey::Hs256Secret(SECRET.to_vec()), ip_hash_secret: [7; 16] };
        let media = aws_credential_types::Credentials::new("testing", "testing", None, None, "static");
        let backends = Backends {
            sts: Some(sts_client(&options.sts_endpoint)),
            media_credentials: Some(aws_credential_types::provider::SharedCredentialsProvider::new(media)),
            ..Default::default()
        };
        let ingest = Ingest::start(settings, secrets, backends).await.unwrap();
        let state = Arc::clone(&ingest.state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ingest
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { base, state, dir, http: reqwest::Client::new(), stop: Some(stop), task: Some(task) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a batch; returns status, Retry-After and the JSON body.
    pub async fn post_events(&self, token: &str, body: &Value) -> (u16, Option<String>, Value) {
        let response = self.http.post(self.url("/api/v1/events")).bearer_auth(token).json(body).send().await.unwrap();
        parts(response).await
    }

    /// Stops gracefully (drain, flush) and hands back the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        self.dir
    }

    /// The value of metric `name` (an un-labelled counter or gauge).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.http.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|v| v.trim().parse::<f64>().unwrap())
            })
            .unwrap_or_else(|| panic!("metric {name} not found in:\n{text}"))
    }
}

pub async fn parts(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, body)
}

/// A tansu broker this test owns (so it may stop it), with data in `dir`.
pub struct PrivateBroker {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

pub fn tansu_binary() -> PathBuf {
    let cache = std::env::var("INVIGIL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/invigil"));
    let binary = cache.join("tansu-0.6.0/bin/tansu");
    assert!(binary.exists(), "tansu not found at {}; run ops/dev/services.sh up", binary.display());
    binary
}

impl PrivateBroker {
    pub fn start(dir: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = Self { port, dir, child: None };
        broker.restart();
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on the same port and data (after [`Self::kill`]).
    pub fn restart(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::write(self.dir.join(".env"), "").unwrap();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private tansu did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

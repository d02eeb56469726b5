//! How every invigil process reaches Kafka: the brokers plus TLS, SASL and
//! any librdkafka property, resolved once into the [`KafkaEndpoint`] that
//! each client is built from.
//!
//! Managed Kafka (MSK, Confluent Cloud, Aiven) requires TLS and usually SASL.
//! The common settings are typed ([`KafkaTls`], [`KafkaSasl`]) so that a
//! mistake is named at start-up (`kafka.tls.ca_file: … no such file`); the
//! rest are handed to librdkafka verbatim through [`KafkaAccess::options`],
//! the `key = value` convention users know from other Kafka tools. A typed
//! setting and an option may not both set one property.
//!
//! The SASL password never sits in a settings file: it comes from
//! `INVIGIL_KAFKA_SASL_PASSWORD` or from `kafka.sasl.password_file` (a mounted
//! secret), and `Debug` of anything holding it prints `<redacted>`.
//!
//! With feature `kafka-client`, [`KafkaEndpoint::client_config`] builds an
//! rdkafka config and [`KafkaEndpoint::preflight`] tells a wrong CA or a
//! refused password (fatal: the process stops and names the setting) from a
//! broker that is merely down (not fatal: ingest spools and retries).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable the SASL password is read from.
pub const SASL_PASSWORD_ENV: &str = "INVIGIL_KAFKA_SASL_PASSWORD";

/// SASL mechanisms librdkafka is built with here (GSSAPI would need
/// cyrus-sasl; OAUTHBEARER needs a token source, configured through
/// `options` when wanted).
pub const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// `[kafka.tls]`: TLS to the brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaTls {
    /// TLS with the system's CA roots; implied by any file below.
    pub enabled: bool,
    /// PEM bundle of the CA(s) that signed the brokers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that authenticate clients by TLS;
    /// needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, unencrypted).
    pub key_file: Option<PathBuf>,
}

/// `[kafka.sasl]`: SASL authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; unset: no SASL.
    pub mechanism: Option<String>,
    pub username: Option<String>,
    /// A file holding the password (a mounted secret); else the
    /// `INVIGIL_KAFKA_SASL_PASSWORD` environment variable.
    pub password_file: Option<PathBuf>,
}

/// Everything about reaching Kafka except the broker list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaAccess {
    pub tls: KafkaTls,
    pub sasl: KafkaSasl,
    /// librdkafka properties set verbatim on every client
    /// (`"socket.keepalive.enable" = "true"`).
    pub options: BTreeMap<String, String>,
}

/// A setting that cannot work, named by its path under `kafka.`
/// (`tls.ca_file`, `sasl.mechanism`, `options."security.protocol"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kafka.{setting}: {message}")]
pub struct AccessError {
    pub setting: String,
    pub message: String,
}

impl AccessError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self { setting: setting.into(), message: message.into() }
    }

    /// The command-line flag spelling of the setting (`--kafka-tls-ca-file`,
    /// `--kafka-option security.protocol=…`), for tools configured by flags.
    pub fn flag(&self) -> String {
        match self.setting.strip_prefix("options.") {
            Some(key) => format!("--kafka-option {}=…", key.trim_matches('"')),
            None => format!("--kafka-{}", self.setting.replace(['.', '_'], "-")),
        }
    }
}

impl KafkaAccess {
    /// Whether TLS is on (asked for, or implied by a file).
    pub fn tls_on(&self) -> bool {
        self.tls.enabled || self.tls.ca_file.is_some() || self.tls.cert_file.is_some() || self.tls.key_file.is_some()
    }

    /// Checks every setting and turns them into librdkafka properties for
    /// `brokers`, reading the SASL password from its file or `env`.
    pub fn resolve(&self, brokers: &str, env: impl Fn(&str) -> Option<String>) -> Result<KafkaEndpoint, AccessError> {
        let mut properties: Vec<(String, String)> = Vec::new();
        let tls = self.tls_on();
        let sasl = self.sasl.mechanism.is_some();
        let protocol = match (tls, sasl) {
            (false, false) => None,
            (true, false) => Some("ssl"),
            (false, true) => Some("sasl_plaintext"),
            (true, true) => Some("sasl_ssl"),
        };
        if let Some(protocol) = protocol {
            properties.push(("security.protocol".into(), protocol.into()));
        }
        for (setting, property, file) in [
            ("tls.ca_file", "ssl.ca.location", &self.tls.ca_file),
            ("tls.cert_file", "ssl.certificate.location", &self.tls.cert_file),
            ("tls.key_file", "ssl.key.location", &self.tls.key_file),
        ] {
            if let Some(path) = file {
                check_pem(setting, path)?;
                properties.push((property.into(), path.display().to_string()));
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            let missing = if self.tls.cert_file.is_some() { "tls.key_file" } else { "tls.cert_file" };
            return Err(AccessError::new(missing, "a client certificate needs both tls.cert_file and tls.key_file"));
        }
        if let Some(mechanism) = &self.sasl.mechanism {
            if !SASL_MECHANISMS.contains(&mechanism.as_str()) {
                return Err(AccessError::new(
                    "sasl.mechanism",
                    format!("{mechanism:?} is not one of {}", SASL_MECHANISMS.join(", ")),
                ));
            }
            let username = self
                .sasl
                .username
                .as_deref()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| AccessError::new("sasl.username", format!("SASL {mechanism} needs a username")))?;
            let password = match &self.sasl.password_file {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| AccessError::new("sasl.password_file", format!("{}: {e}", path.display())))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                None => env(SASL_PASSWORD_ENV).filter(|p| !p.is_empty()).ok_or_else(|| {
                    AccessError::new(
                        "sasl.password_file",
                        format!("SASL {mechanism} needs a password: set {SASL_PASSWORD_ENV} or sasl.password_file"),
                    )
                })?,
            };
            properties.push(("sasl.mechanisms".into(), mechanism.clone()));
            properties.push(("sasl.username".into(), username.to_owned()));
            properties.push(("sasl.password".into(), password));
        } else if self.sasl.username.is_some() || self.sasl.password_file.is_some() {
            return Err(AccessError::new("sasl.mechanism", "a SASL username or password is set but no mechanism"));
        }
        for (key, value) in &self.options {
            let setting = format!("options.{key:?}");
            if key == "bootstrap.servers" {
                return Err(AccessError::new(setting, "the brokers are set by kafka.brokers"));
            }
            if properties.iter().any(|(typed, _)| typed == key) {
                return Err(AccessError::new(
                    setting,
                    "is also set by a typed kafka.tls / kafka.sasl setting; keep one",
                ));
            }
            properties.push((key.clone(), value.clone()));
        }
        Ok(KafkaEndpoint { brokers: brokers.to_owned(), properties })
    }
}

/// A file that must exist and hold PEM.
fn check_pem(setting: &str, path: &Path) -> Result<(), AccessError> {
    let text = std::fs::read(path).map_err(|e| AccessError::new(setting, format!("{}: {e}", path.display())))?;
    if !text.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(AccessError::new(setting, format!("{} holds no PEM block (-----BEGIN …)", path.display())));
    }
    Ok(())
}

/// The brokers and the librdkafka properties every client of one cluster
/// is built with. `Debug` hides passwords and secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaEndpoint {
    /// `host:port,…`
    pub brokers: String,
    properties: Vec<(String, String)>,
}

impl KafkaEndpoint {
    /// Brokers reached without TLS or SASL (one machine, tests).
    pub fn plaintext(brokers: impl Into<String>) -> Self {
        Self { brokers: brokers.into(), properties: Vec::new() }
    }

    /// The security and extra properties, in the order they are set.
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    /// Whether TLS or SASL is in use (`security.protocol` other than plaintext).
    pub fn is_secured(&self) -> bool {
        self.property("security.protocol").is_some_and(|p| !p.eq_ignore_ascii_case("plaintext"))
    }

    /// The value of one property, if set.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Property names whose values are never shown.
fn is_secret(key: &str) -> bool {
    key.contains("password") || key.contains("secret") || key.ends_with(".pem") || key.contains("jaas")
}

impl std::fmt::Debug for KafkaEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret(k) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaEndpoint").field("brokers", &self.brokers).field("properties", &shown).finish()
    }
}

#[cfg(feature = "kafka-client")]
mod client {
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Wake};
    use std::time::{Duration, Instant};

    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::{ClientContext, DefaultClientContext};
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    use super::KafkaEndpoint;

    /// Why the brokers refused this client, as opposed to being unreachable.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum PreflightError {
        /// The TLS handshake failed: a wrong CA, a certificate for another
        /// name, or TLS against a plaintext port.
        #[error("kafka.tls.ca_file: the TLS handshake with {brokers} failed: {reason}")]
        Tls { brokers: String, reason: String },
        /// SASL refused the username or password.
        #[error("kafka.sasl: {brokers} refused the SASL login: {reason}")]
        Authentication { brokers: String, reason: String },
        /// librdkafka refused a property.
        #[error("kafka.options: {0}")]
        Config(String),
    }

    impl PreflightError {
        /// The setting the error names (`tls.ca_file`, `sasl`, `options`).
        pub fn setting(&self) -> &'static str {
            match self {
                Self::Tls { .. } => "tls.ca_file",
                Self::Authentication { .. } => "sasl",
                Self::Config(_) => "options",
            }
        }
    }

    /// How the first contact went.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Preflight {
        /// The cluster answered with its metadata.
        Reached,
        /// No broker answered in time; not a configuration error.
        Unreachable(String),
    }

    /// Keeps the first TLS or authentication error librdkafka reports.
    #[derive(Default)]
    struct Refusals {
        first: Mutex<Option<(RDKafkaErrorCode, String)>>,
        transport: Mutex<Option<String>>,
    }

    impl rdkafka::consumer::ConsumerContext for Refusals {}

    impl ClientContext for Refusals {
        fn error(&self, error: KafkaError, reason: &str) {
            // librdkafka reports a failed handshake as __SSL, or as a
            // transport failure whose reason says so; a refused login as
            // __AUTHENTICATION.
            let code = match error.rdkafka_error_code() {
                Some(code @ (RDKafkaErrorCode::SSL | RDKafkaErrorCode::Authentication)) => Some(code),
                _ if reason.contains("SSL handshake failed") || reason.contains("certificate verify failed") => {
                    Some(RDKafkaErrorCode::SSL)
                }
                _ if reason.contains("SASL authentication") || reason.contains("Authentication failed") => {
                    Some(RDKafkaErrorCode::Authentication)
                }
                _ => None,
            };
            match code {
                Some(code) => {
                    self.first.lock().unwrap().get_or_insert((code, reason.to_owned()));
                }
                None => {
                    self.transport.lock().unwrap().get_or_insert(reason.to_owned());
                }
            }
        }
    }

    impl KafkaEndpoint {
        /// An rdkafka config with the brokers and every property set.
        pub fn client_config(&self) -> ClientConfig {
            let mut config = ClientConfig::new();
            config.set("bootstrap.servers", &self.brokers);
            for (key, value) in self.properties() {
                config.set(key, value);
            }
            config
        }

        /// Asks the cluster for its metadata for up to `timeout`. A TLS or
        /// SASL refusal is an error (the settings are wrong and retrying
        /// cannot help); no answer is [`Preflight::Unreachable`]. Blocking.
        pub fn preflight(&self, timeout: Duration) -> Result<Preflight, PreflightError> {
            let consumer: BaseConsumer<Refusals> = self
                .client_config()
                .set("reconnect.backoff.max.ms", "500")
                .create_with_context(Refusals::default())
                .map_err(|e| PreflightError::Config(e.to_string()))?;
            let deadline = Instant::now() + timeout;
            loop {
                let answered = consumer.fetch_metadata(None, Duration::from_millis(500)).is_ok();
                // Errors reach the context only while the client is polled.
                let _ = consumer.poll(Duration::from_millis(50));
                let context = consumer.context();
                if let Some((code, reason)) = context.first.lock().unwrap().clone() {
                    let brokers = self.brokers.clone();
                    return Err(if code == RDKafkaErrorCode::SSL {
                        PreflightError::Tls { brokers, reason }
                    } else {
                        PreflightError::Authentication { brokers, reason }
                    });
                }
                if answered {
                    return Ok(Preflight::Reached);
                }
                if Instant::now() >= deadline {
                    let reason = context.transport.lock().unwrap().clone();
                    return Ok(Preflight::Unreachable(reason.unwrap_or_else(|| "no answer".into())));
                }
            }
        }

        /// Creates `topic` with `partitions` and the given topic configs
        /// unless it exists (replication 1: a cluster's operator makes its
        /// real topics; this is for the small ones a process owns). Blocking,
        /// up to `timeout`.
        pub fn create_topic(
            &self,
            topic: &str,
            partitions: i32,
            configs: &[(&str, &str)],
            timeout: Duration,
        ) -> Result<(), TopicError> {
            let failed = |reason: String, refused: bool| TopicError {
                topic: topic.to_owned(),
                brokers: self.brokers.clone(),
                reason,
                refused,
            };
            let admin: AdminClient<DefaultClientContext> =
                self.client_config().create().map_err(|e| failed(e.to_string(), true))?;
            let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
            for (key, value) in configs {
                new = new.set(key, value);
            }
            let options = AdminOptions::new().operation_timeout(Some(timeout));
            let results = block_on(admin.create_topics([&new], &options), timeout)
                .ok_or_else(|| failed(format!("no answer in {} s", timeout.as_secs()), false))?
                .map_err(|e| failed(e.to_string(), false))?;
            for result in results {
                match result {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => return Err(failed(code.to_string(), true)),
                }
            }
            Ok(())
        }
    }

    /// Why a topic could not be made.
    #[derive(Debug, Clone, thiserror::Error)]
    #[error("creating topic {topic} at {brokers}: {reason}")]
    pub struct TopicError {
        pub topic: String,
        pub brokers: String,
        pub reason: String,
        /// The brokers (or the client's settings) said no: trying again
        /// will not help. Otherwise nobody answered in time.
        pub refused: bool,
    }

    /// Runs a future on this thread until it completes or `timeout` passes.
    /// The futures this is for (deliveries, admin calls) are completed by
    /// librdkafka's own threads; all it needs is to sleep until they wake
    /// it, with no async runtime.
    fn block_on<F: Future>(future: F, timeout: Duration) -> Option<F::Output> {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Arc::new(Unpark(std::thread::current())).into();
        let mut context = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        let deadline = Instant::now() + timeout;
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return Some(output);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            std::thread::park_timeout(left);
        }
    }
}

#[cfg(feature = "kafka-client")]
pub use client::{Preflight, PreflightError, TopicError};

#[cfg(feature = "kafka-client")]
pub use poller::{Polled, POLL_CALL};

/// A producer whose delivery reports are served by a thread of its own, in
/// long calls.
///
/// rdkafka's `ThreadedProducer` (and the `FutureProducer` built on it) polls
/// in 100 ms calls, and every call ends by spinning through its last
/// fraction of a millisecond: the time left is handed to librdkafka in whole
/// milliseconds, so it becomes a 0 ms wait, again and again, until the
/// deadline passes. `perf` showed those threads in `clock_gettime`, and
/// `invigil bench idle` measured them at 0.018 cores for the two producers of
/// an idle `invigil up`. Ingest's events, the pipeline's live counters and
/// the config log's writes all use this instead. Calls of [`POLL_CALL`] spin
/// five times less often; a delivery report still wakes the thread at once.
#[cfg(feature = "kafka-client")]
mod poller {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use rdkafka::producer::{BaseProducer, ProducerContext};

    /// How long one poll call waits; also how long dropping the last handle
    /// may wait for the thread to notice.
    pub const POLL_CALL: Duration = Duration::from_millis(500);

    /// A `BaseProducer` and its polling thread; the thread stops when the
    /// last clone is dropped.
    pub struct Polled<C: ProducerContext + 'static> {
        producer: Arc<BaseProducer<C>>,
        _thread: Arc<Stopper>,
    }

    impl<C: ProducerContext + 'static> Clone for Polled<C> {
        fn clone(&self) -> Self {
            Self { producer: Arc::clone(&self.producer), _thread: Arc::clone(&self._thread) }
        }
    }

    struct Stopper {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Drop for Stopper {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    impl<C: ProducerContext + 'static> Polled<C> {
        /// Starts the thread (named `name`) that serves `producer`.
        pub fn start(name: &str, producer: BaseProducer<C>) -> std::io::Result<Self> {
            let producer = Arc::new(producer);
            let stop = Arc::new(AtomicBool::new(false));
            let thread = {
                let (producer, stop) = (Arc::clone(&producer), Arc::clone(&stop));
                std::thread::Builder::new().name(name.to_owned()).spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        producer.poll(POLL_CALL);
                    }
                })?
            };
            Ok(Self { producer, _thread: Arc::new(Stopper { stop, thread: Some(thread) }) })
        }

        pub fn producer(&self) -> &BaseProducer<C> {
            &self.producer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn plaintext_by_default_and_tls_with_sasl_when_asked() {
        let endpoint = KafkaAccess::default().resolve("b:9092", no_env).unwrap();
        assert!(!endpoint.is_secured() && endpoint.properties().is_empty());

        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, PEM).unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "s3cr3t-pw\n").unwrap();
        let access = KafkaAccess {
            tls: KafkaTls { ca_file: Some(ca.clone()), ..KafkaTls::default() },
            sasl: KafkaSasl {
                mechanism: Some("SCRAM-SHA-512".into()),
                username: Some("invigil".into()),
                password_file: Some(password),
            },
            options: [("socket.keepalive.enable".to_owned(), "true".to_owned())].into(),
        };
        let endpoint = access.resolve("b:9093", no_env).unwrap();
        assert!(endpoint.is_secured());
        assert_eq!(endpoint.property("security.protocol"), Some("sasl_ssl"));
        assert_eq!(endpoint.property("ssl.ca.location"), Some(ca.to_str().unwrap()));
        assert_eq!(endpoint.property("sasl.password"), Some("s3cr3t-pw"), "the file's newline is not the password's");
        assert_eq!(endpoint.property("socket.keepalive.enable"), Some("true"));
        let shown = format!("{endpoint:?}");
        assert!(!shown.contains("s3cr3t") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn the_password_comes_from_the_environment_when_there_is_no_file() {
        let access = KafkaAccess {
            sasl: KafkaSasl { mechanism: Some("PLAIN".into()), username: Some("u".into()), password_file: None },
            ..KafkaAccess::default()
        };
        let env = |name: &str| (name == SASL_PASSWORD_ENV).then(|| "from-env".to_owned());
        let endpoint = access.resolve("b:9092", env).unwrap();
        assert_eq!(endpoint.property("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(endpoint.property("sasl.password"), Some("from-env"));
        let error = access.resolve("b:9092", no_env).unwrap_err();
        assert_eq!(error.setting, "sasl.password_file");
        assert!(error.to_string().contains(SASL_PASSWORD_ENV), "{error}");
    }

    #[test]
    fn each_mistake_names_its_setting() {
        let missing = KafkaAccess {
            tls: KafkaTls { ca_file: Some("/nonexistent/ca.pem".into()), ..KafkaTls::default() },
            ..KafkaAccess::default()
        };
        let error = missing.resolve("b", no_env).unwrap_err();
        assert_eq!(error.setting, "tls.ca_file");
        assert_eq!(error.flag(), "--kafka-tls-ca-file");
        assert!(error.to_string().starts_with("kafka.tls.ca_file: /nonexistent/ca.pem"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.der");
        std::fs::write(&not_pem, [0x30, 0x82, 0x01]).unwrap();
        let error =
            KafkaAccess { tls: KafkaTls { ca_file: Some(not_pem), ..KafkaTls::default() }, ..KafkaAccess::default() }
                .resolve("b", no_env)
                .unwrap_err();
        assert!(error.message.contains("no PEM"), "{error}");

        let cert = dir.path().join("client.pem");
        std::fs::write(&cert, PEM).unwrap();
        let error =
            KafkaAccess { tls: KafkaTls { cert_file: Some(cert), ..KafkaTls::default() }, ..KafkaAccess::default() }
                .resolve("b", no_env)
                .unwrap_err();
        assert_eq!(error.setting, "tls.key_file");

        let error = KafkaAccess {
            sasl: KafkaSasl { mechanism: Some("GSSAPI".into()), ..KafkaSasl::default() },
            ..KafkaAccess::default()
        }
        .resolve("b", no_env)
        .unwrap_err();
        assert_eq!(error.setting, "sasl.mechanism");

        let error = KafkaAccess {
            tls: KafkaTls { enabled: true, ..KafkaTls::default() },
            options: [("security.protocol".to_owned(), "plaintext".to_owned())].into(),
            ..KafkaAccess::default()
        }
        .resolve("b", no_env)
        .unwrap_err();
        assert_eq!(error.setting, "options.\"security.protocol\"");
        assert_eq!(error.flag(), "--kafka-option security.protocol=…");
    }
}

//! An in-process front door on a free loopback port: ingest with the
//! dashboards mounted, as `invigil ingest` serves them, wired to the dev
//! services (tansu, moto) or to a broker the test owns.

use std::sync::Arc;

use invigil_ingest::app::{Backends, Ingest};
use invigil_ingest::auth::TokenKey;
use invigil_ingest::settings::{IngestSettings, Secrets};
use invigil_ingest::state::AppState;
use serde_json::Value;

use crate::services::{brokers, s3_endpoint};
use crate::tokens::SECRET;

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
    /// The store the review routes read; none: they answer 503.
    pub analytics: Option<Arc<dyn invigil_dashboards::store::AnalyticsStore>>,
    /// Follow the config log on this topic instead of a file of its own.
    pub config_topic: Option<String>,
    /// Serve as an LTI tool, with a key made in the data directory.
    pub lti: bool,
    /// Staff sign-in with OpenID Connect (its session secret's variable
    /// must be set).
    pub oidc: Option<invigil_ingest::oidc::OidcSettings>,
}

impl Options {
    /// The dev services, events to `topic`, generous limits.
    pub fn shared(topic: String) -> Self {
        Self {
            brokers: brokers(),
            topic,
            ack_timeout_ms: 2000,
            message_timeout_ms: 10_000,
            rate_limit: (1000.0, 1000.0),
            cors_origins: vec!["https://exam.example.com".into()],
            sts_endpoint: s3_endpoint(),
            upload_grant: Default::default(),
            analytics: None,
            config_topic: None,
            lti: false,
            oidc: None,
        }
    }
}

/// A running in-process front door.
pub struct Running {
    pub base: String,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The settings [`Running`] starts with: files in `dir`, loopback only.
pub fn settings_for(options: &Options, dir: &std::path::Path) -> IngestSettings {
    let mut settings = IngestSettings::default();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.node = "ingest-test".into();
    settings.config_file = dir.join("config.json");
    settings.config_topic = options.config_topic.clone();
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
    if options.lti {
        let key = dir.join("lti-tool.pem");
        if !key.exists() {
            std::fs::write(&key, invigil_ingest::lti::generate_pem().unwrap()).unwrap();
        }
        settings.lti.enabled = true;
        settings.lti.key_files = vec![key];
    }
    if let Some(oidc) = &options.oidc {
        settings.oidc = oidc.clone();
    }
    settings
}

/// The dashboards' settings [`Running`] starts with: each test follows its
/// own live topic (created on first use by the pipeline or the test).
pub fn dashboard_settings_for(options: &Options) -> invigil_dashboards::DashboardSettings {
    invigil_dashboards::DashboardSettings { live_topic: format!("{}-live", options.topic), ..Default::default() }
}

/// An STS client for moto's endpoint.
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
    /// Starts one with its data in a fresh temporary directory.
    pub async fn start(options: Options) -> Self {
        Self::start_in(options, tempfile::tempdir().unwrap()).await
    }

    /// Starts one with its data in `dir` (a restart keeps the spool).
    pub async fn start_in(options: Options, dir: tempfile::TempDir) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .try_init();
        let settings = settings_for(&options, dir.path());
        let dashboard = dashboard_settings_for(&options);
        let secrets = Secrets { token_key: TokenKey::Hs256Secret(SECRET.to_vec()), ip_hash_secret: [7; 16] };
        let media = aws_credential_types::Credentials::new("testing", "testing", None, None, "static");
        let backends = Backends { sts: Some(sts_client(&options.sts_endpoint)), ..Default::default() };
        let dashboards = invigil_dashboards::Backends {
            analytics: options.analytics.clone(),
            media_credentials: Some(aws_credential_types::provider::SharedCredentialsProvider::new(media)),
            live_hub: None,
        };
        let ingest = Ingest::start(settings, secrets, backends).await.unwrap();
        let state = Arc::clone(&ingest.state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            invigil_dashboards::serve(ingest, dashboard, dashboards, listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self { base, state, dir, http: reqwest::Client::new(), stop: Some(stop), task: Some(task) }
    }

    /// `path` on this server.
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

/// A response as (status, `Retry-After`, JSON body or the text as a string).
pub async fn parts(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, body)
}

/// Every route the front door serves, as `(method, path)`: ingest's and the
/// dashboards'.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    invigil_ingest::router::ROUTES.iter().chain(invigil_dashboards::ROUTES).copied().collect()
}

//! What every ingest handler shares: settings, the token verifier, the
//! config store, the delivery path, upload credentials, the rate limiter,
//! metrics and live video. Built once by [`crate::app::Ingest::start`].

use std::sync::Arc;

use crate::auth::Verifier;
use crate::config_store::ConfigStore;
use crate::credentials::CredentialIssuer;
use crate::delivery::Delivery;
use crate::error::ApiError;
use crate::live_video::LiveVideo;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::settings::IngestSettings;

pub struct AppState {
    pub settings: IngestSettings,
    pub ip_hash_secret: [u8; 16],
    pub verifier: Verifier,
    /// The brokers with their TLS/SASL settings resolved.
    pub kafka: invigil_schemas::kafka_access::KafkaEndpoint,
    pub config: ConfigStore,
    pub delivery: Delivery,
    pub credentials: CredentialIssuer,
    pub limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    /// The SFU and its signal (`[live_video] enabled`).
    pub live_video: Option<LiveVideo>,
    /// invigil as an LTI tool (`[lti] enabled`).
    pub lti: Option<crate::lti::Lti>,
    /// Staff sign-in with OpenID Connect (`[oidc] enabled`).
    pub oidc: Option<crate::oidc::Oidc>,
    /// Where staff actions are recorded.
    pub staff_log: crate::staff_log::StaffLog,
    /// Raised when a stop begins: `/readyz` answers 503 from then on.
    pub stopping: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// The per-candidate rate limit, counted in metrics.
    pub fn rate_limit(&self, key: &str) -> Result<(), ApiError> {
        self.limiter.check(key).map_err(|secs| {
            self.metrics.rate_limited.inc();
            ApiError::rate_limited(secs)
        })
    }
}

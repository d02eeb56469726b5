//! The part of the test's config (SPEC §7) the SDK acts on.
//!
//! Read from `GET /api/v1/config` through its own struct rather than
//! `ProctorConfig`: the anomaly weights are the pipeline's business, and their
//! float parsing and strict decoding would cost the bundle ~8 KB. Unknown
//! fields are ignored so a newer server never breaks an older SDK.

use invigil_schemas::config::{Blocking, CaptureIntervals, ProctorConfig};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SdkConfig {
    pub proctoring_enabled: bool,
    pub capture_intervals: CaptureIntervals,
    pub events_interval_ms: u32,
    pub blocking: Blocking,
}

impl Default for SdkConfig {
    /// The server's defaults, used until (or if) the config arrives.
    fn default() -> Self {
        let ProctorConfig { proctoring_enabled, capture_intervals, events_interval_ms, blocking, .. } =
            ProctorConfig::default();
        Self { proctoring_enabled, capture_intervals, events_interval_ms, blocking }
    }
}

/// `ConfigResponse`, as the SDK reads it.
#[derive(Debug, Deserialize)]
pub struct ConfigReply {
    pub config_version: u64,
    pub config: SdkConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::api::ConfigResponse;

    #[test]
    fn reads_what_the_server_sends() {
        let mut config = ProctorConfig { events_interval_ms: 2_000, ..ProctorConfig::default() };
        config.capture_intervals.screen_ms = 0;
        config.blocking.on_fullscreen_exit = false;
        let wire = serde_json::to_string(&ConfigResponse { config_version: 7, config: config.clone() }).unwrap();
        let reply: ConfigReply = serde_json::from_str(&wire).unwrap();
        assert_eq!(reply.config_version, 7);
        assert_eq!(reply.config.events_interval_ms, 2_000);
        assert_eq!(reply.config.capture_intervals, config.capture_intervals);
        assert_eq!(reply.config.blocking, config.blocking);
        assert!(reply.config.proctoring_enabled);
    }
}

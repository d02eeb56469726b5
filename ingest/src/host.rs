//! What ingest lends the services the binary mounts beside it (the
//! dashboards) and what it takes back from them. A mounted service gets the
//! token verifier, a view of the config store, where Kafka is, the media
//! bucket's settings and a place to hang its metrics — never ingest's whole
//! state — and hands over its routes and, if it keeps proctors' walls, the
//! answer to whom a proctor may watch live.

use std::sync::Arc;

use axum::Router;
use invigil_schemas::kafka_access::KafkaEndpoint;

use crate::auth::Verifier;
use crate::config_store::ConfigStore;
use crate::credentials::CredentialSettings;
use crate::live_video::ProctorWalls;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Ingest's side of a mount.
#[derive(Clone)]
pub struct Host {
    /// Checks staff tokens as ingest does (same key, same claims).
    pub verifier: Verifier,
    /// The config in force, hot-reloaded; a mounted service reads it.
    pub config: ConfigStore,
    /// Where Kafka is and how to reach it (the dashboards follow the live
    /// counters' topic).
    pub kafka: KafkaEndpoint,
    /// The media bucket's settings (the dashboards sign GET links to it).
    pub media: CredentialSettings,
    /// Whether this front door sends LMS controls (`[lti] enabled`).
    pub lms_controls: bool,
    /// The audit trail: a mounted service records its staff's actions here.
    pub staff_log: crate::staff_log::StaffLog,
    metrics: Arc<Metrics>,
}

impl Host {
    pub(crate) fn of(state: &AppState) -> Self {
        Self {
            verifier: state.verifier.clone(),
            config: state.config.clone(),
            kafka: state.kafka.clone(),
            media: state.settings.credentials.clone(),
            lms_controls: state.lti.is_some(),
            staff_log: state.staff_log.clone(),
            metrics: Arc::clone(&state.metrics),
        }
    }

    /// Serves `registry`'s metrics on ingest's `/metrics` from now on, as
    /// `name`'s (a second mount of `name` replaces the first).
    pub fn mount_metrics(&self, name: &'static str, registry: prometheus_client::registry::Registry) {
        self.metrics.mount(name, registry);
    }
}

/// The mounted service's side: what ingest serves beside its own routes.
#[derive(Default)]
pub struct Mounted {
    pub router: Router,
    /// Whose wall a candidate is on. Without it, only a test without a duty
    /// roster (every proctor watches everyone) lets a proctor watch.
    pub walls: Option<Arc<dyn ProctorWalls>>,
}

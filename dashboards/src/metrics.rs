//! The dashboards' own metrics, in a registry of their own that ingest
//! serves on its `/metrics` beside its own ([`invigil_ingest::host::Host::mount_metrics`]).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Default)]
pub struct DashboardMetrics {
    /// Proctor wall streams open now.
    pub sse_streams: Gauge,
    /// Tile updates sent on those streams.
    pub sse_events: Counter,
}

impl DashboardMetrics {
    /// A registry (prefix `invigil_dashboards`) reading these metrics.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("invigil_dashboards");
        registry.register("sse_streams", "Proctor wall streams open", self.sse_streams.clone());
        registry.register("sse_events", "Tile updates sent to proctor walls", self.sse_events.clone());
        registry
    }
}

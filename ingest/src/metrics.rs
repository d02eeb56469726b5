//! Prometheus metrics served on `/metrics` (OpenMetrics text). Counters get
//! the `_total` suffix on the wire, e.g. `invigil_ingest_produced_total`.
//! Services mounted beside ingest (the dashboards) keep their own registry
//! and [`Metrics::mount`] it: one scrape shows both.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (`/api/v1/events`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Every metric ingest exports.
pub struct Metrics {
    registry: Registry,
    /// Registries of services mounted beside ingest, by name, rendered
    /// after ours.
    mounted: Mutex<Vec<(&'static str, Registry)>>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: LatencyFamily,
    /// Batches acknowledged by Kafka on the request path.
    pub produced: Counter,
    /// From handing a batch to the producer to Kafka's acknowledgement: the
    /// broker's share of a request's latency (linger included).
    pub produce_ack: Histogram,
    /// Batches written to the spool instead.
    pub spooled: Counter,
    /// Spooled batches later acknowledged by Kafka.
    pub replayed: Counter,
    pub spool_bytes: Gauge,
    pub sts_calls: Counter,
    pub sts_failures: Counter,
    pub credentials_cache_hits: Counter,
    pub rate_limited: Counter,
    pub config_reloads: Counter,
    /// Live video: candidates publishing and proctors subscribed now, media
    /// bytes received from publishers and frames forwarded (mirrored from
    /// the SFU's own counters when `/metrics` is read).
    pub live_publishers: Gauge,
    pub live_subscribers: Gauge,
    pub live_media_bytes_received: Counter,
    pub live_frames_forwarded: Counter,
    /// Signal requests held open right now (both listeners).
    pub live_signals_held: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("invigil_ingest");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        let metrics = Self {
            requests: requests.clone(),
            latency: latency.clone(),
            produced: Counter::default(),
            produce_ack: latency_histogram(),
            spooled: Counter::default(),
            replayed: Counter::default(),
            spool_bytes: Gauge::default(),
            sts_calls: Counter::default(),
            sts_failures: Counter::default(),
            credentials_cache_hits: Counter::default(),
            rate_limited: Counter::default(),
            config_reloads: Counter::default(),
            live_publishers: Gauge::default(),
            live_subscribers: Gauge::default(),
            live_media_bytes_received: Counter::default(),
            live_frames_forwarded: Counter::default(),
            live_signals_held: Gauge::default(),
            registry: Registry::default(),
            mounted: Mutex::default(),
        };
        registry.register("http_requests", "HTTP requests by route and status", requests);
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency);
        registry.register("produced", "Batches acknowledged by Kafka on the request path", metrics.produced.clone());
        registry.register(
            "produce_ack_seconds",
            "From handing a batch to the producer to Kafka's acknowledgement",
            metrics.produce_ack.clone(),
        );
        registry.register("spooled", "Batches written to the on-disk spool", metrics.spooled.clone());
        registry.register("replayed", "Spooled batches acknowledged by Kafka", metrics.replayed.clone());
        registry.register("spool_bytes", "Bytes waiting in the spool", metrics.spool_bytes.clone());
        registry.register("sts_calls", "AssumeRole calls made", metrics.sts_calls.clone());
        registry.register("sts_failures", "AssumeRole calls that failed", metrics.sts_failures.clone());
        registry.register(
            "credentials_cache_hits",
            "Credentials served from the cache",
            metrics.credentials_cache_hits.clone(),
        );
        registry.register("rate_limited", "Requests refused with 429", metrics.rate_limited.clone());
        registry.register("config_reloads", "Configuration versions installed", metrics.config_reloads.clone());
        registry.register("live_publishers", "Candidates publishing live video", metrics.live_publishers.clone());
        registry.register(
            "live_subscribers",
            "Live video subscribers (proctors watching)",
            metrics.live_subscribers.clone(),
        );
        registry.register(
            "live_media_bytes_received",
            "Media bytes received from publishing candidates",
            metrics.live_media_bytes_received.clone(),
        );
        registry.register(
            "live_frames_forwarded",
            "Media frames forwarded to subscribers",
            metrics.live_frames_forwarded.clone(),
        );
        registry.register(
            "live_signals_held",
            "Live video signal requests held open now",
            metrics.live_signals_held.clone(),
        );
        Self { registry, ..metrics }
    }
}

impl Metrics {
    /// Adds a mounted service's metrics to every later scrape; mounting
    /// `name` again replaces its registry (one family per metric, always).
    pub fn mount(&self, name: &'static str, registry: Registry) {
        let mut mounted = self.mounted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        mounted.retain(|(mounted, _)| *mounted != name);
        mounted.push((name, registry));
    }

    /// The OpenMetrics text of every metric, ours then the mounted ones'.
    pub fn render(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut text = String::new();
        let written = encode_registry(&mut text, &self.registry).and_then(|()| {
            let mounted = self.mounted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            mounted.iter().try_for_each(|(_, registry)| encode_registry(&mut text, registry))
        });
        written.and_then(|()| encode_eof(&mut text)).expect("writing to a String cannot fail");
        text
    }
}

impl Metrics {
    /// Brings the live video metrics up to the SFU's counters.
    pub fn observe_live_video(&self, stats: &crate::live_video::sfu::SfuStats) {
        use std::sync::atomic::Ordering::Relaxed;
        self.live_publishers.set(stats.publishers.load(Relaxed) as i64);
        self.live_subscribers.set(stats.subscribers.load(Relaxed) as i64);
        let catch_up = |counter: &Counter, now: u64| {
            counter.inc_by(now.saturating_sub(counter.get()));
        };
        catch_up(&self.live_media_bytes_received, stats.media_bytes_in.load(Relaxed));
        catch_up(&self.live_frames_forwarded, stats.frames_forwarded.load(Relaxed));
    }
}

/// Middleware counting every request by route pattern and status and timing it.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.latency.get_or_create(&RouteLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { route, status: response.status().as_u16() }).inc();
    response
}

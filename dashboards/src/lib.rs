//! Dashboards (SPEC §8): the proctor wall, the review timeline and the admin
//! config editor — static pages embedded in the binary ([`pages`]) and the
//! JSON and SSE APIs under `/api/v1/dashboard/` they call. The binary mounts
//! them beside ingest ([`serve`]): one port, one staff-token check
//! ([`invigil_ingest::auth::Verifier::staff`]), one config store — lent by
//! ingest as an [`invigil_ingest::host::Host`]. The dashboards own their
//! `[dashboard]` [`settings`] and their [`metrics`].
//!
//! Data flow: the pipeline's live counters arrive on `proctor_live` and sit
//! in the [`live::LiveHub`]; a proctor's wall ([`wall`]) is the hub's tiles
//! for the candidates [`assign`]ed to them, pushed over SSE as they change.
//! Review reads come from the analytics store ([`store`], [`review`]); media
//! is fetched by the browser from S3 through presigned URLs ([`media`]).
//! Live video asks the walls whom a proctor may watch
//! ([`invigil_ingest::live_video::ProctorWalls`], handed to ingest in
//! [`Service::mounted`]).
//!
//! Where to look: how the wall gets a new count — [`live::LiveHub::follow`]
//! reads `proctor_live` into the hub, and [`wall::get_live`] sends the tiles
//! of the candidates on the proctor's wall as they change.
//!
//! Every route takes a staff token: proctors and reviewers see only the tests
//! their token lists (anything else is 403), admins see every test.

pub mod assign;
pub mod candidate_data;
pub mod live;
pub mod media;
pub mod media_objects;
pub mod metrics;
pub mod pages;
pub mod retention;
pub mod review;
pub mod settings;
pub mod store;
pub mod wall;
pub mod webhooks;
pub mod zip;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use invigil_ingest::app::Ingest;
use invigil_ingest::auth::Verifier;
use invigil_ingest::config_store::ConfigStore;
use invigil_ingest::error::ApiError;
use invigil_ingest::host::{Host, Mounted};
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::{StaffClaims, StaffRole};
use tokio::net::TcpListener;

use metrics::DashboardMetrics;
pub use settings::DashboardSettings;
use store::{AnalyticsStore, StoreFailure};
use wall::Walls;

/// Every route the dashboards serve, as `(method, path)`; a test holds
/// `openapi.yaml` to these and ingest's together.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/dashboard/me"),
    ("get", "/api/v1/dashboard/tests/{test_id}/wall"),
    ("get", "/api/v1/dashboard/tests/{test_id}/live"),
    ("get", "/api/v1/dashboard/tests/{test_id}/candidates"),
    ("get", "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/timeline"),
    ("post", "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/verdict"),
    ("get", "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/lti"),
    ("get", "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/export"),
    ("post", "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/erase"),
    ("get", "/api/v1/dashboard/tests/{test_id}/audit"),
    ("post", "/api/v1/dashboard/tests/{test_id}/final"),
    ("get", "/api/v1/dashboard/retention"),
    ("post", "/api/v1/dashboard/retention/sweep"),
    ("get", "/api/v1/dashboard/media"),
    ("get", "/api/v1/dashboard/webhooks/deliveries"),
    ("post", "/api/v1/dashboard/webhooks/redeliver"),
    ("get", "/dashboard"),
    ("get", "/dashboard/"),
    ("get", "/dashboard/{file}"),
];

/// What the caller may supply instead of the defaults.
#[derive(Default)]
pub struct Backends {
    /// The analytics store the review pages read and write verdicts to;
    /// without one, those routes answer 503.
    pub analytics: Option<Arc<dyn AnalyticsStore>>,
    /// Credentials that sign media GET links; default: the AWS credential chain.
    pub media_credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// A hub fed in this process (by the pipeline beside the dashboards, as
    /// in `invigil up`): the live topic is then read only for what it held at
    /// start. Default: a hub of their own following the topic.
    pub live_hub: Option<Arc<live::LiveHub>>,
}

/// What every dashboard handler reads.
pub struct Dashboards {
    verifier: Verifier,
    config: ConfigStore,
    settings: DashboardSettings,
    metrics: Arc<DashboardMetrics>,
    walls: Arc<Walls>,
    store: Option<Arc<dyn AnalyticsStore>>,
    media: media::MediaSigner,
    /// The same bucket read and emptied by the server: exports, erasures.
    media_objects: media_objects::MediaObjects,
    /// The audit trail: who opened, signed, judged what.
    staff_log: invigil_ingest::staff_log::StaffLog,
    /// The pages' Content-Security-Policy (it names the media origin).
    content_security_policy: String,
    /// Set when the server begins to shut down: live streams end then, or a
    /// graceful shutdown would wait for ever on an open proctor wall.
    closing: tokio::sync::watch::Sender<bool>,
}

/// Started dashboards: their state and the thread that follows the live
/// counters' topic.
pub struct Service {
    pub state: Arc<Dashboards>,
    stop_hub: Arc<AtomicBool>,
    hub_thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    /// Builds the dashboards on what a started ingest lends them — its token
    /// verifier, config store, Kafka brokers and media bucket — with their
    /// own `settings`, starts following the live counters, and hangs their
    /// metrics on ingest's `/metrics`.
    pub async fn start(host: &Host, settings: DashboardSettings, backends: Backends) -> Self {
        let (hub, mode) = match backends.live_hub {
            Some(hub) => (hub, live::Follow::UntilCaughtUp),
            None => (Arc::new(live::LiveHub::default()), live::Follow::Always),
        };
        let stop_hub = Arc::new(AtomicBool::new(false));
        let hub_thread = (!settings.live_topic.is_empty())
            .then(|| hub.follow(&host.kafka, &settings.live_topic, Arc::clone(&stop_hub), mode));
        let media_credentials = match backends.media_credentials {
            Some(provider) => Some(provider),
            None => aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(host.media.region.clone()))
                .load()
                .await
                .credentials_provider(),
        };
        let metrics = Arc::new(DashboardMetrics::default());
        host.mount_metrics("dashboards", metrics.registry());
        let (closing, _) = tokio::sync::watch::channel(false);
        let media_url_lifetime = Duration::from_secs(settings.media_url_secs);
        let state = Arc::new(Dashboards {
            verifier: host.verifier.clone(),
            config: host.config.clone(),
            metrics,
            walls: Arc::new(Walls::new(hub, host.config.clone()).with_lms_controls(host.lms_controls)),
            store: backends.analytics,
            media: media::MediaSigner::new(&host.media, media_credentials.clone(), media_url_lifetime),
            media_objects: media_objects::MediaObjects::new(media::MediaSigner::new(
                &host.media,
                media_credentials,
                media_url_lifetime,
            )),
            staff_log: host.staff_log.clone(),
            content_security_policy: pages::content_security_policy(&host.media),
            closing,
            settings,
        });
        Self { state, stop_hub, hub_thread }
    }

    /// What ingest serves beside its own routes: the pages and APIs, and
    /// the walls live video asks whom a proctor may watch.
    pub fn mounted(&self) -> Mounted {
        Mounted { router: self.router(), walls: Some(Arc::new(wall::WallLookup(Arc::clone(&self.state.walls)))) }
    }

    /// The pages and APIs.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/dashboard/me", get(get_me))
            .route("/api/v1/dashboard/tests/{test_id}/wall", get(wall::get_wall))
            .route("/api/v1/dashboard/tests/{test_id}/live", get(wall::get_live))
            .route("/api/v1/dashboard/tests/{test_id}/candidates", get(review::get_candidates))
            .route("/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/timeline", get(review::get_timeline))
            .route("/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/verdict", post(review::post_verdict))
            .route("/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/lti", get(review::get_lti_attempt))
            .route(
                "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/export",
                get(candidate_data::get_export),
            )
            .route(
                "/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/erase",
                post(candidate_data::post_erase),
            )
            .route("/api/v1/dashboard/tests/{test_id}/audit", get(review::get_audit))
            .route("/api/v1/dashboard/tests/{test_id}/final", post(retention::post_final))
            .route("/api/v1/dashboard/retention", get(retention::get_retention))
            .route("/api/v1/dashboard/retention/sweep", post(retention::post_sweep))
            .route("/api/v1/dashboard/media", get(media::get_media))
            .route("/api/v1/dashboard/webhooks/deliveries", get(webhooks::get_deliveries))
            .route("/api/v1/dashboard/webhooks/redeliver", post(webhooks::post_redeliver))
            .route("/dashboard", get(pages::redirect_to_index))
            .route("/dashboard/", get(pages::get_index))
            .route("/dashboard/{file}", get(pages::get_file))
            .with_state(Arc::clone(&self.state))
    }

    /// Ends every live stream (the server is shutting down).
    pub fn close_streams(&self) {
        self.state.closing.send_replace(true);
    }

    /// Stops following the live counters.
    pub async fn stop(mut self) {
        self.stop_hub.store(true, Ordering::Relaxed);
        if let Some(thread) = self.hub_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Serves `ingest` with the dashboards mounted until `shutdown` resolves
/// (what `invigil ingest` and `invigil up` run): the live streams end first,
/// then ingest drains and flushes, then the hub stops.
pub async fn serve(
    ingest: Ingest,
    settings: DashboardSettings,
    backends: Backends,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = Service::start(&ingest.host(), settings, backends).await;
    let closing = service.state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let served = ingest.serve(listener, service.mounted(), shutdown).await;
    service.stop().await;
    served
}

impl Dashboards {
    /// The analytics store, or the 503 that says none is configured.
    fn analytics(&self) -> Result<&dyn AnalyticsStore, ApiError> {
        self.store.as_deref().ok_or_else(|| {
            ApiError::unavailable(
                "no analytics store is configured for review (set [dashboard] clickhouse_url, or run `invigil up`)",
                30,
            )
        })
    }
}

fn store_error(error: StoreFailure) -> ApiError {
    match error {
        StoreFailure::Unavailable(why) => {
            tracing::warn!(%why, "analytics store unavailable");
            ApiError::unavailable("the analytics store is not answering; try again shortly", 5)
        }
        StoreFailure::Query(why) => {
            tracing::error!(%why, "analytics query failed");
            ApiError::new(ErrorCode::Internal, "an analytics query failed")
        }
    }
}

/// `GET /api/v1/dashboard/me`: who the token says the caller is.
async fn get_me(State(state): State<Arc<Dashboards>>, headers: HeaderMap) -> Result<Json<StaffClaims>, ApiError> {
    state.verifier.staff(&headers, &[StaffRole::Proctor, StaffRole::Reviewer, StaffRole::Admin]).map(Json)
}

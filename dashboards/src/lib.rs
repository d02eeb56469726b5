//! Dashboards (SPEC §8): the proctor wall, the review timeline and the admin
//! config editor — static pages embedded in the binary ([`pages`]) and the
//! JSON and SSE APIs under `/api/v1/dashboard/` they call. The binary mounts
//! them beside ingest ([`serve`]): one port, one staff-token check
//! ([`invigil_ingest::auth::Verifier::staff`]), one config store.
//!
//! Data flow: the pipeline's live counters arrive on `proctor_live` and sit
//! in the [`live::LiveHub`]; a proctor's wall ([`wall`]) is the hub's tiles
//! for the candidates [`assign`]ed to them, pushed over SSE as they change.
//! Review reads come from the analytics store ([`store`], [`review`]); media
//! is fetched by the browser from S3 through presigned URLs ([`media`]).
//! Live video asks the walls whom a proctor may watch
//! ([`invigil_ingest::live_video::ProctorWalls`]).
//!
//! Every route takes a staff token: proctors and reviewers see only the tests
//! their token lists (anything else is 403), admins see every test.

pub mod assign;
pub mod live;
pub mod media;
pub mod pages;
pub mod review;
pub mod store;
pub mod wall;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use invigil_ingest::app::{AppState, Ingest};
use invigil_ingest::auth::Verifier;
use invigil_ingest::config_store::ConfigStore;
use invigil_ingest::error::ApiError;
use invigil_ingest::metrics::Metrics;
use invigil_ingest::settings::DashboardSettings;
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::{StaffClaims, StaffRole};
use tokio::net::TcpListener;

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
    ("get", "/api/v1/dashboard/media"),
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
}

/// What every dashboard handler reads.
pub struct Dashboards {
    verifier: Verifier,
    config: ConfigStore,
    settings: DashboardSettings,
    metrics: Arc<Metrics>,
    walls: Arc<Walls>,
    store: Option<Arc<dyn AnalyticsStore>>,
    media: media::MediaSigner,
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
    /// Builds the dashboards on a started ingest — its token verifier, config
    /// store, metrics and `[dashboard]` settings — starts following the live
    /// counters, and tells ingest's live video whose wall a candidate is on.
    pub async fn start(ingest: &Arc<AppState>, backends: Backends) -> Self {
        let settings = &ingest.settings;
        let hub = Arc::new(live::LiveHub::default());
        let stop_hub = Arc::new(AtomicBool::new(false));
        let hub_thread = (!settings.dashboard.live_topic.is_empty())
            .then(|| hub.follow(&settings.kafka.brokers, &settings.dashboard.live_topic, Arc::clone(&stop_hub)));
        let media_credentials = match backends.media_credentials {
            Some(provider) => Some(provider),
            None => aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(settings.credentials.region.clone()))
                .load()
                .await
                .credentials_provider(),
        };
        let walls = Arc::new(Walls::new(hub, ingest.config.clone()));
        // Set once per ingest: a second mount keeps the first one's answer.
        let _ = ingest.walls.set(Arc::new(wall::WallLookup(Arc::clone(&walls))));
        let (closing, _) = tokio::sync::watch::channel(false);
        let state = Arc::new(Dashboards {
            verifier: ingest.verifier.clone(),
            config: ingest.config.clone(),
            settings: settings.dashboard.clone(),
            metrics: Arc::clone(&ingest.metrics),
            walls,
            store: backends.analytics,
            media: media::MediaSigner::new(
                &settings.credentials,
                media_credentials,
                Duration::from_secs(settings.dashboard.media_url_secs),
            ),
            content_security_policy: pages::content_security_policy(&settings.credentials),
            closing,
        });
        Self { state, stop_hub, hub_thread }
    }

    /// The pages and APIs, for [`Ingest::serve`] to mount.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/dashboard/me", get(get_me))
            .route("/api/v1/dashboard/tests/{test_id}/wall", get(wall::get_wall))
            .route("/api/v1/dashboard/tests/{test_id}/live", get(wall::get_live))
            .route("/api/v1/dashboard/tests/{test_id}/candidates", get(review::get_candidates))
            .route("/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/timeline", get(review::get_timeline))
            .route("/api/v1/dashboard/tests/{test_id}/candidates/{candidate_id}/verdict", post(review::post_verdict))
            .route("/api/v1/dashboard/media", get(media::get_media))
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
    backends: Backends,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = Service::start(&ingest.state, backends).await;
    let closing = service.state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let served = ingest.serve(listener, service.router(), shutdown).await;
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

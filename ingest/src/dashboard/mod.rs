//! Dashboards (SPEC §8): the proctor wall, the review timeline and the admin
//! config editor — static pages embedded in the binary ([`pages`]) and the
//! JSON and SSE APIs under `/api/v1/dashboard/` they call.
//!
//! Data flow: the pipeline's live counters arrive on `proctor_live` and sit
//! in the [`live::LiveHub`]; a proctor's wall is the hub's tiles for the
//! candidates [`assign`]ed to them, pushed over SSE as they change. Review
//! reads come from the analytics store ([`store`], [`review`]); media is
//! fetched by the browser from S3 through presigned URLs ([`media`]).
//!
//! Every route takes a staff token: proctors and reviewers see only the tests
//! their token lists (anything else is 403), admins see every test.

pub mod assign;
pub mod live;
pub mod media;
pub mod pages;
pub mod review;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::{StaffClaims, StaffRole};
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::live::LiveCounters;
use invigil_schemas::validate::{FieldProblem, ProblemCode};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::ApiError;
use assign::Assignment;
use store::StoreFailure;

/// `[dashboard]` in the settings file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSettings {
    /// Topic the pipeline publishes live counters to; empty turns the live
    /// wall off.
    pub live_topic: String,
    /// How long a presigned media URL works, in seconds.
    pub media_url_secs: u64,
    /// Most events one review timeline returns.
    pub max_timeline_events: usize,
    /// A ClickHouse server (HTTP) the review pages read, for a standalone
    /// `invigil ingest`; empty: no review data unless the process shares a
    /// store with an in-process pipeline.
    pub clickhouse_url: String,
    pub clickhouse_database: String,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            live_topic: "proctor_live".into(),
            media_url_secs: 300,
            max_timeline_events: 20_000,
            clickhouse_url: String::new(),
            clickhouse_database: "default".into(),
        }
    }
}

/// What the dashboards need besides the rest of ingest's state.
pub struct Dashboards {
    pub hub: Arc<live::LiveHub>,
    pub store: Option<Arc<dyn store::AnalyticsStore>>,
    pub media: media::MediaSigner,
    /// The pages' Content-Security-Policy (it names the media origin).
    pub content_security_policy: String,
    assignments: Mutex<HashMap<String, CachedAssignment>>,
    /// Set when the server begins to shut down: live streams end then, or a
    /// graceful shutdown would wait for ever on an open proctor wall.
    closing: tokio::sync::watch::Sender<bool>,
}

/// A test's split, valid while its roster and candidate count stay the same
/// (candidates never leave the hub, so a new one changes the count) — and,
/// while candidates keep arriving, reused for [`REASSIGN_AFTER`] so a start
/// burst of thousands does not recompute it thousands of times.
struct CachedAssignment {
    roster: Option<(Vec<String>, u32)>,
    candidates: usize,
    computed: Instant,
    split: Arc<Assignment>,
}

/// How stale a split may get while new candidates arrive: a newcomer waits
/// at most this long for a seat on a wall.
const REASSIGN_AFTER: Duration = Duration::from_secs(2);

impl Dashboards {
    pub fn new(
        hub: Arc<live::LiveHub>,
        store: Option<Arc<dyn store::AnalyticsStore>>,
        media: media::MediaSigner,
        content_security_policy: String,
    ) -> Self {
        let (closing, _) = tokio::sync::watch::channel(false);
        Self { hub, store, media, content_security_policy, assignments: Mutex::default(), closing }
    }

    /// Ends every live stream (the server is shutting down).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// The current split of `test` among `roster` (`None`: no roster, every
    /// proctor sees everyone).
    fn assignment(&self, test: &str, roster: Option<(Vec<String>, u32)>) -> Arc<Assignment> {
        let mut cache = self.assignments.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.get(test) {
            let fresh = cached.candidates == self.hub.count(test) || cached.computed.elapsed() < REASSIGN_AFTER;
            if cached.roster == roster && fresh {
                return Arc::clone(&cached.split);
            }
        }
        let candidates = self.hub.candidates(test);
        let split = Arc::new(match &roster {
            Some((proctors, capacity)) => assign::assign(candidates.iter().map(String::as_str), proctors, *capacity),
            None => Assignment { by_proctor: Default::default(), unassigned: candidates },
        });
        cache.insert(
            test.to_owned(),
            CachedAssignment {
                roster,
                candidates: split.covered(),
                computed: Instant::now(),
                split: Arc::clone(&split),
            },
        );
        split
    }
}

fn bad_field(field: &str, code: ProblemCode, message: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldProblem { field: field.into(), code, message: message.into() }])
}

pub(crate) fn parse_test(raw: &str) -> Result<TestId, ApiError> {
    TestId::new(raw).map_err(|e| bad_field("test_id", ProblemCode::InvalidValue, e.to_string()))
}

pub(crate) fn parse_candidate(raw: &str) -> Result<CandidateId, ApiError> {
    CandidateId::new(raw).map_err(|e| bad_field("candidate_id", ProblemCode::InvalidValue, e.to_string()))
}

/// The request's staff claims, if the token is valid and its role is one of
/// `roles`. A candidate's token (no `role`) is authentic but not for these
/// routes: 403, like a staff member of the wrong role.
pub fn staff(state: &AppState, headers: &HeaderMap, roles: &[StaffRole]) -> Result<StaffClaims, ApiError> {
    let claims: serde_json::Value = state.verifier.verify(headers)?;
    let names: Vec<&str> = roles.iter().map(|r| role_name(*r)).collect();
    let article = if names.first().is_some_and(|n| n.starts_with(['a', 'e', 'i', 'o', 'u'])) { "an" } else { "a" };
    let needs =
        || ApiError::new(ErrorCode::Forbidden, format!("this route needs {article} {} token", names.join(" or ")));
    if claims.get("role").is_none() {
        return Err(needs());
    }
    let claims: StaffClaims =
        serde_json::from_value(claims).map_err(|_| ApiError::unauthorized("token claims are malformed"))?;
    if !roles.contains(&claims.role) {
        return Err(needs());
    }
    Ok(claims)
}

fn role_name(role: StaffRole) -> &'static str {
    match role {
        StaffRole::Proctor => "proctor",
        StaffRole::Reviewer => "reviewer",
        StaffRole::Admin => "admin",
    }
}

/// [`staff`], and the token must cover `test`.
pub(crate) fn staff_of_test(
    state: &AppState,
    headers: &HeaderMap,
    test: &TestId,
    roles: &[StaffRole],
) -> Result<StaffClaims, ApiError> {
    let claims = staff(state, headers, roles)?;
    if !claims.may_see(test) {
        return Err(ApiError::new(ErrorCode::Forbidden, format!("this token does not cover test {test}")));
    }
    Ok(claims)
}

fn dashboards(state: &AppState) -> &Dashboards {
    &state.dashboards
}

fn analytics(state: &AppState) -> Result<&dyn store::AnalyticsStore, ApiError> {
    dashboards(state).store.as_deref().ok_or_else(|| {
        ApiError::unavailable(
            "no analytics store is configured for review (set [dashboard] clickhouse_url, or run `invigil up`)",
            30,
        )
    })
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
pub async fn get_me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<StaffClaims>, ApiError> {
    staff(&state, &headers, &[StaffRole::Proctor, StaffRole::Reviewer, StaffRole::Admin]).map(Json)
}

#[derive(Debug, Deserialize)]
pub struct WallQuery {
    /// An admin may look at any proctor's wall.
    proctor: Option<String>,
}

/// One candidate on the wall.
#[derive(Debug, Clone, Serialize)]
pub struct TileView {
    #[serde(flatten)]
    pub counters: LiveCounters,
    /// How long ago this replica received the counters, so the page can tell
    /// a gap on its own clock.
    pub age_ms: u64,
}

/// A proctor's wall: whom they watch, and the newest counters of each.
#[derive(Debug, Clone, Serialize)]
pub struct Wall {
    pub test_id: String,
    /// Whose wall this is (`None`: an admin's view of the whole test).
    pub proctor: Option<String>,
    /// The roster, if the test has one.
    pub on_duty: Option<Vec<String>>,
    pub capacity: Option<u32>,
    /// Candidates this proctor watches.
    pub assigned: Vec<String>,
    /// Candidates beyond the roster's capacity, shown to every proctor.
    pub unassigned: Vec<String>,
    pub tiles: Vec<TileView>,
    /// No counters for this long means a network gap (3 events intervals).
    pub gap_after_ms: u64,
    /// A minute scoring at least this is an alert.
    pub alert_score: f64,
    pub config_version: u64,
    /// How many candidates of the test the split behind this wall covers
    /// (fewer than the hub knows while a newer split is due).
    #[serde(skip)]
    pub covered: usize,
}

impl Wall {
    /// Every candidate on this wall: assigned to the proctor or unassigned.
    fn watched(&self) -> HashSet<String> {
        self.assigned.iter().chain(&self.unassigned).cloned().collect()
    }
}

/// Builds the wall `viewer` sees of `test` now.
fn build_wall(state: &AppState, test: &TestId, viewer: Option<&str>) -> Result<Wall, ApiError> {
    let current = state.config.current();
    let config = current.document.for_test(test).map_err(|problem| {
        tracing::error!(%problem, "stored config does not resolve");
        ApiError::new(ErrorCode::Internal, "configuration error")
    })?;
    let duty = current.document.duty.get(test);
    let roster = duty.map(|d| (d.proctors.clone(), d.capacity));
    let split = dashboards(state).assignment(test.as_str(), roster);
    let assigned = match (duty, viewer) {
        // No roster: every proctor of the test watches everyone.
        (None, _) => Vec::new(),
        (Some(_), Some(proctor)) => split.by_proctor.get(proctor).cloned().unwrap_or_default(),
        (Some(_), None) => split.by_proctor.values().flatten().cloned().collect(),
    };
    let mut wall = Wall {
        test_id: test.to_string(),
        proctor: viewer.map(str::to_owned),
        on_duty: duty.map(|d| d.proctors.clone()),
        capacity: duty.map(|d| d.capacity),
        assigned,
        unassigned: split.unassigned.clone(),
        tiles: Vec::new(),
        gap_after_ms: 3 * u64::from(config.events_interval_ms),
        alert_score: config.anomaly.alert_score,
        config_version: current.version,
        covered: split.covered(),
    };
    let now = Instant::now();
    let watched = wall.watched();
    let mut tiles: Vec<TileView> = dashboards(state)
        .hub
        .snapshot(test.as_str())
        .into_iter()
        .filter(|tile| watched.contains(&tile.counters.candidate_id))
        .map(|tile| TileView {
            counters: (*tile.counters).clone(),
            age_ms: now.duration_since(tile.seen).as_millis() as u64,
        })
        .collect();
    tiles.sort_by(|a, b| {
        b.counters
            .score
            .total_cmp(&a.counters.score)
            .then_with(|| a.counters.candidate_id.cmp(&b.counters.candidate_id))
    });
    wall.tiles = tiles;
    Ok(wall)
}

/// [`build_wall`] on a blocking thread: splitting a large test costs
/// milliseconds to seconds of CPU.
pub(crate) async fn build_wall_blocking(
    state: &Arc<AppState>,
    test: &TestId,
    viewer: Option<&str>,
) -> Result<Wall, ApiError> {
    let (state, test, viewer) = (Arc::clone(state), test.clone(), viewer.map(str::to_owned));
    tokio::task::spawn_blocking(move || build_wall(&state, &test, viewer.as_deref()))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "building the wall panicked"))?
}

/// Whose wall the request asks for: a proctor's own; an admin's choice.
fn wall_viewer(claims: &StaffClaims, query: &WallQuery) -> Result<Option<String>, ApiError> {
    match (claims.role, &query.proctor) {
        (StaffRole::Admin, proctor) => Ok(proctor.clone()),
        (_, Some(other)) if *other != claims.sub => {
            Err(ApiError::new(ErrorCode::Forbidden, "a proctor sees only their own wall"))
        }
        _ => Ok(Some(claims.sub.clone())),
    }
}

/// `GET /api/v1/dashboard/tests/{test}/wall`
pub async fn get_wall(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(test): Path<String>,
    Query(query): Query<WallQuery>,
) -> Result<Json<Wall>, ApiError> {
    let test = parse_test(&test)?;
    let claims = staff_of_test(&state, &headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let viewer = wall_viewer(&claims, &query)?;
    build_wall_blocking(&state, &test, viewer.as_deref()).await.map(Json)
}

/// `GET /api/v1/dashboard/tests/{test}/live`: the wall as a server-sent event
/// stream. `snapshot` carries a whole [`Wall`] (first, and again whenever the
/// roster or the set of candidates changes the proctor's share); `tile`
/// carries one candidate's new counters. Pages read it with `fetch`, so the
/// token travels in `Authorization`, never in a URL.
pub async fn get_live(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(test): Path<String>,
    Query(query): Query<WallQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let test = parse_test(&test)?;
    let claims = staff_of_test(&state, &headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let viewer = wall_viewer(&claims, &query)?;
    let updates = dashboards(&state).hub.subscribe();
    let first = build_wall_blocking(&state, &test, viewer.as_deref()).await?;
    let (events, receiver) = tokio::sync::mpsc::channel::<Event>(256);
    state.metrics.sse_streams.inc();
    let metrics = Arc::clone(&state.metrics);
    tokio::spawn(async move {
        follow_wall(&state, &test, viewer.as_deref(), first, updates, events).await;
        metrics.sse_streams.dec();
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Feeds one wall stream until the client goes away: a snapshot first, a
/// tile per change of a watched candidate, and a new snapshot when the
/// roster changes or new candidates change this proctor's share — checked
/// every 2 s rather than per message, so a start burst of new candidates
/// costs each stream one look every 2 s.
async fn follow_wall(
    state: &Arc<AppState>,
    test: &TestId,
    viewer: Option<&str>,
    first: Wall,
    mut updates: tokio::sync::broadcast::Receiver<live::Update>,
    events: tokio::sync::mpsc::Sender<Event>,
) {
    let snapshot = |wall: &Wall| Event::default().event("snapshot").json_data(wall).expect("a wall serializes");
    if events.send(snapshot(&first)).await.is_err() {
        return;
    }
    let mut wall = first;
    let mut watched = wall.watched();
    let mut check = tokio::time::interval(Duration::from_secs(2));
    let mut closing = dashboards(state).closing.subscribe();
    loop {
        let recheck = tokio::select! {
            update = updates.recv() => match update {
                Ok(update) if update.counters.test_id == test.as_str()
                    && (watched.contains(&update.counters.candidate_id)
                        || update.newcomer && seats_newcomer(&wall, viewer, &update.counters.candidate_id)) =>
                {
                    // A newcomer this wall would seat shows at once; the
                    // next split (within 2 s) confirms or moves it.
                    watched.insert(update.counters.candidate_id.clone());
                    let tile = TileView { counters: (*update.counters).clone(), age_ms: 0 };
                    let event = Event::default().event("tile").json_data(&tile).expect("a tile serializes");
                    if events.send(event).await.is_err() {
                        return;
                    }
                    state.metrics.sse_events.inc();
                    false
                }
                Ok(_) => false,
                // Fell behind: a fresh snapshot is complete anyway.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = check.tick() => {
                state.config.current().version != wall.config_version
                    || dashboards(state).hub.count(test.as_str()) != wall.covered
            }
            _ = events.closed() => return,
            _ = async { closing.wait_for(|closing| *closing).await.is_ok() } => return,
        };
        if !recheck {
            continue;
        }
        let Ok(next) = build_wall_blocking(state, test, viewer).await else { return };
        let same_share = next.assigned == wall.assigned
            && next.unassigned == wall.unassigned
            && next.config_version == wall.config_version;
        watched = next.watched();
        wall = next;
        if !same_share && events.send(snapshot(&wall)).await.is_err() {
            return;
        }
    }
}

/// Whether `wall` would show a candidate it has never seen: always without a
/// roster (everyone sees everyone) or for an admin's whole-test view; for a
/// proctor, when the newcomer ranks them first and they have room — its seat
/// unless some proctor is full, which the next split settles.
fn seats_newcomer(wall: &Wall, viewer: Option<&str>, candidate: &str) -> bool {
    match (&wall.on_duty, viewer) {
        (None, _) | (Some(_), None) => true,
        (Some(proctors), Some(me)) => {
            wall.capacity.is_some_and(|c| wall.assigned.len() < c as usize)
                && assign::first_choice(candidate, proctors) == Some(me)
        }
    }
}

/// `GET /api/v1/dashboard/tests/{test}/candidates`: the review list.
pub async fn get_candidates(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(test): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let test = parse_test(&test)?;
    staff_of_test(&state, &headers, &test, &[StaffRole::Reviewer, StaffRole::Admin])?;
    let list = review::candidates(analytics(&state)?, &test).await.map_err(store_error)?;
    Ok(Json(serde_json::json!({ "test_id": test, "candidates": list })))
}

/// `GET /api/v1/dashboard/tests/{test}/candidates/{candidate}/timeline`
pub async fn get_timeline(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((test, candidate)): Path<(String, String)>,
) -> Result<Json<review::Timeline>, ApiError> {
    let test = parse_test(&test)?;
    let candidate = parse_candidate(&candidate)?;
    // Proctors drill down into their candidates; reviewers review.
    staff_of_test(&state, &headers, &test, &[StaffRole::Proctor, StaffRole::Reviewer, StaffRole::Admin])?;
    let config = state.config.current().document.for_test(&test).unwrap_or_default();
    let limit = state.settings.dashboard.max_timeline_events;
    review::timeline(analytics(&state)?, &test, &candidate, &config, limit).await.map(Json).map_err(store_error)
}

/// `POST /api/v1/dashboard/tests/{test}/candidates/{candidate}/verdict`
pub async fn post_verdict(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((test, candidate)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<review::Verdict>, ApiError> {
    let test = parse_test(&test)?;
    let candidate = parse_candidate(&candidate)?;
    let claims = staff_of_test(&state, &headers, &test, &[StaffRole::Reviewer, StaffRole::Admin])?;
    let request: review::VerdictRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    if !matches!(request.verdict.as_str(), "cleared" | "flagged") {
        return Err(bad_field("verdict", ProblemCode::InvalidValue, "must be \"cleared\" or \"flagged\""));
    }
    if request.comment.chars().count() > review::MAX_COMMENT_CHARS {
        return Err(bad_field(
            "comment",
            ProblemCode::TooLong,
            format!("must be at most {} characters", review::MAX_COMMENT_CHARS),
        ));
    }
    let now = crate::credentials::now_ms();
    review::record_verdict(analytics(&state)?, &test, &candidate, &claims.sub, &request, now)
        .await
        .map_err(store_error)?;
    tracing::info!(reviewer = %claims.sub, test = %test, candidate = %candidate, verdict = %request.verdict, "verdict recorded");
    Ok(Json(review::Verdict {
        verdict: request.verdict,
        reviewer: claims.sub,
        comment: request.comment,
        reviewed_at: now,
    }))
}

#[derive(Debug, Deserialize)]
pub struct MediaQuery {
    key: Option<String>,
}

/// `GET /api/v1/dashboard/media?key=…`: a presigned GET for one capture of a
/// test the token covers.
pub async fn get_media(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<MediaQuery>,
) -> Result<Json<media::PresignedUrl>, ApiError> {
    let key = query.key.ok_or_else(|| bad_field("key", ProblemCode::MissingField, "the object key is required"))?;
    // A bundle part (`…#bytes=FIRST-LAST`): sign the object, hand back the range.
    let (key, range) =
        invigil_schemas::event::split_part_key(&key).map_err(|why| bad_field("key", ProblemCode::InvalidValue, why))?;
    let test = invigil_schemas::media_key::MediaKey::parse(key)
        .ok_or_else(|| {
            bad_field("key", ProblemCode::InvalidValue, "not a canonical media key ({date}/{test}/{candidate}/…)")
        })?
        .test;
    let test = parse_test(test).map_err(|_| bad_field("key", ProblemCode::InvalidValue, "names an invalid test id"))?;
    staff_of_test(&state, &headers, &test, &[StaffRole::Proctor, StaffRole::Reviewer, StaffRole::Admin])?;
    let mut link = dashboards(&state).media.presign_get(key, SystemTime::now()).await.map_err(|why| {
        tracing::warn!(%why, "cannot presign media");
        ApiError::unavailable("media links cannot be signed right now", 30)
    })?;
    link.range = range.map(|(first, last)| format!("bytes={first}-{last}"));
    Ok(Json(link))
}

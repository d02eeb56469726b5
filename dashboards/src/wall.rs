//! The proctor wall (SPEC §8.1): which candidates each proctor on duty
//! watches ([`assign`]) and their newest live counters ([`LiveHub`]), as one
//! JSON snapshot or as a server-sent event stream that pushes each change.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use invigil_ingest::config_store::ConfigStore;
use invigil_ingest::error::{parse_test_id, ApiError};
use invigil_ingest::live_video::ProctorWalls;
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::{StaffClaims, StaffRole};
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::live::LiveCounters;
use serde::{Deserialize, Serialize};

use crate::assign::{self, Assignment};
use crate::live::{self, LiveHub};
use crate::Dashboards;

/// Every test's walls: the live counters, the duty rosters (in the config)
/// and the split between them, cached.
pub struct Walls {
    pub hub: Arc<LiveHub>,
    config: ConfigStore,
    assignments: Mutex<HashMap<String, CachedAssignment>>,
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

impl Walls {
    pub fn new(hub: Arc<LiveHub>, config: ConfigStore) -> Self {
        Self { hub, config, assignments: Mutex::default() }
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

    /// The wall `viewer` sees of `test` now.
    fn build(&self, test: &TestId, viewer: Option<&str>) -> Result<Wall, ApiError> {
        let current = self.config.current();
        let config = current.document.for_test(test).map_err(|problem| {
            tracing::error!(%problem, "stored config does not resolve");
            ApiError::new(ErrorCode::Internal, "configuration error")
        })?;
        let duty = current.document.duty.get(test);
        let roster = duty.map(|d| (d.proctors.clone(), d.capacity));
        let split = self.assignment(test.as_str(), roster);
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
        let mut tiles: Vec<TileView> = self
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

    /// [`Walls::build`] on a blocking thread: splitting a large test costs
    /// milliseconds to seconds of CPU.
    pub async fn build_blocking(self: &Arc<Self>, test: &TestId, viewer: Option<&str>) -> Result<Wall, ApiError> {
        let (walls, test, viewer) = (Arc::clone(self), test.clone(), viewer.map(str::to_owned));
        tokio::task::spawn_blocking(move || walls.build(&test, viewer.as_deref()))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "building the wall panicked"))?
    }

    fn config_version(&self) -> u64 {
        self.config.current().version
    }
}

/// [`Walls`] as live video asks them, before a proctor may watch a candidate.
pub struct WallLookup(pub Arc<Walls>);

impl ProctorWalls for WallLookup {
    fn shows<'a>(
        &'a self,
        test: &'a TestId,
        proctor: &'a str,
        candidate: &'a CandidateId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ApiError>> + Send + 'a>> {
        Box::pin(async move {
            let wall = self.0.build_blocking(test, Some(proctor)).await?;
            // Without a duty roster every proctor of the test watches everyone.
            Ok(wall.on_duty.is_none() || wall.assigned.iter().chain(&wall.unassigned).any(|c| c == candidate.as_str()))
        })
    }
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
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    Path(test): Path<String>,
    Query(query): Query<WallQuery>,
) -> Result<Json<Wall>, ApiError> {
    let test = parse_test_id(&test)?;
    let claims = state.verifier.staff_of_test(&headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let viewer = wall_viewer(&claims, &query)?;
    state.walls.build_blocking(&test, viewer.as_deref()).await.map(Json)
}

/// `GET /api/v1/dashboard/tests/{test}/live`: the wall as a server-sent event
/// stream. `snapshot` carries a whole [`Wall`] (first, and again whenever the
/// roster or the set of candidates changes the proctor's share); `tile`
/// carries one candidate's new counters. Pages read it with `fetch`, so the
/// token travels in `Authorization`, never in a URL.
pub async fn get_live(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    Path(test): Path<String>,
    Query(query): Query<WallQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let test = parse_test_id(&test)?;
    let claims = state.verifier.staff_of_test(&headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let viewer = wall_viewer(&claims, &query)?;
    let updates = state.walls.hub.subscribe();
    let first = state.walls.build_blocking(&test, viewer.as_deref()).await?;
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
    state: &Dashboards,
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
    let mut closing = state.closing.subscribe();
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
                state.walls.config_version() != wall.config_version
                    || state.walls.hub.count(test.as_str()) != wall.covered
            }
            _ = events.closed() => return,
            _ = async { closing.wait_for(|closing| *closing).await.is_ok() } => return,
        };
        if !recheck {
            continue;
        }
        let Ok(next) = state.walls.build_blocking(test, viewer).await else { return };
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

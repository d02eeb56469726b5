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
    /// Whether the front door sends LMS controls (`[lti] enabled`).
    lms_controls: bool,
}

/// A test's split, valid while its roster stays the same. Candidates never
/// leave the hub; one that arrives is placed into the cached split at once
/// ([`assign::place`]), where every wall — a `GET …/wall`, each proctor's
/// stream, an admin's — reads it, so they all agree from the moment it
/// arrives. The whole split is computed again (rendezvous order may move a
/// few) at most every [`REASSIGN_AFTER`], so a start burst of thousands does
/// not recompute it thousands of times.
struct CachedAssignment {
    roster: Option<(Vec<String>, u32)>,
    computed: Instant,
    split: Arc<Assignment>,
    /// Every candidate the split places, and their proctor (`None`:
    /// unassigned).
    seats: HashMap<String, Option<String>>,
}

impl CachedAssignment {
    fn compute(roster: Option<(Vec<String>, u32)>, candidates: Vec<String>) -> Self {
        let split = match &roster {
            Some((proctors, capacity)) => assign::assign(candidates.iter().map(String::as_str), proctors, *capacity),
            None => {
                // In placement order, as `assign` lists everyone.
                let mut unassigned = candidates;
                assign::sort_in_placement_order(&mut unassigned);
                Assignment { by_proctor: Default::default(), unassigned }
            }
        };
        let mut seats: HashMap<String, Option<String>> =
            split.unassigned.iter().map(|candidate| (candidate.clone(), None)).collect();
        for (proctor, candidates) in &split.by_proctor {
            seats.extend(candidates.iter().map(|candidate| (candidate.clone(), Some(proctor.clone()))));
        }
        Self { roster, computed: Instant::now(), split: Arc::new(split), seats }
    }

    /// `candidate`'s seat, placing it first if the split has none for it.
    fn place(&mut self, candidate: &str) -> Option<String> {
        if let Some(seat) = self.seats.get(candidate) {
            return seat.clone();
        }
        let split = Arc::make_mut(&mut self.split);
        let seat = match &self.roster {
            Some((proctors, capacity)) => assign::place(split, candidate, proctors, *capacity),
            None => {
                assign::insert_in_order(&mut split.unassigned, candidate);
                None
            }
        };
        self.seats.insert(candidate.to_owned(), seat.clone());
        seat
    }
}

/// How often a test's whole split may be computed again while candidates
/// arrive (each is placed at once in between).
const REASSIGN_AFTER: Duration = Duration::from_secs(2);

impl Walls {
    pub fn new(hub: Arc<LiveHub>, config: ConfigStore) -> Self {
        Self { hub, config, assignments: Mutex::default(), lms_controls: false }
    }

    /// Walls that offer LMS controls on each tile.
    pub fn with_lms_controls(mut self, on: bool) -> Self {
        self.lms_controls = on;
        self
    }

    /// Takes erased candidates off `test`'s walls (every candidate with
    /// `None`): their tiles leave the hub and the test's split is computed
    /// afresh. Returns the candidates whose tiles were dropped.
    pub fn forget(&self, test: &str, candidate: Option<&str>) -> Vec<String> {
        let dropped = self.hub.forget(test, candidate);
        self.assignments.lock().unwrap_or_else(|p| p.into_inner()).remove(test);
        dropped
    }

    /// The current split of `test` among `roster` (`None`: no roster, every
    /// proctor sees everyone), covering every candidate the hub knows.
    fn assignment(&self, test: &str, roster: Option<(Vec<String>, u32)>) -> Arc<Assignment> {
        let mut cache = self.assignments.lock().unwrap_or_else(|p| p.into_inner());
        let known = self.hub.count(test);
        if let Some(cached) = cache.get_mut(test).filter(|cached| cached.roster == roster) {
            if cached.seats.len() != known && cached.computed.elapsed() < REASSIGN_AFTER {
                let mut newcomers: Vec<String> =
                    self.hub.candidates(test).into_iter().filter(|c| !cached.seats.contains_key(c)).collect();
                assign::sort_in_placement_order(&mut newcomers);
                for candidate in &newcomers {
                    cached.place(candidate);
                }
            }
            if cached.seats.len() == known || cached.computed.elapsed() < REASSIGN_AFTER {
                return Arc::clone(&cached.split);
            }
        }
        let cached = CachedAssignment::compute(roster, self.hub.candidates(test));
        let split = Arc::clone(&cached.split);
        cache.insert(test.to_owned(), cached);
        split
    }

    /// Where a candidate the hub has just seen sits on `test`'s walls:
    /// `Some(proctor)`, or `None` for unassigned (every proctor's, as is
    /// everyone without a roster). Placed in the shared split now, so the
    /// stream that shows it and the next snapshot agree.
    fn seat_of(&self, test: &TestId, candidate: &str) -> Option<String> {
        let roster = self.config.current().document.duty.get(test).map(|d| (d.proctors.clone(), d.capacity));
        {
            let mut cache = self.assignments.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(cached) = cache.get_mut(test.as_str()).filter(|cached| cached.roster == roster) {
                return cached.place(candidate);
            }
        }
        let split = self.assignment(test.as_str(), roster);
        split.proctor_of(candidate).map(str::to_owned)
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
            // An admin's view of the whole test: every seat, in placement
            // order (as each proctor's list is, and a newcomer joins).
            (Some(_), None) => {
                let mut all: Vec<String> = split.by_proctor.values().flatten().cloned().collect();
                assign::sort_in_placement_order(&mut all);
                all
            }
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
            lms_controls: self.lms_controls,
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
    /// Whether tiles offer LMS controls (the front door is an LTI tool;
    /// a candidate launched without the platform's controls gets a 404
    /// from `…/lti` when asked).
    pub lms_controls: bool,
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

    /// Adds a newcomer seated at `seat` (see [`Walls::seat_of`]) if this
    /// wall shows it, where the shared split put it; whether it does.
    fn seat_newcomer(&mut self, viewer: Option<&str>, candidate: &str, seat: Option<&str>) -> bool {
        let list = match (&self.on_duty, viewer, seat) {
            // Unassigned (everyone, without a roster): on every wall.
            (_, _, None) => &mut self.unassigned,
            // An admin's view of the whole test, or this proctor's seat.
            (Some(_), None, Some(_)) => &mut self.assigned,
            (Some(_), Some(me), Some(proctor)) if me == proctor => &mut self.assigned,
            _ => return false,
        };
        assign::insert_in_order(list, candidate);
        true
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
    // The share the client was last sent, which a newcomer seated from a
    // tile (at once) changes without a snapshot; the next look sends one,
    // so the stream's client and a `GET …/wall` agree within 2 s.
    let mut sent = Share::of(&first);
    let mut wall = first;
    let mut watched = wall.watched();
    let mut check = tokio::time::interval(Duration::from_secs(2));
    let mut closing = state.closing.subscribe();
    loop {
        let look = tokio::select! {
            update = updates.recv() => match update {
                Ok(update) if update.counters.test_id == test.as_str()
                    && (watched.contains(&update.counters.candidate_id)
                        || update.newcomer && {
                            let candidate = &update.counters.candidate_id;
                            let seat = state.walls.seat_of(test, candidate);
                            wall.seat_newcomer(viewer, candidate, seat.as_deref())
                        }) =>
                {
                    // A newcomer shows at once where the shared split seats
                    // it, which a snapshot taken now shows too.
                    watched.insert(update.counters.candidate_id.clone());
                    let tile = TileView { counters: (*update.counters).clone(), age_ms: 0 };
                    let event = Event::default().event("tile").json_data(&tile).expect("a tile serializes");
                    if events.send(event).await.is_err() {
                        return;
                    }
                    state.metrics.sse_events.inc();
                    Look::No
                }
                Ok(_) => Look::No,
                // Fell behind: tiles were missed, a fresh snapshot has them.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Look::AndSend,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = check.tick() => {
                let changed = state.walls.config_version() != wall.config_version
                    || state.walls.hub.count(test.as_str()) != wall.covered
                    || !sent.is_of(&wall);
                if changed { Look::IfChanged } else { Look::No }
            }
            _ = events.closed() => return,
            _ = async { closing.wait_for(|closing| *closing).await.is_ok() } => return,
        };
        if look == Look::No {
            continue;
        }
        let Ok(next) = state.walls.build_blocking(test, viewer).await else { return };
        watched = next.watched();
        wall = next;
        if look == Look::AndSend || !sent.is_of(&wall) {
            if events.send(snapshot(&wall)).await.is_err() {
                return;
            }
            sent = Share::of(&wall);
        }
    }
}

/// Whether a wall stream builds the wall again, and whether it sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    No,
    /// Build it; send it if the share differs from what was sent.
    IfChanged,
    /// Build it and send it (tiles were missed).
    AndSend,
}

/// What a snapshot tells a client beyond its tiles: whom the wall shows,
/// under which configuration.
#[derive(Debug, Clone)]
struct Share {
    assigned: Vec<String>,
    unassigned: Vec<String>,
    config_version: u64,
}

impl Share {
    fn of(wall: &Wall) -> Self {
        Self {
            assigned: wall.assigned.clone(),
            unassigned: wall.unassigned.clone(),
            config_version: wall.config_version,
        }
    }

    /// Whether `wall` shows this share (compared in place: a whole test's
    /// wall can list tens of thousands of candidates).
    fn is_of(&self, wall: &Wall) -> bool {
        self.config_version == wall.config_version
            && self.assigned == wall.assigned
            && self.unassigned == wall.unassigned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::config::ConfigDocument;

    fn arrive(hub: &LiveHub, candidate: &str) {
        let counters = serde_json::json!({
            "v": 1, "test_id": "exam-1", "candidate_id": candidate,
            "session_id": "0194f5d2-8f3a-7b1c-9d2e-3f4a5b6c7d8e", "received_at": 1, "published_at": 1,
            "last_event_ts": 1, "status": "active",
            "counters": {"events": 1, "tab_switches": 0, "hidden_ms": 0, "blur_count": 0, "fullscreen_exits": 0,
                "clipboard_actions": 0, "key_bursts": 0, "permission_revocations": 0, "blocked_ms": 0,
                "missing_captures": 0, "uploads_failed": 0, "network_gaps": 0, "late_events": 0},
            "score": 0.0, "window_score": 0.0, "components": [],
        });
        hub.apply(serde_json::from_value(counters).unwrap());
    }

    fn walls(duty: serde_json::Value) -> Walls {
        let document = ConfigDocument::from_json(duty.to_string().as_bytes()).unwrap();
        Walls::new(Arc::new(LiveHub::default()), ConfigStore::in_memory(document).unwrap())
    }

    fn shown(wall: &Wall) -> Vec<String> {
        let mut tiles: Vec<String> = wall.tiles.iter().map(|t| t.counters.candidate_id.clone()).collect();
        tiles.sort();
        tiles
    }

    /// The outside check: a newcomer reached the stream at once but the
    /// snapshot only after the next split. Now every view reads one shared
    /// split into which a newcomer is placed the moment it arrives: the
    /// stream's decision and any snapshot agree, each candidate is on
    /// exactly one proctor's wall (or every one's, unassigned), and an
    /// admin sees all of them — with and without a roster, with room and
    /// with the roster full.
    #[test]
    fn a_newcomer_is_on_the_snapshot_the_moment_the_stream_shows_it() {
        for duty in [
            serde_json::json!({}),
            serde_json::json!({"duty": {"exam-1": {"proctors": ["p1", "p2"], "capacity": 10}}}),
            serde_json::json!({"duty": {"exam-1": {"proctors": ["p1", "p2"], "capacity": 4}}}),
        ] {
            let walls = walls(duty.clone());
            let test = TestId::new("exam-1").unwrap();
            for n in 0..6 {
                arrive(&walls.hub, &format!("cand-{n}"));
            }
            let mut held: Vec<Wall> = [Some("p1"), Some("p2"), None].map(|v| walls.build(&test, v).unwrap()).to_vec();
            // The split is cached now; newcomers arrive within REASSIGN_AFTER.
            for n in 0..5 {
                let newcomer = format!("late-{n}");
                arrive(&walls.hub, &newcomer);
                // The streams first (as a tile arrives), then snapshots.
                let seat = walls.seat_of(&test, &newcomer);
                let streamed: Vec<bool> = held
                    .iter_mut()
                    .zip([Some("p1"), Some("p2"), None])
                    .map(|(wall, viewer)| wall.seat_newcomer(viewer, &newcomer, seat.as_deref()))
                    .collect();
                let snapshots: Vec<Wall> =
                    [Some("p1"), Some("p2"), None].map(|v| walls.build(&test, v).unwrap()).to_vec();
                for ((snapshot, stream), on_stream) in snapshots.iter().zip(&held).zip(&streamed) {
                    let viewer = snapshot.proctor.clone();
                    assert_eq!(snapshot.watched().contains(&newcomer), *on_stream, "{duty} {viewer:?}: {newcomer}");
                    assert_eq!(shown(snapshot).contains(&newcomer), *on_stream, "its tile comes with its seat");
                    assert_eq!(
                        (&snapshot.assigned, &snapshot.unassigned),
                        (&stream.assigned, &stream.unassigned),
                        "{duty} {viewer:?}"
                    );
                }
                let everyone = 7 + n;
                let admin = &snapshots[2];
                assert_eq!(admin.assigned.len() + admin.unassigned.len(), everyone, "{duty}: an admin sees everyone");
                if duty.get("duty").is_some() {
                    let seated: usize = snapshots[..2].iter().map(|w| w.assigned.len()).sum();
                    assert_eq!(seated, admin.assigned.len(), "{duty}: each seat on exactly one proctor's wall");
                    assert!(snapshots[..2].iter().all(|w| w.unassigned == admin.unassigned));
                    assert!(snapshots[..2].iter().all(|w| w.assigned.len() <= w.capacity.unwrap() as usize));
                }
            }
        }
    }
}

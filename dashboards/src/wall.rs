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
        let snapshot = self.hub.snapshot(test.as_str());
        if snapshot.len() != split.covered() {
            wall.seat_newcomers(&split, &snapshot, viewer);
        }
        let watched = wall.watched();
        let mut tiles: Vec<TileView> = snapshot
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

    /// Seats the hub's candidates that `split` (computed before they
    /// arrived) does not place, by the rule the live stream seats a
    /// newcomer with ([`seats_newcomer`]): the snapshot and the stream
    /// then show the same candidates from the moment one arrives, instead
    /// of the snapshot catching up at the next split (up to
    /// [`REASSIGN_AFTER`] later). In hash order, as `assign` places them.
    fn seat_newcomers(&mut self, split: &Assignment, tiles: &[live::Tile], viewer: Option<&str>) {
        let placed: HashSet<&str> =
            split.by_proctor.values().flatten().chain(&split.unassigned).map(String::as_str).collect();
        let mut newcomers: Vec<&str> = tiles
            .iter()
            .map(|tile| tile.counters.candidate_id.as_str())
            .filter(|candidate| !placed.contains(candidate))
            .collect();
        newcomers.sort_unstable_by_key(|candidate| assign::placement_order(candidate));
        for candidate in newcomers {
            self.seat_newcomer(viewer, candidate);
        }
    }

    /// Seats one candidate the split has not placed, if this wall would
    /// ([`seats_newcomer`]); whether it did.
    fn seat_newcomer(&mut self, viewer: Option<&str>, candidate: &str) -> bool {
        if !seats_newcomer(self, viewer, candidate) {
            return false;
        }
        // Without a roster everyone is unassigned (every proctor's).
        let seats = if self.on_duty.is_none() { &mut self.unassigned } else { &mut self.assigned };
        // Where the next split will most likely put it: the lists are in
        // placement order.
        let order = assign::placement_order(candidate);
        let at = seats.partition_point(|seated| assign::placement_order(seated) < order);
        seats.insert(at, candidate.to_owned());
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
                        || update.newcomer && wall.seat_newcomer(viewer, &update.counters.candidate_id)) =>
                {
                    // A newcomer this wall would seat shows at once, as the
                    // snapshot shows it; the next split (within 2 s)
                    // confirms or moves it.
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
    /// snapshot only after the next split. Now the snapshot built the
    /// moment after it arrives shows whom the stream shows, with and
    /// without a roster, for a proctor and for an admin.
    #[test]
    fn a_newcomer_is_on_the_snapshot_the_moment_the_stream_shows_it() {
        for duty in
            [serde_json::json!({}), serde_json::json!({"duty": {"exam-1": {"proctors": ["p1", "p2"], "capacity": 10}}})]
        {
            let walls = walls(duty.clone());
            let test = TestId::new("exam-1").unwrap();
            for n in 0..6 {
                arrive(&walls.hub, &format!("cand-{n}"));
            }
            for viewer in [Some("p1"), Some("p2"), None] {
                walls.build(&test, viewer).unwrap();
            }
            // The split is cached now; newcomers arrive within REASSIGN_AFTER.
            for n in 0..4 {
                let newcomer = format!("late-{n}");
                arrive(&walls.hub, &newcomer);
                for viewer in [Some("p1"), Some("p2"), None] {
                    let before = walls.build(&test, viewer).unwrap();
                    let streamed = {
                        // What the stream decides for the same newcomer,
                        // from the wall it held before it arrived.
                        let mut held = before.clone();
                        held.assigned.retain(|c| *c != newcomer);
                        held.unassigned.retain(|c| *c != newcomer);
                        held.seat_newcomer(viewer, &newcomer)
                    };
                    let on_snapshot = before.watched().contains(&newcomer);
                    assert_eq!(on_snapshot, streamed, "{duty} {viewer:?}: snapshot and stream agree on {newcomer}");
                    assert_eq!(shown(&before).contains(&newcomer), on_snapshot, "its tile comes with its seat");
                }
                let everyone: usize = [Some("p1"), Some("p2")]
                    .into_iter()
                    .map(|p| walls.build(&test, p).unwrap())
                    .map(|w| if w.on_duty.is_some() { w.assigned.len() } else { 0 })
                    .sum();
                if duty.get("duty").is_some() {
                    assert_eq!(everyone, 7 + n, "with room, every newcomer is on exactly one proctor's wall");
                }
            }
            let admin = walls.build(&test, None).unwrap();
            assert_eq!(shown(&admin).len(), 10, "an admin sees every candidate at once");
        }
    }
}

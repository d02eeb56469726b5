//! The HTTP side of live video ([`crate::live_video`]): the candidate's
//! signal and WHIP, the proctor's WHEP and messages, and ending a session. Each route checks
//! who calls before it touches [`LiveVideo`]; who may watch whom is
//! [`watcher`]'s to say.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use invigil_schemas::api::{ErrorCode, LiveSignal, LiveView, MessageAccepted, MessageRequest, ProctorMessage};
use invigil_schemas::claims::{StaffClaims, StaffRole};
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::names::WireName;
use invigil_schemas::validate::ProblemCode;
use serde::Deserialize;

use crate::error::ApiError;
use crate::live_video::shards::{path_at, SHARD_PREFIX};
use crate::live_video::{bad_body, LiveVideo, Owner, ProctorWalls};
use crate::staff_log::{Done, Peer};
use crate::state::AppState;

/// What the live video routes read: ingest's state, and the walls of the
/// dashboards when they are mounted.
pub struct LiveRoutes {
    app: Arc<AppState>,
    walls: Option<Arc<dyn ProctorWalls>>,
}

/// The live video routes (see [`crate::router::ROUTES`]), each twice: at
/// the entry path any host answers, and under `/api/v1/live/shards/{shard}/`
/// for an ingress to route to one SFU host ([`crate::live_video::shards`]).
pub fn router(app: Arc<AppState>, walls: Option<Arc<dyn ProctorWalls>>) -> Router {
    let mut router = Router::new();
    for prefix in ["/api/v1/live", "/api/v1/live/shards/{shard}"] {
        router = router
            .route(&format!("{prefix}/signal"), get(get_signal))
            .route(&format!("{prefix}/whip"), post(post_whip))
            .route(&format!("{prefix}/tests/{{test_id}}/candidates/{{candidate_id}}/whep"), post(post_whep))
            .route(&format!("{prefix}/tests/{{test_id}}/candidates/{{candidate_id}}/messages"), post(post_message))
            .route(&format!("{prefix}/resources/{{id}}"), delete(delete_resource));
    }
    router.with_state(Arc::new(LiveRoutes { app, walls }))
}

/// A candidate's stream in a route's path.
#[derive(Debug, Deserialize)]
pub struct StreamPath {
    test_id: String,
    candidate_id: String,
}

/// A WHIP or WHEP session in a route's path.
#[derive(Debug, Deserialize)]
pub struct ResourcePath {
    id: String,
}

/// `307 Temporary Redirect` to the same request at `owner`'s path: the
/// browser repeats it there, method, body and headers alike.
pub(crate) fn moved(owner: &str, uri: &Uri) -> Response {
    let location = path_at(owner, uri.path(), uri.query());
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A path naming a shard this deployment does not have: the ingress's
/// rules and `[live_video.shards]` disagree.
fn check_shard(live: Option<&LiveVideo>, uri: &Uri) -> Result<(), ApiError> {
    match uri.path().strip_prefix(SHARD_PREFIX).and_then(|rest| rest.split('/').next()) {
        Some(named) => check_shard_named(live, named),
        None => Ok(()),
    }
}

/// `named`, from a sharded path, is one of this deployment's SFU hosts.
pub(crate) fn check_shard_named(live: Option<&LiveVideo>, named: &str) -> Result<(), ApiError> {
    match live.and_then(|live| live.shards.as_ref()) {
        Some(shards) if shards.knows(named) => Ok(()),
        _ => Err(ApiError::new(ErrorCode::NotFound, format!("no live video shard is named {named:?}"))),
    }
}

fn live(state: &AppState) -> Result<&LiveVideo, ApiError> {
    state
        .live_video
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "live video is not enabled on this server"))
}

/// Whether the test's configuration lets proctors watch its candidates.
fn test_allows_live(state: &AppState, test: &TestId) -> bool {
    state.config.current().document.for_test(test).map(|config| config.live_video).unwrap_or(false)
}

/// [`live`], for a test whose configuration has live video on.
fn live_for_test<'a>(state: &'a AppState, test: &TestId) -> Result<&'a LiveVideo, ApiError> {
    let live = live(state)?;
    if !test_allows_live(state, test) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("live video is off for test {test} (live_video in its configuration)"),
        ));
    }
    Ok(live)
}

/// The SDP text of a `Content-Type: application/sdp` body.
fn sdp_body<'a>(live: &LiveVideo, headers: &HeaderMap, body: &'a [u8]) -> Result<&'a str, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim().to_ascii_lowercase().starts_with("application/sdp") {
        return Err(ApiError::bad_field("content-type", ProblemCode::InvalidValue, "must be application/sdp"));
    }
    if body.len() > live.settings.max_offer_bytes {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the offer is larger than {} bytes", live.settings.max_offer_bytes),
        ));
    }
    std::str::from_utf8(body).map_err(|_| bad_body(ProblemCode::InvalidValue, "the offer is not UTF-8"))
}

/// 201 Created with the answer and the resource's `Location` (RFC 9725),
/// at this host's sharded path when there are several.
fn created(live: &LiveVideo, answer: String, id: &str) -> Response {
    let location = match live.shard_name() {
        Some(shard) => format!("{SHARD_PREFIX}{shard}/resources/{id}"),
        None => format!("/api/v1/live/resources/{id}"),
    };
    let mut response = (StatusCode::CREATED, answer).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// A signal answer no cache may keep: it is true only now.
fn no_store(signal: LiveSignal) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(signal)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SignalQuery {
    /// What the SDK sends now (`none`, `grid`, `full`; `false` and `true`
    /// mean `none` and `full`); the answer waits while it is right.
    #[serde(default, deserialize_with = "sending")]
    pub(crate) publishing: LiveView,
    /// How long to hold the request at most, ms (capped by the settings).
    wait_ms: Option<u64>,
    /// The newest proctor message the SDK has shown (0: none).
    #[serde(default)]
    pub(crate) seen: u64,
}

fn sending<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<LiveView, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.as_str() {
        "false" => Ok(LiveView::None),
        "true" => Ok(LiveView::Full),
        name => LiveView::from_name(name)
            .ok_or_else(|| serde::de::Error::custom(format!("publishing must be none, grid or full, not {name:?}"))),
    }
}

/// `GET /api/v1/live/signal?publishing=…`: publish or stop, answered as
/// soon as that differs from what the SDK does.
pub async fn get_signal(
    State(routes): State<Arc<LiveRoutes>>,
    headers: HeaderMap,
    uri: Uri,
    query: Result<Query<SignalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let state = &routes.app;
    let claims = state.verifier.candidate(&headers)?;
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_field("query", ProblemCode::InvalidType, rejection.body_text()))?;
    check_shard(state.live_video.as_ref(), &uri)?;
    Ok(match signal(state, claims, &query).await? {
        Signal::Answer(signal) => no_store(signal),
        Signal::Elsewhere(owner) => moved(&owner, &uri),
    })
}

/// What a signal request gets.
pub(crate) enum Signal {
    Answer(LiveSignal),
    /// Another SFU host serves this candidate now: ask it (a redirect).
    Elsewhere(String),
}

/// The signal's answer for `claims`' candidate: held while what they send
/// is what is wanted and no message waits, and while this host still serves
/// them. The route above; the lean listener
/// ([`crate::live_video::signal_server`]) parks its held requests instead
/// and uses [`signal_start`] and [`signal_end`] itself.
pub(crate) async fn signal(
    state: &AppState,
    claims: invigil_schemas::claims::CandidateClaims,
    query: &SignalQuery,
) -> Result<Signal, ApiError> {
    match signal_start(state, claims, query)? {
        SignalStart::Now(signal) => Ok(signal),
        SignalStart::Wait { live, key, epoch, wait } => {
            let (view, messages) = {
                let _held = Held::new(&state.metrics.live_signals_held);
                live.audience.wanted_unless(&key, query.publishing, query.seen, wait, epoch).await
            };
            Ok(signal_end(live, &key, view, messages))
        }
    }
}

/// A signal request once its caller is checked: answered now, or to wait.
pub(crate) enum SignalStart<'a> {
    Now(Signal),
    /// Wait on the candidate's stream `key` until `wait` has passed or what
    /// it waits for changes (the audience's `epoch` read before the checks).
    Wait {
        live: &'a LiveVideo,
        key: String,
        epoch: u64,
        wait: Duration,
    },
}

/// Everything a signal request goes through before it may be held: the rate
/// limit, the test's live video switch, the host that serves the candidate,
/// a publisher this host does not have, a server that is stopping.
pub(crate) fn signal_start<'a>(
    state: &'a AppState,
    claims: invigil_schemas::claims::CandidateClaims,
    query: &SignalQuery,
) -> Result<SignalStart<'a>, ApiError> {
    let key = format!("{}/{}", claims.test_id, claims.sub);
    state.rate_limit(&key)?;
    let allowed = test_allows_live(state, &claims.test_id);
    // Only the key is needed from here on: a held signal keeps no more.
    drop(claims);
    let Some(live) = state.live_video.as_ref().filter(|_| allowed) else {
        return Ok(SignalStart::Now(Signal::Answer(LiveSignal {
            publish: false,
            view: LiveView::None,
            enabled: false,
            messages: Vec::new(),
        })));
    };
    // Read first: a stop or a move announced from here on ends the wait.
    let epoch = live.audience.epoch();
    if let Some(owner) = live.elsewhere(&key) {
        return Ok(SignalStart::Now(Signal::Elsewhere(owner.to_owned())));
    }
    if query.publishing != LiveView::None && !live.publishes_here(&key) {
        // The SDK says it sends, but not to this host: its connection is to
        // a host that is gone (the browser notices many seconds later) or
        // was cut off. Stop it now; asked again, the answer says whether to
        // publish here.
        return Ok(SignalStart::Now(Signal::Answer(LiveSignal {
            publish: false,
            view: LiveView::None,
            enabled: true,
            messages: Vec::new(),
        })));
    }
    // Stopping: answer now (the SDK asks again, elsewhere or after the restart).
    let wait = if live.is_closing() {
        Duration::ZERO
    } else {
        Duration::from_millis(query.wait_ms.unwrap_or(u64::MAX).min(live.settings.signal_wait_ms))
    };
    Ok(SignalStart::Wait { live, key, epoch, wait })
}

/// The answer once a wait on `key` is over: the host that serves the
/// candidate now (woken because the hosts changed, it may be another), else
/// the view wanted and the messages.
pub(crate) fn signal_end(live: &LiveVideo, key: &str, view: LiveView, messages: Vec<ProctorMessage>) -> Signal {
    match live.elsewhere(key) {
        Some(owner) => Signal::Elsewhere(owner.to_owned()),
        None => Signal::Answer(LiveSignal { publish: view != LiveView::None, view, enabled: true, messages }),
    }
}

/// Counts a held signal for as long as it lives (a client that goes away
/// drops the wait without reaching its end).
struct Held<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> Held<'a> {
    fn new(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `POST /api/v1/live/whip`: the candidate publishes, while watched.
pub async fn post_whip(
    State(routes): State<Arc<LiveRoutes>>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let state = &routes.app;
    let claims = state.verifier.candidate(&headers)?;
    let live = live_for_test(state, &claims.test_id)?;
    check_shard(Some(live), &uri)?;
    let key = format!("{}/{}", claims.test_id, claims.sub);
    state.rate_limit(&key)?;
    if let Some(owner) = live.elsewhere(&key) {
        return Ok(moved(owner, &uri));
    }
    let offer = sdp_body(live, &headers, &body)?;
    let (answer, id) = live.publish(&key, offer)?;
    tracing::info!(test = %claims.test_id, candidate = %claims.sub, "live video: candidate publishing");
    Ok(created(live, answer, &id))
}

#[derive(Debug, Deserialize)]
pub struct WhepQuery {
    /// `full` (default) or `grid`.
    view: Option<String>,
}

/// `POST /api/v1/live/tests/{test}/candidates/{candidate}/whep`: a proctor
/// with the candidate on their wall (or an admin) subscribes.
pub async fn post_whep(
    State(routes): State<Arc<LiveRoutes>>,
    headers: HeaderMap,
    peer: Peer,
    uri: Uri,
    Path(stream): Path<StreamPath>,
    Query(query): Query<WhepQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Watcher { live, claims, test, candidate } = watcher(&routes, &headers, &stream, &uri).await?;
    if let Some(owner) = live.elsewhere(&format!("{test}/{candidate}")) {
        return Ok(moved(owner, &uri));
    }
    let view = match query.view.as_deref().map(LiveView::from_name) {
        None => LiveView::Full,
        Some(Some(view)) if view != LiveView::None => view,
        Some(_) => return Err(ApiError::bad_field("view", ProblemCode::InvalidValue, "must be full or grid")),
    };
    let offer = sdp_body(live, &headers, &body)?;
    let (answer, id) = live.subscribe(&format!("{test}/{candidate}"), offer, &claims.sub, view)?;
    tracing::info!(staff = %claims.sub, test = %test, candidate = %candidate, view = view.as_str(), "live video: watching");
    let origin = routes.app.staff_log.origin(&headers, &peer);
    let done = Done::new(&claims, "live.watch", origin).on(&test, Some(&candidate)).with("view", view.as_str());
    routes.app.staff_log.note(done);
    Ok(created(live, answer, &id))
}

/// A staff member allowed to watch (and write to) one candidate.
struct Watcher<'a> {
    live: &'a LiveVideo,
    claims: StaffClaims,
    test: TestId,
    candidate: CandidateId,
}

/// Who may watch a candidate, for WHEP and messages alike: a proctor of the
/// test with the candidate on their wall, or an admin; the test must have
/// live video on.
async fn watcher<'a>(
    routes: &'a LiveRoutes,
    headers: &HeaderMap,
    stream: &StreamPath,
    uri: &Uri,
) -> Result<Watcher<'a>, ApiError> {
    let state = &routes.app;
    let test = crate::error::parse_test_id(&stream.test_id)?;
    let candidate = crate::error::parse_candidate_id(&stream.candidate_id)?;
    let claims = state.verifier.staff_of_test(headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let live = live_for_test(state, &test)?;
    if claims.role == StaffRole::Proctor {
        let on_wall = match &routes.walls {
            Some(walls) => walls.shows(&test, &claims.sub, &candidate).await?,
            // No dashboards to ask: only a test without a duty roster (every
            // proctor watches everyone) lets a proctor in.
            None => state.config.current().document.duty.get(&test).is_none(),
        };
        if !on_wall {
            return Err(ApiError::new(ErrorCode::Forbidden, format!("candidate {candidate} is not on your wall")));
        }
    }
    check_shard(Some(live), uri)?;
    Ok(Watcher { live, claims, test, candidate })
}

/// `POST /api/v1/live/tests/{test}/candidates/{candidate}/messages`: a note
/// the candidate's SDK shows without blocking and records on the timeline
/// (a `custom` event named `invigil.proctor_message`). Who may watch the
/// candidate may write to them.
pub async fn post_message(
    State(routes): State<Arc<LiveRoutes>>,
    headers: HeaderMap,
    peer: Peer,
    uri: Uri,
    Path(stream): Path<StreamPath>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let state = &routes.app;
    let Watcher { live, claims, test, candidate } = watcher(&routes, &headers, &stream, &uri).await?;
    let key = format!("{test}/{candidate}");
    if let Some(owner) = live.elsewhere(&key) {
        return Ok(moved(owner, &uri));
    }
    crate::error::require_json(&headers)?;
    let request: MessageRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    let text = request.text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MessageRequest::MAX_CHARS || text.chars().any(char::is_control) {
        let code = if chars > MessageRequest::MAX_CHARS { ProblemCode::TooLong } else { ProblemCode::InvalidValue };
        let message =
            format!("must be 1 to {} characters of plain text (no control characters)", MessageRequest::MAX_CHARS);
        return Err(ApiError::bad_field("text", code, message));
    }
    state.rate_limit(&format!("staff:{}", claims.sub))?;
    let now = invigil_schemas::clock::now_ms();
    let id =
        live.audience.post_message(&key, request.level, text.to_owned(), claims.sub.clone(), now).map_err(|full| {
            ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "{} messages to candidate {candidate} are still unread; send more once they have read them",
                    full.waiting
                ),
            )
        })?;
    // The text stays out of the logs, as everything written to a candidate.
    tracing::info!(staff = %claims.sub, test = %test, candidate = %candidate, id, chars, "proctor message queued");
    // The text is on the candidate's timeline (the SDK records it as shown);
    // the audit trail keeps that it was sent, not what it said.
    let done = Done::new(&claims, "live.message", state.staff_log.origin(&headers, &peer))
        .on(&test, Some(&candidate))
        .with("id", id)
        .with("level", serde_json::to_value(request.level).unwrap_or_default())
        .with("chars", chars);
    state.staff_log.record(done).await;
    Ok((StatusCode::ACCEPTED, Json(MessageAccepted { id })).into_response())
}

/// `DELETE /api/v1/live/resources/{id}`: ends a WHIP or WHEP session; only
/// its owner may (anyone else gets 404, as for an unknown id).
pub async fn delete_resource(
    State(routes): State<Arc<LiveRoutes>>,
    headers: HeaderMap,
    uri: Uri,
    Path(ResourcePath { id }): Path<ResourcePath>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = &routes.app;
    let claims: serde_json::Value = state.verifier.verify(&headers)?;
    let caller = match (claims.get("role"), claims.get("test_id"), claims.get("sub").and_then(|s| s.as_str())) {
        (Some(_), _, Some(sub)) => Owner::Staff(sub.to_owned()),
        (None, Some(test), Some(sub)) => Owner::Candidate(format!("{}/{sub}", test.as_str().unwrap_or_default())),
        _ => return Err(ApiError::unauthorized("token claims are malformed")),
    };
    let live = live(state)?;
    check_shard(Some(live), &uri)?;
    if !live.end(&id, &caller) {
        return Err(ApiError::new(ErrorCode::NotFound, "no such live video session"));
    }
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

//! Live video on demand (issue 18): a proctor clicks a candidate and sees
//! their camera and screen and hears their microphone; a candidate nobody
//! watches sends no video at all.
//!
//! Data flow:
//!
//! 1. The candidate's SDK holds `GET /api/v1/live/signal` open
//!    ([`get_signal`]) with the state it is in.
//! 2. A proctor's page POSTs a WHEP offer ([`post_whep`], RFC 9725's
//!    subscribe side): the caller must be a proctor with this candidate on
//!    their wall, or an admin. The answer comes at once, the subscriber goes
//!    to the [`sfu`], and the [`audience`] marks the candidate wanted — which
//!    answers their held signal request in the same moment.
//! 3. The SDK (its lazily loaded live module) POSTs a WHIP offer with the
//!    camera, screen and microphone tracks it already holds
//!    ([`post_whip`]); the SFU forwards each frame to the subscribers, and
//!    asks the candidate for a keyframe when a subscriber connects.
//! 4. The last subscriber gone (its `DELETE`, or its ICE timing out), the
//!    signal says stop and the SDK closes its connection; a publisher that
//!    does not is cut off by the SFU after a grace period.
//!
//! Offers are plain SDP (`application/sdp`) with three m-lines in this
//! order: camera video, screen video, microphone audio ([`LAYOUT`]). Codecs:
//! VP8 and Opus, so every subscriber can take every publisher's frames as
//! they are. The server is ICE-lite on one UDP port: peers reach it at its
//! host candidate, so no STUN/TURN server is needed on a LAN.

pub mod audience;
pub mod loopback;
pub mod sfu;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use invigil_schemas::api::{ErrorCode, LiveSignal, LiveView, MessageAccepted, MessageRequest};
use invigil_schemas::claims::StaffRole;
use invigil_schemas::validate::{FieldProblem, ProblemCode};
use serde::{Deserialize, Serialize};
use str0m::change::SdpOffer;
use str0m::media::{MediaKind, Mid};
use str0m::{Candidate, Rtc};

use crate::app::AppState;
use crate::error::ApiError;
use audience::Audience;
pub use sfu::SfuTimings;
use sfu::{Command, PeerId, Role, Sfu, SfuStats};

/// `[live_video]` in the settings file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveVideoSettings {
    /// Serve live video: the signal, WHIP and WHEP. Off, the signal answers
    /// `enabled: false` and the SDK never asks again in that session.
    pub enabled: bool,
    /// The SFU's one UDP socket; every peer's media goes through it. Port 0
    /// takes any free port (fine on one machine; a deployment fixes it).
    pub udp_listen: SocketAddr,
    /// The address peers send media to, when it is not `udp_listen` (a NAT
    /// or a Kubernetes Service in front). Required when `udp_listen` is a
    /// wildcard address.
    pub public_addr: Option<SocketAddr>,
    /// How long a candidate's signal request is held when nothing changes,
    /// in ms (below the idle timeout of any proxy in front).
    pub signal_wait_ms: u64,
    /// Largest SDP offer accepted, in bytes.
    pub max_offer_bytes: usize,
    /// Most peers (publishers + subscribers) the SFU takes; beyond, WHIP and
    /// WHEP answer 503 with Retry-After rather than degrade every stream
    /// (`invigil bench live`: ~700 forwarded streams per core).
    pub max_peers: u64,
}

impl Default for LiveVideoSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            udp_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_addr: None,
            signal_wait_ms: 25_000,
            max_offer_bytes: 32 * 1024,
            max_peers: 1000,
        }
    }
}

/// The m-lines every offer carries, in this order.
pub const LAYOUT: [MediaKind; 3] = [MediaKind::Video, MediaKind::Video, MediaKind::Audio];
const LAYOUT_TEXT: &str = "three m-lines in this order: camera video, screen video, microphone audio";

/// Live video's part of ingest's state.
pub struct LiveVideo {
    pub settings: LiveVideoSettings,
    pub audience: Arc<Audience>,
    sfu: Sfu,
    /// The address in every answer's host candidate.
    announced: SocketAddr,
    resources: Mutex<HashMap<String, Resource>>,
    /// Set when the server begins to shut down: held signals answer then,
    /// or a graceful shutdown would wait out every candidate's hold.
    closing: tokio::sync::watch::Sender<bool>,
}

/// A WHIP or WHEP session, addressed by its `Location`.
struct Resource {
    peer: PeerId,
    /// Who may end it: `candidate:{test}/{candidate}` or `staff:{sub}`.
    owner: String,
    created: Instant,
}

impl LiveVideo {
    /// Binds the SFU's socket and starts its loop.
    pub fn start(settings: LiveVideoSettings) -> anyhow::Result<Self> {
        Self::start_with(settings, SfuTimings::default())
    }

    /// [`LiveVideo::start`] with the SFU's timings given (tests shorten them).
    pub fn start_with(settings: LiveVideoSettings, timings: SfuTimings) -> anyhow::Result<Self> {
        // Idempotent: the first provider installed in the process stays.
        str0m::crypto::from_feature_flags().install_process_default();
        let audience = Arc::new(Audience::default());
        let sfu = Sfu::start(settings.udp_listen, Arc::clone(&audience), timings)
            .map_err(|e| anyhow::anyhow!("binding the live video UDP socket {}: {e}", settings.udp_listen))?;
        let announced = match settings.public_addr {
            Some(addr) => addr,
            None if sfu.local_addr.ip().is_unspecified() => anyhow::bail!(
                "[live_video] udp_listen {} is a wildcard address: set public_addr to the address peers reach",
                settings.udp_listen
            ),
            None => sfu.local_addr,
        };
        tracing::info!(udp = %sfu.local_addr, %announced, "live video SFU listening");
        let (closing, _) = tokio::sync::watch::channel(false);
        Ok(Self { settings, audience, sfu, announced, resources: Mutex::default(), closing })
    }

    /// Answers every held signal now (the server is shutting down); the
    /// SDKs ask again, elsewhere or after the restart.
    pub fn close_signals(&self) {
        self.closing.send_replace(true);
    }

    pub fn stats(&self) -> &SfuStats {
        &self.sfu.stats
    }

    /// A candidate's WHIP offer for stream `key` (`{test}/{candidate}`):
    /// the SDP answer and the session's id, or 409 while nobody watches.
    pub fn publish(&self, key: &str, offer: &str) -> Result<(String, String), ApiError> {
        if self.audience.viewers(key) == 0 {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "nobody is watching this candidate; publish when signalled",
            ));
        }
        self.add_peer(key, Role::Publisher, LiveView::Full, offer, format!("candidate:{key}"))
    }

    /// `staff`'s WHEP offer for stream `key`, to see it at `view` (grid or
    /// full): counted as a viewer before the SFU has the peer, so the
    /// candidate hears the signal while ICE runs.
    pub fn subscribe(&self, key: &str, offer: &str, staff: &str, view: LiveView) -> Result<(String, String), ApiError> {
        self.audience.viewer_joined(key, view);
        let answer = self.add_peer(key, Role::Subscriber, view, offer, format!("staff:{staff}"));
        if answer.is_err() {
            self.audience.viewer_left(key, view);
        }
        answer
    }

    /// Negotiates `offer` and hands the peer to the SFU; returns the answer
    /// and the resource's id.
    fn add_peer(
        &self,
        key: &str,
        role: Role,
        view: LiveView,
        offer: &str,
        owner: String,
    ) -> Result<(String, String), ApiError> {
        // A third-party parser meets hostile text here: a panic in it is a
        // bad offer, not a dropped connection.
        let negotiated = std::panic::catch_unwind(|| self.negotiate(offer))
            .unwrap_or_else(|_| Err(bad_body(ProblemCode::InvalidValue, "the offer cannot be parsed")));
        let (rtc, answer, tracks) = negotiated?;
        let stats = &self.sfu.stats;
        let peers = stats.publishers.load(Ordering::Relaxed) + stats.subscribers.load(Ordering::Relaxed);
        if peers >= self.settings.max_peers {
            tracing::warn!(peers, "live video at capacity; refusing a peer");
            return Err(ApiError::unavailable("live video is at capacity; try again shortly", 10));
        }
        let peer = self.sfu.next_id();
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.lock_resources().insert(id.clone(), Resource { peer, owner, created: Instant::now() });
        if !self.sfu.send(Command::Add { id: peer, key: key.to_owned(), role, view, rtc: Box::new(rtc), tracks }) {
            self.lock_resources().remove(&id);
            return Err(ApiError::unavailable("live video is not running", 30));
        }
        self.forget_old_resources();
        Ok((answer, id))
    }

    /// Ends session `id` if `caller` (`candidate:{key}` or `staff:{sub}`)
    /// opened it; `false` if there is no such session of theirs.
    pub fn end(&self, id: &str, caller: &str) -> bool {
        let peer = {
            let mut resources = self.lock_resources();
            match resources.get(id) {
                Some(resource) if resource.owner == caller => resources.remove(id).map(|r| r.peer),
                _ => None,
            }
        };
        peer.is_some_and(|peer| self.sfu.send(Command::Remove(peer)))
    }

    /// An [`Rtc`] that has answered `offer`, the answer and its m-lines.
    fn negotiate(&self, offer: &str) -> Result<(Rtc, String, Vec<(Mid, MediaKind)>), ApiError> {
        let offer = SdpOffer::from_sdp_string(offer)
            .map_err(|e| bad_body(ProblemCode::InvalidValue, format!("not an SDP offer: {e}")))?;
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(true, false)
            .build(Instant::now());
        let candidate = Candidate::host(self.announced, "udp")
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the SFU's candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| bad_body(ProblemCode::InvalidValue, format!("the offer cannot be answered: {e}")))?
            .to_sdp_string();
        let tracks = media_lines(&answer);
        if tracks.iter().map(|(_, kind)| *kind).ne(LAYOUT) {
            return Err(bad_body(ProblemCode::InvalidValue, format!("the offer must carry {LAYOUT_TEXT}")));
        }
        Ok((rtc, answer, tracks))
    }

    /// Resources older than a day are forgotten (their peers are long gone;
    /// a `DELETE` then finds nothing, which is what it would do anyway).
    fn forget_old_resources(&self) {
        let mut resources = self.lock_resources();
        if resources.len() > 1024 {
            resources.retain(|_, r| r.created.elapsed() < Duration::from_secs(86_400));
        }
    }

    fn lock_resources(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resource>> {
        self.resources.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The m-lines of an SDP, in order, with their mids.
fn media_lines(sdp: &str) -> Vec<(Mid, MediaKind)> {
    let mut lines = Vec::new();
    let mut kind = None;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            kind = match media.split(' ').next() {
                Some("video") => Some(MediaKind::Video),
                Some("audio") => Some(MediaKind::Audio),
                _ => None,
            };
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            if let Some(kind) = kind.take() {
                lines.push((Mid::from(mid.trim()), kind));
            }
        }
    }
    lines
}

fn bad_body(code: ProblemCode, message: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldProblem { field: "body".into(), code, message: message.into() }])
}

fn live(state: &AppState) -> Result<&LiveVideo, ApiError> {
    state
        .live_video
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "live video is not enabled on this server"))
}

/// The SDP text of a `Content-Type: application/sdp` body.
fn sdp_body<'a>(live: &LiveVideo, headers: &HeaderMap, body: &'a [u8]) -> Result<&'a str, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim().to_ascii_lowercase().starts_with("application/sdp") {
        return Err(ApiError::invalid(vec![FieldProblem {
            field: "content-type".into(),
            code: ProblemCode::InvalidValue,
            message: "must be application/sdp".into(),
        }]));
    }
    if body.len() > live.settings.max_offer_bytes {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the offer is larger than {} bytes", live.settings.max_offer_bytes),
        ));
    }
    std::str::from_utf8(body).map_err(|_| bad_body(ProblemCode::InvalidValue, "the offer is not UTF-8"))
}

/// 201 Created with the answer and the resource's `Location` (RFC 9725).
fn created(answer: String, id: &str) -> Response {
    let location = format!("/api/v1/live/resources/{id}");
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
    publishing: LiveView,
    /// How long to hold the request at most, ms (capped by the settings).
    wait_ms: Option<u64>,
    /// The newest proctor message the SDK has shown (0: none).
    #[serde(default)]
    seen: u64,
}

fn sending<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<LiveView, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.as_str() {
        "none" | "false" => Ok(LiveView::None),
        "grid" => Ok(LiveView::Grid),
        "full" | "true" => Ok(LiveView::Full),
        other => Err(serde::de::Error::custom(format!("publishing must be none, grid or full, not {other:?}"))),
    }
}

/// `GET /api/v1/live/signal?publishing=…`: publish or stop, answered as
/// soon as that differs from what the SDK does.
pub async fn get_signal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<SignalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::invalid(vec![FieldProblem {
            field: "query".into(),
            code: ProblemCode::InvalidType,
            message: rejection.body_text(),
        }])
    })?;
    let key = format!("{}/{}", claims.test_id, claims.sub);
    state.rate_limit(&key)?;
    let Some(live) = state.live_video.as_ref() else {
        return Ok(no_store(LiveSignal { publish: false, view: LiveView::None, enabled: false, messages: Vec::new() }));
    };
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(u64::MAX).min(live.settings.signal_wait_ms));
    let mut closing = live.closing.subscribe();
    let (view, messages) = tokio::select! {
        answer = live.audience.wanted_unless(&key, query.publishing, query.seen, wait) => answer,
        _ = closing.wait_for(|closing| *closing) => (query.publishing, Vec::new()),
    };
    Ok(no_store(LiveSignal { publish: view != LiveView::None, view, enabled: true, messages }))
}

/// `POST /api/v1/live/whip`: the candidate publishes, while watched.
pub async fn post_whip(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    let live = live(&state)?;
    let key = format!("{}/{}", claims.test_id, claims.sub);
    state.rate_limit(&key)?;
    let offer = sdp_body(live, &headers, &body)?;
    let (answer, id) = live.publish(&key, offer)?;
    tracing::info!(test = %claims.test_id, candidate = %claims.sub, "live video: candidate publishing");
    Ok(created(answer, &id))
}

/// `POST /api/v1/live/tests/{test}/candidates/{candidate}/whep`: a proctor
/// with the candidate on their wall (or an admin) subscribes.
#[derive(Debug, Deserialize)]
pub struct WhepQuery {
    /// `full` (default) or `grid`.
    view: Option<String>,
}

pub async fn post_whep(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((test, candidate)): Path<(String, String)>,
    Query(query): Query<WhepQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let test = crate::dashboard::parse_test(&test)?;
    let candidate = crate::dashboard::parse_candidate(&candidate)?;
    let claims = crate::dashboard::staff_of_test(&state, &headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let live = live(&state)?;
    may_watch(&state, &claims, &test, &candidate).await?;
    let view = match query.view.as_deref() {
        None | Some("full") => LiveView::Full,
        Some("grid") => LiveView::Grid,
        Some(_) => {
            return Err(ApiError::invalid(vec![FieldProblem {
                field: "view".into(),
                code: ProblemCode::InvalidValue,
                message: "must be full or grid".into(),
            }]))
        }
    };
    let offer = sdp_body(live, &headers, &body)?;
    let (answer, id) = live.subscribe(&format!("{test}/{candidate}"), offer, &claims.sub, view)?;
    tracing::info!(staff = %claims.sub, test = %test, candidate = %candidate, view = view.as_str(), "live video: watching");
    Ok(created(answer, &id))
}

/// A proctor may watch (and write to) the candidates on their wall; an
/// admin anyone.
async fn may_watch(
    state: &Arc<AppState>,
    claims: &invigil_schemas::claims::StaffClaims,
    test: &invigil_schemas::ids::TestId,
    candidate: &invigil_schemas::ids::CandidateId,
) -> Result<(), ApiError> {
    if claims.role != StaffRole::Proctor {
        return Ok(());
    }
    let wall = crate::dashboard::build_wall_blocking(state, test, Some(&claims.sub)).await?;
    // Without a duty roster every proctor of the test watches everyone.
    let on_wall =
        wall.on_duty.is_none() || wall.assigned.iter().chain(&wall.unassigned).any(|c| c == candidate.as_str());
    if !on_wall {
        return Err(ApiError::new(ErrorCode::Forbidden, format!("candidate {candidate} is not on your wall")));
    }
    Ok(())
}

/// `POST /api/v1/live/tests/{test}/candidates/{candidate}/messages`: a note
/// the candidate's SDK shows without blocking and records on the timeline
/// (a `custom` event named `invigil.proctor_message`). Who may watch the
/// candidate may write to them.
pub async fn post_message(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((test, candidate)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<MessageAccepted>), ApiError> {
    let test = crate::dashboard::parse_test(&test)?;
    let candidate = crate::dashboard::parse_candidate(&candidate)?;
    let claims = crate::dashboard::staff_of_test(&state, &headers, &test, &[StaffRole::Proctor, StaffRole::Admin])?;
    let live = live(&state)?;
    may_watch(&state, &claims, &test, &candidate).await?;
    let request: MessageRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    let text = request.text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MessageRequest::MAX_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::invalid(vec![FieldProblem {
            field: "text".into(),
            code: if chars > MessageRequest::MAX_CHARS { ProblemCode::TooLong } else { ProblemCode::InvalidValue },
            message: format!(
                "must be 1 to {} characters of plain text (no control characters)",
                MessageRequest::MAX_CHARS
            ),
        }]));
    }
    state.rate_limit(&format!("staff:{}", claims.sub))?;
    let key = format!("{test}/{candidate}");
    let now = crate::credentials::now_ms();
    let id = live.audience.post_message(&key, request.level, text.to_owned(), claims.sub.clone(), now);
    // The text stays out of the logs, as everything written to a candidate.
    tracing::info!(staff = %claims.sub, test = %test, candidate = %candidate, id, chars, "proctor message queued");
    Ok((StatusCode::ACCEPTED, Json(MessageAccepted { id })))
}

/// `DELETE /api/v1/live/resources/{id}`: ends a WHIP or WHEP session; only
/// its owner may (anyone else gets 404, as for an unknown id).
pub async fn delete_resource(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let claims: serde_json::Value = state.verifier.verify(&headers)?;
    let caller = match (claims.get("role"), claims.get("test_id"), claims.get("sub").and_then(|s| s.as_str())) {
        (Some(_), _, Some(sub)) => format!("staff:{sub}"),
        (None, Some(test), Some(sub)) => format!("candidate:{}/{sub}", test.as_str().unwrap_or_default()),
        _ => return Err(ApiError::unauthorized("token claims are malformed")),
    };
    if !live(&state)?.end(&id, &caller) {
        return Err(ApiError::new(ErrorCode::NotFound, "no such live video session"));
    }
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_lines_are_read_in_sdp_order_with_their_mids() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                   a=mid:1\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\n";
        let lines = media_lines(sdp);
        assert_eq!(
            lines,
            vec![
                (Mid::from("0"), MediaKind::Video),
                (Mid::from("1"), MediaKind::Video),
                (Mid::from("a"), MediaKind::Audio)
            ]
        );
    }
}

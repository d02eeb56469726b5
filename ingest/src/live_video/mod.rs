//! Live video on demand (issue 18): a proctor clicks a candidate and sees
//! their camera and screen and hears their microphone; a candidate nobody
//! watches sends no video at all.
//!
//! Data flow:
//!
//! 1. The candidate's SDK holds `GET /api/v1/live/signal` open
//!    ([`crate::live_api::get_signal`]) with the state it is in.
//! 2. A proctor's page POSTs a WHEP offer ([`crate::live_api::post_whep`], RFC 9725's
//!    subscribe side): the caller must be a proctor with this candidate on
//!    their wall, or an admin. The answer comes at once, the subscriber goes
//!    to the [`sfu`], and the [`audience`] marks the candidate wanted — which
//!    answers their held signal request in the same moment.
//! 3. The SDK (its lazily loaded live module) POSTs a WHIP offer with the
//!    camera, screen and microphone tracks it already holds
//!    ([`crate::live_api::post_whip`]); the SFU forwards each frame to the subscribers, and
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
pub mod shards;
pub mod signal_server;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use invigil_schemas::api::{ErrorCode, LiveView};
use invigil_schemas::validate::ProblemCode;
use serde::{Deserialize, Serialize};
use str0m::change::SdpOffer;
use str0m::media::{MediaKind, Mid};
use str0m::{Candidate, Rtc};

use crate::error::ApiError;
use audience::Audience;
pub use sfu::SfuTimings;
use sfu::{Command, PeerId, Role, Sfu, SfuStats};
use shards::Shards;

/// Whose wall a candidate is on. The dashboards split a test's candidates
/// among its proctors on duty; they answer this once the binary has mounted
/// them (`host::Mounted::walls`). Without an answer, a proctor may watch a
/// candidate only when the test has no duty roster (everyone watches
/// everyone then).
pub trait ProctorWalls: Send + Sync {
    /// Whether `candidate` is on `proctor`'s wall of `test` now.
    fn shows<'a>(
        &'a self,
        test: &'a invigil_schemas::ids::TestId,
        proctor: &'a str,
        candidate: &'a invigil_schemas::ids::CandidateId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, ApiError>> + Send + 'a>>;
}

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
    /// A second listener serving only `GET /api/v1/live/signal`, lean on
    /// memory per held request ([`signal_server`]): point the balancer's
    /// `/api/v1/live/signal` here. Unset: the main port serves the signal.
    pub signal_listen: Option<SocketAddr>,
    /// Largest SDP offer accepted, in bytes.
    pub max_offer_bytes: usize,
    /// Most peers (publishers + subscribers) the SFU takes; beyond, WHIP and
    /// WHEP answer 503 with Retry-After rather than degrade every stream
    /// (`invigil bench live`: ~700 forwarded streams per core).
    pub max_peers: u64,
    /// This host's name among `shards` (`INVIGIL_LIVE_SHARD` overrides it:
    /// a StatefulSet gives each pod its name).
    pub shard: Option<String>,
    /// Every SFU host, by name, with the `http://host:port` the others
    /// probe it at ([`shards`]). Empty: this one host serves everyone.
    pub shards: BTreeMap<String, String>,
    /// How often the other hosts are probed, ms: a lost host's candidates
    /// move within about this.
    pub shard_probe_ms: u64,
}

impl Default for LiveVideoSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            udp_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_addr: None,
            signal_wait_ms: 25_000,
            signal_listen: None,
            max_offer_bytes: 32 * 1024,
            max_peers: 1000,
            shard: None,
            shards: BTreeMap::new(),
            shard_probe_ms: 1000,
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
    /// The SFU hosts when there are several ([`shards`]).
    pub shards: Option<Arc<Shards>>,
    sfu: Sfu,
    /// The address in every answer's host candidate.
    announced: SocketAddr,
    resources: Mutex<HashMap<String, Resource>>,
    /// Set when the server begins to shut down: held signals answer then,
    /// or a graceful shutdown would wait out every candidate's hold.
    closing: std::sync::atomic::AtomicBool,
}

/// A WHIP or WHEP session, addressed by its `Location`.
struct Resource {
    peer: PeerId,
    /// The stream it publishes or watches.
    key: String,
    /// Who may end it.
    owner: Owner,
    created: Instant,
}

/// Who opened a live video session, and so may end it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A candidate's publisher, by stream key (`{test}/{candidate}`).
    Candidate(String),
    /// A staff member's subscriber, by their token's `sub`.
    Staff(String),
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
        let shards = match &settings.shard {
            _ if settings.shards.is_empty() => None,
            Some(me) => Some(Arc::new(Shards::new(me, &settings.shards)?)),
            None => anyhow::bail!(
                "[live_video] shards is set but this host has no name: set live_video.shard or INVIGIL_LIVE_SHARD"
            ),
        };
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
        match &shards {
            Some(shards) => tracing::info!(
                udp = %sfu.local_addr, %announced, shard = shards.name(), hosts = settings.shards.len(),
                "live video SFU listening"
            ),
            None => tracing::info!(udp = %sfu.local_addr, %announced, "live video SFU listening"),
        }
        let closing = std::sync::atomic::AtomicBool::new(false);
        Ok(Self { settings, audience, shards, sfu, announced, resources: Mutex::default(), closing })
    }

    /// Where stream `key` is served when this host does not serve it: the
    /// owner's name. `None`: here (one host, or this one owns it).
    pub fn elsewhere(&self, key: &str) -> Option<&str> {
        self.shards.as_deref().map(|shards| shards.owner(key)).filter(|owner| Some(*owner) != self.shard_name())
    }

    /// Whether stream `key`'s candidate has a publishing session here.
    pub fn publishes_here(&self, key: &str) -> bool {
        self.lock_resources().values().any(|resource| matches!(&resource.owner, Owner::Candidate(k) if k == key))
    }

    /// This host's name when there are several.
    pub fn shard_name(&self) -> Option<&str> {
        self.shards.as_deref().map(Shards::name)
    }

    /// Ends the sessions of streams this host no longer owns (another host
    /// came back and owns them again): their viewers reconnect through the
    /// entry path and meet their candidate at the owner.
    pub fn evict_moved(&self) -> usize {
        let Some(shards) = &self.shards else { return 0 };
        let moved: Vec<PeerId> = {
            let mut resources = self.lock_resources();
            let mut moved = Vec::new();
            resources.retain(|_, resource| {
                let stays = shards.owns(&resource.key);
                if !stays {
                    moved.push(resource.peer);
                }
                stays
            });
            moved
        };
        for peer in &moved {
            self.sfu.send(Command::Remove(*peer));
        }
        moved.len()
    }

    /// Answers every held signal now (the server is shutting down); the
    /// SDKs ask again, elsewhere or after the restart.
    pub fn close_signals(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.audience.wake_all();
    }

    /// Whether the server has begun to shut down.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
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
        self.add_peer(key, Role::Publisher, LiveView::Full, offer, Owner::Candidate(key.to_owned()))
    }

    /// `staff`'s WHEP offer for stream `key`, to see it at `view` (grid or
    /// full): counted as a viewer before the SFU has the peer, so the
    /// candidate hears the signal while ICE runs.
    pub fn subscribe(&self, key: &str, offer: &str, staff: &str, view: LiveView) -> Result<(String, String), ApiError> {
        self.audience.viewer_joined(key, view);
        let answer = self.add_peer(key, Role::Subscriber, view, offer, Owner::Staff(staff.to_owned()));
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
        owner: Owner,
    ) -> Result<(String, String), ApiError> {
        // A third-party parser meets hostile text here: a panic in it is a
        // bad offer, not a dropped connection.
        // AssertUnwindSafe: negotiating reads the settings and builds a
        // local `Rtc`; a panic leaves nothing shared half-changed.
        let negotiated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.negotiate(offer, role)))
            .unwrap_or_else(|_| Err(bad_body(ProblemCode::InvalidValue, "the offer cannot be parsed")));
        let Negotiated { rtc, answer, tracks } = negotiated?;
        let stats = &self.sfu.stats;
        let peers = stats.publishers.load(Ordering::Relaxed) + stats.subscribers.load(Ordering::Relaxed);
        if peers >= self.settings.max_peers {
            tracing::warn!(peers, "live video at capacity; refusing a peer");
            return Err(ApiError::unavailable("live video is at capacity; try again shortly", 10));
        }
        let peer = self.sfu.next_id();
        let id = uuid::Uuid::new_v4().simple().to_string();
        {
            // One publisher per candidate: a newer one (a retry, a reloaded
            // page) replaces the old, whose resource goes with it. Under
            // one lock, with the command sent inside it, so concurrent
            // offers leave exactly the last one alive, in the SFU (whose
            // Add cuts off the key's older publishers) and here alike.
            let mut resources = self.lock_resources();
            if role == Role::Publisher {
                let replaced = resources.len();
                resources.retain(|_, resource| resource.owner != owner);
                if resources.len() < replaced {
                    tracing::info!(stream = %key, "live video: a new publisher replaces the old one");
                }
            }
            resources.insert(id.clone(), Resource { peer, key: key.to_owned(), owner, created: Instant::now() });
            let add = Command::Add { id: peer, key: key.to_owned(), role, view, rtc: Box::new(rtc), tracks };
            if !self.sfu.send(add) {
                resources.remove(&id);
                return Err(ApiError::unavailable("live video is not running", 30));
            }
        }
        self.forget_old_resources();
        Ok((answer, id))
    }

    /// Ends session `id` if `caller` opened it; `false` if there is no such
    /// session of theirs.
    pub fn end(&self, id: &str, caller: &Owner) -> bool {
        let peer = {
            let mut resources = self.lock_resources();
            match resources.get(id) {
                Some(resource) if resource.owner == *caller => resources.remove(id).map(|r| r.peer),
                _ => None,
            }
        };
        peer.is_some_and(|peer| self.sfu.send(Command::Remove(peer)))
    }

    /// An [`Rtc`] that has answered `offer`, the answer and its m-lines.
    fn negotiate(&self, offer: &str, role: Role) -> Result<Negotiated, ApiError> {
        check_directions(offer, role)?;
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
        Ok(Negotiated { rtc, answer, tracks })
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

/// Ends this host's sessions of streams that moved to another host, each
/// time the hosts' health changes, while the state lives.
pub async fn follow_shards(state: std::sync::Weak<crate::state::AppState>) {
    let Some(mut changes) = state.upgrade().and_then(|s| s.live_video.as_ref()?.shards.as_ref().map(|s| s.changes()))
    else {
        return;
    };
    while changes.changed().await.is_ok() {
        let Some(state) = state.upgrade() else { return };
        if let Some(live) = &state.live_video {
            // Held signals of candidates that moved answer with a redirect.
            live.audience.wake_all();
            let moved = live.evict_moved();
            if moved > 0 {
                tracing::info!(moved, "live video: sessions of streams another host serves now ended");
            }
        }
    }
}

/// A peer that answered its offer: the answer's SDP and its m-lines.
struct Negotiated {
    rtc: Rtc,
    answer: String,
    tracks: Vec<(Mid, MediaKind)>,
}

/// Which way media flows on one m-line of an offer, from the offerer's side
/// (RFC 8866 §6.7; `sendrecv` when the offer says nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Flow {
    fn of_attribute(line: &str) -> Option<Flow> {
        match line.trim_end() {
            "a=sendrecv" => Some(Flow::SendRecv),
            "a=sendonly" => Some(Flow::SendOnly),
            "a=recvonly" => Some(Flow::RecvOnly),
            "a=inactive" => Some(Flow::Inactive),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flow::SendRecv => "sendrecv",
            Flow::SendOnly => "sendonly",
            Flow::RecvOnly => "recvonly",
            Flow::Inactive => "inactive",
        }
    }
}

/// The flow of each m-line of `sdp`, in order: its own attribute, else
/// the session-level one, else `sendrecv`.
fn media_flows(sdp: &str) -> Vec<Flow> {
    let mut session = Flow::SendRecv;
    let mut flows: Vec<Flow> = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            flows.push(session);
        } else if let Some(flow) = Flow::of_attribute(line) {
            match flows.last_mut() {
                Some(current) => *current = flow,
                None => session = flow,
            }
        }
    }
    flows
}

/// A WHIP offer must send on every m-line and a WHEP offer receive on
/// every one: a receive-only offer posted to WHIP (or the reverse) is a
/// client at the wrong door, told so as a 400 naming the body rather than
/// answered with a session that carries nothing.
fn check_directions(offer: &str, role: Role) -> Result<(), ApiError> {
    let (route, wanted, fits): (&str, &str, fn(Flow) -> bool) = match role {
        Role::Publisher => ("WHIP", "sendonly or sendrecv", |f| matches!(f, Flow::SendOnly | Flow::SendRecv)),
        Role::Subscriber => ("WHEP", "recvonly or sendrecv", |f| matches!(f, Flow::RecvOnly | Flow::SendRecv)),
    };
    match media_flows(offer).into_iter().enumerate().find(|(_, flow)| !fits(*flow)) {
        None => Ok(()),
        Some((n, flow)) => Err(bad_body(
            ProblemCode::InvalidValue,
            format!("a {route} offer's m-lines must be {wanted}; m-line {} is {}", n + 1, flow.name()),
        )),
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

pub(crate) fn bad_body(code: ProblemCode, message: impl Into<String>) -> ApiError {
    ApiError::bad_field("body", code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_m_line_flows_by_its_own_attribute_or_the_sessions() {
        let sdp = "v=0\r\na=recvonly\r\nm=video 9 X 96\r\na=mid:0\r\nm=video 9 X 96\r\na=sendonly\r\n\
                   m=audio 9 X 111\r\na=inactive\r\n";
        assert_eq!(media_flows(sdp), vec![Flow::RecvOnly, Flow::SendOnly, Flow::Inactive]);
        assert_eq!(media_flows("v=0\r\nm=video 9 X 96\r\n"), vec![Flow::SendRecv], "unsaid: sendrecv");
        let err = check_directions(sdp, Role::Publisher).unwrap_err();
        assert_eq!(err.body.error.field.as_deref(), Some("body"));
        assert!(err.body.error.message.contains("m-line 1 is recvonly"), "{}", err.body.error.message);
        let err = check_directions(sdp, Role::Subscriber).unwrap_err();
        assert!(err.body.error.message.contains("m-line 2 is sendonly"), "{}", err.body.error.message);
        let both = "v=0\r\nm=video 9 X 96\r\na=sendrecv\r\n";
        assert!(check_directions(both, Role::Publisher).is_ok() && check_directions(both, Role::Subscriber).is_ok());
    }

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

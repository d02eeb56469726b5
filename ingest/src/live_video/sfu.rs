//! The selective forwarding unit: one thread, one UDP socket, every peer's
//! [`Rtc`] (str0m is sans-IO, so this loop is all the IO there is).
//!
//! A peer is a candidate's publisher (WHIP) or a proctor's subscriber
//! (WHEP) of one stream key. Both sides lay out their m-lines in the same
//! order — camera video, screen video, microphone audio — so a publisher's
//! track *i* goes to every subscriber's track *i*: the SFU never looks into
//! the media, it hands each frame from one [`Rtc`] to the others. A
//! subscriber that connects (or loses a picture) asks the publisher for a
//! keyframe, so a proctor's first frame never waits for the next natural
//! one.
//!
//! Peers are demultiplexed by the sender's address once known; the first
//! packet of a new address (a STUN check carrying the ICE username) is
//! offered to each peer's [`Rtc::accepts`].

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use invigil_schemas::api::LiveView;

use super::audience::Audience;

/// A peer's handle, also its resource id's value inside the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A candidate sending camera, screen and microphone.
    Publisher,
    /// A proctor receiving one candidate.
    Subscriber,
}

/// What the HTTP side hands the loop.
pub enum Command {
    /// A negotiated peer: `tracks` are its m-lines in SDP order; `view`
    /// is what a subscriber takes (a grid tile only the camera).
    Add { id: PeerId, key: String, role: Role, view: LiveView, rtc: Box<Rtc>, tracks: Vec<(Mid, MediaKind)> },
    /// `DELETE` of the peer's resource.
    Remove(PeerId),
}

/// Counters the loop keeps, read by `/metrics` and the tests.
#[derive(Debug, Default)]
pub struct SfuStats {
    pub publishers: AtomicU64,
    pub subscribers: AtomicU64,
    /// Media bytes received from publishers (payload after SRTP).
    pub media_bytes_in: AtomicU64,
    /// Frames written towards subscribers.
    pub frames_forwarded: AtomicU64,
    pub keyframe_requests: AtomicU64,
}

/// How the loop treats peers.
#[derive(Debug, Clone)]
pub struct SfuTimings {
    /// A peer not connected this long after its answer is dropped (a tab
    /// closed between the POST and ICE).
    pub connect_within: Duration,
    /// A publisher nobody subscribes to is disconnected after this long, so
    /// an SDK that missed the signal cannot keep sending.
    pub unwatched_publisher_grace: Duration,
}

impl Default for SfuTimings {
    fn default() -> Self {
        Self { connect_within: Duration::from_secs(15), unwatched_publisher_grace: Duration::from_secs(10) }
    }
}

/// A running SFU thread and its way in.
pub struct Sfu {
    commands: Sender<Command>,
    /// Where peers send their media: the ICE host candidate.
    pub local_addr: SocketAddr,
    pub stats: Arc<SfuStats>,
    next_id: AtomicU64,
}

impl Sfu {
    /// Binds `bind` and starts the loop; it ends when the [`Sfu`] is dropped.
    pub fn start(bind: SocketAddr, audience: Arc<Audience>, timings: SfuTimings) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(bind)?;
        // Hundreds of streams arrive in bursts (a keyframe is many packets):
        // the kernel's default ~200 KiB of buffer drops them while the loop
        // forwards. Asked for 4 MiB; the kernel caps it at net.core.rmem_max.
        let tuned = socket2::SockRef::from(&socket);
        let _ = tuned.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let _ = tuned.set_send_buffer_size(SOCKET_BUFFER_BYTES);
        let local_addr = socket.local_addr()?;
        let (commands, receiver) = mpsc::channel();
        let stats = Arc::new(SfuStats::default());
        let looped = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("invigil-sfu".into())
            .spawn(move || Loop::new(socket, receiver, audience, looped, timings).run())?;
        Ok(Self { commands, local_addr, stats, next_id: AtomicU64::new(1) })
    }

    pub fn next_id(&self) -> PeerId {
        PeerId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Hands a command to the loop; `false` if the loop has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

struct Peer {
    id: PeerId,
    key: Arc<str>,
    role: Role,
    view: LiveView,
    rtc: Box<Rtc>,
    tracks: Vec<(Mid, MediaKind)>,
    added: Instant,
    connected: bool,
    /// When the next `Input::Timeout` is due.
    due: Instant,
    /// Has input or written media that needs polling.
    dirty: bool,
    /// Publishers: since when nobody has watched.
    unwatched_since: Option<Instant>,
    /// Publishers: the last keyframe request per track slot.
    last_keyframe_request: Vec<Option<Instant>>,
}

impl Peer {
    fn slot(&self, mid: Mid) -> Option<usize> {
        self.tracks.iter().position(|(m, _)| *m == mid)
    }
}

/// Work one peer's output makes for the others. Lives only between a poll
/// and the forwarding right after it, so the frame is not boxed.
#[allow(clippy::large_enum_variant)]
enum Forward {
    /// A publisher's frame of `key` on its track slot `usize`.
    Media(Arc<str>, usize, MediaData),
    /// A subscriber of `key` needs a keyframe on track slot `usize`.
    Keyframe(Arc<str>, Option<usize>, KeyframeRequestKind),
}

struct Loop {
    socket: UdpSocket,
    commands: Receiver<Command>,
    audience: Arc<Audience>,
    stats: Arc<SfuStats>,
    timings: SfuTimings,
    peers: Vec<Peer>,
    by_addr: HashMap<SocketAddr, PeerId>,
    local_addr: SocketAddr,
    last_sweep: Instant,
    buf: Vec<u8>,
}

/// The camera's track slot ([`super::LAYOUT`]'s first m-line).
const CAMERA: usize = 0;
/// The SFU socket's kernel buffers, each way.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// The longest the loop sleeps without looking at its commands.
const MAX_SLEEP: Duration = Duration::from_millis(20);
/// Keyframe requests to one publisher track, at most one per this.
const KEYFRAME_SPACING: Duration = Duration::from_millis(500);
/// How often dead, late and unwatched peers are looked for.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

impl Loop {
    fn new(
        socket: UdpSocket,
        commands: Receiver<Command>,
        audience: Arc<Audience>,
        stats: Arc<SfuStats>,
        timings: SfuTimings,
    ) -> Self {
        let local_addr = socket.local_addr().expect("a bound socket has an address");
        Self {
            socket,
            commands,
            audience,
            stats,
            timings,
            peers: Vec::new(),
            by_addr: HashMap::new(),
            local_addr,
            last_sweep: Instant::now(),
            buf: vec![0; 2000],
        }
    }

    fn run(mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(command) => {
                    self.apply(command);
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            self.drive(now);
            if now.duration_since(self.last_sweep) >= SWEEP_EVERY {
                self.sweep(now);
                self.last_sweep = now;
            }
            let next = self.peers.iter().map(|p| p.due).min().unwrap_or(now + MAX_SLEEP);
            let sleep = next.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(1), MAX_SLEEP);
            if self.peers.is_empty() {
                // Nothing to drive: wait for the next peer itself.
                match self.commands.recv_timeout(Duration::from_millis(500)) {
                    Ok(command) => self.apply(command),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                continue;
            }
            self.receive(sleep);
        }
        for peer in &mut self.peers {
            peer.rtc.disconnect();
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Add { id, key, role, view, rtc, tracks } => {
                if role == Role::Publisher {
                    // One publisher per candidate: a newer one (a retry, a
                    // reloaded page) replaces the old.
                    for old in self.peers.iter_mut().filter(|p| p.role == Role::Publisher && *p.key == *key) {
                        old.rtc.disconnect();
                    }
                }
                let now = Instant::now();
                let slots = tracks.len();
                self.peers.push(Peer {
                    id,
                    key: key.into(),
                    role,
                    view,
                    rtc,
                    tracks,
                    added: now,
                    connected: false,
                    due: now,
                    dirty: true,
                    unwatched_since: None,
                    last_keyframe_request: vec![None; slots],
                });
                let gauge = match role {
                    Role::Publisher => &self.stats.publishers,
                    Role::Subscriber => &self.stats.subscribers,
                };
                gauge.fetch_add(1, Ordering::Relaxed);
            }
            Command::Remove(id) => {
                if let Some(peer) = self.peers.iter_mut().find(|p| p.id == id) {
                    peer.rtc.disconnect();
                }
            }
        }
    }

    /// Reads one datagram (waiting up to `sleep`) and hands it to its peer.
    fn receive(&mut self, sleep: Duration) {
        if self.socket.set_read_timeout(Some(sleep)).is_err() {
            return;
        }
        self.buf.resize(2000, 0);
        let (n, source) = match self.socket.recv_from(&mut self.buf) {
            Ok(read) => read,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
            Err(e) => {
                tracing::warn!(error = %e, "SFU socket read failed");
                return;
            }
        };
        let Ok(contents) = self.buf[..n].try_into() else { return };
        let destination = self.local_addr;
        let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination, contents });
        let known = self.by_addr.get(&source).and_then(|id| self.peers.iter().position(|p| p.id == *id));
        let index = known.or_else(|| self.peers.iter().position(|p| p.rtc.is_alive() && p.rtc.accepts(&input)));
        let Some(index) = index else { return };
        let peer = &mut self.peers[index];
        self.by_addr.insert(source, peer.id);
        if peer.rtc.handle_input(input).is_err() {
            peer.rtc.disconnect();
        }
        peer.dirty = true;
    }

    /// Polls every peer that has work until none has: due timeouts, input,
    /// media written to it by another peer.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut forwards = Vec::new();
            let mut any = false;
            for peer in &mut self.peers {
                let due = peer.due <= now;
                if !peer.rtc.is_alive() || !(peer.dirty || due) {
                    continue;
                }
                any = true;
                if due && peer.rtc.handle_input(Input::Timeout(now)).is_err() {
                    peer.rtc.disconnect();
                }
                peer.dirty = false;
                poll(peer, &self.socket, &self.stats, &mut forwards);
                // A timeout due again at once waits for the next turn of
                // the loop (with a fresh `now`) instead of spinning here.
                if peer.due <= now {
                    peer.due = now + Duration::from_millis(1);
                }
            }
            if !any {
                return;
            }
            for forward in forwards {
                self.forward(forward, now);
            }
        }
    }

    fn forward(&mut self, forward: Forward, now: Instant) {
        match forward {
            Forward::Media(key, slot, data) => {
                if !data.contiguous {
                    self.request_keyframe(&key, Some(slot), KeyframeRequestKind::Pli, now);
                }
                for peer in self.peers.iter_mut().filter(|p| p.role == Role::Subscriber && p.key == key) {
                    // A grid tile takes the camera only.
                    if !peer.connected || !peer.rtc.is_alive() || (peer.view == LiveView::Grid && slot != CAMERA) {
                        continue;
                    }
                    let Some(&(mid, _)) = peer.tracks.get(slot) else { continue };
                    let Some(writer) = peer.rtc.writer(mid) else { continue };
                    let Some(pt) = writer.match_params(data.params) else { continue };
                    if writer.write(pt, data.network_time, data.time, Arc::clone(&data.data)).is_ok() {
                        self.stats.frames_forwarded.fetch_add(1, Ordering::Relaxed);
                    }
                    peer.dirty = true;
                }
            }
            Forward::Keyframe(key, slot, kind) => self.request_keyframe(&key, slot, kind, now),
        }
    }

    /// Asks `key`'s publisher for a keyframe on track `slot` (every video
    /// track if `None`), at most once per [`KEYFRAME_SPACING`] per track.
    fn request_keyframe(&mut self, key: &str, slot: Option<usize>, kind: KeyframeRequestKind, now: Instant) {
        let Some(publisher) =
            self.peers.iter_mut().find(|p| p.role == Role::Publisher && &*p.key == key && p.rtc.is_alive())
        else {
            return;
        };
        for (index, (mid, media)) in publisher.tracks.clone().into_iter().enumerate() {
            if media != MediaKind::Video || slot.is_some_and(|s| s != index) {
                continue;
            }
            let last = &mut publisher.last_keyframe_request[index];
            if last.is_some_and(|at| now.duration_since(at) < KEYFRAME_SPACING) {
                continue;
            }
            if let Some(mut writer) = publisher.rtc.writer(mid) {
                if writer.request_keyframe(None, kind).is_ok() {
                    *last = Some(now);
                    publisher.dirty = true;
                    self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Drops dead peers, peers that never connected, and publishers nobody
    /// has watched for the grace period.
    fn sweep(&mut self, now: Instant) {
        for peer in &mut self.peers {
            if !peer.connected && now.duration_since(peer.added) > self.timings.connect_within {
                peer.rtc.disconnect();
            }
            if peer.role == Role::Publisher && peer.rtc.is_alive() {
                if self.audience.viewers(&peer.key) > 0 {
                    peer.unwatched_since = None;
                } else {
                    let since = *peer.unwatched_since.get_or_insert(now);
                    if now.duration_since(since) > self.timings.unwatched_publisher_grace {
                        tracing::info!(stream = %peer.key, "disconnecting a publisher nobody watches");
                        peer.rtc.disconnect();
                    }
                }
            }
        }
        let (dead, alive): (Vec<Peer>, Vec<Peer>) =
            std::mem::take(&mut self.peers).into_iter().partition(|p| !p.rtc.is_alive());
        self.peers = alive;
        for peer in dead {
            self.by_addr.retain(|_, id| *id != peer.id);
            match peer.role {
                Role::Publisher => self.stats.publishers.fetch_sub(1, Ordering::Relaxed),
                Role::Subscriber => {
                    self.audience.viewer_left(&peer.key, peer.view);
                    self.stats.subscribers.fetch_sub(1, Ordering::Relaxed)
                }
            };
        }
    }
}

/// Polls `peer` until it has nothing more to say now: sends its datagrams,
/// collects media and keyframe requests for the others.
fn poll(peer: &mut Peer, socket: &UdpSocket, stats: &SfuStats, forwards: &mut Vec<Forward>) {
    while peer.rtc.is_alive() {
        let output = match peer.rtc.poll_output() {
            Ok(output) => output,
            Err(error) => {
                tracing::debug!(%error, stream = %peer.key, "peer failed; disconnecting");
                peer.rtc.disconnect();
                return;
            }
        };
        match output {
            Output::Timeout(at) => {
                peer.due = at;
                return;
            }
            Output::Transmit(transmit) => {
                let _ = socket.send_to(&transmit.contents, transmit.destination);
            }
            Output::Event(Event::Connected) => {
                peer.connected = true;
                if peer.role == Role::Subscriber {
                    forwards.push(Forward::Keyframe(Arc::clone(&peer.key), None, KeyframeRequestKind::Pli));
                }
            }
            Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                peer.rtc.disconnect();
            }
            Output::Event(Event::MediaData(data)) if peer.role == Role::Publisher => {
                stats.media_bytes_in.fetch_add(data.data.len() as u64, Ordering::Relaxed);
                // The slot is this publisher's own: no search per frame.
                if let Some(slot) = peer.slot(data.mid) {
                    forwards.push(Forward::Media(Arc::clone(&peer.key), slot, data));
                }
            }
            Output::Event(Event::KeyframeRequest(request)) if peer.role == Role::Subscriber => {
                let slot = peer.slot(request.mid);
                forwards.push(Forward::Keyframe(Arc::clone(&peer.key), slot, request.kind));
            }
            Output::Event(_) => {}
        }
    }
}

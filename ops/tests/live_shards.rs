//! Live video on two SFU hosts ([`invigil_ingest::live_video::shards`]), as
//! a deployment runs it: two `invigil ingest` processes that know each
//! other by name, and in front of them what a stateless ingress does —
//! `/api/v1/live/shards/{name}/…` to that host, every other path to
//! whichever host answers. The candidate and the proctor are str0m peers
//! driven the way the SDK (`sdk/js/session.js`) and the proctor page
//! (`dashboards/web/live.js`) drive theirs: the candidate holds its signal
//! and waits 1 s after a failed one; the proctor opens its subscription
//! again through the entry path once no frame has come for 2 s.
//!
//! The host that serves the watched candidate is killed: the candidate must
//! publish to the other host, and its frames reach the proctor there, within
//! 5 s. Then the host comes back: the candidate and the proctor move back to
//! it, since every host names the same owner once it answers again.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invigil_ingest::live_video::loopback::LoopbackPeer;
use invigil_ingest::live_video::shards::{Shards, SHARD_PREFIX};
use invigil_testkit::process::{ingest_command, Killed};
use invigil_testkit::services::free_port;
use invigil_testkit::tokens;

const SECRET: &str = "q8Zr3Nw7Kd2Xv5Lm1Tb9Hf4Yc6Pj0Gs3Ue8Ra5Wn2Qk7Ez";
const TEST: &str = "exam-shards";
const FPS: u32 = 30;
/// The proctor page's stall rule (`STALL_MS` in `dashboards/web/live.js`).
const STALL: Duration = Duration::from_millis(2000);
/// The SDK's first pause after a failed signal (`LIVE_RETRY_MS[0]`).
const SIGNAL_RETRY: Duration = Duration::from_millis(1000);

/// One SFU host: an `invigil ingest` process with live video.
struct Host {
    name: &'static str,
    port: u16,
    settings: std::path::PathBuf,
    child: Option<Killed>,
}

impl Host {
    fn start(&mut self) {
        let child = ingest_command(env!("CARGO_BIN_EXE_invigil"), &self.settings, SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(Killed(child));
        let deadline = Instant::now() + Duration::from_secs(40);
        while !healthy(self.port) {
            assert!(Instant::now() < deadline, "{} did not answer /healthz within 40 s", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Gone at once (SIGKILL), as a host that loses power.
    fn kill(&mut self) {
        self.child = None;
    }
}

fn healthy(port: u16) -> bool {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_ok_and(|r| r.status() == 200)
}

/// What the ingress and the hosts answered.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
    location: Option<String>,
    /// Redirects followed on the way.
    redirects: usize,
    /// The host that answered last.
    host: &'static str,
}

/// A stateless ingress: path rules, no affinity, no memory.
#[derive(Clone)]
struct Ingress {
    /// In the order the entry path tries them (a Service's endpoints).
    hosts: Vec<(&'static str, u16)>,
    client: reqwest::blocking::Client,
}

impl Ingress {
    fn new(hosts: Vec<(&'static str, u16)>) -> Self {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { hosts, client }
    }

    /// Sends the request as the ingress routes it and follows redirects as
    /// a browser does; `None` when no host could be reached.
    fn send(&self, method: &str, mut path: String, token: &str, sdp: Option<&str>) -> Option<Reply> {
        let mut redirects = 0;
        loop {
            let sharded = path.strip_prefix(SHARD_PREFIX).and_then(|rest| rest.split('/').next());
            let candidates: Vec<_> = self.hosts.iter().filter(|(name, _)| sharded.is_none_or(|s| s == *name)).collect();
            let mut answered = None;
            for (name, port) in candidates {
                let url = format!("http://127.0.0.1:{port}{path}");
                let mut request = match method {
                    "POST" => self.client.post(&url),
                    "DELETE" => self.client.delete(&url),
                    _ => self.client.get(&url),
                }
                .bearer_auth(token);
                if let Some(sdp) = sdp {
                    request = request.header("content-type", "application/sdp").body(sdp.to_owned());
                }
                match request.send() {
                    Ok(response) => {
                        answered = Some((*name, response));
                        break;
                    }
                    // Refused: the ingress tries the next endpoint.
                    Err(e) if e.is_connect() => continue,
                    Err(_) => return None,
                }
            }
            let (host, response) = answered?;
            let status = response.status().as_u16();
            let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = response.text().unwrap_or_default();
            if status == 307 && redirects < 5 {
                redirects += 1;
                path = location.expect("a 307 names where to go");
                continue;
            }
            return Some(Reply { status, body, location, redirects, host });
        }
    }
}

/// The shard a `Location` names.
fn shard_of(location: &str) -> &str {
    location.strip_prefix(SHARD_PREFIX).and_then(|rest| rest.split('/').next()).unwrap_or("?")
}

/// The candidate's signal loop, on its own thread as the SDK's runs beside
/// its media: asks with what it sends now, reports each answer.
struct Signal {
    /// 0 none, 1 full: what the candidate sends now.
    sending: Arc<AtomicU8>,
    answers: mpsc::Receiver<(bool, &'static str)>,
    stop: Arc<AtomicBool>,
}

impl Signal {
    fn start(ingress: Ingress, token: String) -> Self {
        let sending = Arc::new(AtomicU8::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tell, answers) = mpsc::channel();
        let (sending_in, stop_in) = (Arc::clone(&sending), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop_in.load(Ordering::Relaxed) {
                let publishing = if sending_in.load(Ordering::Relaxed) == 1 { "full" } else { "none" };
                let path = format!("/api/v1/live/signal?publishing={publishing}&wait_ms=3000");
                match ingress.send("GET", path, &token, None) {
                    Some(reply) if reply.status == 200 => {
                        let signal: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
                        if tell.send((signal["publish"] == true, reply.host)).is_err() {
                            return;
                        }
                        // The main loop acts on the answer before the next ask.
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    _ => std::thread::sleep(SIGNAL_RETRY),
                }
            }
        });
        Self { sending, answers, stop }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The candidate's publisher and the proctor's subscriber, driven together.
struct Scene {
    ingress: Ingress,
    candidate_token: String,
    proctor_token: String,
    signal: Signal,
    publisher: Option<(LoopbackPeer, String)>,
    subscriber: Option<(LoopbackPeer, String)>,
    /// Frames the current subscriber had when they last grew, and when.
    last_frames: (u64, Instant),
    frame: u64,
    next_frame: Instant,
    buf: Vec<u8>,
}

impl Scene {
    /// The proctor opens the candidate through the entry path; how many
    /// redirects that took, `None` if it failed.
    fn watch(&mut self) -> Option<usize> {
        let (mut peer, offer, pending) = LoopbackPeer::subscriber().unwrap();
        let path = format!("/api/v1/live/tests/{TEST}/candidates/cand-1/whep");
        let reply = self.ingress.send("POST", path, &self.proctor_token, Some(&offer)).filter(|r| r.status == 201)?;
        peer.accept(pending, &reply.body).unwrap();
        let location = reply.location.unwrap();
        self.subscriber = Some((peer, shard_of(&location).to_owned()));
        self.last_frames = (0, Instant::now());
        Some(reply.redirects)
    }

    /// One turn: signal answers acted on, frames sent, peers turned, a
    /// stalled subscription opened again.
    fn turn(&mut self) {
        while let Ok((publish, _)) = self.signal.answers.try_recv() {
            if publish && self.publisher.is_none() {
                let (mut peer, offer, pending) = LoopbackPeer::publisher().unwrap();
                let reply = self.ingress.send("POST", "/api/v1/live/whip".into(), &self.candidate_token, Some(&offer));
                if let Some(reply) = reply.filter(|r| r.status == 201) {
                    peer.accept(pending, &reply.body).unwrap();
                    self.publisher = Some((peer, shard_of(&reply.location.unwrap()).to_owned()));
                    self.signal.sending.store(1, Ordering::Relaxed);
                }
            } else if !publish && self.publisher.is_some() {
                self.publisher = None;
                self.signal.sending.store(0, Ordering::Relaxed);
            }
        }
        let now = Instant::now();
        if now >= self.next_frame {
            if let Some((peer, _)) = &mut self.publisher {
                peer.send_frame_on(0, self.frame, FPS, 1_000);
            }
            self.frame += 1;
            self.next_frame += Duration::from_secs(1) / FPS;
        }
        for (peer, _) in self.publisher.iter_mut().chain(self.subscriber.iter_mut()) {
            peer.turn(now, &mut self.buf);
        }
        let frames = self.subscriber.as_ref().map_or(0, |(peer, _)| peer.frames_in);
        if frames != self.last_frames.0 {
            self.last_frames = (frames, now);
        } else if now.duration_since(self.last_frames.1) > STALL {
            // The page's watchdog: nothing for 2 s, so open it again.
            self.subscriber = None;
            if self.watch().is_none() {
                self.last_frames.1 = now;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    /// Turns until the subscriber on `shard` has had `frames` frames from a
    /// publisher on `shard`; how long it took, or `None` after `within`.
    fn until_watched_on(&mut self, shard: &str, frames: u64, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < within {
            self.turn();
            let publishing_there = self.publisher.as_ref().is_some_and(|(_, s)| s == shard);
            let watched_there = self.subscriber.as_ref().is_some_and(|(p, s)| s == shard && p.frames_in >= frames);
            if publishing_there && watched_there {
                return Some(started.elapsed());
            }
        }
        None
    }
}

#[test]
fn a_watched_candidate_moves_to_the_other_sfu_host_within_5_s_and_back_when_its_host_returns() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["live-a", "live-b"];
    let ports = [free_port(), free_port()];
    // Each host's lean signal listener too, as deployed.
    let signal_ports = [free_port(), free_port()];
    let shards: BTreeMap<String, String> =
        names.iter().zip(ports).map(|(n, p)| (n.to_string(), format!("http://127.0.0.1:{p}"))).collect();
    let table = shards.iter().map(|(n, u)| format!("{n} = \"{u}\"\n")).collect::<String>();
    let mut hosts: Vec<Host> = names
        .iter()
        .zip(ports)
        .zip(signal_ports)
        .map(|((name, port), signal_port)| {
            let settings = dir.path().join(format!("{name}.toml"));
            std::fs::write(
                &settings,
                format!(
                    "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/{name}.json\"\n[kafka]\nbrokers = \"127.0.0.1:9\"\n\
                     [spool]\ndir = \"{d}/spool-{name}\"\n[rate_limit]\nper_second = 0.0\n\
                     [live_video]\nshard = \"{name}\"\nshard_probe_ms = 250\n\
                     signal_listen = \"127.0.0.1:{signal_port}\"\n[live_video.shards]\n{table}",
                    d = dir.path().display()
                ),
            )
            .unwrap();
            Host { name, port, settings, child: None }
        })
        .collect();
    for host in &mut hosts {
        host.start();
    }
    let key = format!("{TEST}/cand-1");
    let owner = Shards::new("live-a", &shards).unwrap().owner(&key).to_owned();
    let (home, other) = if owner == "live-a" { (0, 1) } else { (1, 0) };
    // The entry path reaches the host that does not serve the candidate
    // first, so every first request is redirected.
    let ingress = Ingress::new(vec![(names[other], ports[other]), (names[home], ports[home])]);
    let candidate_token = tokens::sign_with(SECRET.as_bytes(), &tokens::candidate_claims(TEST, "cand-1"));
    let proctor = tokens::staff_claims_of("proctor-1", invigil_schemas::claims::StaffRole::Proctor, &[TEST]);
    let proctor_token = tokens::sign_with(SECRET.as_bytes(), &invigil_schemas::claims::staff_token_payload(&proctor));

    // The entry path answers the owner's path, query and all — once the
    // hosts have seen each other answer (the one started first found the
    // other down at its first probes).
    let redirecting = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = redirecting
            .get(format!("http://127.0.0.1:{}/api/v1/live/signal?publishing=none&wait_ms=0", ports[other]))
            .bearer_auth(&candidate_token)
            .send()
            .unwrap();
        if reply.status() == 307 || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(reply.status(), 307, "{} redirects to {owner}", names[other]);
    assert_eq!(
        reply.headers()["location"].to_str().unwrap(),
        format!("/api/v1/live/shards/{owner}/signal?publishing=none&wait_ms=0")
    );
    // The lean listeners the same: the other host's redirects, the owner's
    // holds (parked) and answers when the wait is over.
    let lean = |port: u16, path: &str| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {candidate_token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    };
    let redirected = lean(signal_ports[other], "/api/v1/live/signal?publishing=none&seen=0&wait_ms=5000");
    assert!(redirected.starts_with("HTTP/1.1 307"), "{redirected}");
    assert!(
        redirected.contains(&format!("location: /api/v1/live/shards/{owner}/signal?publishing=none&seen=0\r\n")),
        "{redirected}"
    );
    let started = Instant::now();
    let held = lean(signal_ports[home], &format!("/api/v1/live/shards/{owner}/signal?publishing=none&wait_ms=600"));
    assert!(held.starts_with("HTTP/1.1 200"), "{held}");
    assert!(held.contains("\"publish\":false"), "{held}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(550) && waited < Duration::from_secs(3), "held {waited:?}");

    let unknown = ingress.send("GET", "/api/v1/live/shards/live-z/signal".into(), &candidate_token, None);
    assert_eq!(unknown.map(|r| r.status), None, "no ingress rule for a host that does not exist");
    let direct = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/live/shards/live-z/signal", ports[other]))
        .bearer_auth(&candidate_token)
        .send()
        .unwrap();
    assert_eq!(direct.status(), 404);
    let body: serde_json::Value = direct.json().unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no live video shard is named \"live-z\""), "{body}");

    let mut scene = Scene {
        ingress: ingress.clone(),
        candidate_token: candidate_token.clone(),
        proctor_token,
        signal: Signal::start(ingress.clone(), candidate_token),
        publisher: None,
        subscriber: None,
        last_frames: (0, Instant::now()),
        frame: 0,
        next_frame: Instant::now(),
        buf: vec![0u8; 2000],
    };
    assert_eq!(scene.watch(), Some(1), "the proctor's WHEP is redirected once, from the entry to {owner}");
    let first = scene.until_watched_on(&owner, 30, Duration::from_secs(20));
    assert!(first.is_some(), "the candidate publishes to {owner} and the proctor sees it there");
    eprintln!("watched on {owner} after {:?}", first.unwrap());

    // The serving host is lost.
    hosts[home].kill();
    let moved = scene.until_watched_on(names[other], 30, Duration::from_secs(15));
    let moved = moved.expect("the candidate publishes to the other host after its own is lost");
    eprintln!("host {owner} lost: watched on {} again after {moved:?}", names[other]);
    assert!(moved < Duration::from_secs(5), "failover took {moved:?}; the goal is under 5 s");

    // The host comes back: once it has answered its probes, every host
    // names it the owner again, and both sides move back to it.
    hosts[home].start();
    let back = scene.until_watched_on(&owner, 30, Duration::from_secs(20));
    let back = back.expect("the candidate and the proctor return to the host that owns them");
    eprintln!("host {owner} back: watched there again after {back:?}");
}

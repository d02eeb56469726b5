//! Live video on several SFU hosts: which host serves a candidate, and how
//! a request that reached another one gets there.
//!
//! A candidate's signal and WHIP and every proctor's WHEP and messages for
//! that candidate must meet in one process: the one whose [`Audience`]
//! holds the candidate's wait and whose SFU forwards their frames. Every
//! SFU host has a name (`[live_video] shard`) and knows every host by name
//! and internal URL (`[live_video.shards]`). The owner of a stream key is
//! chosen by rendezvous hashing over the hosts that answer their health
//! probe: each host scores `hash(name, key)` and the highest score wins. So
//! every host computes the same owner from the same health view, keys
//! spread evenly, and a host lost moves only its own keys (to whichever
//! host scores next for each).
//!
//! Requests name the host in the path, `/api/v1/live/shards/{name}/…`, so a
//! stateless ingress (path rules, no affinity) sends them to that pod. A
//! request that reaches a host that does not own its key — through the
//! unsharded entry path on any host, or pinned to a host the key has since
//! left — gets a `307` to the owner's path; browsers follow it with the
//! method, body and `Authorization` intact (same origin). A held signal is
//! answered when the health view changes, so candidates move with it.
//!
//! Health: every `probe_ms` a host asks each other host's `GET /healthz`
//! (liveness, not `/readyz`: an SFU host works without Kafka). One failed
//! probe takes a host out at once, so its candidates move within a probe
//! interval; [`READMIT_AFTER`] good probes in a row bring it back, so a
//! host that flaps does not drag its candidates to and fro.
//!
//! [`Audience`]: super::audience::Audience

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use siphasher::sip::SipHasher13;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Good probes in a row before a host that failed serves again.
pub const READMIT_AFTER: u32 = 3;
/// A probe not answered within this fails.
const PROBE_TIMEOUT: Duration = Duration::from_millis(700);
/// The path prefix every sharded route lives under.
pub const SHARD_PREFIX: &str = "/api/v1/live/shards/";
/// The unsharded prefix the same routes have.
const LIVE_PREFIX: &str = "/api/v1/live/";

/// The SFU hosts and which of them answer now.
pub struct Shards {
    /// This process's name among them.
    me: usize,
    hosts: Vec<Host>,
    /// Bumped whenever a host goes out or comes back.
    changes: watch::Sender<u64>,
}

struct Host {
    name: String,
    /// `host:port` of its main listener, for the probe.
    authority: String,
    healthy: AtomicBool,
    /// Good probes in a row since the last failure.
    good: AtomicU32,
}

/// Why `[live_video] shard` / `[live_video.shards]` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ShardsError(String);

impl Shards {
    /// The hosts of `shards` (name → base URL, `http://host:port`), this one
    /// being `me`.
    pub fn new(me: &str, shards: &BTreeMap<String, String>) -> Result<Self, ShardsError> {
        let mut hosts = Vec::with_capacity(shards.len());
        for (name, url) in shards {
            check_name(name)?;
            let authority = url
                .strip_prefix("http://")
                .map(|rest| rest.trim_end_matches('/'))
                .filter(|authority| !authority.is_empty() && !authority.contains('/'))
                .ok_or_else(|| {
                    ShardsError(format!(
                        "live_video.shards.{name} = {url:?}: must be http://host:port, the address the other SFU \
                         hosts probe (inside the cluster)"
                    ))
                })?;
            hosts.push(Host {
                name: name.clone(),
                authority: authority.to_owned(),
                healthy: AtomicBool::new(true),
                good: AtomicU32::new(READMIT_AFTER),
            });
        }
        let me = hosts.iter().position(|host| host.name == me).ok_or_else(|| {
            ShardsError(format!(
                "live_video.shard = {me:?} is not one of live_video.shards ({})",
                shards.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        Ok(Self { me, hosts, changes: watch::Sender::new(0) })
    }

    /// This host's name.
    pub fn name(&self) -> &str {
        &self.hosts[self.me].name
    }

    /// Whether `name` is one of the hosts.
    pub fn knows(&self, name: &str) -> bool {
        self.hosts.iter().any(|host| host.name == name)
    }

    /// The host that serves stream `key` now: the highest rendezvous score
    /// among the hosts that answer (this one always does).
    pub fn owner(&self, key: &str) -> &str {
        let best = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(at, host)| *at == self.me || host.healthy.load(Ordering::Relaxed))
            .max_by_key(|(_, host)| score(&host.name, key));
        best.map_or(self.name(), |(_, host)| host.name.as_str())
    }

    /// Whether this host serves `key` now.
    pub fn owns(&self, key: &str) -> bool {
        self.owner(key) == self.name()
    }

    /// Changes whenever a host goes out or comes back.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Probes the other hosts, all at once, every `every`, for as long as
    /// the task lives.
    pub async fn probe(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let mut probes = tokio::task::JoinSet::new();
            for (at, host) in self.hosts.iter().enumerate().filter(|(at, _)| *at != self.me) {
                let authority = host.authority.clone();
                probes.spawn(async move { (at, alive(&authority).await) });
            }
            while let Some(Ok((at, alive))) = probes.join_next().await {
                self.record(at, alive);
            }
        }
    }

    /// Takes host `at`'s probe result into account.
    fn record(&self, at: usize, alive: bool) {
        let host = &self.hosts[at];
        let was = host.healthy.load(Ordering::Relaxed);
        let now = if alive {
            let good = host.good.fetch_add(1, Ordering::Relaxed).saturating_add(1);
            was || good >= READMIT_AFTER
        } else {
            host.good.store(0, Ordering::Relaxed);
            false
        };
        if now != was {
            host.healthy.store(now, Ordering::Relaxed);
            tracing::warn!(shard = %host.name, serving = now, "live video: an SFU host {}", if now { "is back" } else { "stopped answering; its candidates move" });
            self.changes.send_modify(|generation| *generation += 1);
        }
    }
}

/// Whether `GET /healthz` at `authority` answers 200 in time.
async fn alive(authority: &str) -> bool {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, ask).await, Ok(Some(true)))
}

/// A host's rendezvous score for `key`.
fn score(name: &str, key: &str) -> u64 {
    let mut hasher = SipHasher13::new_with_keys(0x6c69_7665_2d73_6861, 0x7264_2d72_656e_6476);
    hasher.write(name.as_bytes());
    hasher.write_u8(0);
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// Host names go into paths and ingress rules: DNS labels.
fn check_name(name: &str) -> Result<(), ShardsError> {
    let fits = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if fits {
        Ok(())
    } else {
        Err(ShardsError(format!(
            "live_video.shards: {name:?} is not a valid shard name (lower-case letters, digits and '-', at most 63)"
        )))
    }
}

/// The same request at `owner`'s sharded path: `path` is a live video path,
/// entry (`/api/v1/live/…`) or sharded (`/api/v1/live/shards/{name}/…`).
pub fn path_at(owner: &str, path: &str, query: Option<&str>) -> String {
    let rest = match path.strip_prefix(SHARD_PREFIX) {
        Some(sharded) => sharded.split_once('/').map_or("", |(_, rest)| rest),
        None => path.strip_prefix(LIVE_PREFIX).unwrap_or(path),
    };
    match query {
        Some(query) if !query.is_empty() => format!("{SHARD_PREFIX}{owner}/{rest}?{query}"),
        _ => format!("{SHARD_PREFIX}{owner}/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(names: &[&str]) -> BTreeMap<String, String> {
        names.iter().enumerate().map(|(i, n)| (n.to_string(), format!("http://127.0.0.1:{}", 9000 + i))).collect()
    }

    #[test]
    fn keys_spread_evenly_and_every_host_agrees_on_the_owner() {
        let all = hosts(&["live-0", "live-1", "live-2"]);
        let views: Vec<Shards> = all.keys().map(|me| Shards::new(me, &all).unwrap()).collect();
        let mut counts = BTreeMap::<String, usize>::new();
        for i in 0..9_000 {
            let key = format!("exam-{}/cand-{i}", i % 7);
            let owner = views[0].owner(&key).to_owned();
            assert!(views.iter().all(|view| view.owner(&key) == owner), "every host names the same owner");
            *counts.entry(owner).or_default() += 1;
        }
        for (name, count) in &counts {
            assert!((2_700..=3_300).contains(count), "{name} owns {count} of 9,000 keys");
        }
    }

    #[test]
    fn a_lost_host_moves_only_its_own_keys_and_comes_back_after_good_probes() {
        let all = hosts(&["live-0", "live-1", "live-2"]);
        let view = Shards::new("live-0", &all).unwrap();
        let keys: Vec<String> = (0..3_000).map(|i| format!("exam/cand-{i}")).collect();
        let before: Vec<String> = keys.iter().map(|k| view.owner(k).to_owned()).collect();
        let mut changes = view.changes();
        view.record(2, false);
        assert!(changes.has_changed().unwrap(), "a host going out is news");
        changes.mark_unchanged();
        for (key, was) in keys.iter().zip(&before) {
            let now = view.owner(key);
            if was == "live-2" {
                assert_ne!(now, "live-2", "{key} left the lost host");
            } else {
                assert_eq!(now, was, "{key} stays where it was");
            }
        }
        for _ in 1..READMIT_AFTER {
            view.record(2, true);
            assert!(!changes.has_changed().unwrap(), "not back before {READMIT_AFTER} good probes");
        }
        view.record(2, true);
        assert!(changes.has_changed().unwrap());
        assert!(keys.iter().zip(&before).all(|(key, was)| view.owner(key) == was), "all back where they were");
        // This host never takes itself out, whatever it is told.
        let alone = Shards::new("live-2", &all).unwrap();
        alone.record(0, false);
        alone.record(1, false);
        assert!(keys.iter().all(|key| alone.owns(key)));
    }

    #[test]
    fn bad_settings_are_named() {
        let all = hosts(&["live-0", "live-1"]);
        let err = Shards::new("live-9", &all).err().unwrap();
        assert!(err.0.contains("live_video.shard = \"live-9\"") && err.0.contains("live-0, live-1"), "{err}");
        let mut bad = all.clone();
        bad.insert("Live_2".into(), "http://x:1".into());
        assert!(Shards::new("live-0", &bad).err().unwrap().0.contains("\"Live_2\" is not a valid shard name"));
        let mut https = all;
        https.insert("live-2".into(), "https://x:1".into());
        assert!(Shards::new("live-0", &https).err().unwrap().0.contains("live_video.shards.live-2"));
    }

    #[test]
    fn requests_are_sent_to_the_owners_path_with_their_query() {
        assert_eq!(
            path_at("live-1", "/api/v1/live/signal", Some("publishing=none&seen=0")),
            "/api/v1/live/shards/live-1/signal?publishing=none&seen=0"
        );
        assert_eq!(path_at("live-1", "/api/v1/live/shards/live-0/whip", None), "/api/v1/live/shards/live-1/whip");
        assert_eq!(
            path_at("b", "/api/v1/live/tests/t/candidates/c/whep", Some("view=grid")),
            "/api/v1/live/shards/b/tests/t/candidates/c/whep?view=grid"
        );
    }

    #[tokio::test]
    async fn the_probe_tells_a_live_host_from_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n").await;
            }
        });
        assert!(alive(&up).await);
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
        assert!(!alive(&closed).await, "nothing listens there any more");
    }
}

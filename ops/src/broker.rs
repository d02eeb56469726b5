//! The local broker `invigil up` runs when no Kafka answers: tansu (a
//! Kafka-protocol broker in Rust with SQLite storage) as a supervised child
//! process, its data under the data directory so topics and offsets survive
//! restarts. `ops/dev/services.sh install` builds the binary once (~15 min on
//! 2 cores) into the project cache.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The tansu release the project installs.
pub const TANSU_VERSION: &str = "0.6.0";

/// Where to look for the tansu binary, first match wins.
pub fn binary_candidates() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(path) = std::env::var_os("INVIGIL_TANSU_BIN").filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(path));
    }
    let relative = Path::new(&format!("tansu-{TANSU_VERSION}")).join("bin/tansu");
    if let Some(cache) = std::env::var_os("INVIGIL_CACHE").filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(cache).join(&relative));
    }
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".cache/invigil").join(&relative));
    }
    paths
}

/// Whether something accepts TCP connections at `address` within `timeout`.
pub fn answers(address: &str, timeout: Duration) -> bool {
    address
        .to_socket_addrs()
        .map(|mut addresses| addresses.any(|a| TcpStream::connect_timeout(&a, timeout).is_ok()))
        .unwrap_or(false)
}

/// A supervised tansu process.
pub struct LocalBroker {
    child: Arc<Mutex<Option<Child>>>,
    stopping: Arc<AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
}

/// The installed tansu binary, or an error saying how to install it.
pub fn find_binary(why: &str) -> anyhow::Result<PathBuf> {
    let candidates = binary_candidates();
    candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
        format!(
            "{why} and tansu is not installed (looked in {}); run `ops/dev/services.sh install` once (~15 min)",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Waits until `address` accepts connections, at most `limit`.
pub fn wait_until_answers(address: SocketAddr, limit: Duration) -> bool {
    let started = Instant::now();
    while !answers(&address.to_string(), Duration::from_millis(200)) {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Creates `topics` (`name, partitions, extra config`) unless they exist.
pub fn create_topics(
    binary: &Path,
    dir: &Path,
    address: SocketAddr,
    topics: &[(&str, u32, &[&str])],
) -> anyhow::Result<()> {
    for (name, partitions, config) in topics {
        let output = Command::new(binary)
            .args(["topic", "create", name, "--broker", &format!("tcp://{address}")])
            .args(["--partitions", &partitions.to_string()])
            .args(config.iter().flat_map(|c| ["--config", c]))
            .current_dir(dir)
            .output()
            .context("running tansu topic create")?;
        let said = String::from_utf8_lossy(&output.stderr).to_lowercase()
            + &String::from_utf8_lossy(&output.stdout).to_lowercase();
        if !output.status.success() && !said.contains("exist") {
            bail!("creating topic {name}: {said}");
        }
    }
    Ok(())
}

/// Starts tansu on `address` with its SQLite data in `dir` (no waiting).
pub fn spawn(binary: &Path, dir: &Path, address: SocketAddr) -> anyhow::Result<Child> {
    let url = format!("tcp://{address}");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("broker.log"))?;
    let mut command = Command::new(binary);
    command
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "sqlite://tansu.db",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // The broker must not outlive its starter, even one killed with -9: it
    // gets SIGTERM when the thread that started it ends (`up`'s main thread
    // or broker supervisor, the chaos controller — all live until the end).
    // tansu reads a .env in its working directory; ours is empty on purpose.
    std::fs::write(dir.join(".env"), "")?;
    crate::process::die_with_parent(&mut command, libc::SIGTERM);
    command.spawn().with_context(|| format!("starting {}", binary.display()))
}

impl LocalBroker {
    /// Starts tansu on `address` (loopback) with its data in `dir`, waits
    /// until it answers, creates `topics` (`name, partitions, extra config`)
    /// if missing, and restarts it with backoff whenever it exits.
    pub fn start(dir: &Path, address: SocketAddr, topics: &[(&str, u32, &[&str])]) -> anyhow::Result<Self> {
        if !address.ip().is_loopback() {
            bail!("a local broker only listens on loopback, not {address}");
        }
        let binary =
            find_binary(&format!("no Kafka broker answers at {address} (point [kafka] brokers at a running broker)"))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let child = spawn(&binary, dir, address)?;
        if !wait_until_answers(address, Duration::from_secs(60)) {
            bail!("tansu did not answer on {address} within 60 s; see {}", dir.join("broker.log").display());
        }
        create_topics(&binary, dir, address, topics)?;
        let child = Arc::new(Mutex::new(Some(child)));
        let stopping = Arc::new(AtomicBool::new(false));
        let supervisor = {
            let (child, stopping, dir) = (Arc::clone(&child), Arc::clone(&stopping), dir.to_path_buf());
            std::thread::Builder::new().name("broker-supervisor".into()).spawn(move || {
                let mut pause = Duration::from_secs(1);
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    let mut slot = child.lock().unwrap_or_else(|p| p.into_inner());
                    let exited = match slot.as_mut().map(Child::try_wait) {
                        Some(Ok(Some(status))) => Some(status.to_string()),
                        Some(Err(e)) => Some(e.to_string()),
                        _ => None,
                    };
                    if let (Some(why), false) = (exited, stopping.load(Ordering::Relaxed)) {
                        tracing::error!(%why, restart_in_ms = pause.as_millis() as u64, "the local broker exited; restarting it");
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_secs(30));
                        match spawn(&binary, &dir, address) {
                            Ok(new) => *slot = Some(new),
                            Err(error) => tracing::error!(%error, "restarting the local broker"),
                        }
                    }
                }
            })?
        };
        Ok(Self { child, stopping, supervisor: Some(supervisor) })
    }

    /// Stops the broker: SIGTERM, then SIGKILL after 10 s.
    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
        let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        crate::process::terminate(&mut child, Duration::from_secs(10));
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        // After `stop` nothing is left; otherwise (an early return) the
        // supervisor stops first so it cannot restart what is killed here.
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.join();
        }
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

//! The local broker `invigil up` runs when no Kafka answers: tansu (a
//! Kafka-protocol broker in Rust with SQLite storage) as a supervised child
//! process, its data under the data directory so topics and offsets survive
//! restarts. `ops/dev/services.sh install` builds the binary once (~15 min on
//! 2 cores) into the project cache.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
pub use invigil_tansu::{answers, wait_until_answers};

/// A supervised tansu process.
pub struct LocalBroker {
    child: Arc<Mutex<Option<Child>>>,
    stopping: Arc<AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
}

/// The installed tansu binary, or an error saying how to install it.
pub fn find_binary(why: &str) -> anyhow::Result<std::path::PathBuf> {
    invigil_tansu::find_binary(why).map_err(anyhow::Error::msg)
}

/// Creates `topics` (`name, partitions, extra config`) unless they exist.
pub fn create_topics(
    binary: &Path,
    dir: &Path,
    address: SocketAddr,
    topics: &[(&str, u32, &[&str])],
) -> anyhow::Result<()> {
    for (name, partitions, config) in topics {
        let mut command = invigil_tansu::create_topic_command(binary, address, name, *partitions, config);
        let output = crate::process::output_within(command.current_dir(dir), Duration::from_secs(60))
            .context("tansu topic create")?;
        let said = String::from_utf8_lossy(&output.stderr).to_lowercase()
            + &String::from_utf8_lossy(&output.stdout).to_lowercase();
        if !output.status.success() && !said.contains("exist") {
            bail!("creating topic {name}: {said}");
        }
    }
    Ok(())
}

/// Starts tansu on `address` with its SQLite data in `dir` (no waiting),
/// logging to `dir/broker.log`.
pub fn spawn(binary: &Path, dir: &Path, address: SocketAddr) -> anyhow::Result<Child> {
    let mut command = invigil_tansu::broker_command(binary, dir, address)
        .with_context(|| format!("preparing the broker's directory {}", dir.display()))?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("broker.log"))?;
    command.stdin(std::process::Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // The broker must not outlive its starter, even one killed with -9: it
    // gets SIGTERM when the thread that started it ends (`up`'s main thread
    // or broker supervisor, the chaos controller — all live until the end).
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

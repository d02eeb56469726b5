//! The one way invigil launches its local Kafka-protocol broker, tansu (in
//! Rust, SQLite storage): which release, where its binary is, and with which
//! arguments it runs. `invigil up` supervises one, tests start private ones
//! they may kill, and `ops/dev/services.sh` runs the shared dev broker
//! through this crate's binary (`invigil-tansu broker DIR ADDRESS`) and
//! reads [`TANSU_VERSION`] from this file to install it.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The tansu release the project installs (`ops/dev/services.sh install`,
/// built from crates.io once, ~15 min on 2 cores).
pub const TANSU_VERSION: &str = "0.6.0";

/// Where to look for the tansu binary, first match wins: `INVIGIL_TANSU_BIN`,
/// then `tansu-{version}/bin/tansu` under `INVIGIL_CACHE` or `~/.cache/invigil`.
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

/// The installed tansu binary, or a message saying where it was looked for
/// and how to install it; `why` says who needs it.
pub fn find_binary(why: &str) -> Result<PathBuf, String> {
    let candidates = binary_candidates();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        format!(
            "{why} and tansu is not installed (looked in {}); run `ops/dev/services.sh install` once (~15 min)",
            looked.join(", ")
        )
    })
}

/// The broker on `address` with its SQLite data in `dir`, ready to spawn
/// (the caller chooses its output and lifetime). tansu reads a `.env` in
/// its working directory; ours is written empty on purpose.
pub fn broker_command(binary: &Path, dir: &Path, address: SocketAddr) -> std::io::Result<Command> {
    broker_command_advertising(binary, dir, address, address)
}

/// [`broker_command`] telling clients to connect to `advertised` instead
/// (a TLS terminator in front of the broker).
pub fn broker_command_advertising(
    binary: &Path,
    dir: &Path,
    address: SocketAddr,
    advertised: SocketAddr,
) -> std::io::Result<Command> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(".env"), "")?;
    let mut command = Command::new(binary);
    command
        .args(["broker", "--listener-url", &format!("tcp://{address}")])
        .args(["--advertised-listener-url", &format!("tcp://{advertised}")])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir);
    Ok(command)
}

/// `tansu topic create` for `name` with `partitions` and extra `config`
/// (`key=value`), ready to run; it fails with "exists" for a topic that does.
pub fn create_topic_command(
    binary: &Path,
    address: SocketAddr,
    name: &str,
    partitions: u32,
    config: &[&str],
) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["topic", "create", name, "--broker", &format!("tcp://{address}")])
        .args(["--partitions", &partitions.to_string()])
        .args(config.iter().flat_map(|c| ["--config", c]));
    command
}

/// Whether something accepts TCP connections at `address` within `timeout`.
pub fn answers(address: &str, timeout: Duration) -> bool {
    address
        .to_socket_addrs()
        .map(|mut addresses| addresses.any(|a| TcpStream::connect_timeout(&a, timeout).is_ok()))
        .unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_runs_with_sqlite_on_one_advertised_address_and_an_empty_env_file() {
        let dir = std::env::temp_dir().join(format!("invigil-tansu-{}", std::process::id()));
        let address: SocketAddr = "127.0.0.1:19999".parse().unwrap();
        let command = broker_command(Path::new("/bin/tansu"), &dir, address).unwrap();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "broker",
                "--listener-url",
                "tcp://127.0.0.1:19999",
                "--advertised-listener-url",
                "tcp://127.0.0.1:19999",
                "--storage-engine",
                "sqlite://tansu.db"
            ]
        );
        assert_eq!(command.get_current_dir(), Some(dir.as_path()));
        assert_eq!(std::fs::read(dir.join(".env")).unwrap(), b"");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_services_script_installs_the_version_this_crate_names() {
        // services.sh reads the constant from this file; the line must keep its shape.
        let source = include_str!("lib.rs");
        let line = format!("pub const TANSU_VERSION: &str = \"{TANSU_VERSION}\";");
        assert!(source.lines().any(|l| l == line), "{line}");
        let script = include_str!("../../dev/services.sh");
        assert!(script.contains("ops/tansu/src/lib.rs"), "services.sh takes its tansu version from this crate");
    }
}

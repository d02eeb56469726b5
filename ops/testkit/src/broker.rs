//! A tansu broker a test owns, so it may kill and restart it (the shared
//! dev broker must stay up for every other test). The binary is the one
//! `ops/dev/services.sh up` installs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private tansu, with its data in `dir`.
pub struct PrivateBroker {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// The installed tansu binary (`INVIGIL_CACHE` or `~/.cache/invigil`).
pub fn tansu_binary() -> PathBuf {
    let cache = std::env::var("INVIGIL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/invigil"));
    let binary = cache.join("tansu-0.6.0/bin/tansu");
    assert!(binary.exists(), "tansu not found at {}; run ops/dev/services.sh up", binary.display());
    binary
}

impl PrivateBroker {
    /// Starts it on a free loopback port; returns once it listens.
    pub fn start(dir: PathBuf) -> Self {
        let port = crate::services::free_port();
        let mut broker = Self { port, dir, child: None };
        broker.restart();
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on the same port and data (after [`Self::kill`]).
    pub fn restart(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::write(self.dir.join(".env"), "").unwrap();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private tansu did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it at once (no clean shutdown), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

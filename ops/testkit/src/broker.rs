//! A tansu broker a test owns, so it may kill and restart it (the shared
//! dev broker must stay up for every other test). The binary is the one
//! `ops/dev/services.sh up` installs.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A private tansu, with its data in `dir`.
pub struct PrivateBroker {
    pub port: u16,
    pub dir: PathBuf,
    /// The port named in metadata, when clients reach it through a proxy.
    advertised_port: Option<u16>,
    /// Extra arguments (`--authentication`).
    extra: Vec<String>,
    child: Option<Child>,
}

/// The installed tansu binary (the one `ops/dev/services.sh up` installs).
pub fn tansu_binary() -> PathBuf {
    invigil_tansu::find_binary("a test starts its own broker").unwrap_or_else(|why| panic!("{why}"))
}

impl PrivateBroker {
    /// Starts it on a free loopback port; returns once it listens.
    pub fn start(dir: PathBuf) -> Self {
        Self::start_with(dir, None, &[])
    }

    /// Starts it telling clients to connect to `advertised_port` on
    /// loopback (a TLS terminator forwarding to [`Self::port`]), with
    /// `extra` arguments.
    pub fn start_with(dir: PathBuf, advertised_port: Option<u16>, extra: &[&str]) -> Self {
        let port = crate::services::free_port();
        let extra = extra.iter().map(|s| (*s).to_owned()).collect();
        let mut broker = Self { port, dir, advertised_port, extra, child: None };
        broker.restart();
        broker
    }

    /// Restarts it with `extra` arguments instead (after [`Self::kill`]).
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.extra = extra.iter().map(|s| (*s).to_owned()).collect();
        self.restart();
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on the same port and data (after [`Self::kill`]).
    pub fn restart(&mut self) {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let advertised = std::net::SocketAddr::from(([127, 0, 0, 1], self.advertised_port.unwrap_or(self.port)));
        let mut command =
            invigil_tansu::broker_command_advertising(&tansu_binary(), &self.dir, address, advertised).unwrap();
        command.args(&self.extra);
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let child = command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        self.child = Some(child);
        assert!(
            invigil_tansu::wait_until_answers(address, Duration::from_secs(30)),
            "private tansu did not listen within 30 s"
        );
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

//! `invigil bed`: many hosts on one machine, for testing what crosses a
//! network. Each host is a network namespace with its own address
//! ([`net`]); real programs run on them ([`services`]): two ingest replicas
//! behind haproxy, the broker, a two-process timely cluster, a ClickHouse
//! cluster of two replicas with ZooKeeper, and the media store.
//!
//! Faults are real: `kill` SIGKILLs every process of a host, `cut` takes its
//! link down, `block` cuts it off from one peer, `slow` shapes and drops
//! its traffic. Traffic stays inside namespaces the bed made; `down` (or the
//! timer `up --for` sets, or a test's bed going out of scope) removes them.
//!
//! ```text
//! invigil bed up [--for 60m]          start; prints the hosts and addresses
//! invigil bed status                  hosts, addresses, processes
//! invigil bed kill HOST | start HOST  SIGKILL a host's processes / start them again
//! invigil bed stop HOST               SIGTERM them and wait for a clean exit
//! invigil bed cut HOST | heal HOST    link down / everything undone
//! invigil bed block HOST PEER         HOST cannot reach PEER (nor PEER HOST); unblock undoes it
//! invigil bed slow HOST [--rate-kbit 256] [--queue-ms 200] [--loss-pct 5]
//! invigil bed down                    stop everything, remove the namespaces
//! ```

pub mod net;
pub mod services;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use net::Net;
use services::{Programs, Service};

/// A running bed: its network, its services and where it keeps its data.
#[derive(Serialize, Deserialize)]
pub struct Bed {
    pub dir: PathBuf,
    pub net: Net,
    pub services: Vec<Service>,
    /// Processes die with the process that started them, and the bed is
    /// removed when this value is dropped (tests). Off for `invigil bed up`,
    /// whose bed outlives the command.
    #[serde(skip)]
    owned: bool,
    /// Keep the directory (logs, data) when an owned bed is dropped.
    #[serde(skip)]
    keep_files: bool,
}

/// The bed's state file in its directory, for the CLI's later commands.
const STATE_FILE: &str = "bed.json";

impl Bed {
    /// Creates the network and the standard services' files in `dir`, and
    /// starts nothing. `owned`: see [`Bed::owned`].
    pub fn create(dir: &Path, owned: bool, token_secret: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let pid = std::process::id();
        let tag = format!("{:04}", pid % 10_000);
        let subnet = u8::try_from(pid % 200 + 20).expect("below 256");
        let net = Net::create(&tag, subnet, &services::HOSTS)?;
        let programs = Programs {
            invigil: crate::product_binary()?,
            tansu: invigil_ops::broker::find_binary("the bed runs its own broker")?,
            token_secret: token_secret.to_owned(),
        };
        let mut bed = Self { dir: dir.to_owned(), net, services: Vec::new(), owned, keep_files: false };
        bed.services = services::standard(&bed.net, dir, &programs)?;
        bed.save()?;
        Ok(bed)
    }

    /// The bed whose state is in `dir` (made by `invigil bed up`).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no bed in {} (start one with `invigil bed up`)", dir.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    fn save(&self) -> anyhow::Result<()> {
        std::fs::write(self.dir.join(STATE_FILE), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }

    /// `http://<host's address>:<port>`.
    pub fn url(&self, host: &str, port: u16) -> String {
        let address = self.net.host(host).map(|h| h.address.to_string()).unwrap_or_default();
        format!("http://{address}:{port}")
    }

    pub fn address(&self, host: &str, port: u16) -> String {
        let address = self.net.host(host).map(|h| h.address.to_string()).unwrap_or_default();
        format!("{address}:{port}")
    }

    /// Starts every service in order, each host's once the ones it needs
    /// answer: ZooKeeper, the ClickHouse replicas (then the cluster's
    /// schema), the balancer, the broker (then the topics), the media
    /// store, the ingest replicas, the pipeline cluster.
    pub fn start_all(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        self.start_host("zk")?;
        self.wait_for("zk", || zookeeper_answers(&self.address("zk", 2181)))?;
        for host in ["ch-1", "ch-2"] {
            self.start_host(host)?;
        }
        for host in ["ch-1", "ch-2"] {
            let url = format!("{}/ping", self.url(host, services::CLICKHOUSE_HTTP_PORT));
            self.wait_for(host, || http_ok(&url))?;
        }
        let migrating = Instant::now();
        self.migrate()?;
        eprintln!("bed: the cluster's schema is applied ({:.1} s)", migrating.elapsed().as_secs_f64());
        // The balancer fronts ClickHouse for the pipeline and ingest for
        // the candidates; its health checks find each as it comes up.
        self.start_host("lb")?;
        let balancer = self.address("lb", services::CLICKHOUSE_HTTP_PORT);
        self.wait_for("lb", || tcp_open(&balancer))?;
        self.start_host("broker")?;
        let broker = self.address("broker", services::BROKER_PORT);
        self.wait_for("broker", || tcp_open(&broker))?;
        self.create_topics()?;
        eprintln!("bed: topics created");
        self.start_host("s3")?;
        let s3 = format!("{}/moto-api/", self.url("s3", services::S3_PORT));
        self.wait_for("s3", || http_ok(&s3))?;
        let _ = http_put(&format!("{}/invigil-bed", self.url("s3", services::S3_PORT)));
        // The first replica seeds the config log; the second then reads it.
        for host in ["ingest-1", "ingest-2"] {
            self.start_host(host)?;
            let ready = format!("{}/readyz", self.url(host, services::INGEST_PORT));
            self.wait_for(host, || http_ok(&ready))?;
        }
        for host in ["pipeline-1", "pipeline-2"] {
            self.start_host(host)?;
        }
        for host in ["pipeline-1", "pipeline-2"] {
            let ready = format!("{}/readyz", self.url(host, services::PIPELINE_METRICS_PORT));
            self.wait_for(host, || http_ok(&ready))?;
        }
        let through = format!("{}/readyz", self.url("lb", services::INGEST_PORT));
        self.wait_for("lb", || http_ok(&through))?;
        eprintln!("bed: {} hosts up in {:.0} s", self.net.hosts.len(), started.elapsed().as_secs_f64());
        Ok(())
    }

    /// The cluster's schema, through the first replica.
    fn migrate(&self) -> anyhow::Result<()> {
        let mut command = Command::new(crate::product_binary()?);
        command
            .args(["migrate", "--url", &self.url("ch-1", services::CLICKHOUSE_HTTP_PORT)])
            .args(["--cluster", services::CLICKHOUSE_CLUSTER, "--database", services::DATABASE, "--legacy"])
            .env_remove("CLICKHOUSE_URL");
        // Each ON CLUSTER statement waits for both replicas; a replica that
        // never takes its task would hold this for ClickHouse's own 180 s
        // per statement, so the whole schema gets a bound of its own.
        let outcome = invigil_ops::process::output_within(&mut command, Duration::from_secs(300)).and_then(|output| {
            anyhow::ensure!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr).trim());
            Ok(())
        });
        outcome.map_err(|error| {
            let logs: String = ["zk", "ch-1", "ch-2"].iter().map(|host| self.log_tails(host, 20)).collect();
            anyhow::anyhow!("migrating the bed's ClickHouse cluster: {error:#}\n{logs}")
        })
    }

    fn create_topics(&self) -> anyhow::Result<()> {
        let tansu = invigil_ops::broker::find_binary("the bed's topics")?;
        let broker: std::net::SocketAddr = self.address("broker", services::BROKER_PORT).parse()?;
        invigil_ops::broker::create_topics(
            &tansu,
            &self.dir.join("broker"),
            broker,
            &[(services::EVENTS_TOPIC, 4, &[]), (services::LIVE_TOPIC, 2, &["cleanup.policy=compact"])],
        )
    }

    /// Starts `host`'s services (the ones not running).
    pub fn start_host(&mut self, host: &str) -> anyhow::Result<()> {
        self.net.host(host)?;
        for index in 0..self.services.len() {
            if self.services[index].host == host && !self.is_running(&self.services[index]) {
                let pid = self.spawn(&self.services[index])?;
                self.services[index].pid = Some(pid);
            }
        }
        self.save()
    }

    fn spawn(&self, service: &Service) -> anyhow::Result<i32> {
        use std::os::unix::process::CommandExt;
        let log_path = service.dir.join(format!("{}.log", service.name));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let mut command = self.net.command_in(&service.host, &service.program.display().to_string())?;
        command.args(&service.args).current_dir(&service.dir).stdin(Stdio::null());
        command.stdout(log.try_clone()?).stderr(log);
        for name in ["INVIGIL_KAFKA_BROKERS", "INVIGIL_LISTEN", "INVIGIL_NODE", "CLICKHOUSE_URL", "INVIGIL_CONFIG_FILE"]
        {
            command.env_remove(name);
        }
        command.envs(service.env.iter().map(|(k, v)| (k, v)));
        let owned = self.owned;
        // SAFETY: setsid and prctl are async-signal-safe and touch only the child.
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                if owned {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                }
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| format!("starting {} on {}", service.name, service.host))?;
        let pid = i32::try_from(child.id())?;
        // The process is reaped by whoever waits for it last; dropping the
        // handle leaves it running.
        std::mem::forget(child);
        Ok(pid)
    }

    fn is_running(&self, service: &Service) -> bool {
        service.pid.is_some_and(alive)
    }

    /// SIGKILL to every process of `host` (their whole process groups).
    pub fn kill_host(&mut self, host: &str) -> anyhow::Result<()> {
        self.net.host(host)?;
        for service in self.services.iter_mut().filter(|s| s.host == host) {
            if let Some(pid) = service.pid.take() {
                // SAFETY: plain syscalls on a process group this bed started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
                }
            }
        }
        // Reap what died (the bed's own children).
        std::thread::sleep(Duration::from_millis(50));
        reap();
        self.save()
    }

    /// SIGTERM to every process of `host`; waits up to `limit` for them to
    /// exit (then SIGKILL). Whether all exited by themselves.
    pub fn stop_host(&mut self, host: &str, limit: Duration) -> anyhow::Result<bool> {
        self.stop_hosts(&[host], limit)
    }

    /// [`Self::stop_host`] for several hosts at once.
    pub fn stop_hosts(&mut self, hosts: &[&str], limit: Duration) -> anyhow::Result<bool> {
        for host in hosts {
            self.net.host(host)?;
        }
        let pids: Vec<i32> =
            self.services.iter().filter(|s| hosts.contains(&s.host.as_str())).filter_map(|s| s.pid).collect();
        for pid in &pids {
            // SAFETY: a signal to a process group this bed started.
            unsafe { libc::kill(-pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + limit;
        let any_alive = |pids: &[i32]| {
            reap();
            pids.iter().any(|p| alive(*p))
        };
        while any_alive(&pids) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let clean = !any_alive(&pids);
        for host in hosts {
            self.kill_host(host)?;
        }
        Ok(clean)
    }

    /// Hosts with a service that is not running (exited, or killed).
    pub fn stopped_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> =
            self.services.iter().filter(|s| !self.is_running(s)).map(|s| s.host.clone()).collect();
        hosts.dedup();
        hosts
    }

    /// Waits up to 90 s for `check` and says how long it took; if it
    /// fails, the error carries the end of `host`'s logs (a CI run keeps
    /// only what was printed).
    fn wait_for(&self, host: &str, check: impl Fn() -> bool) -> anyhow::Result<()> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(90);
        while !check() {
            if Instant::now() > deadline {
                bail!("{host} did not answer within 90 s\n{}", self.log_tails(host, 30));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("bed: {host} answers ({:.1} s)", started.elapsed().as_secs_f64());
        Ok(())
    }

    /// The last `lines` lines of each log of `host`'s services, headed by
    /// the log's path.
    pub fn log_tails(&self, host: &str, lines: usize) -> String {
        let mut out = String::new();
        for service in self.services.iter().filter(|s| s.host == host) {
            let path = service.dir.join(format!("{}.log", service.name));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- the last {lines} lines of {}\n", path.display()));
            for line in &all[all.len().saturating_sub(lines)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// One line per host: address and its services' state.
    pub fn status(&self) -> String {
        let mut out = String::new();
        for host in &self.net.hosts {
            let services: Vec<String> = self
                .services
                .iter()
                .filter(|s| s.host == host.name)
                .map(|s| match s.pid {
                    Some(pid) if self.is_running(s) => format!("{} (pid {pid})", s.name),
                    _ => format!("{} (stopped)", s.name),
                })
                .collect();
            out.push_str(&format!("{:<11} {:<13} {}\n", host.name, host.address, services.join(", ")));
        }
        out
    }

    /// Stops every process and removes the network and (unless `keep`) the
    /// directory.
    pub fn down(mut self, keep: bool) {
        self.teardown(keep);
    }

    fn teardown(&mut self, keep: bool) {
        let hosts: Vec<String> = self.net.hosts.iter().map(|h| h.name.clone()).collect();
        for host in hosts {
            let _ = self.kill_host(&host);
        }
        self.net.destroy();
        self.net.hosts.clear();
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Bed {
    /// An owned bed keeps its directory when dropped (a failed run's logs).
    pub fn keep_files(&mut self) {
        self.keep_files = true;
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if self.owned && !self.net.hosts.is_empty() {
            let keep = std::thread::panicking() || self.keep_files;
            if keep {
                eprintln!("bed: its logs stay in {}", self.dir.display());
            }
            self.teardown(keep);
        }
    }
}

/// Whether process `pid` runs: it exists and is not a zombie (exited, not
/// yet reaped).
fn alive(pid: i32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !state.is_empty() && !state.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z'))
}

/// Reaps any exited children of this process.
fn reap() {
    // SAFETY: waitpid with WNOHANG only collects exited children.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn http_client() -> &'static reqwest::blocking::Client {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| reqwest::blocking::Client::builder().timeout(Duration::from_secs(3)).build().expect("a client"))
}

pub fn http_ok(url: &str) -> bool {
    http_client().get(url).send().is_ok_and(|r| r.status().is_success())
}

fn http_put(url: &str) -> bool {
    http_client().put(url).send().is_ok_and(|r| r.status().is_success())
}

fn tcp_open(address: &str) -> bool {
    address
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

fn zookeeper_answers(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(address) = address.parse::<std::net::SocketAddr>() else { return false };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    // A server still starting may accept and then say nothing: without
    // these bounds the read below would wait for ever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut reply = String::new();
    stream.write_all(b"srvr").is_ok() && stream.read_to_string(&mut reply).is_ok() && reply.contains("Mode")
}

// ------------------------------------------------------------------ CLI --

#[derive(clap::Args)]
pub struct Args {
    /// Where the bed keeps its state, data and logs.
    #[arg(long, default_value = "/tmp/invigil-bed", global = true)]
    dir: PathBuf,
    #[command(subcommand)]
    command: BedCommand,
}

#[derive(clap::Subcommand)]
enum BedCommand {
    /// Create the hosts and start every service; the bed removes itself after --for.
    Up {
        /// Lifetime, e.g. 30m or 2h; `down` ends it sooner.
        #[arg(long = "for", default_value = "60m", value_parser = parse_duration)]
        lifetime: Duration,
        /// The HS256 secret ingest checks tokens with (≥ 32 bytes).
        #[arg(long, default_value = services::TOKEN_SECRET)]
        token_secret: String,
    },
    /// Hosts, addresses and their processes.
    Status,
    /// SIGKILL every process of a host.
    Kill { host: String },
    /// Start a host's processes again (same data).
    Start { host: String },
    /// SIGTERM a host's processes and wait for them to exit (SIGKILL after --limit).
    Stop {
        host: String,
        #[arg(long, default_value = "90s", value_parser = parse_duration)]
        limit: Duration,
    },
    /// Take a host's link down.
    Cut { host: String },
    /// Undo cut, block and slow on a host.
    Heal { host: String },
    /// Cut a host off from one peer only (both directions).
    Block { host: String, peer: String },
    /// Undo one block.
    Unblock { host: String, peer: String },
    /// Shape a host's link (rate, queueing delay) and drop a share of its packets.
    Slow {
        host: String,
        #[arg(long, default_value_t = 256)]
        rate_kbit: u32,
        #[arg(long, default_value_t = 200)]
        queue_ms: u32,
        #[arg(long, default_value_t = 5)]
        loss_pct: u32,
    },
    /// Stop everything and remove the hosts.
    Down {
        /// Keep the directory (logs, data).
        #[arg(long)]
        keep: bool,
        /// Wait this long first (the timer `up` starts).
        #[arg(long, value_parser = parse_duration, hide = true)]
        after: Option<Duration>,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?}: expected a number and s, m or h"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: the unit is s, m or h")),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.dir;
    match args.command {
        BedCommand::Up { lifetime, token_secret } => {
            anyhow::ensure!(
                !dir.join(STATE_FILE).exists(),
                "a bed already runs in {} (`invigil bed down` first)",
                dir.display()
            );
            invigil_ops::token::require_strong_secret(&token_secret).context("--token-secret")?;
            let mut bed = Bed::create(&dir, false, &token_secret)?;
            if let Err(error) = bed.start_all() {
                eprintln!("bed: start failed; removing it (logs kept in {})", dir.display());
                bed.down(true);
                return Err(error);
            }
            // The timer: a detached `bed down --after`.
            let mut timer = Command::new(std::env::current_exe()?);
            timer.args(["bed", "--dir"]).arg(&dir).args(["down", "--after", &format!("{}s", lifetime.as_secs())]);
            timer.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            {
                use std::os::unix::process::CommandExt;
                // SAFETY: setsid only detaches the child from our session.
                unsafe {
                    timer.pre_exec(|| {
                        libc::setsid();
                        Ok(())
                    });
                }
            }
            timer.spawn().context("starting the bed's timer")?;
            print!("{}", bed.status());
            println!(
                "front door: {}  (tokens: INVIGIL_TOKEN_SECRET={token_secret:?} invigil token …)\n\
                 the bed removes itself in {} min; `invigil bed down` sooner",
                bed.url("lb", services::INGEST_PORT),
                lifetime.as_secs() / 60
            );
        }
        BedCommand::Status => print!("{}", Bed::load(&dir)?.status()),
        BedCommand::Kill { host } => Bed::load(&dir)?.kill_host(&host)?,
        BedCommand::Start { host } => Bed::load(&dir)?.start_host(&host)?,
        BedCommand::Stop { host, limit } => {
            if !Bed::load(&dir)?.stop_host(&host, limit)? {
                bail!("{host} did not exit within {} s of SIGTERM; killed", limit.as_secs());
            }
        }
        BedCommand::Cut { host } => Bed::load(&dir)?.net.cut(&host)?,
        BedCommand::Heal { host } => Bed::load(&dir)?.net.heal(&host)?,
        BedCommand::Block { host, peer } => Bed::load(&dir)?.net.block(&host, &peer)?,
        BedCommand::Unblock { host, peer } => Bed::load(&dir)?.net.unblock(&host, &peer)?,
        BedCommand::Slow { host, rate_kbit, queue_ms, loss_pct } => {
            Bed::load(&dir)?.net.slow(&host, rate_kbit, queue_ms, loss_pct)?
        }
        BedCommand::Down { keep, after } => {
            if let Some(after) = after {
                std::thread::sleep(after);
            }
            match Bed::load(&dir) {
                Ok(bed) => {
                    bed.down(keep);
                    eprintln!("bed: down");
                }
                Err(_) if after.is_some() => {} // already taken down by hand
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

//! The system under chaos as separate processes on loopback, each of which
//! the controller can kill with SIGKILL and start again on the same ports
//! and data: tansu, ingest, the pipeline and (HTTP store) a ClickHouse
//! server. Nothing here is shared with the dev services: every run has its
//! own ports, directories and consumer group.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use invigil_ops::broker;

pub const EVENTS_TOPIC: &str = "proctor_events";
pub const LIVE_TOPIC: &str = "proctor_live";
const GROUP: &str = "chaos-pipeline";
/// The ClickHouse database the HTTP store writes to.
pub const DATABASE: &str = "chaos";

/// Where the pipeline keeps its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum StoreKind {
    /// chDB inside the pipeline process (killing the pipeline kills it).
    Chdb,
    /// Debian's ClickHouse 18.16 server over HTTP, with the legacy twin tables.
    Http,
}

/// A process the controller kills and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Broker,
    ClickHouse,
    Pipeline,
    Ingest,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Broker => "broker",
            Part::ClickHouse => "clickhouse",
            Part::Pipeline => "pipeline",
            Part::Ingest => "ingest",
        })
    }
}

pub struct Cluster {
    dir: PathBuf,
    pub store: StoreKind,
    tansu: PathBuf,
    pub broker: SocketAddr,
    pub ingest: SocketAddr,
    clickhouse_http: SocketAddr,
    clickhouse_tcp: SocketAddr,
    pipeline_metrics: SocketAddr,
    token_secret: String,
    /// The committed offsets (summed) the running pipeline started from.
    pipeline_starts_at: i64,
    /// ingest's `[kafka] idempotence` (off for tansu; see `KafkaSettings`).
    idempotence: bool,
    children: BTreeMap<Part, Child>,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Appends (restarts add to the same log).
fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    let path = dir.join(format!("{name}.log"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

impl Cluster {
    /// Starts every part and waits until each answers; topics and the
    /// ClickHouse database are created on the way.
    pub fn start(dir: &Path, store: StoreKind, token_secret: &str, idempotence: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("broker"))?;
        let tansu = broker::find_binary("the chaos run needs its own Kafka broker")?;
        let mut cluster = Self {
            dir: dir.to_path_buf(),
            store,
            tansu,
            broker: free_port()?,
            ingest: free_port()?,
            clickhouse_http: free_port()?,
            clickhouse_tcp: free_port()?,
            pipeline_metrics: free_port()?,
            token_secret: token_secret.to_owned(),
            pipeline_starts_at: 0,
            idempotence,
            children: BTreeMap::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        };
        cluster.spawn(Part::Broker)?;
        cluster.wait_until_healthy(Part::Broker, Duration::from_secs(60))?;
        broker::create_topics(
            &cluster.tansu,
            &dir.join("broker"),
            cluster.broker,
            &[(EVENTS_TOPIC, 4, &[]), (LIVE_TOPIC, 1, &[])],
        )?;
        if store == StoreKind::Http {
            cluster.write_clickhouse_config()?;
            cluster.spawn(Part::ClickHouse)?;
            cluster.wait_until_healthy(Part::ClickHouse, Duration::from_secs(60))?;
            let create = format!("CREATE DATABASE IF NOT EXISTS {DATABASE}");
            let url = format!("http://{}/", cluster.clickhouse_http);
            let reply = cluster.runtime.block_on(async { cluster.http.post(url).body(create).send().await })?;
            anyhow::ensure!(reply.status().is_success(), "creating database {DATABASE}: {}", reply.status());
        }
        cluster.write_ingest_settings()?;
        for part in [Part::Pipeline, Part::Ingest] {
            cluster.spawn(part)?;
        }
        cluster.wait_until_healthy(Part::Ingest, Duration::from_secs(60))?;
        Ok(cluster)
    }

    pub fn parts(&self) -> Vec<Part> {
        let mut parts = vec![Part::Broker, Part::Pipeline, Part::Ingest];
        if self.store == StoreKind::Http {
            parts.push(Part::ClickHouse);
        }
        parts
    }

    pub fn brokers(&self) -> String {
        self.broker.to_string()
    }

    pub fn ingest_url(&self) -> String {
        format!("http://{}", self.ingest)
    }

    pub fn chdb_path(&self) -> PathBuf {
        self.dir.join("chdb")
    }

    pub fn clickhouse_url(&self) -> String {
        format!("http://{}", self.clickhouse_http)
    }

    fn write_clickhouse_config(&self) -> anyhow::Result<()> {
        crate::clickhouse_server::ServerFiles {
            listen: "127.0.0.1",
            http_port: self.clickhouse_http.port(),
            tcp_port: self.clickhouse_tcp.port(),
            extra: "",
            network: "127.0.0.1",
            max_memory_usage: 4_000_000_000,
        }
        .write(&self.dir.join("clickhouse"))
    }

    fn write_ingest_settings(&self) -> anyhow::Result<()> {
        let settings = format!(
            "listen = \"{listen}\"\nnode = \"chaos\"\nconfig_file = \"{dir}/config.json\"\n\
             [kafka]\nbrokers = \"{brokers}\"\ntopic = \"{EVENTS_TOPIC}\"\nidempotence = {idempotence}\n\
             [spool]\ndir = \"{dir}/spool\"\n[rate_limit]\nper_second = 0.0\n\
             [dashboard]\nlive_topic = \"{LIVE_TOPIC}\"\n",
            listen = self.ingest,
            dir = self.dir.display(),
            brokers = self.broker,
            idempotence = self.idempotence,
        );
        std::fs::write(self.dir.join("ingest.toml"), settings)?;
        Ok(())
    }

    fn command(&self, part: Part) -> anyhow::Result<Command> {
        let invigil = crate::product_binary()?;
        let mut command = match part {
            Part::Broker => bail!("the broker starts through broker::spawn"),
            Part::ClickHouse => {
                let mut c = Command::new("clickhouse-server");
                c.arg(format!("--config-file={}", self.dir.join("clickhouse/config.xml").display()));
                c
            }
            Part::Ingest => {
                let mut c = Command::new(invigil);
                c.args(["ingest", "--settings"]).arg(self.dir.join("ingest.toml"));
                c.env("INVIGIL_TOKEN_SECRET", &self.token_secret).env("INVIGIL_IP_HASH_SECRET", "chaos-ip-hash-secret");
                c
            }
            Part::Pipeline => {
                let mut c = Command::new(invigil);
                c.args(["pipeline", "-w", "2", "--brokers", &self.brokers(), "--group", GROUP]);
                c.args(["--topic", EVENTS_TOPIC, "--live-topic", LIVE_TOPIC]);
                c.args(["--metrics-listen", &self.pipeline_metrics.to_string()]);
                match self.store {
                    StoreKind::Chdb => c.arg("--chdb-path").arg(self.chdb_path()),
                    StoreKind::Http => {
                        c.args(["--clickhouse-url", &self.clickhouse_url(), "--database", DATABASE, "--legacy"])
                    }
                };
                c
            }
        };
        // The settings file and arguments decide; the dev services' exports
        // (INVIGIL_KAFKA_BROKERS, …) in the caller's shell must not.
        for name in
            ["INVIGIL_KAFKA_BROKERS", "INVIGIL_LISTEN", "INVIGIL_NODE", "INVIGIL_FAULT", "INVIGIL_INGEST_SETTINGS"]
        {
            command.env_remove(name);
        }
        // The pipeline says when it assigns, rebuilds and commits (info);
        // ingest would log every spooled batch.
        let level = if part == Part::Pipeline { "info,librdkafka=warn,rdkafka=warn" } else { "warn" };
        command
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(log_file(&self.dir, &part.to_string())?)
            .stderr(log_file(&self.dir, &part.to_string())?);
        // Nothing outlives a controller that dies, whatever kills it.
        invigil_ops::process::die_with_parent(&mut command, libc::SIGKILL);
        Ok(command)
    }

    /// Starts `part` (it must not be running).
    pub fn spawn(&mut self, part: Part) -> anyhow::Result<()> {
        if part == Part::Pipeline {
            // Nothing commits while no pipeline runs: this life starts here.
            self.pipeline_starts_at = self.pipeline_progress().map_or(0, |(_, committed)| committed);
        }
        let child = match part {
            Part::Broker => broker::spawn(&self.tansu, &self.dir.join("broker"), self.broker)?,
            _ => self.command(part)?.spawn().with_context(|| format!("starting {part}"))?,
        };
        self.children.insert(part, child);
        Ok(())
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self, part: Part) {
        if let Some(mut child) = self.children.remove(&part) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (SIGKILL after `limit`).
    pub fn stop(&mut self, part: Part, limit: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.children.remove(&part) else { return Ok(()) };
        match invigil_ops::process::terminate(&mut child, limit) {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!("{part} exited with {status} on SIGTERM; see {}", self.log_path(part)),
            None => bail!("{part} did not stop within {} s of SIGTERM", limit.as_secs()),
        }
    }

    pub fn log_path(&self, part: Part) -> String {
        match part {
            Part::Broker => self.dir.join("broker/broker.log"),
            _ => self.dir.join(format!("{part}.log")),
        }
        .display()
        .to_string()
    }

    /// Whether `part` has exited by itself (restarts it if so).
    pub fn restart_if_exited(&mut self, part: Part) -> anyhow::Result<bool> {
        let exited = match self.children.get_mut(&part) {
            Some(child) => child.try_wait()?.is_some(),
            None => true,
        };
        if exited {
            self.children.remove(&part);
            self.spawn(part)?;
        }
        Ok(exited)
    }

    /// One cheap probe: does `part` serve? (The pipeline "serves" once
    /// its process runs; its progress is judged by the caller.)
    pub fn answers(&self, part: Part) -> bool {
        match part {
            Part::Broker => invigil_pipeline::topics::end_total(&self.brokers(), EVENTS_TOPIC).is_ok(),
            Part::ClickHouse => self.get_ok(&format!("{}/ping", self.clickhouse_url())),
            Part::Ingest => self.get_ok(&format!("{}/healthz", self.ingest_url())),
            Part::Pipeline => self.children.contains_key(&Part::Pipeline),
        }
    }

    fn get_ok(&self, url: &str) -> bool {
        self.runtime.block_on(async { self.http.get(url).send().await.is_ok_and(|r| r.status().is_success()) })
    }

    fn wait_until_healthy(&mut self, part: Part, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while !self.answers(part) {
            if Instant::now() > deadline {
                bail!("{part} did not answer within {} s; see {}", limit.as_secs(), self.log_path(part));
            }
            if self.restart_if_exited(part)? {
                eprintln!("chaos: {part} exited while starting; started again (see {})", self.log_path(part));
                std::thread::sleep(Duration::from_millis(500));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// ingest's `/readyz` body (spool state), if it answers.
    pub fn ingest_ready(&self) -> Option<Value> {
        let url = format!("{}/readyz", self.ingest_url());
        self.runtime.block_on(async { self.http.get(url).send().await.ok()?.json::<Value>().await.ok() })
    }

    /// `(records in the events topic, records the pipeline has committed)`.
    pub fn pipeline_progress(&self) -> Option<(i64, i64)> {
        let end = invigil_pipeline::topics::end_total(&self.brokers(), EVENTS_TOPIC).ok()?;
        let committed = invigil_pipeline::topics::committed_total(&self.brokers(), EVENTS_TOPIC, GROUP).ok()?;
        Some((end, committed))
    }

    /// A counter of the running pipeline's `/metrics` (this process life).
    pub fn pipeline_counter(&self, name: &str) -> Option<u64> {
        let url = format!("http://{}/metrics", self.pipeline_metrics);
        let text = self.runtime.block_on(async { self.http.get(url).send().await.ok()?.text().await.ok() })?;
        let prefix = format!("invigil_pipeline_{name}_total ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
    }

    /// Whether the running pipeline has read the topic up to `end` (offsets
    /// summed over partitions): it reads on from where it started, so the
    /// records it read in this life must cover `end` minus that.
    pub fn pipeline_has_read(&self, end: i64) -> bool {
        self.pipeline_counter("records_read").is_some_and(|read| read as i64 >= end - self.pipeline_starts_at)
    }

    /// Where (committed offsets, summed) the running pipeline started.
    pub fn pipeline_starts_at(&self) -> i64 {
        self.pipeline_starts_at
    }

    /// Runs a query with `invigil sql` against this run's store (for chDB
    /// only once the pipeline has stopped: one process per data directory).
    pub fn sql(&self, query: &str) -> anyhow::Result<String> {
        let mut command = Command::new(crate::product_binary()?);
        command.args(["sql", "--format", "TabSeparated", query]);
        match self.store {
            StoreKind::Chdb => command.arg("--chdb-path").arg(self.chdb_path()),
            StoreKind::Http => command.args(["--url", &self.clickhouse_url(), "--database", DATABASE]),
        };
        let output = command.stderr(Stdio::piped()).output().context("running invigil sql")?;
        anyhow::ensure!(
            output.status.success(),
            "invigil sql failed: {}\n{query}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8(output.stdout)?)
    }

    /// Stops everything that still runs (SIGKILL; used on failure paths).
    pub fn kill_all(&mut self) {
        let parts: Vec<Part> = self.children.keys().copied().collect();
        for part in parts {
            self.kill(part);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

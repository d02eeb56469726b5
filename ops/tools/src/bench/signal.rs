//! `invigil bench live --signal`: what the live video signal costs the host
//! that holds it. Every candidate of a test with live video on holds
//! `GET /api/v1/live/signal` open (25 s by default) so a proctor's click
//! reaches it at once: at the target scale that is 50,000 held requests.
//!
//! Per listener and count N, a fresh `invigil ingest` process (live video
//! on; a process that held another N before would reuse what it freed):
//!
//! 1. **held**: N keep-alive connections, each with one signal request the
//!    server holds (its hold set longer than the measurement). The server's
//!    resident memory with them held, minus before, divided by N: the memory
//!    one held signal costs.
//! 2. **answered**: the same N connections re-asking as soon as answered,
//!    with `wait_ms = --poll-ms`: the server's CPU per 1,000 signals
//!    answered, and from it how many candidates one core carries at the
//!    default 25 s hold.
//!
//! Connections come from several loopback source addresses, so tens of
//! thousands fit in the ephemeral port range; the open-file limit is raised
//! to what N needs (past the hard limit only with CAP_SYS_RESOURCE: a
//! container without it cannot hold more than its hard limit on one
//! process, and the bench says so rather than measure less).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const SECRET: &str = "Tq5LnW2vXc8RbZ0mKs4Yj7Hd1Fg9Pa3Ue6Io0Ly2Ct5Nw8";

/// Which of a server's two listeners a row measures.
#[derive(Clone, Copy, PartialEq)]
enum Listener {
    /// `[live_video] signal_listen`.
    Lean,
    Main,
}

/// The default hold of `[live_video] signal_wait_ms`.
const PRODUCTION_HOLD_SECS: f64 = 25.0;

pub struct SignalArgs {
    pub held: Vec<usize>,
    pub poll_ms: u64,
    pub seconds: u64,
}

pub fn run(args: &SignalArgs) -> anyhow::Result<()> {
    let most = args.held.iter().copied().max().unwrap_or(0);
    // This process holds N client sockets and the server N more, each in
    // its own file table.
    raise_open_files(most as u64 + 1024)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        println!(
            "live signal on an ingest process, a fresh one per N (memory freed by one run would otherwise be \
             reused by the next): N held requests, then N answered every {} ms for {} s",
            args.poll_ms, args.seconds
        );
        println!(
            "{:>16} {:>8} {:>13} {:>14} {:>12} {:>14} {:>16} {:>22}",
            "listener",
            "held",
            "server RSS MB",
            "bytes/held",
            "answers/s",
            "server CPU %",
            "CPU ms/1k sig",
            "held/core at 25 s hold"
        );
        for (listener, which) in [("signal_listen", Listener::Lean), ("main port", Listener::Main)] {
            for &n in &args.held {
                let server = Server::start().await?;
                let port = if which == Listener::Main { server.port } else { server.signal_port };
                let row =
                    measure(&server, port, n, args).await.with_context(|| format!("{n} held on the {listener}"))?;
                print_row(listener, n, &row);
            }
        }
        println!(
            "(bytes/held: server RSS with N held minus before, over N; held/core: candidates whose 25-s holds one core \
             answers at the measured CPU per signal)"
        );
        Ok(())
    })
}

fn print_row(listener: &str, n: usize, row: &Row) {
    println!(
        "{:>16} {:>8} {:>13.1} {:>14.0} {:>12.0} {:>14.1} {:>16.1} {:>22.0}",
        listener,
        n,
        row.rss_held as f64 / 1e6,
        row.bytes_per_held,
        row.answers_per_sec,
        100.0 * row.cpu_share,
        row.cpu_ms_per_1k,
        PRODUCTION_HOLD_SECS * 1e6 / row.cpu_ms_per_1k.max(1e-9),
    );
}

struct Row {
    rss_held: u64,
    bytes_per_held: f64,
    answers_per_sec: f64,
    cpu_share: f64,
    cpu_ms_per_1k: f64,
}

async fn measure(server: &Server, port: u16, n: usize, args: &SignalArgs) -> anyhow::Result<Row> {
    let tokens: Arc<Vec<String>> = Arc::new((0..n).map(|i| token(&format!("sig-{n}-{i}"))).collect());
    // The previous run's memory returned (the purge delay) before the baseline.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let rss_before = server.rss()?;

    // 1. Held: each connection sends one request the server keeps.
    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (tokens, sent, answered) = (Arc::clone(&tokens), Arc::clone(&sent), Arc::clone(&answered));
        // One connect at a time, as browsers arrive: a burst of thousands
        // overflows the listen backlog and measures the kernel instead.
        let mut connection = Connection::open(port, i).await?;
        tasks.push(tokio::spawn(async move {
            connection.ask(&tokens[i], 600_000).await?;
            sent.fetch_add(1, Ordering::Relaxed);
            connection.answer().await?;
            answered.fetch_add(1, Ordering::Relaxed);
            anyhow::Ok(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent.load(Ordering::Relaxed) < n as u64 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {n} requests sent in 120 s",
            sent.load(Ordering::Relaxed)
        );
        if let Some(failed) = tasks.iter().position(|t| t.is_finished()) {
            let outcome = (&mut tasks[failed]).await?;
            anyhow::bail!("connection {failed} ended early: {outcome:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the server read every request and park it, and the allocator
    // return what parsing them used (mimalloc purges freed pages after 10 s
    // in this binary): what remains is what holding them costs.
    tokio::time::sleep(Duration::from_secs(12)).await;
    anyhow::ensure!(answered.load(Ordering::Relaxed) == 0, "requests were answered while they should be held");
    let rss_held = server.rss()?;
    for task in &tasks {
        task.abort();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. Answered: re-ask as soon as answered.
    let answers = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(n);
    let poll_ms = args.poll_ms;
    for i in 0..n {
        let (tokens, answers) = (Arc::clone(&tokens), Arc::clone(&answers));
        let mut connection = Connection::open(port, i).await?;
        tasks.push(tokio::spawn(async move {
            loop {
                connection.ask(&tokens[i], poll_ms).await?;
                connection.answer().await?;
                answers.fetch_add(1, Ordering::Relaxed);
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        }));
    }
    // One hold to get every connection going, then measure.
    tokio::time::sleep(Duration::from_millis(poll_ms + 2_000)).await;
    let (answers_start, cpu_start, started) = (answers.load(Ordering::Relaxed), server.cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let seconds = started.elapsed().as_secs_f64();
    let (answered, cpu) = (answers.load(Ordering::Relaxed) - answers_start, server.cpu() - cpu_start);
    let failed = tasks.iter().filter(|t| t.is_finished()).count();
    let first_failure = match tasks.iter_mut().find(|t| t.is_finished()) {
        Some(task) => format!("{:?}", task.await),
        None => String::new(),
    };
    for task in &tasks {
        task.abort();
    }
    anyhow::ensure!(failed == 0, "{failed} of {n} connections failed while answering; the first: {first_failure}");
    anyhow::ensure!(answered > 0, "no signal was answered in {seconds:.0} s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Row {
        rss_held,
        bytes_per_held: rss_held.saturating_sub(rss_before) as f64 / n as f64,
        answers_per_sec: answered as f64 / seconds,
        cpu_share: cpu / seconds,
        cpu_ms_per_1k: cpu * 1e6 / answered as f64,
    })
}

fn token(candidate: &str) -> String {
    let now = invigil_schemas::clock::now_ms() / 1000;
    let claims = invigil_ops::token::claims("candidate", candidate, &["bench-signal".to_owned()], None, now, 4)
        .expect("candidate claims");
    invigil_ops::token::sign(SECRET, &claims)
}

/// One client connection, from one of several loopback source addresses.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(port: u16, index: usize) -> anyhow::Result<Self> {
        let source = std::net::Ipv4Addr::new(127, 0, 0, 1 + (index % 16) as u8);
        let socket = TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        let stream = socket.connect(([127, 0, 0, 1], port).into()).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, buffer: Vec::with_capacity(1024) })
    }

    async fn ask(&mut self, token: &str, wait_ms: u64) -> anyhow::Result<()> {
        let request = format!(
            "GET /api/v1/live/signal?publishing=none&wait_ms={wait_ms} HTTP/1.1\r\nHost: bench\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        self.stream.write_all(request.as_bytes()).await?;
        Ok(())
    }

    /// Reads one whole response (head and `Content-Length` body); 200 only.
    async fn answer(&mut self) -> anyhow::Result<()> {
        self.buffer.clear();
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end]).context("response head")?;
                anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{}", head.lines().next().unwrap_or(""));
                let length: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse().ok())
                    .context("no Content-Length")?;
                while self.buffer.len() < end + 4 + length {
                    self.read().await?;
                }
                return Ok(());
            }
            self.read().await?;
        }
    }

    async fn read(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 1024];
        let read = self.stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "the server closed the connection");
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

/// `invigil ingest` with live video on and a signal hold longer than any
/// measurement.
struct Server {
    child: std::process::Child,
    port: u16,
    /// `[live_video] signal_listen`.
    signal_port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let free = || -> std::io::Result<u16> { Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
        let (port, signal_port) = (free()?, free()?);
        std::fs::write(
            dir.path().join("ingest.toml"),
            format!(
                "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/config.json\"\n[kafka]\nbrokers = \"127.0.0.1:9\"\n\
                 [spool]\ndir = \"{d}/spool\"\n[rate_limit]\nper_second = 0.0\n[live_video]\nenabled = true\n\
                 signal_wait_ms = 600000\nsignal_listen = \"127.0.0.1:{signal_port}\"\n",
                d = dir.path().display()
            ),
        )?;
        let child = std::process::Command::new(crate::product_binary()?)
            .args(["ingest", "--settings"])
            .arg(dir.path().join("ingest.toml"))
            .env("INVIGIL_TOKEN_SECRET", SECRET)
            .env("INVIGIL_IP_HASH_SECRET", "bench-signal-ip-hash")
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("ingest.log"))?)
            .spawn()
            .context("starting `invigil ingest`")?;
        let server = Self { child, port, signal_port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", signal_port)).await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "ingest did not listen in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(server)
    }

    /// Resident bytes (VmRSS).
    fn rss(&self) -> anyhow::Result<u64> {
        super::memory_bytes(self.child.id(), "VmRSS").context("VmRSS of the ingest process")
    }

    fn cpu(&self) -> f64 {
        super::cpu_seconds(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises RLIMIT_NOFILE (soft, and hard when allowed) to at least `want`.
fn raise_open_files(want: u64) -> anyhow::Result<()> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write and read a plain struct we own.
    unsafe {
        anyhow::ensure!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0, "getrlimit");
        if limit.rlim_cur >= want {
            return Ok(());
        }
        let raised = libc::rlimit { rlim_cur: want, rlim_max: limit.rlim_max.max(want) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            let soft = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
            anyhow::bail!(
                "{want} open files are needed and the hard limit is {} (run as root or raise `ulimit -Hn`)",
                limit.rlim_max
            );
        }
    }
    Ok(())
}

//! `invigil bench chaos-bed`: the chaos test on many hosts. Loadgen's
//! candidates sit an exam through the balancer of the multi-host bed
//! ([`crate::bed`]) while a seeded controller, round after round, SIGKILLs
//! an ingest host, a pipeline host (the two-process timely cluster goes
//! down and starts again), a ClickHouse replica, and cuts a host off the
//! network for `--cut-secs`. Afterwards each ClickHouse replica must hold
//! exactly the events ingest accepted — none lost, none twice under
//! `FINAL` — and every candidate's window totals must equal the truth from
//! loadgen's own log, the same check as the single-host chaos test. While
//! the faults run, an admin's live wall (through the balancer) measures the
//! time from a batch's acceptance to its tile on the screen.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::truth::{self, Verdict};
use super::{read_store, TEST_ID};
use crate::bed::{http_ok, services, Bed};
use crate::loadgen;
use crate::loadgen::sim::Rng;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Seeds of the fault schedule and the candidates (one run each).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    seeds: Vec<u64>,
    #[arg(long, short = 'n', default_value_t = 1000)]
    candidates: usize,
    /// Simulated exam length, minutes.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 12.0)]
    speedup: f64,
    /// Real seconds between the end of one fault and the next: from [min, max].
    #[arg(long, default_value_t = 3.0)]
    min_gap_secs: f64,
    #[arg(long, default_value_t = 8.0)]
    max_gap_secs: f64,
    /// How long a killed host stays down, at most.
    #[arg(long, default_value_t = 4.0)]
    max_down_secs: f64,
    /// How long a cut host stays cut off.
    #[arg(long, default_value_t = 20.0)]
    cut_secs: f64,
    /// Keep the bed's directory (logs, data) here.
    #[arg(long)]
    work_dir: Option<std::path::PathBuf>,
}

/// A fault the controller injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillIngest,
    KillPipeline,
    KillClickHouse,
    Cut,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for &seed in &args.seeds {
        let dir = match &args.work_dir {
            Some(dir) => dir.join(format!("seed{seed}")),
            None => std::env::temp_dir().join(format!("invigil-chaos-bed-{}-seed{seed}", std::process::id())),
        };
        println!(
            "\nchaos on the bed, seed {seed}: {} candidates, {} simulated min at ×{}; work dir {}",
            args.candidates,
            args.minutes,
            args.speedup,
            dir.display()
        );
        match run_one(&args, seed, &dir) {
            Ok(true) => {
                println!("  PASS");
                if args.work_dir.is_none() {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
            Ok(false) => failed.push(seed),
            Err(error) => {
                println!("  FAILED: {error:#}\n  logs in {}", dir.display());
                failed.push(seed);
            }
        }
    }
    if !failed.is_empty() {
        bail!("chaos on the bed failed for seed(s) {failed:?}");
    }
    Ok(())
}

fn run_one(args: &Args, seed: u64, dir: &std::path::Path) -> anyhow::Result<bool> {
    let mut bed = Bed::create(dir, true, super::TOKEN_SECRET)?;
    let outcome = bed.start_all().and_then(|()| exercise(&mut bed, args, seed, dir));
    if !matches!(outcome, Ok(true)) {
        bed.keep_files();
    }
    outcome
}

/// The run on a started bed: load, faults, drain, and the check of each replica.
fn exercise(bed: &mut Bed, args: &Args, seed: u64, dir: &std::path::Path) -> anyhow::Result<bool> {
    let started = Instant::now();
    let log_path = dir.join("loadgen.jsonl");
    let (load, done) = super::start_load(loadgen::Args {
        endpoint: bed.url("lb", services::INGEST_PORT),
        candidates: args.candidates,
        test_id: TEST_ID.into(),
        minutes: args.minutes,
        speedup: args.speedup,
        events_interval_ms: 5000,
        offline_fraction: 0.1,
        seed,
        log: Some(log_path.clone()),
        token_secret: super::TOKEN_SECRET.into(),
        no_progress: true,
        upload_media: false,
    });

    let wall = WallWatch::start(bed.url("lb", services::INGEST_PORT))?;
    let mut rng = Rng::new(seed ^ 0xBED5_EED);
    let between = |rng: &mut Rng, low: f64, high: f64| {
        Duration::from_secs_f64(low + (high - low) * (rng.below(1_000_001) as f64 / 1e6))
    };
    let mut round: Vec<Fault> = Vec::new();
    let mut injected = Vec::new();
    let mut own_exits = Vec::new();
    let mut pipeline_restarts = 0;
    let mut next = started.elapsed() + between(&mut rng, args.min_gap_secs, args.max_gap_secs);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        pipeline_restarts += restart_exited(bed, &mut own_exits, None)?;
        if started.elapsed() < next {
            continue;
        }
        if round.is_empty() {
            round = vec![Fault::KillIngest, Fault::KillPipeline, Fault::KillClickHouse, Fault::Cut];
            for i in (1..round.len()).rev() {
                round.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        let fault = round.pop().expect("a non-empty round");
        let at = started.elapsed();
        let (host, recovered) = inject(bed, fault, &mut rng, args, &mut own_exits, &mut pipeline_restarts)?;
        println!(
            "  [{:6.1} s] {fault:?} {host}; serving again {:.1} s after",
            at.as_secs_f64(),
            recovered.as_secs_f64()
        );
        injected.push((fault, host, recovered));
        next = started.elapsed() + between(&mut rng, args.min_gap_secs, args.max_gap_secs);
    }
    let load = load.join().map_err(|_| anyhow::anyhow!("loadgen panicked"))??;
    let (mut latencies, lost_streams) = wall.finish();
    let (p50, p99, max) = percentiles(&mut latencies);
    println!(
        "  accepted → on the proctor's wall during the faults: p50 {p50} ms, p99 {p99} ms, max {max} ms over {} tiles \
         (the wall's stream was lost and reopened {lost_streams} times)",
        latencies.len()
    );
    println!(
        "  loadgen done after {:.1} s: {} batches / {} events accepted, statuses {:?}; draining",
        started.elapsed().as_secs_f64(),
        load.batches_ok,
        load.events_ok,
        load.statuses
    );
    let drained = drain(bed, &mut own_exits)?;

    let key_burst_keys = invigil_schemas::config::ProctorConfig::default().anomaly.key_burst_keys as u64;
    let truth = truth::from_log(&log_path, key_burst_keys)?;
    anyhow::ensure!(truth.ids.len() as u64 == load.events_ok, "loadgen's log and its count disagree");
    let mut passed = own_exits.is_empty();
    let kinds = [Fault::KillIngest, Fault::KillPipeline, Fault::KillClickHouse, Fault::Cut];
    let missing: Vec<&Fault> = kinds.iter().filter(|k| !injected.iter().any(|(f, _, _)| f == *k)).collect();
    if !missing.is_empty() {
        // A run that left a kind of fault out proves less than it says.
        println!("  the load ended before every kind of fault was injected (missing {missing:?}): lengthen the run");
        passed = false;
    }
    for replica in ["ch-1", "ch-2"] {
        let url = format!("{}/?database={}", bed.url(replica, services::CLICKHOUSE_HTTP_PORT), services::DATABASE);
        let sql = |query: &str| clickhouse(&url, query);
        // A replica restarted late in the run may still be fetching the
        // parts its peer took meanwhile: read it once it has caught up.
        for table in ["proctor_events", "candidate_windows", "anomalies", "sessions"] {
            clickhouse(&url, &format!("SYSTEM SYNC REPLICA {}.{table}_local", services::DATABASE))?;
        }
        let verdict = truth::compare(&truth, &read_store(&sql, "_local")?);
        print_verdict(replica, &verdict);
        passed &= verdict.passed();
    }
    println!(
        "  faults {}: {}; pipeline cluster restarts {pipeline_restarts}; drained in {:.1} s; ran {:.1} s",
        injected.len(),
        injected.iter().map(|(f, h, _)| format!("{f:?} {h}")).collect::<Vec<_>>().join(", "),
        drained.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if !own_exits.is_empty() {
        println!("  exited on their own (not a pipeline whose peer went away): {own_exits:?}");
    }
    Ok(passed)
}

/// Injects `fault`; returns the host it hit and how long until it served again.
fn inject(
    bed: &mut Bed,
    fault: Fault,
    rng: &mut Rng,
    args: &Args,
    own_exits: &mut Vec<String>,
    pipeline_restarts: &mut usize,
) -> anyhow::Result<(String, Duration)> {
    let pick = |rng: &mut Rng, hosts: &[&str]| hosts[rng.below(hosts.len() as u64) as usize].to_owned();
    let down = Duration::from_secs_f64(0.2 + (args.max_down_secs - 0.2) * (rng.below(1001) as f64 / 1000.0));
    let host = match fault {
        Fault::KillIngest => pick(rng, &["ingest-1", "ingest-2"]),
        Fault::KillPipeline => pick(rng, &["pipeline-1", "pipeline-2"]),
        Fault::KillClickHouse => pick(rng, &["ch-1", "ch-2"]),
        Fault::Cut => pick(rng, &["ingest-1", "ingest-2", "broker", "pipeline-1", "pipeline-2", "ch-1", "ch-2"]),
    };
    if fault == Fault::Cut {
        bed.net.cut(&host)?;
        sleep_watching(bed, Duration::from_secs_f64(args.cut_secs), "", own_exits, pipeline_restarts)?;
        bed.net.heal(&host)?;
    } else {
        bed.kill_host(&host)?;
        sleep_watching(bed, down, &host, own_exits, pipeline_restarts)?;
        bed.start_host(&host)?;
    }
    let healed = Instant::now();
    while !serves(bed, &host) {
        if healed.elapsed() > Duration::from_secs(180) {
            bail!("{host} did not serve again within 180 s; see its log under {}", bed.dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
        *pipeline_restarts += restart_exited(bed, own_exits, None)?;
    }
    Ok((host, healed.elapsed()))
}

/// Sleeps `span`, restarting what exits meanwhile except `down` (the host
/// the fault keeps down).
fn sleep_watching(
    bed: &mut Bed,
    span: Duration,
    down: &str,
    own_exits: &mut Vec<String>,
    pipeline_restarts: &mut usize,
) -> anyhow::Result<()> {
    let until = Instant::now() + span;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
        *pipeline_restarts += restart_exited(bed, own_exits, Some(down))?;
    }
    Ok(())
}

/// Starts again every service that is not running. A pipeline process
/// exits when its peer goes (the timely cluster is all or nothing): that is
/// expected and counted. Anything else exiting by itself is a failure.
fn restart_exited(bed: &mut Bed, own_exits: &mut Vec<String>, except: Option<&str>) -> anyhow::Result<usize> {
    let mut pipelines = 0;
    let stopped: Vec<String> = bed.stopped_hosts();
    for host in stopped.into_iter().filter(|h| Some(h.as_str()) != except) {
        if host.starts_with("pipeline-") {
            pipelines += 1;
        } else {
            println!("  {host} EXITED ON ITS OWN; started again");
            own_exits.push(host.clone());
        }
        bed.start_host(&host)?;
    }
    Ok(pipelines)
}

fn serves(bed: &Bed, host: &str) -> bool {
    match host {
        "ingest-1" | "ingest-2" => http_ok(&format!("{}/readyz", bed.url(host, services::INGEST_PORT))),
        "ch-1" | "ch-2" => http_ok(&format!("{}/ping", bed.url(host, services::CLICKHOUSE_HTTP_PORT))),
        "pipeline-1" | "pipeline-2" => ["pipeline-1", "pipeline-2"]
            .iter()
            .all(|p| http_ok(&format!("{}/readyz", bed.url(p, services::PIPELINE_METRICS_PORT)))),
        "broker" => {
            invigil_pipeline::topics::end_total(&bed.address("broker", services::BROKER_PORT), services::EVENTS_TOPIC)
                .is_ok()
        }
        _ => true,
    }
}

/// Waits until both spools are empty and the topic stopped growing, then
/// stops the pipeline cluster with SIGTERM (which closes every window,
/// writes it and commits) and checks that it committed every record.
fn drain(bed: &mut Bed, own_exits: &mut Vec<String>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let brokers = bed.address("broker", services::BROKER_PORT);
    let mut last_end = -1;
    let mut settled = 0;
    while settled < 3 {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "not drained within 300 s");
        std::thread::sleep(Duration::from_secs(1));
        restart_exited(bed, own_exits, None)?;
        let spools_empty = ["ingest-1", "ingest-2"].iter().all(|host| {
            reqwest::blocking::get(format!("{}/readyz", bed.url(host, services::INGEST_PORT)))
                .ok()
                .and_then(|r| r.json::<serde_json::Value>().ok())
                .is_some_and(|r| r["spool"]["active"] == false)
        });
        let end = invigil_pipeline::topics::end_total(&brokers, services::EVENTS_TOPIC).unwrap_or(-1);
        settled = if spools_empty && end >= 0 && end == last_end && all_read(bed) { settled + 1 } else { 0 };
        last_end = end;
    }
    // Both at once: each process finishes when the cluster's input does.
    let clean = bed.stop_hosts(&["pipeline-1", "pipeline-2"], Duration::from_secs(240))?;
    anyhow::ensure!(clean, "a pipeline process did not stop cleanly on SIGTERM");
    let end = invigil_pipeline::topics::end_total(&brokers, services::EVENTS_TOPIC)?;
    let committed =
        invigil_pipeline::topics::committed_total(&brokers, services::EVENTS_TOPIC, services::PIPELINE_GROUP)?;
    anyhow::ensure!(end == committed, "the pipeline stopped with {} of {end} records uncommitted", end - committed);
    Ok(started.elapsed())
}

/// Whether the pipeline cluster has read every partition to its end: its
/// processes' `unread_records` (librdkafka's statistics, every 5 s) are 0
/// for all four partitions.
fn all_read(bed: &Bed) -> bool {
    let mut partitions = 0;
    for host in ["pipeline-1", "pipeline-2"] {
        let url = format!("{}/metrics", bed.url(host, services::PIPELINE_METRICS_PORT));
        let Some(text) = reqwest::blocking::get(url).ok().and_then(|r| r.text().ok()) else { return false };
        for line in text.lines().filter(|l| l.starts_with("invigil_pipeline_unread_records{")) {
            if line.rsplit(' ').next() != Some("0") {
                return false;
            }
            partitions += 1;
        }
    }
    partitions == 4
}

fn clickhouse(url: &str, query: &str) -> anyhow::Result<String> {
    let body = if query.starts_with("SELECT") { format!("{query} FORMAT TabSeparated") } else { query.to_owned() };
    let reply = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?
        .post(url)
        .body(body)
        .send()
        .context("querying ClickHouse")?;
    let status = reply.status();
    let text = reply.text()?;
    anyhow::ensure!(status.is_success(), "{query}: {text}");
    Ok(text)
}

fn print_verdict(replica: &str, v: &Verdict) {
    println!(
        "  {replica}: events sent {} → stored {}: lost {}, duplicated {}, unexpected {}; windows equal the truth for {} of {} candidates",
        v.expected,
        v.stored,
        v.lost,
        v.duplicated,
        v.unexpected,
        v.candidates - v.wrong_candidates.len(),
        v.candidates
    );
    if let Some(first) = &v.first_difference {
        println!("    first difference: {first}");
    }
}

/// A proctor's screen during the run: the admin's live wall of the exam
/// (server-sent events through the balancer), reconnecting when the
/// replica serving it goes away. Each tile carries the receipt time of the
/// newest batch it reflects; the tile's arrival minus that is the time from
/// "accepted" to "on the screen" (one machine, one clock).
struct WallWatch {
    latencies_ms: Arc<Mutex<Vec<i64>>>,
    reconnects: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl WallWatch {
    fn start(base: String) -> anyhow::Result<Self> {
        let now = invigil_schemas::clock::now_ms() / 1000;
        let claims = invigil_ops::token::claims("admin", "chaos-watch", &[], None, now, 4)?;
        let token = invigil_ops::token::sign(super::TOKEN_SECRET, &claims);
        let latencies_ms = Arc::new(Mutex::new(Vec::new()));
        let reconnects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (into, again, stopped) = (Arc::clone(&latencies_ms), Arc::clone(&reconnects), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            let url = format!("{base}/api/v1/dashboard/tests/{TEST_ID}/live");
            while !stopped.load(Ordering::Relaxed) {
                runtime.block_on(follow(&url, &token, &into, &stopped));
                again.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Ok(Self { latencies_ms, reconnects, stop, thread })
    }

    /// Stops watching; the latencies seen and how often the stream was lost.
    fn finish(self) -> (Vec<i64>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let latencies = std::mem::take(&mut *self.latencies_ms.lock().unwrap_or_else(|p| p.into_inner()));
        (latencies, self.reconnects.load(Ordering::Relaxed).saturating_sub(1))
    }
}

/// Reads one wall stream until it ends (or `stop`), noting each tile's latency.
async fn follow(url: &str, token: &str, into: &Mutex<Vec<i64>>, stop: &std::sync::atomic::AtomicBool) {
    let client = reqwest::Client::new();
    let Ok(mut response) = client.get(url).bearer_auth(token).send().await else { return };
    if !response.status().is_success() {
        return;
    }
    let (mut pending, mut event) = (String::new(), String::new());
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let chunk = match tokio::time::timeout(Duration::from_millis(500), response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(_) => return,
            Err(_) => continue,
        };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end();
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:").filter(|_| event == "tile") {
                let arrived = invigil_schemas::clock::now_ms();
                let received = serde_json::from_str::<serde_json::Value>(data.trim())
                    .ok()
                    .and_then(|tile| tile["received_at"].as_i64());
                if let Some(received) = received.filter(|r| *r > 0) {
                    into.lock().unwrap_or_else(|p| p.into_inner()).push(arrived - received);
                }
            }
        }
    }
}

/// `(p50, p99, max)` of `values`, in their unit.
fn percentiles(values: &mut [i64]) -> (i64, i64, i64) {
    if values.is_empty() {
        return (0, 0, 0);
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), *values.last().expect("not empty"))
}

//! `invigil bench chaos` (and `ops/chaos/run.sh`): loadgen's candidates sit
//! an exam through ingest → tansu → pipeline → ClickHouse/chDB while a
//! seeded controller SIGKILLs and restarts ingest, the broker, the pipeline
//! and the ClickHouse server. Afterwards the store must hold exactly the
//! events ingest accepted — none lost, none twice under `FINAL` — and every
//! candidate's window sums must equal the truth computed from loadgen's own
//! log (SPEC §4's "nothing is lost", §6's effectively-once sinks).
//!
//! The fault schedule (which part, when, for how long it stays down) comes
//! from the seed, so a run can be repeated; when requests land relative to
//! the faults is up to the machine.

mod bed;
mod cluster;
mod truth;

pub use bed::{run as run_on_bed, Args as BedArgs};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::loadgen;
use crate::loadgen::sim::Rng;
use cluster::{Cluster, Part, StoreKind};
use truth::{Stored, Totals, Verdict};

const TEST_ID: &str = "chaos";
const TOKEN_SECRET: &str = "Xz1+8RBSYM4fkuFrDKrnM5f1DktfdVOOcnCrH2NUmmOS";

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Seeds of the fault schedule and the candidates (one run each).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Stores to run against (each seed runs on each).
    #[arg(long, value_delimiter = ',', default_value = "chdb,http")]
    stores: Vec<StoreKind>,
    /// Simulated candidates.
    #[arg(long, short = 'n', default_value_t = 1000)]
    candidates: usize,
    /// Simulated exam length, minutes.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 12.0)]
    speedup: f64,
    /// The simulated SDK's batch cadence.
    #[arg(long, default_value_t = 5000)]
    events_interval_ms: i64,
    /// Share of candidates who go offline once (their batches replay late).
    #[arg(long, default_value_t = 0.1)]
    offline_fraction: f64,
    /// Real seconds between a recovery and the next fault: drawn from [min, max].
    #[arg(long, default_value_t = 4.0)]
    min_gap_secs: f64,
    #[arg(long, default_value_t = 12.0)]
    max_gap_secs: f64,
    /// A killed part stays down for up to this long before it is restarted.
    #[arg(long, default_value_t = 5.0)]
    max_down_secs: f64,
    /// How long a part may take to serve again after its restart.
    #[arg(long, default_value_t = 180)]
    recovery_limit_secs: u64,
    /// How long the system may take to drain after the last batch.
    #[arg(long, default_value_t = 600)]
    drain_limit_secs: u64,
    /// Run ingest's producer idempotent, as against a real Kafka. tansu 0.6
    /// then panics inside the broker after a crash restart and stops
    /// serving (the run fails with "did not serve again"), so it is off by
    /// default, as `invigil up` runs it with its local tansu.
    #[arg(long)]
    idempotent_producer: bool,
    /// Keep every run's directory (logs, data, loadgen's log) here; by
    /// default they are deleted after a passing run and kept after a failing one.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// One injected fault.
struct Fault {
    at: Duration,
    part: Part,
    down: Duration,
    /// From the restart until the part served again.
    recovered: Duration,
}

struct RunResult {
    store: StoreKind,
    seed: u64,
    load: loadgen::Report,
    faults: Vec<Fault>,
    /// Parts that exited on their own (a crash we did not cause).
    own_exits: Vec<Part>,
    drain: Duration,
    verdict: Verdict,
    elapsed: Duration,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.min_gap_secs > 0.0 && args.max_gap_secs >= args.min_gap_secs,
        "need 0 < --min-gap-secs ≤ --max-gap-secs"
    );
    anyhow::ensure!(!args.seeds.is_empty() && !args.stores.is_empty(), "need at least one seed and one store");
    let (base, keep_all) = match &args.work_dir {
        Some(dir) => (dir.clone(), true),
        None => (tempfile::Builder::new().prefix("invigil-chaos-").tempdir()?.keep(), false),
    };
    let mut results = Vec::new();
    let mut failed = false;
    for &store in &args.stores {
        for &seed in &args.seeds {
            let dir = base.join(format!("{store:?}-seed{seed}").to_lowercase());
            std::fs::create_dir_all(&dir)?;
            println!(
                "\nchaos: {store:?} store, seed {seed}: {} candidates, {} simulated min at ×{} (work dir {})",
                args.candidates,
                args.minutes,
                args.speedup,
                dir.display()
            );
            match run_one(&args, store, seed, &dir) {
                Ok(result) => {
                    print_result(&result);
                    failed |= !result.verdict.passed() || !result.own_exits.is_empty();
                    if result.verdict.passed() && !keep_all {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    results.push(result);
                }
                Err(error) => {
                    println!("  FAILED: {error:#}\n  logs in {}", dir.display());
                    failed = true;
                }
            }
        }
    }
    print_summary(&results);
    if !keep_all && !failed {
        let _ = std::fs::remove_dir_all(&base);
    }
    if failed {
        bail!("chaos: at least one run failed; its directory is kept under {}", base.display());
    }
    Ok(())
}

fn run_one(args: &Args, store: StoreKind, seed: u64, dir: &std::path::Path) -> anyhow::Result<RunResult> {
    let started = Instant::now();
    let mut cluster = Cluster::start(dir, store, TOKEN_SECRET, args.idempotent_producer)?;
    println!("  started: broker {}, ingest {}, pipeline on {store:?}", cluster.broker, cluster.ingest);

    let log_path = dir.join("loadgen.jsonl");
    let (load, done) = start_load(loadgen::Args {
        endpoint: cluster.ingest_url(),
        candidates: args.candidates,
        test_id: TEST_ID.into(),
        minutes: args.minutes,
        speedup: args.speedup,
        events_interval_ms: args.events_interval_ms,
        offline_fraction: args.offline_fraction,
        seed,
        log: Some(log_path.clone()),
        token_secret: TOKEN_SECRET.into(),
        no_progress: true,
        upload_media: false,
    });

    let mut faults_log = std::fs::File::create(dir.join("faults.log"))?;
    let mut rng = Rng::new(seed ^ 0xC4A0_5EED);
    let between = |rng: &mut Rng, low: f64, high: f64| -> Duration {
        Duration::from_secs_f64(low + (high - low) * (rng.below(1_000_001) as f64 / 1e6))
    };
    let mut faults = Vec::new();
    let mut own_exits = Vec::new();
    let mut round: Vec<Part> = Vec::new();
    let mut next_fault = started.elapsed() + between(&mut rng, args.min_gap_secs, args.max_gap_secs);
    let mut next_status = Duration::from_secs(10);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let now = started.elapsed();
        note_own_exits(&mut cluster, &mut own_exits)?;
        if now >= next_status {
            next_status = now + Duration::from_secs(10);
            print_status(&cluster, now, faults.len());
        }
        if now < next_fault {
            continue;
        }
        // Every part is hit once per round, in a seeded order.
        if round.is_empty() {
            round = cluster.parts();
            for i in (1..round.len()).rev() {
                round.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        let part = round.pop().expect("a non-empty round");
        let down = between(&mut rng, 0.2, args.max_down_secs);
        let fault = inject(&mut cluster, part, now, down, Duration::from_secs(args.recovery_limit_secs))?;
        let line = format!(
            "[{:7.1} s] kill -9 {part}; down {:.1} s; serving again {:.1} s after its restart",
            fault.at.as_secs_f64(),
            fault.down.as_secs_f64(),
            fault.recovered.as_secs_f64()
        );
        println!("  {line}");
        writeln!(faults_log, "{line}")?;
        faults.push(fault);
        next_fault = started.elapsed() + between(&mut rng, args.min_gap_secs, args.max_gap_secs);
    }
    let load = load.join().map_err(|_| anyhow::anyhow!("loadgen panicked"))??;
    println!(
        "  loadgen done after {:.1} s: {} batches / {} events accepted; draining",
        started.elapsed().as_secs_f64(),
        load.batches_ok,
        load.events_ok
    );

    let drain = drain(&mut cluster, &mut own_exits, Duration::from_secs(args.drain_limit_secs))?;

    let key_burst_keys = invigil_schemas::config::ProctorConfig::default().anomaly.key_burst_keys as u64;
    let truth = truth::from_log(&log_path, key_burst_keys)?;
    anyhow::ensure!(truth.logged_twice == 0, "loadgen logged {} event ids twice", truth.logged_twice);
    anyhow::ensure!(
        truth.ids.len() as u64 == load.events_ok,
        "loadgen's log holds {} events but it counted {} accepted",
        truth.ids.len(),
        load.events_ok
    );
    let stored = read_store(&|query| cluster.sql(query), "")?;
    let verdict = truth::compare(&truth, &stored);
    cluster.kill_all();
    Ok(RunResult { store, seed, load, faults, own_exits, drain, verdict, elapsed: started.elapsed() })
}

/// Runs loadgen's candidates on a thread of their own (its own runtime);
/// the flag is raised when they have finished.
pub(crate) fn start_load(
    args: loadgen::Args,
) -> (std::thread::JoinHandle<anyhow::Result<loadgen::Report>>, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&done);
    let load = std::thread::spawn(move || -> anyhow::Result<loadgen::Report> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let report = runtime.block_on(loadgen::simulate(args));
        raised.store(true, Ordering::Relaxed);
        report
    });
    (load, done)
}

/// Kills `part`, leaves it down for `down`, restarts it and waits until it
/// serves again. The pipeline serves again once it has re-read the records
/// it had not committed when it died and written their events to the store
/// (its commits wait for windows to close, which says nothing about recovery).
fn inject(cluster: &mut Cluster, part: Part, at: Duration, down: Duration, limit: Duration) -> anyhow::Result<Fault> {
    cluster.kill(part);
    std::thread::sleep(down);
    cluster.spawn(part)?;
    let restarted = Instant::now();
    // How far the topic reached when the pipeline came back.
    let end_at_restart = if part == Part::Pipeline { cluster.pipeline_progress().map(|(end, _)| end) } else { None };
    loop {
        let serving = match part {
            Part::Pipeline => end_at_restart.is_some_and(|end| {
                cluster.pipeline_has_read(end)
                    && (end == cluster.pipeline_starts_at()
                        || cluster.pipeline_counter("event_rows_written").is_some_and(|written| written > 0))
            }),
            other => cluster.answers(other),
        };
        if serving {
            return Ok(Fault { at, part, down, recovered: restarted.elapsed() });
        }
        if restarted.elapsed() > limit {
            bail!(
                "{part} did not serve again within {} s of its restart; see {}",
                limit.as_secs(),
                cluster.log_path(part)
            );
        }
        if cluster.restart_if_exited(part)? {
            println!("  {part} exited right after its restart; started again (see {})", cluster.log_path(part));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A part that exited without being killed is restarted and remembered: the
/// run then fails, since only the controller may crash things.
fn note_own_exits(cluster: &mut Cluster, own_exits: &mut Vec<Part>) -> anyhow::Result<()> {
    for part in cluster.parts() {
        if cluster.restart_if_exited(part)? {
            println!("  {part} EXITED ON ITS OWN; restarted (see {})", cluster.log_path(part));
            own_exits.push(part);
        }
    }
    Ok(())
}

fn print_status(cluster: &Cluster, now: Duration, faults: usize) {
    let (end, committed) = cluster.pipeline_progress().unwrap_or((-1, -1));
    let spool = cluster.ingest_ready().map_or("?".to_owned(), |r| r["spool"]["bytes"].to_string());
    println!(
        "  [{:7.1} s] records in Kafka {end}, committed by the pipeline {committed}, ingest spool {spool} B, faults so far {faults}",
        now.as_secs_f64()
    );
}

/// Waits until ingest's spool is empty, the topic stops growing and the
/// pipeline has read all of it, then stops the pipeline with SIGTERM — which
/// closes every open window, writes it and commits — and checks that it
/// committed every record. (Windows of
/// a time-compressed exam end far ahead of the wall clock, so a running
/// pipeline would hold the last ones open until the wall clock got there.)
fn drain(cluster: &mut Cluster, own_exits: &mut Vec<Part>, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut settled = 0;
    let mut last_end = -1;
    let mut next_status = Duration::from_secs(10);
    while settled < 3 {
        if started.elapsed() > limit {
            bail!(
                "not drained within {} s (ingest's spool, the topic's growth, the pipeline's reading)",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
        note_own_exits(cluster, own_exits)?;
        if started.elapsed() >= next_status {
            next_status += Duration::from_secs(10);
            print_status(cluster, started.elapsed(), 0);
        }
        let spool_empty = cluster
            .ingest_ready()
            .is_some_and(|r| r["spool"]["active"] == false && r["spool"]["bytes"].as_u64() == Some(0));
        let end = cluster.pipeline_progress().map_or(-1, |(end, _)| end);
        let quiet = spool_empty && end >= 0 && end == last_end;
        settled = if quiet && cluster.pipeline_has_read(end) { settled + 1 } else { 0 };
        last_end = end;
    }
    cluster.stop(Part::Ingest, Duration::from_secs(30))?;
    cluster.stop(Part::Pipeline, limit)?;
    let (end, committed) = cluster.pipeline_progress().context("reading offsets after the pipeline stopped")?;
    anyhow::ensure!(end == committed, "the pipeline stopped with {} of {end} records uncommitted", end - committed);
    Ok(started.elapsed())
}

/// What the store holds of the chaos exam, through `sql` (TSV out); the
/// tables are `proctor_events{suffix}` and `candidate_windows{suffix}` (a
/// cluster replica's own copy is `_local`).
pub(crate) fn read_store(sql: &dyn Fn(&str) -> anyhow::Result<String>, suffix: &str) -> anyhow::Result<Stored> {
    let mut stored = Stored::default();
    let where_test = format!("test_id = '{TEST_ID}'");
    let ids = sql(&format!(
        "SELECT toString(event_id), count() FROM proctor_events{suffix} FINAL WHERE {where_test} GROUP BY event_id"
    ))?;
    for line in ids.lines() {
        let (id, rows) = line.split_once('\t').context("an event id line without a count")?;
        stored.ids.insert(id.to_owned(), rows.parse()?);
    }
    stored.raw_rows = sql(&format!("SELECT count() FROM proctor_events{suffix} WHERE {where_test}"))?.trim().parse()?;
    let windows = sql(&format!(
        "SELECT candidate_id, window_kind, {} FROM candidate_windows{suffix} FINAL WHERE {where_test} \
         GROUP BY candidate_id, window_kind",
        Totals::SUMS
    ))?;
    for line in windows.lines() {
        let columns: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(columns.len() == 13, "unexpected window line {line:?}");
        let totals = Totals::from_columns(&columns[2..])?;
        // An Enum8 on chDB, its Int8 value on the 18.16 twins.
        let into = match columns[1] {
            "minute" | "1" => &mut stored.minute_windows,
            "session" | "2" => &mut stored.session_windows,
            other => bail!("unknown window_kind {other:?}"),
        };
        into.insert(columns[0].to_owned(), totals);
    }
    Ok(stored)
}

fn print_result(r: &RunResult) {
    let v = &r.verdict;
    let mut by_part: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for fault in &r.faults {
        let entry = by_part.entry(fault.part.to_string()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(fault.recovered.as_secs_f64());
    }
    println!(
        "  ran {:.1} s; loadgen retries {}, statuses {:?}",
        r.elapsed.as_secs_f64(),
        r.load.retries,
        r.load.statuses
    );
    println!(
        "  faults injected {}: {}",
        r.faults.len(),
        by_part.iter().map(|(part, (n, _))| format!("{part} {n}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "  max recovery (restart → serving): {}",
        by_part.iter().map(|(part, (_, max))| format!("{part} {max:.1} s")).collect::<Vec<_>>().join(", ")
    );
    println!("  drained and stopped {:.1} s after the last batch", r.drain.as_secs_f64());
    println!(
        "  events sent {} → stored {}: lost {}, duplicated {}, unexpected {} (rows merged away by FINAL: {})",
        v.expected, v.stored, v.lost, v.duplicated, v.unexpected, v.rewritten
    );
    println!(
        "  window totals (minute windows and session row): {} of {} candidates equal the truth",
        v.candidates - v.wrong_candidates.len(),
        v.candidates
    );
    if let Some(first) = &v.first_difference {
        println!("  first difference: {first}");
    }
    if !r.own_exits.is_empty() {
        println!("  parts that exited on their own: {:?}", r.own_exits);
    }
    let pass = v.passed() && r.own_exits.is_empty();
    println!("  {}", if pass { "PASS" } else { "FAIL" });
}

fn print_summary(results: &[RunResult]) {
    if results.is_empty() {
        return;
    }
    println!("\nchaos summary");
    println!("  store  seed   events sent   faults   lost   dup   wrong windows   max recovery s   result");
    for r in results {
        let max_recovery = r.faults.iter().map(|f| f.recovered.as_secs_f64()).fold(0.0, f64::max);
        println!(
            "  {:<6} {:>4} {:>13} {:>8} {:>6} {:>5} {:>15} {:>16.1}   {}",
            format!("{:?}", r.store).to_lowercase(),
            r.seed,
            r.verdict.expected,
            r.faults.len(),
            r.verdict.lost,
            r.verdict.duplicated,
            r.verdict.wrong_candidates.len(),
            max_recovery,
            if r.verdict.passed() && r.own_exits.is_empty() { "pass" } else { "FAIL" }
        );
    }
}

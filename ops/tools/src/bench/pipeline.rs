//! `invigil bench pipeline`: how fast the stream processor goes, measured
//! three ways on this machine.
//!
//! 1. **Dataflow + store** from a recorded batch file (no Kafka): the
//!    timely dataflow reads records from memory and writes every table into
//!    a store that keeps nothing (the dataflow alone), into chDB and into
//!    ClickHouse over HTTP; beside each engine, its own `INSERT … FORMAT
//!    RowBinary` of the same event rows from a file. Events/s, CPU µs per
//!    event and the ratios, median of `--rounds`.
//! 2. **End to end from tansu**: the same records produced to a fresh
//!    topic; first a bare consumer reads them all (the broker's own consume
//!    rate), then the pipeline consumes, computes and writes them. Events/s
//!    of both and their ratio.
//! 3. **Latency** in a steady state: records stamped on send at a paced
//!    rate; arrival → live counter on `proctor_live` and arrival → queryable
//!    in the store (chDB), p50/p99 per record.
//!
//! The recorded batch file is the scripted exam taken by many candidates,
//! encoded as Kafka records (length-prefixed key/value frames).

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use invigil_pipeline::metrics::Metrics;
use invigil_pipeline::rows::EventRow;
use invigil_pipeline::run::{run, run_with, Cluster, SourceFactory};
use invigil_pipeline::scripted;
use invigil_pipeline::settings::{PipelineSettings, StoreSettings};
use invigil_pipeline::source::MemorySource;
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::rowbinary;
use invigil_pipeline::store::{SqlStore, Store};
use invigil_pipeline::topics;
use invigil_schemas::live::LiveCounters;
use invigil_schemas::migrations::Dialect;
use invigil_schemas::record::{decode, encode, record_key};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::loadgen::percentile_us;

#[derive(clap::Args)]
pub struct Args {
    /// Candidates in the recorded file (each: 122 records, 191 events).
    #[arg(long, default_value_t = 8000)]
    candidates: u32,
    /// The recorded batch file; written first if it does not exist
    /// [default: target/bench/pipeline-records-<candidates>.bin].
    #[arg(long)]
    file: Option<PathBuf>,
    /// Timely worker threads.
    #[arg(short = 'w', long, default_value_t = 2)]
    workers: usize,
    /// Kafka brokers (tansu from `ops/dev/services.sh up` by default).
    #[arg(long, env = "INVIGIL_KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    /// ClickHouse for the HTTP backend (Debian's 18.16 twins by default).
    #[arg(long, default_value = "http://127.0.0.1:18123")]
    clickhouse_url: String,
    /// The HTTP server is modern (≥ 23.8) rather than 18.16.
    #[arg(long)]
    modern: bool,
    /// Partitions of the end-to-end topic.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Records per second in the latency phase.
    #[arg(long, default_value_t = 400)]
    latency_rate: u32,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 20)]
    latency_secs: u64,
    /// Rounds of phase 1; the summary is their median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Skip the HTTP backend of phase 1.
    #[arg(long)]
    skip_http: bool,
    /// Which phases to run (1 = from memory, 2 = end to end, 3 = latency; 3 needs 2).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    phases: Vec<u8>,
}

fn write_file(path: &Path, candidates: u32) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let t0 = scripted::recent_t0(60);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(&t0.to_le_bytes())?;
    let exams: Vec<_> = (1..=candidates).map(|n| scripted::records_of_candidate(t0, n)).collect();
    for i in 0..exams[0].len() {
        for exam in &exams {
            let record = &exam[i];
            let key = record_key(&record.test_id, &record.candidate_id);
            let value = encode(record);
            out.write_all(&(key.len() as u32).to_le_bytes())?;
            out.write_all(key.as_bytes())?;
            out.write_all(&(value.len() as u32).to_le_bytes())?;
            out.write_all(&value)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Encoded Kafka records, `(key, value)`, in produce order.
type Frames = Vec<(String, Vec<u8>)>;

/// `(key, value)` frames of the recorded file and the exam's start.
fn read_file(path: &Path) -> anyhow::Result<(i64, Frames)> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let t0 = i64::from_le_bytes(bytes.get(..8).context("file too short")?.try_into()?);
    let mut at = 8;
    let take = |at: &mut usize| -> anyhow::Result<Vec<u8>> {
        let len = u32::from_le_bytes(bytes.get(*at..*at + 4).context("truncated frame")?.try_into()?) as usize;
        let frame = bytes.get(*at + 4..*at + 4 + len).context("truncated frame")?.to_vec();
        *at += 4 + len;
        Ok(frame)
    };
    let mut records = Vec::new();
    while at < bytes.len() {
        let key = String::from_utf8(take(&mut at)?)?;
        records.push((key, take(&mut at)?));
    }
    Ok((t0, records))
}

fn settings(store: StoreSettings, topic: &str, group: &str, brokers: &str) -> PipelineSettings {
    let mut settings = PipelineSettings::new(brokers, store);
    settings.topic = topic.to_owned();
    settings.live_topic = format!("{topic}-live");
    settings.group_id = group.to_owned();
    settings.idle_partition_ms = 1_000;
    settings.flush_interval_ms = 200;
    settings.commit_interval_ms = 500;
    settings.max_in_flight = 1_000_000;
    settings
}

/// Drops and recreates the tables so each phase starts empty.
fn reset(runtime: &tokio::runtime::Runtime, store: &Store) -> anyhow::Result<()> {
    for table in
        ["proctor_events", "candidate_windows", "anomalies", "sessions", "reviews", "invigil_schema_migrations"]
    {
        runtime.block_on(store.execute(&format!("DROP TABLE IF EXISTS {table}")))?;
    }
    runtime.block_on(invigil_pipeline::store::migrate::migrate(store))?;
    Ok(())
}

/// Phase 1: the dataflow fed from memory; returns events/s.
fn from_memory(
    args: &Args,
    records: &Arc<Frames>,
    total_events: u64,
    store: Store,
    store_settings: StoreSettings,
    label: &str,
) -> anyhow::Result<f64> {
    let metrics = Arc::new(Metrics::default());
    let settings = settings(store_settings, "memory", "memory", &args.brokers);
    let (records_for_workers, partitions) = (Arc::clone(records), args.partitions);
    let factory: SourceFactory = Arc::new(move |shared, index, peers| {
        MemorySource::new(&shared.settings, &records_for_workers, partitions, index, peers, Arc::clone(&shared.metrics))
    });
    // The run itself ends on a commit tick; the rate is taken when the last
    // event row was acknowledged, which a watcher sees within 5 ms.
    let all_written = {
        let watched = Arc::clone(&metrics);
        let done = Arc::new(AtomicBool::new(false));
        let watcher_done = Arc::clone(&done);
        let started = Instant::now();
        let pressure = super::CpuPressure::now();
        let cpu_before = super::cpu_seconds(std::process::id());
        let rss = || super::memory_bytes(std::process::id(), "VmRSS").unwrap_or(0);
        let rss_before = rss();
        // Also the resident memory's peak while the run goes, every 50 ms.
        let watcher = std::thread::spawn(move || {
            let mut peak = rss_before;
            for tick in 0u64.. {
                if Metrics::get(&watched.event_rows_written) >= total_events || watcher_done.load(Ordering::Relaxed) {
                    return (started.elapsed(), peak.max(rss()));
                }
                if tick % 10 == 0 {
                    peak = peak.max(rss());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            unreachable!("the loop returns")
        });
        let outcome = run_with(
            settings,
            store,
            &Cluster::single(args.workers),
            Arc::new(AtomicBool::new(false)),
            Arc::clone(&metrics),
            factory,
        );
        done.store(true, Ordering::Relaxed);
        outcome?;
        let cpu = super::cpu_seconds(std::process::id()) - cpu_before;
        let (written, peak) = watcher.join().map_err(|_| anyhow::anyhow!("watcher panicked"))?;
        (written, started.elapsed(), cpu, peak.saturating_sub(rss_before), rss_before, pressure.percent_since())
    };
    let (elapsed, whole_run, cpu) = (all_written.0.as_secs_f64(), all_written.1.as_secs_f64(), all_written.2);
    let (grew, before, pressure) = (all_written.3, all_written.4, all_written.5);
    let events = Metrics::get(&metrics.event_rows_written) as f64;
    let rows = (Metrics::get(&metrics.window_rows_written)
        + Metrics::get(&metrics.anomaly_rows_written)
        + Metrics::get(&metrics.session_rows_written)) as f64;
    println!(
        "  {label:<24} {:>10.0} events/s  {:>6.2} µs CPU/event  ({events:.0} events in {elapsed:.2} s; run ended after {whole_run:.2} s with {rows:.0} window/anomaly/session rows; CPU pressure {pressure:.0} %)",
        events / elapsed,
        cpu * 1e6 / events
    );
    println!(
        "  {:<24} resident memory +{:.0} MB at the peak over {:.0} MB before = {:.1} KB per candidate ({} candidates)",
        "",
        grew as f64 / 1e6,
        before as f64 / 1e6,
        grew as f64 / 1e3 / f64::from(args.candidates.max(1)),
        args.candidates
    );
    Ok(events / elapsed)
}

/// Phase 1 against ClickHouse over HTTP, in a database of its own.
fn http_phase(
    args: &Args,
    records: &Arc<Frames>,
    total_events: u64,
    runtime: &tokio::runtime::Runtime,
    rows_file: &Path,
    row_count: usize,
) -> anyhow::Result<(f64, f64)> {
    let dialect = if args.modern { Dialect::Modern } else { Dialect::Legacy };
    let config = |database: &str| HttpConfig::plain(&args.clickhouse_url, database, dialect);
    let admin = HttpStore::new(&config("default"))?;
    let database = format!("invigil_bench_{}", std::process::id());
    runtime.block_on(admin.execute(&format!("DROP DATABASE IF EXISTS {database}")))?;
    runtime.block_on(admin.execute(&format!("CREATE DATABASE {database}")))?;
    let http = Store::Http(HttpStore::new(&config(&database))?);
    let server = if args.modern { "modern" } else { "18.16" };
    let outcome = (|| -> anyhow::Result<(f64, f64)> {
        let label = format!("dataflow + HTTP ({server})");
        let into_http =
            from_memory(args, records, total_events, http.clone(), StoreSettings::Http(config(&database)), &label)?;
        reset(runtime, &http)?;
        let bytes = std::fs::read(rows_file)?;
        let url = format!("{}/?database={database}", args.clickhouse_url.trim_end_matches('/'));
        let started = Instant::now();
        let response = runtime.block_on(
            reqwest::Client::new()
                .post(&url)
                .query(&[("query", "INSERT INTO proctor_events FORMAT RowBinary")])
                .body(bytes)
                .send(),
        )?;
        let status = response.status();
        if !status.is_success() {
            bail!("the server refused the RowBinary file: {status} {}", runtime.block_on(response.text())?);
        }
        let engine = row_count as f64 / started.elapsed().as_secs_f64();
        println!(
            "  {:<24} {engine:>10.0} events/s  (one POST of the same file, FORMAT RowBinary)",
            format!("ClickHouse {server} own")
        );
        // What the rows cost on disk, for the capacity plan's storage per exam.
        let parts = runtime.block_on(admin.query_text(
            &format!(
                "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts \
                 WHERE active AND database = '{database}' AND table = 'proctor_events'"
            ),
            "TabSeparated",
        ))?;
        let numbers: Vec<f64> = parts.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        if let [rows, compressed, uncompressed] = numbers[..] {
            if rows > 0.0 {
                println!(
                    "  {:<24} {:>10.1} bytes per event row compressed ({:.1} uncompressed, {rows:.0} rows)",
                    format!("ClickHouse {server} disk"),
                    compressed / rows,
                    uncompressed / rows,
                );
            }
        }
        Ok((into_http, engine))
    })();
    runtime.block_on(admin.execute(&format!("DROP DATABASE {database}")))?;
    outcome
}

/// Writes the `proctor_events` rows the pipeline makes of `records` as one
/// RowBinary file (the engines' reference insert); returns the row count.
fn write_event_rows(records: &Frames, path: &Path) -> anyhow::Result<usize> {
    let mut bytes = Vec::new();
    let mut count = 0;
    for (_, value) in records {
        let record = decode(value).map_err(|e| anyhow::anyhow!("a recorded frame does not decode: {e}"))?;
        for event in &record.batch.events {
            rowbinary::write_row(&mut bytes, &EventRow::new(&record, event))?;
            count += 1;
        }
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(count)
}

/// chDB's own insert of the RowBinary file: events (rows) per second and
/// CPU µs per event.
fn engine_insert_chdb(store: &Store, rows_file: &Path, row_count: usize) -> anyhow::Result<(f64, f64)> {
    let Store::Chdb(chdb) = store else { bail!("not chDB") };
    let path = rows_file.canonicalize()?;
    let started = Instant::now();
    let cpu_before = super::cpu_seconds(std::process::id());
    chdb.insert_rowbinary_file("proctor_events", &path)?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = super::cpu_seconds(std::process::id()) - cpu_before;
    let stored: usize = chdb.query_text_sync("SELECT count() FROM proctor_events", "TabSeparated")?.trim().parse()?;
    if stored != row_count {
        bail!("chDB stored {stored} of the file's {row_count} rows");
    }
    Ok((row_count as f64 / elapsed, cpu * 1e6 / row_count as f64))
}

/// Phase 2a: the broker's bare consume rate over the whole topic.
fn bare_consume(brokers: &str, topic: &str, partitions: i32, expected: usize) -> anyhow::Result<(f64, usize)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let (mut records, mut events) = (0usize, 0usize);
    while records < expected {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("bare consumer read {records} of {expected} records in 300 s");
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            records += 1;
            // Count events the cheap way a bare consumer could: decode.
            if let Some(record) = message.payload().and_then(|p| decode(p).ok()) {
                events += record.batch.events.len();
            }
        }
    }
    Ok((events as f64 / started.elapsed().as_secs_f64(), events))
}

pub fn run_bench(args: Args) -> anyhow::Result<()> {
    invigil_ingest::init_logging();
    let file =
        args.file.clone().unwrap_or_else(|| format!("target/bench/pipeline-records-{}.bin", args.candidates).into());
    if !file.exists() {
        let started = Instant::now();
        write_file(&file, args.candidates)?;
        eprintln!(
            "wrote {} ({} candidates) in {:.1} s",
            file.display(),
            args.candidates,
            started.elapsed().as_secs_f64()
        );
    }
    let (_, records) = read_file(&file)?;
    let records = Arc::new(records);
    let total_events: usize = records.iter().filter_map(|(_, v)| decode(v).ok()).map(|r| r.batch.events.len()).sum();
    println!(
        "invigil bench pipeline: {} records, {total_events} events from {}; {} worker(s)",
        records.len(),
        file.display(),
        args.workers
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;

    let chdb_dir = tempfile::tempdir()?;
    let chdb = Store::Chdb(Arc::new(ChdbStore::open(chdb_dir.path())?));
    let chdb_settings = StoreSettings::Chdb { path: chdb_dir.path().to_owned() };

    // ---- 1. dataflow + store from memory -------------------------------
    if args.phases.contains(&1) {
        println!(
            "\n1. dataflow + store, fed from the recorded file, {} round(s) (targets: ≥ 250,000 events/s into chDB, ≥ 0.7 of the engine's own insert)",
            args.rounds
        );
        let rows_file = file.with_extension("rowbinary");
        let row_count = write_event_rows(&records, &rows_file)?;
        let mut rounds: Vec<[f64; 5]> = Vec::new();
        for round in 1..=args.rounds.max(1) {
            println!("  round {round}");
            let alone = from_memory(
                &args,
                &records,
                total_events as u64,
                Store::Discard,
                chdb_settings.clone(),
                "dataflow alone (discard)",
            )?;
            reset(&runtime, &chdb)?;
            let into_chdb = from_memory(
                &args,
                &records,
                total_events as u64,
                chdb.clone(),
                chdb_settings.clone(),
                "dataflow + chDB",
            )?;
            reset(&runtime, &chdb)?;
            let pressure = super::CpuPressure::now();
            let (engine, engine_cpu) = engine_insert_chdb(&chdb, &rows_file, row_count)?;
            let pressure = pressure.percent_since();
            println!(
                "  {:<24} {engine:>10.0} events/s  {engine_cpu:>6.2} µs CPU/event  (INSERT … FROM INFILE … FORMAT RowBinary of the same {row_count} event rows; CPU pressure {pressure:.0} %)",
                "chDB's own insert"
            );
            let (into_http, http_engine) = if args.skip_http {
                (f64::NAN, f64::NAN)
            } else {
                http_phase(&args, &records, total_events as u64, &runtime, &rows_file, row_count)?
            };
            rounds.push([alone, into_chdb, engine, into_http, http_engine]);
        }
        let median = |i: usize| {
            let mut column: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
            column.sort_by(f64::total_cmp);
            column[column.len() / 2]
        };
        let ratio = |i: usize, j: usize| {
            let mut column: Vec<f64> = rounds.iter().map(|r| r[i] / r[j]).collect();
            column.sort_by(f64::total_cmp);
            column[column.len() / 2]
        };
        println!("  median of {} round(s), events/s:", rounds.len());
        println!("    dataflow alone           {:>10.0}", median(0));
        println!(
            "    dataflow + chDB          {:>10.0}   {:.2} of chDB's own insert ({:.0}), {:.2} of the dataflow alone",
            median(1),
            ratio(1, 2),
            median(2),
            ratio(1, 0)
        );
        if !args.skip_http {
            println!(
                "    dataflow + HTTP          {:>10.0}   {:.2} of the server's own insert ({:.0})",
                median(3),
                ratio(3, 4),
                median(4)
            );
        }
    }

    if !args.phases.contains(&2) {
        return Ok(());
    }
    // ---- 2. end to end from tansu --------------------------------------
    println!("\n2. end to end from tansu ({} partitions; target ratio ≥ 0.8)", args.partitions);
    let suffix = format!("{}-{}", std::process::id(), Instant::now().elapsed().as_nanos() % 1_000_000);
    let topic = format!("bench-pipeline-{suffix}");
    topics::create_topics(&args.brokers, &[(&topic, args.partitions), (&format!("{topic}-live"), 1)])?;
    let started = Instant::now();
    topics::RecordProducer::new(&args.brokers).and_then(|p| p.send_encoded(&topic, records.iter().cloned()))?;
    println!("  produced {} records in {:.1} s", records.len(), started.elapsed().as_secs_f64());
    let pressure = super::CpuPressure::now();
    let (bare, _) = bare_consume(&args.brokers, &topic, args.partitions, records.len())?;
    println!("  bare consumer            {bare:>10.0} events/s  (CPU pressure {:.0} %)", pressure.percent_since());
    reset(&runtime, &chdb)?;
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let group = format!("bench-group-{suffix}");
    let pipeline = {
        let settings = settings(chdb_settings.clone(), &topic, &group, &args.brokers);
        let (store, stop, metrics, cluster) =
            (chdb.clone(), Arc::clone(&stop), Arc::clone(&metrics), Cluster::single(args.workers));
        std::thread::spawn(move || run(settings, store, &cluster, stop, metrics))
    };
    let started = Instant::now();
    let pressure = super::CpuPressure::now();
    while (Metrics::get(&metrics.event_rows_written) as usize) < total_events {
        if pipeline.is_finished() || started.elapsed() > Duration::from_secs(600) {
            stop.store(true, Ordering::Relaxed);
            bail!("pipeline wrote {} of {total_events} events", Metrics::get(&metrics.event_rows_written));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let e2e = total_events as f64 / started.elapsed().as_secs_f64();
    println!(
        "  pipeline (chDB)          {e2e:>10.0} events/s  ratio {:.2} of the bare consumer  (CPU pressure {:.0} %)",
        e2e / bare,
        pressure.percent_since()
    );

    // ---- 3. latency in a steady state ---------------------------------
    let latency = if args.phases.contains(&3) {
        println!(
            "\n3. latency at {} records/s for {} s (targets: live p99 < 1 s, queryable p99 < 5 s)",
            args.latency_rate, args.latency_secs
        );
        latency_phase(&args, &topic, &chdb, &runtime)
    } else {
        Ok(())
    };
    stop.store(true, Ordering::Relaxed);
    let stopped = pipeline.join().map_err(|_| anyhow::anyhow!("pipeline panicked"));
    super::delete_topics(&args.brokers, &[&topic, &format!("{topic}-live")]);
    stopped??;
    latency
}

/// Per candidate, send stamps not yet seen downstream.
type Pending = Arc<Mutex<HashMap<String, VecDeque<i64>>>>;

/// Resolves every pending stamp of `candidate` up to `seen` at `now`.
fn resolve(pending: &Pending, candidate: &str, seen: i64, now: i64, out: &mut Vec<u64>) {
    let mut pending = pending.lock().expect("pending lock");
    if let Some(queue) = pending.get_mut(candidate) {
        while queue.front().is_some_and(|stamp| *stamp <= seen) {
            let stamp = queue.pop_front().expect("front checked");
            out.push(((now - stamp).max(0) * 1000) as u64);
        }
    }
}

fn latency_phase(args: &Args, topic: &str, store: &Store, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let candidates = 400u32;
    let t0 = scripted::recent_t0(0);
    let exams: Vec<_> = (1..=candidates).map(|n| scripted::records_of_candidate(t0, 500_000 + n)).collect();
    let live_pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let query_pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let done = Arc::new(AtomicBool::new(false));

    let live_reader = {
        let (brokers, live_topic, pending, done) =
            (args.brokers.clone(), format!("{topic}-live"), Arc::clone(&live_pending), Arc::clone(&done));
        std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("group.id", "bench-live")
                .set("fetch.wait.max.ms", "10")
                .create()?;
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&live_topic, 0, Offset::End)?;
            consumer.assign(&list)?;
            let mut out = Vec::new();
            while !done.load(Ordering::Relaxed) {
                if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
                    let now = invigil_ops::now_ms();
                    if let Some(live) = message.payload().and_then(|p| serde_json::from_slice::<LiveCounters>(p).ok()) {
                        resolve(&pending, &live.candidate_id, live.received_at, now, &mut out);
                    }
                }
            }
            Ok(out)
        })
    };
    let poller = {
        let (store, pending, done) = (store.clone(), Arc::clone(&query_pending), Arc::clone(&done));
        let handle = runtime.handle().clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
            let mut out = Vec::new();
            let since = invigil_ops::now_ms();
            while !done.load(Ordering::Relaxed) {
                let sql = format!(
                    "SELECT candidate_id, toUnixTimestamp64Milli(max(received_at)) FROM proctor_events \
                     WHERE received_at >= fromUnixTimestamp64Milli(toInt64({since})) GROUP BY candidate_id"
                );
                let text = handle.block_on(store.query_text(&sql, "TabSeparated"))?;
                let now = invigil_ops::now_ms();
                for line in text.lines() {
                    if let Some((candidate, seen)) = line.split_once('\t') {
                        resolve(&pending, candidate, seen.parse().unwrap_or(0), now, &mut out);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(out)
        })
    };

    let producer = topics::RecordProducer::new(&args.brokers)?;
    let pressure = super::CpuPressure::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.latency_rate.max(1)));
    let until = Instant::now() + Duration::from_secs(args.latency_secs);
    let mut next = Instant::now();
    let mut sent = 0usize;
    'send: for i in 0..exams[0].len() {
        for exam in &exams {
            if Instant::now() >= until {
                break 'send;
            }
            let mut record = exam[i].clone();
            record.received_at = invigil_ops::now_ms();
            let candidate = record.candidate_id.to_string();
            for pending in [&live_pending, &query_pending] {
                pending
                    .lock()
                    .expect("pending lock")
                    .entry(candidate.clone())
                    .or_default()
                    .push_back(record.received_at);
            }
            producer.enqueue(topic, &record)?;
            sent += 1;
            next += interval;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    // Let the last records come through, then stop the readers.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(10) {
        let outstanding: usize = [&live_pending, &query_pending]
            .iter()
            .map(|p| p.lock().expect("pending lock").values().map(VecDeque::len).sum::<usize>())
            .sum();
        if outstanding == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::Relaxed);
    let live = live_reader.join().map_err(|_| anyhow::anyhow!("live reader panicked"))??;
    let queryable = poller.join().map_err(|_| anyhow::anyhow!("poller panicked"))??;
    let report = |label: &str, sample: Vec<u64>| {
        let seen = sample.len();
        if sample.is_empty() {
            println!("  {label:<28} no record seen of {sent}");
            return;
        }
        println!(
            "  {label:<28} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  ({seen} of {sent} records)",
            percentile_us(&sample, 50.0) as f64 / 1000.0,
            percentile_us(&sample, 99.0) as f64 / 1000.0,
            percentile_us(&sample, 100.0) as f64 / 1000.0,
        );
    };
    report("arrival → proctor_live", live);
    report("arrival → queryable (chDB)", queryable);
    println!("  CPU pressure while sending and settling: {:.0} %", pressure.percent_since());
    Ok(())
}

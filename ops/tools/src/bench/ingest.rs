//! `invigil bench ingest`: ingest (a child `invigil ingest` process) plus the
//! local tansu, driven open-loop at rising rates of 10-event batches.
//!
//! Open loop: requests are scheduled at fixed instants and latency is taken
//! from the scheduled instant, so a stalled server is charged for the queue
//! it causes (no coordinated omission). Per step it prints achieved
//! batches/s and events/s, p50/p99 latency and the CPU of ingest, the broker
//! and the load generator itself (all on this box), then reports the highest
//! rate whose p99 stays under the target and compares it with SPEC §10's
//! reference sizing of ≈ 250 batches/s per vCPU.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;

use crate::loadgen::sim::{Cadence, Candidate};
use crate::loadgen::{http1, mint_token, percentile_us};

#[derive(clap::Args)]
pub struct Args {
    /// Batch rates to try, in order (batches/s).
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000,3000,4000,6000,8000,10000")]
    rates: Vec<u64>,
    /// Seconds per rate step.
    #[arg(long, default_value_t = 5)]
    step_secs: u64,
    /// Events per batch.
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Distinct simulated candidates (tokens and keys).
    #[arg(long, default_value_t = 2000)]
    candidates: usize,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 128)]
    connections: usize,
    /// p99 latency a rate must keep to count, ms.
    #[arg(long, default_value_t = 20.0)]
    p99_target_ms: f64,
    /// Kafka brokers (tansu from `ops/dev/services.sh up` by default).
    #[arg(long, env = "INVIGIL_KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    /// Producer linger for the ingest under test, ms (ingest's default).
    #[arg(long, default_value_t = 5)]
    linger_ms: u32,
    /// The load generator's HTTP client: `lean` (one kept-alive socket per
    /// connection, prepared request bytes) or `reqwest` (a pooled client).
    #[arg(long, value_enum, default_value = "lean")]
    client: Client,
    /// Partitions of the bench's topic (2: what `invigil up` gives its local
    /// broker's topics on a 2-core box).
    #[arg(long, default_value_t = 2)]
    partitions: i32,
    /// Producer compression for the ingest under test (`lz4`, `none`, …);
    /// `none` as `invigil up` uses with its local tansu.
    #[arg(long, default_value = "none")]
    compression: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Client {
    Lean,
    Reqwest,
}

/// One prepared batch: its token and JSON body, and the whole HTTP request
/// as the lean client writes it.
struct Prepared {
    token: String,
    body: Vec<u8>,
    raw: Vec<u8>,
}

const SECRET: &str = "85vnIPtCdJg4IbkAmiAo20JuT3ZV7YeJZ98EUiWg2F7Z";

struct Step {
    target: u64,
    /// Batches answered 2xx.
    accepted: u64,
    achieved: f64,
    events_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    ingest_cpu: f64,
    broker_cpu: f64,
    loadgen_cpu: f64,
    /// p99 inside ingest (its own request histogram) and of Kafka's
    /// acknowledgement alone, as the upper edge of the histogram's bucket.
    server_p99_ms: f64,
    ack_p99_ms: f64,
    /// Percent of the step's wall time with tasks waiting for a CPU.
    pressure: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let topic = format!("bench_ingest_{}", std::process::id());
    let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", &args.brokers).create()?;
    let created = tokio::time::timeout(
        Duration::from_secs(15),
        admin
            .create_topics(&[NewTopic::new(&topic, args.partitions, TopicReplication::Fixed(1))], &AdminOptions::new()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("Kafka at {} did not answer; run `ops/dev/services.sh up` first", args.brokers))??;
    for result in created {
        result.map_err(|(name, e)| anyhow::anyhow!("creating topic {name}: {e}"))?;
    }

    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let settings = format!(
        "listen = \"127.0.0.1:{port}\"\nnode = \"bench\"\nconfig_file = \"{dir}/config.json\"\n\
         [kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\nlinger_ms = {linger}\ncompression = \"{compression}\"\n\
         [spool]\ndir = \"{dir}/spool\"\n[rate_limit]\nper_second = 0.0\n",
        dir = dir.path().display(),
        brokers = args.brokers,
        linger = args.linger_ms,
        compression = args.compression,
    );
    std::fs::write(dir.path().join("ingest.toml"), settings)?;
    let mut child = IngestChild(
        Command::new(crate::product_binary()?)
            .args(["ingest", "--settings"])
            .arg(dir.path().join("ingest.toml"))
            .env("INVIGIL_TOKEN_SECRET", SECRET)
            .env("INVIGIL_IP_HASH_SECRET", "bench-ip-hash-secret")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("ingest.log"))?)
            .spawn()
            .context("starting `invigil ingest`")?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.connections).build()?;
    let ready_by = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/readyz")).send().await.map(|r| !r.status().is_success()).unwrap_or(true) {
        anyhow::ensure!(
            Instant::now() < ready_by,
            "ingest did not become ready; log in {}",
            dir.path().join("ingest.log").display()
        );
        if let Some(status) = child.0.try_wait()? {
            anyhow::bail!("ingest exited with {status}: {}", std::fs::read_to_string(dir.path().join("ingest.log"))?);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    eprintln!("bench ingest: preparing {} candidates' batches of {} events", args.candidates, args.events);
    let bodies = Arc::new(prepare(&args, &format!("127.0.0.1:{port}")));
    let broker_pid = find_broker_pid();
    let idle_rss = super::memory_bytes(child.0.id(), "VmRSS");
    let disk_before = broker_pid.and_then(broker_disk_bytes);
    let mut accepted = 0u64;
    println!(
        "invigil bench ingest — {} events/batch, {} s per step, {} connections ({} client), {} partitions, linger {} ms, compression {}",
        args.events,
        args.step_secs,
        args.connections,
        if args.client == Client::Lean { "lean keep-alive" } else { "reqwest" },
        args.partitions,
        args.linger_ms,
        args.compression
    );
    println!(
        "{:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>15} {:>15} {:>7}",
        "target/s",
        "batches/s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "srv p99≤",
        "ack p99≤",
        "errors",
        "ingest %",
        "broker %",
        "loadgen %",
        "ingest ms/1k b",
        "broker ms/1k b",
        "psi %"
    );
    // Warm-up, not reported: connections open, the producer learns the
    // topic's leaders, the broker's storage warms; the first second of a cold
    // start otherwise lands in the first step's p99.
    if let Some(&first) = args.rates.first() {
        accepted += run_step(&client, &base, &bodies, first, 3, &args, (child.0.id(), broker_pid)).await.accepted;
    }
    let mut steps = Vec::new();
    for &rate in &args.rates {
        let step = run_step(&client, &base, &bodies, rate, args.step_secs, &args, (child.0.id(), broker_pid)).await;
        accepted += step.accepted;
        println!(
            "{:>8} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>9} {:>9} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>15.1} {:>15.1} {:>7.0}",
            step.target,
            step.achieved,
            step.events_per_sec,
            step.p50_ms,
            step.p99_ms,
            step.server_p99_ms,
            step.ack_p99_ms,
            step.errors,
            step.ingest_cpu * 100.0,
            step.broker_cpu * 100.0,
            step.loadgen_cpu * 100.0,
            per_thousand(step.ingest_cpu, step.achieved),
            per_thousand(step.broker_cpu, step.achieved),
            step.pressure
        );
        let keeps_up =
            step.achieved >= step.target as f64 * 0.95 && step.p99_ms < args.p99_target_ms && step.errors == 0;
        steps.push((step, keeps_up));
        if !keeps_up {
            break;
        }
    }
    match steps.iter().filter(|(_, ok)| *ok).map(|(s, _)| s).next_back() {
        Some(best) => {
            let per_vcpu = best.achieved / best.ingest_cpu.max(0.01);
            println!(
                "best: {:.0} batches/s ({:.0} events/s) with p99 {:.2} ms < {} ms; ingest used {:.2} cores → {:.0} batches/s per ingest vCPU = {:.1}× the reference 250/vCPU",
                best.achieved, best.events_per_sec, best.p99_ms, args.p99_target_ms, best.ingest_cpu, per_vcpu, per_vcpu / 250.0
            );
            println!(
                "CPU per 1,000 batches at that rate: ingest {:.1} ms, broker {:.1} ms (ratio {:.2})",
                per_thousand(best.ingest_cpu, best.achieved),
                per_thousand(best.broker_cpu, best.achieved),
                best.ingest_cpu / best.broker_cpu
            );
        }
        None => println!("no rate kept p99 under {} ms", args.p99_target_ms),
    }
    let mb = |bytes: Option<u64>| bytes.map_or("?".to_owned(), |b| format!("{:.0}", b as f64 / 1e6));
    println!(
        "ingest memory: {} MB resident when ready, {} MB after the steps, {} MB at the peak",
        mb(idle_rss),
        mb(super::memory_bytes(child.0.id(), "VmRSS")),
        mb(super::memory_bytes(child.0.id(), "VmHWM"))
    );
    report_storage(&args.brokers, &topic, accepted, disk_before, broker_pid);
    let stopped = child.stop();
    println!("ingest stopped cleanly: {stopped}");
    super::delete_topics(&args.brokers, &[&topic]);
    Ok(())
}

/// CPU milliseconds per 1,000 batches of a process that used `cores` while
/// `batches_per_sec` went through.
fn per_thousand(cores: f64, batches_per_sec: f64) -> f64 {
    cores / batches_per_sec.max(1e-9) * 1e6
}

/// Kills the child on drop so a failed bench leaves nothing running.
struct IngestChild(Child);

impl IngestChild {
    /// SIGTERM, then waits up to 20 s; true if it exited 0.
    fn stop(&mut self) -> bool {
        invigil_ops::process::terminate(&mut self.0, Duration::from_secs(20)).is_some_and(|status| status.success())
    }
}

impl Drop for IngestChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One candidate's consecutive batches, `events` each, for ingest at `host`.
fn prepare(args: &Args, host: &str) -> Vec<Prepared> {
    let start =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    let per_candidate = 8;
    let mut out = Vec::with_capacity(args.candidates * per_candidate);
    for i in 0..args.candidates {
        let id = format!("bench-{i:06}");
        let token = mint_token(SECRET, "bench", &id, 24 * 3600);
        let mut candidate = Candidate::new("bench", &id, i as u64, Cadence::default(), start);
        let mut pending = Vec::new();
        while out.len() < (i + 1) * per_candidate {
            while pending.len() < args.events {
                pending.extend(candidate.tick());
            }
            let events: Vec<_> = pending.drain(..args.events).collect();
            let (_, body) = candidate.batch(events, candidate.clock);
            let body = serde_json::to_vec(&body).expect("JSON");
            let raw = http1::post_json(host, "/api/v1/events", &token, &body);
            out.push(Prepared { token: token.clone(), body, raw });
        }
    }
    out
}

async fn run_step(
    client: &reqwest::Client,
    base: &str,
    bodies: &Arc<Vec<Prepared>>,
    rate: u64,
    secs: u64,
    args: &Args,
    (ingest_pid, broker_pid): (u32, Option<u32>),
) -> Step {
    let total = rate * secs;
    let next = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let url = format!("{base}/api/v1/events");
    let metrics_url = format!("{base}/metrics");
    let scrape = || async { client.get(&metrics_url).send().await.ok()?.text().await.ok() };
    let metrics_before = scrape().await.unwrap_or_default();
    let pressure = super::CpuPressure::now();
    let cpu_before =
        (super::cpu_seconds(ingest_pid), broker_pid.map(super::cpu_seconds), super::cpu_seconds(std::process::id()));
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let wall = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (client, url, bodies, next, latencies, errors) = (
            client.clone(),
            url.clone(),
            Arc::clone(bodies),
            Arc::clone(&next),
            Arc::clone(&latencies),
            Arc::clone(&errors),
        );
        let address = base.trim_start_matches("http://").to_owned();
        let lean = args.client == Client::Lean;
        workers.push(tokio::spawn(async move {
            let mut connection = http1::Connection::new(&address);
            let mut mine = Vec::new();
            loop {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                if slot >= total {
                    break;
                }
                let due = start + Duration::from_nanos(slot * 1_000_000_000 / rate);
                tokio::time::sleep_until(due).await;
                let batch = &bodies[slot as usize % bodies.len()];
                let ok = if lean {
                    connection.send(&batch.raw).await.is_ok_and(|status| (200..300).contains(&status))
                } else {
                    let result = client
                        .post(&url)
                        .bearer_auth(&batch.token)
                        .header("content-type", "application/json")
                        .body(batch.body.clone())
                        .send()
                        .await;
                    match result {
                        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                };
                if ok {
                    mine.push(due.elapsed().as_micros() as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let pressure = pressure.percent_since();
    let cpu = |before: f64, after: f64| (after - before) / elapsed;
    let metrics_after = scrape().await.unwrap_or_default();
    let server_p99 = |name: &str, labels: &str| {
        let before = histogram_buckets(&metrics_before, name, labels);
        let after = histogram_buckets(&metrics_after, name, labels);
        bucket_percentile(&before, &after, 0.99) * 1000.0
    };
    let latencies = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let done = latencies.len() as f64;
    Step {
        target: rate,
        accepted: latencies.len() as u64,
        achieved: done / elapsed,
        events_per_sec: done * args.events as f64 / elapsed,
        p50_ms: percentile_us(&latencies, 50.0) as f64 / 1000.0,
        p99_ms: percentile_us(&latencies, 99.0) as f64 / 1000.0,
        errors: errors.load(Ordering::Relaxed),
        ingest_cpu: cpu(cpu_before.0, super::cpu_seconds(ingest_pid)),
        broker_cpu: match (cpu_before.1, broker_pid) {
            (Some(before), Some(pid)) => cpu(before, super::cpu_seconds(pid)),
            _ => f64::NAN,
        },
        loadgen_cpu: cpu(cpu_before.2, super::cpu_seconds(std::process::id())),
        server_p99_ms: server_p99("invigil_ingest_http_request_duration_seconds", "route=\"/api/v1/events\""),
        ack_p99_ms: server_p99("invigil_ingest_produce_ack_seconds", ""),
        pressure,
    }
}

/// Cumulative `(le, count)` buckets of one histogram series in OpenMetrics
/// text: the `NAME_bucket` lines whose labels contain `labels`.
fn histogram_buckets(text: &str, name: &str, labels: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (label_text, value) = rest.split_once("} ")?;
            if !label_text.contains(labels) {
                return None;
            }
            let le = label_text.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, value.trim().parse().ok()?))
        })
        .collect()
}

/// The upper edge of the bucket holding quantile `q` of what was observed
/// between two scrapes of the same histogram; NaN if nothing was.
fn bucket_percentile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> f64 {
    let counts: Vec<(f64, u64)> = after
        .iter()
        .map(|&(le, count)| {
            let earlier = before.iter().find(|(b, _)| *b == le).map_or(0, |(_, c)| *c);
            (le, count.saturating_sub(earlier))
        })
        .collect();
    let total = counts.last().map_or(0, |(_, c)| *c);
    if total == 0 {
        return f64::NAN;
    }
    let wanted = (total as f64 * q).ceil() as u64;
    counts.iter().find(|(_, c)| *c >= wanted).map_or(f64::NAN, |(le, _)| *le)
}

/// What the accepted batches take in the broker: the records read back (their
/// bytes as stored before compression, and compressed with LZ4 as the
/// producer sends them, one record per batch and sixteen), and the local
/// broker's own storage growth (tansu keeps SQLite, not Kafka's log).
fn report_storage(brokers: &str, topic: &str, accepted: u64, disk_before: Option<u64>, broker_pid: Option<u32>) {
    match read_back(brokers, topic, 20_000) {
        Ok(records) if !records.is_empty() => {
            let n = records.len() as f64;
            let raw: usize = records.iter().map(Vec::len).sum();
            let single: usize = records.iter().map(|r| lz4_flex::compress(r).len()).sum();
            let grouped: usize = records.chunks(16).map(|group| lz4_flex::compress(&group.concat()).len()).sum();
            println!(
                "broker records: {:.0} B each as produced ({} read back); LZ4 {:.0} B one per batch, {:.0} B sixteen per batch",
                raw as f64 / n,
                records.len(),
                single as f64 / n,
                grouped as f64 / n
            );
        }
        Ok(_) => println!("broker records: none read back from {topic}"),
        Err(e) => println!("broker records: reading {topic} back failed: {e:#}"),
    }
    let after = broker_pid.and_then(broker_disk_bytes);
    if let (Some(before), Some(after)) = (disk_before, after) {
        println!(
            "broker disk (tansu, SQLite): +{:.1} MB for {accepted} batches = {:.0} B per batch",
            after.saturating_sub(before) as f64 / 1e6,
            after.saturating_sub(before) as f64 / accepted.max(1) as f64
        );
    }
}

/// Up to `limit` record values of `topic`, from the beginning.
fn read_back(brokers: &str, topic: &str, limit: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-ingest-read-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet_since = Instant::now();
    // Until `limit`, or 3 s without a record once they flow (joining the
    // group takes a few seconds first).
    while values.len() < limit
        && Instant::now() < deadline
        && (values.is_empty() || quiet_since.elapsed() < Duration::from_secs(3))
    {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                values.push(message.payload().unwrap_or_default().to_vec());
                quiet_since = Instant::now();
            }
            Some(Err(e)) => anyhow::bail!("consuming: {e}"),
            None => {}
        }
    }
    Ok(values)
}

/// Bytes of the broker's SQLite files (`tansu.db*` in its working directory).
fn broker_disk_bytes(pid: u32) -> Option<u64> {
    let dir = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
    let total = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("tansu.db"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum();
    Some(total)
}

/// The local tansu broker's pid, if one runs.
fn find_broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()).find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("tansu") && cmdline.contains("broker")).then_some(pid)
    })
}

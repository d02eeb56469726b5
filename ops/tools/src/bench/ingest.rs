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
use crate::loadgen::{mint_token, percentile_us};

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
    /// Producer linger for the ingest under test, ms.
    #[arg(long, default_value_t = 2)]
    linger_ms: u32,
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
        admin.create_topics(&[NewTopic::new(&topic, 6, TopicReplication::Fixed(1))], &AdminOptions::new()),
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
         [kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\nlinger_ms = {linger}\n\
         [spool]\ndir = \"{dir}/spool\"\n[rate_limit]\nper_second = 0.0\n",
        dir = dir.path().display(),
        brokers = args.brokers,
        linger = args.linger_ms,
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
    let bodies = Arc::new(prepare(&args));
    let broker_pid = find_broker_pid();
    let idle_rss = super::memory_bytes(child.0.id(), "VmRSS");
    let disk_before = broker_pid.and_then(broker_disk_bytes);
    let mut accepted = 0u64;
    println!(
        "invigil bench ingest — {} events/batch, {} s per step, {} connections, linger {} ms",
        args.events, args.step_secs, args.connections, args.linger_ms
    );
    println!(
        "{:>8} {:>10} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>15} {:>15}",
        "target/s",
        "batches/s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "ingest %",
        "broker %",
        "loadgen %",
        "ingest ms/1k b",
        "broker ms/1k b"
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
            "{:>8} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>15.1} {:>15.1}",
            step.target,
            step.achieved,
            step.events_per_sec,
            step.p50_ms,
            step.p99_ms,
            step.errors,
            step.ingest_cpu * 100.0,
            step.broker_cpu * 100.0,
            step.loadgen_cpu * 100.0,
            per_thousand(step.ingest_cpu, step.achieved),
            per_thousand(step.broker_cpu, step.achieved)
        );
        let keeps_up =
            step.achieved >= step.target as f64 * 0.95 && step.p99_ms < args.p99_target_ms && step.errors == 0;
        steps.push((step, keeps_up));
        if !keeps_up {
            break;
        }
    }
    match steps.iter().filter(|(_, ok)| *ok).map(|(s, _)| s).last() {
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

/// (token, body) pairs: one candidate's consecutive batches, `events` each.
fn prepare(args: &Args) -> Vec<(String, Vec<u8>)> {
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
            out.push((token.clone(), serde_json::to_vec(&body).expect("JSON")));
        }
    }
    out
}

async fn run_step(
    client: &reqwest::Client,
    base: &str,
    bodies: &Arc<Vec<(String, Vec<u8>)>>,
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
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                if slot >= total {
                    break;
                }
                let due = start + Duration::from_nanos(slot * 1_000_000_000 / rate);
                tokio::time::sleep_until(due).await;
                let (token, body) = &bodies[slot as usize % bodies.len()];
                let result = client
                    .post(&url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match result {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
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
    let cpu = |before: f64, after: f64| (after - before) / elapsed;
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
    }
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

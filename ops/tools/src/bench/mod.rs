//! `invigil bench …`: benchmarks that print what they measured.
//!
//! Figures are medians over several rounds; this is a noisy 2-core machine, so
//! compare ratios within one run rather than absolute times across runs.

mod assign;
mod cluster_insert;
mod encoding;
mod erase;
mod idle;
mod ingest;
mod live;
mod pipeline;
mod sdk;
mod signal;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// The proctor wall's rendezvous split: time at exam scale, candidates moved when a proctor leaves.
    Assign(assign::Args),
    /// Kill -9 ingest, the broker, the pipeline and ClickHouse under load; prove 0 lost / 0 duplicated.
    Chaos(crate::chaos::Args),
    /// The chaos test on the multi-host bed: kill ingest, pipeline and ClickHouse hosts, cut hosts off; 0 lost / 0 duplicated on each replica.
    ChaosBed(crate::chaos::BedArgs),
    /// Inserting into a ClickHouse cluster: Distributed sync vs async vs the local table (dev services' 2 replicas).
    ClusterInsert(cluster_insert::Args),
    /// Erasing one candidate on chDB: lightweight DELETE vs a synchronous mutation, and reads after.
    Erase(erase::Args),
    /// Kafka record encodings: JSON vs MessagePack vs postcard (size, encode, decode).
    Encoding(encoding::Args),
    /// An all-in-one stack (`invigil up`) serving one or two candidates: CPU per process and thread over an idle minute.
    Idle(idle::Args),
    /// Ingest + local tansu at rising batch rates: batches/s, events/s, p50/p99, CPU.
    Ingest(ingest::Args),
    /// The live video SFU: CPU per forwarded stream and streams per core; --signal: memory and CPU of held signals.
    Live(live::Args),
    /// The stream processor: dataflow + store from a recorded file, end to end from tansu, live/queryable latency.
    Pipeline(pipeline::Args),
    /// The browser SDK in headless Chromium: bundle size, main-thread tasks, CPU, heap, bytes per minute.
    Sdk(sdk::Args),
}

pub fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Assign(args) => assign::run(args),
        Bench::Chaos(args) => crate::chaos::run(args),
        Bench::ChaosBed(args) => crate::chaos::run_on_bed(args),
        Bench::ClusterInsert(args) => cluster_insert::run(args),
        Bench::Encoding(args) => encoding::run(args),
        Bench::Erase(args) => erase::run(args),
        Bench::Idle(args) => idle::run(args),
        Bench::Ingest(args) => ingest::run(args),
        Bench::Live(args) => live::run(args),
        Bench::Pipeline(args) => pipeline::run_bench(args),
        Bench::Sdk(args) => sdk::run(args),
    }
}

/// Median of a non-empty sample.
pub(crate) fn median(mut sample: Vec<f64>) -> f64 {
    sample.sort_by(f64::total_cmp);
    let mid = sample.len() / 2;
    if sample.len() % 2 == 0 {
        (sample[mid - 1] + sample[mid]) / 2.0
    } else {
        sample[mid]
    }
}

/// How busy the host was: the share of wall time in which some runnable task
/// waited for a CPU (`/proc/pressure/cpu`, "some"). Printed beside figures so
/// that a run on a busy machine says so; a 2-core box where every step's
/// pressure reads 0 % had cores to spare throughout.
#[derive(Clone, Copy)]
pub(crate) struct CpuPressure {
    stalled_us: Option<u64>,
    at: std::time::Instant,
}

impl CpuPressure {
    pub(crate) fn now() -> Self {
        let stalled_us = std::fs::read_to_string("/proc/pressure/cpu").ok().and_then(|text| {
            let some = text.lines().find(|line| line.starts_with("some "))?;
            some.split_whitespace().find_map(|field| field.strip_prefix("total="))?.parse().ok()
        });
        Self { stalled_us, at: std::time::Instant::now() }
    }

    /// Percent of the wall time since `self` in which tasks waited for a CPU;
    /// NaN where the kernel does not report pressure.
    pub(crate) fn percent_since(&self) -> f64 {
        let later = Self::now();
        match (self.stalled_us, later.stalled_us) {
            (Some(before), Some(after)) => {
                let wall_us = later.at.duration_since(self.at).as_secs_f64() * 1e6;
                after.saturating_sub(before) as f64 / wall_us.max(1.0) * 100.0
            }
            _ => f64::NAN,
        }
    }
}

/// Deletes the topics a bench made, so that benches do not pile records up
/// in the dev services' broker (a day of `bench pipeline` left 2.6 GB in
/// tansu, and a slower broker for every test after). Says what it did;
/// a failure is only reported.
pub(crate) fn delete_topics(brokers: &str, topics: &[&str]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    // On a thread of its own: callers may be inside a runtime already.
    let delete = || -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).create()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let results = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(20), admin.delete_topics(topics, &AdminOptions::new()))
                .await
        })??;
        for result in results {
            match result {
                // Never made (a phase that did not run) or already gone.
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => anyhow::bail!("{topic}: {code}"),
            }
        }
        Ok(())
    };
    let deleted = std::thread::scope(|scope| {
        scope.spawn(delete).join().unwrap_or_else(|_| Err(anyhow::anyhow!("the deleting thread panicked")))
    });
    match deleted {
        Ok(()) => eprintln!("bench: deleted topic(s) {}", topics.join(", ")),
        Err(error) => eprintln!("bench: could not delete topic(s) {}: {error:#}", topics.join(", ")),
    }
}

/// User + system CPU seconds of a process, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    cpu_seconds_of(&format!("/proc/{pid}/stat"))
}

/// A process's memory in bytes from `/proc/PID/status`: `VmRSS` (resident
/// now) or `VmHWM` (the peak resident).
pub(crate) fn memory_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())?;
    Some(kib * 1024)
}

/// User + system CPU seconds from a `stat` file of `/proc` (a process's or
/// one thread's, `/proc/self/task/TID/stat`).
pub(crate) fn cpu_seconds_of(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

//! `invigil bench …`: benchmarks that print what they measured.
//!
//! Figures are medians over several rounds; this is a noisy 2-core machine, so
//! compare ratios within one run rather than absolute times across runs.

mod assign;
mod encoding;
mod ingest;
mod pipeline;
mod sdk;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// The proctor wall's rendezvous split: time at exam scale, candidates moved when a proctor leaves.
    Assign(assign::Args),
    /// Kill -9 ingest, the broker, the pipeline and ClickHouse under load; prove 0 lost / 0 duplicated.
    Chaos(crate::chaos::Args),
    /// Kafka record encodings: JSON vs MessagePack vs postcard (size, encode, decode).
    Encoding(encoding::Args),
    /// Ingest + local tansu at rising batch rates: batches/s, events/s, p50/p99, CPU.
    Ingest(ingest::Args),
    /// The stream processor: dataflow + store from a recorded file, end to end from tansu, live/queryable latency.
    Pipeline(pipeline::Args),
    /// The browser SDK in headless Chromium: bundle size, main-thread tasks, CPU, heap, bytes per minute.
    Sdk(sdk::Args),
}

pub fn run(bench: Bench) -> anyhow::Result<()> {
    match bench {
        Bench::Assign(args) => assign::run(args),
        Bench::Chaos(args) => crate::chaos::run(args),
        Bench::Encoding(args) => encoding::run(args),
        Bench::Ingest(args) => ingest::run(args),
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

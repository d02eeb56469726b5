//! `invigil-tools`: the measuring and load tools, apart from the product
//! binary so production links none of their dependencies (a JPEG encoder,
//! progress bars, the SDK's core, the benchmarks' harnesses). Users call
//! them through `invigil loadgen|cost|bench …`, which hands them here.
//!
//! - [`loadgen`]: N simulated candidates against a running front door.
//! - [`cost`]: what a candidate-session and an exam cost.
//! - [`bench`]: the benchmarks, each printing its figures; [`chaos`] is the
//!   kill -9 test behind `bench chaos`.
//! - [`faces`]: the face detector's stress sweep and fairness harness.
//! - [`bed`]: many hosts on one machine (network namespaces) running the
//!   real services, with faults: kill, cut, block, slow.

mod bed;
mod bench;
mod chaos;
mod clickhouse_server;
mod cost;
mod faces;
mod loadgen;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "invigil", bin_name = "invigil", version, about = "invigil's load and measuring tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate N candidates sending events like the SDK, time-compressed, against a running ingest.
    Loadgen(loadgen::Args),
    /// Price a candidate-session and an exam (per-capture and bundled uploads) from the cadence and public prices.
    Cost(cost::Args),
    /// Run a benchmark and print its figures.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Many hosts on this machine (network namespaces) running the real services: up, kill, cut, block, slow, down.
    Bed(bed::Args),
    /// The face detector measured: stress sweeps on the release's portraits, per-group rates on a labelled set.
    #[command(subcommand)]
    Faces(faces::Faces),
}

fn main() -> anyhow::Result<()> {
    invigil_ops::alloc::keep_freed_memory();
    match Cli::parse().command {
        Command::Loadgen(args) => loadgen::run(args),
        Command::Cost(args) => cost::run(args),
        Command::Bench(bench) => bench::run(bench),
        Command::Bed(args) => bed::run(args),
        Command::Faces(faces) => faces::run(faces),
    }
}

/// The `invigil` binary beside this one: the tools that start services
/// (`bench ingest`, `bench chaos`) run them as the product runs.
pub(crate) fn product_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let invigil = exe.with_file_name("invigil");
    anyhow::ensure!(
        invigil.is_file(),
        "{} is missing: build it beside {} with `cargo build -p invigil` (add `--release` for a release build)",
        invigil.display(),
        exe.display()
    );
    Ok(invigil)
}

//! `invigil`: the one command line for running, checking and measuring invigil.
//!
//! Subcommands appear here only once they work end to end.

mod analytics;
mod bench;
mod broker;
mod chaos;
mod cost;
mod demo;
mod ingest;
mod loadgen;
mod media_store;
mod migrate;
mod pipeline;
mod process;
mod sql;
mod tail;
mod token;
mod up;
mod validate;

use clap::{Parser, Subcommand};

/// The allocator of every subcommand (the services above all): see the
/// `mimalloc` feature in `ops/Cargo.toml` for why and how it was measured.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "invigil", version, about = "Open, self-hostable proctoring: tools and services")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run ingest, the pipeline and the dashboards in one process on an embedded chDB.
    Up(up::Args),
    /// Run the front door: authenticate, validate and enrich event batches, produce them to Kafka.
    Ingest(ingest::Args),
    /// Run the stream processor: Kafka to per-candidate windows in ClickHouse/chDB, live counters to proctor_live.
    Pipeline(pipeline::Args),
    /// Simulate N candidates sending events like the SDK, time-compressed, against a running ingest.
    Loadgen(loadgen::Args),
    /// Apply the ClickHouse DDL (schemas/clickhouse) to chDB or a server; idempotent.
    Migrate(migrate::Args),
    /// Run ClickHouse SQL against the store (chDB or a server) and print a table; --file runs a review query.
    Sql(sql::Args),
    /// Validate an event batch (JSON file or `-` for stdin) as ingest would.
    Validate(validate::Args),
    /// Price a candidate-session and an exam (per-capture and bundled uploads) from the cadence and public prices.
    Cost(cost::Args),
    /// Mint a staff (proctor, reviewer, admin) or candidate token with INVIGIL_TOKEN_SECRET.
    Token(token::Args),
    /// Print the events in a Kafka topic as JSON lines (decoded records).
    Tail(tail::Args),
    /// Run a benchmark and print its figures.
    #[command(subcommand)]
    Bench(bench::Bench),
}

pub use invigil_schemas::clock::now_ms;

/// How long memory freed by the program stays with the allocator before it
/// goes back to the kernel: 10 s instead of mimalloc's 1 s (v3). The
/// pipeline frees and reallocates its insert buffers (tens of MB) every few
/// hundred ms; returned to the kernel, each comes back as fresh pages the
/// kernel must zero (`clear_page` was a fifth of the pipeline's CPU under
/// `invigil bench pipeline`). Kept 10 s, the buffers are reused, and memory
/// a burst needed is still returned once it is idle. Interleaved A/B, 2 × 3
/// rounds each: dataflow + chDB ~500k → ~640k events/s. An explicit
/// `MIMALLOC_PURGE_DELAY` in the environment wins.
#[cfg(feature = "mimalloc")]
fn keep_freed_memory() {
    /// `mi_option_purge_delay` in mimalloc.h (v2 and v3): the option after
    /// `deprecated_eager_commit_delay` (14), before `use_numa_nodes` (16),
    /// which libmimalloc-sys names.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is a store into mimalloc's option table,
        // valid at any time; the delay is read when memory is next purged.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    }
}

fn main() -> anyhow::Result<()> {
    #[cfg(feature = "mimalloc")]
    keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up::run_command(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Pipeline(args) => pipeline::run_command(args),
        Command::Loadgen(args) => loadgen::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Cost(args) => cost::run(args),
        Command::Token(args) => token::run(args),
        Command::Bench(bench) => bench::run(bench),
    }
}

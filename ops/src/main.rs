//! `invigil`: the one command line for running, checking and measuring
//! invigil. The product's subcommands run here ([`invigil_ops`]); the tools'
//! (`loadgen`, `cost`, `bench`) run in `invigil-tools`, built beside this
//! binary, to which they are handed with their arguments as they are.
//!
//! Subcommands appear here only once they work end to end.

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use invigil_ops::{export, ingest, migrate, pipeline, retention, sql, tail, token, up, validate};

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
    #[command(disable_help_flag = true)]
    Loadgen(ToolArgs),
    /// Apply the ClickHouse DDL (schemas/clickhouse) to chDB or a server; idempotent.
    Migrate(migrate::Args),
    /// Run ClickHouse SQL against the store (chDB or a server) and print a table; --file runs a review query.
    Sql(sql::Args),
    /// One candidate's data from a running server: every table's rows (JSON and CSV) and their media, as a zip or a folder.
    Export(export::Args),
    /// Tests whose verdicts are final and when their data goes; --sweep erases those that are due.
    Retention(retention::Args),
    /// Validate an event batch (JSON file or `-` for stdin) as ingest would.
    Validate(validate::Args),
    /// Price a candidate-session and an exam (per-capture and bundled uploads) from the cadence and public prices.
    #[command(disable_help_flag = true)]
    Cost(ToolArgs),
    /// Mint a staff (proctor, reviewer, admin) or candidate token with INVIGIL_TOKEN_SECRET.
    Token(token::Args),
    /// Print the events in a Kafka topic as JSON lines (decoded records).
    Tail(tail::Args),
    /// Run a benchmark and print its figures.
    #[command(disable_help_flag = true)]
    Bench(ToolArgs),
    /// Many hosts on this machine (network namespaces, root) running the real services, with faults: up, kill, cut, block, slow, down.
    #[command(disable_help_flag = true)]
    Bed(ToolArgs),
    /// The face detector measured: `faces sweep` (stress tests), `faces eval --images DIR --labels CSV` (per-group rates).
    #[command(disable_help_flag = true)]
    Faces(ToolArgs),
}

/// A tool subcommand's arguments, handed on untouched (`--help` included).
#[derive(clap::Args)]
struct ToolArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

fn main() -> anyhow::Result<()> {
    invigil_ops::alloc::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up::run_command(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Pipeline(args) => pipeline::run_command(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Export(args) => export::run(args),
        Command::Retention(args) => retention::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Token(args) => token::run(args),
        Command::Loadgen(tool) => run_tool("loadgen", tool),
        Command::Cost(tool) => run_tool("cost", tool),
        Command::Bench(tool) => run_tool("bench", tool),
        Command::Bed(tool) => run_tool("bed", tool),
        Command::Faces(tool) => run_tool("faces", tool),
    }
}

/// Replaces this process with `invigil-tools <name> <args>`: the tool gets
/// the terminal, the signals and the exit status as if it had been called
/// directly. It is looked for beside this binary, then on `PATH`.
fn run_tool(name: &str, tool: ToolArgs) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    const TOOLS: &str = "invigil-tools";
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(TOOLS)));
    let program = match beside {
        Some(path) if path.is_file() => path.into_os_string(),
        _ => TOOLS.into(),
    };
    let error = std::process::Command::new(&program).arg(name).args(&tool.args).exec();
    anyhow::bail!(
        "`invigil {name}` runs in the tools binary `{TOOLS}`, which could not be started ({error}); \
         build it beside this one with `cargo build -p invigil-tools` (add `--release` for a release build)"
    )
}

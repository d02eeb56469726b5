//! `invigil bench erase`: the two ways ClickHouse deletes one candidate's
//! rows, measured on chDB (what `invigil up` runs) with an exam's worth of
//! `proctor_events`:
//!
//! - **lightweight** `DELETE FROM … WHERE` (what an erasure runs): marks
//!   the rows deleted in a hidden column; reads skip them until a merge
//!   drops them;
//! - **mutation** `ALTER TABLE … DELETE WHERE … SETTINGS mutations_sync = 1`:
//!   rewrites every part that holds a matching row before it answers.
//!
//! Rounds alternate the two on different candidates. Printed: median ms per
//! erasure of each, their ratio, and a candidate's timeline query before and
//! after the deletes (lightweight deletes cost reads until merged).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use invigil_pipeline::store::chdb::ChdbStore;
use invigil_pipeline::store::Store;

use super::median;

#[derive(clap::Args)]
pub struct Args {
    /// Candidates in the test.
    #[arg(long, default_value_t = 2_000)]
    candidates: u64,
    /// Events per candidate (a 3-hour exam sends about 600).
    #[arg(long, default_value_t = 500)]
    events: u64,
    /// Inserts the rows arrive in (parts before merges).
    #[arg(long, default_value_t = 20)]
    inserts: u64,
    /// Erasures of each kind.
    #[arg(long, default_value_t = 5)]
    rounds: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds * 2 + 1 <= args.candidates, "--candidates must exceed twice --rounds");
    let dir = tempfile::tempdir()?;
    let chdb = Arc::new(ChdbStore::open(dir.path()).context("opening chDB")?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(invigil_pipeline::store::migrate::migrate(&Store::Chdb(Arc::clone(&chdb))))?;
    let rows = args.candidates * args.events;
    let per_insert = rows.div_ceil(args.inserts);
    let started = Instant::now();
    for insert in 0..args.inserts {
        let first = insert * per_insert;
        let count = per_insert.min(rows.saturating_sub(first));
        // Candidate `n % candidates`, its session a UUID made from n, one
        // visibility event a second.
        chdb.execute_sync(&format!(
            "INSERT INTO proctor_events (test_id, candidate_id, session_id, seq, event_id, ts, received_at, type, state, payload, version) \
             SELECT 'bench', concat('c', toString(number % {c})), \
             toUUID(concat('00000000-0000-7000-8000-', leftPad(toString(number % {c}), 12, '0'))), \
             intDiv(number, {c}), generateUUIDv4(number), \
             toDateTime64('2026-12-06 09:00:00', 3, 'UTC') + toIntervalSecond(intDiv(number, {c})), \
             toDateTime64('2026-12-06 09:00:00', 3, 'UTC') + toIntervalSecond(intDiv(number, {c})), \
             'visibility', 'hidden', '{{}}', 1 \
             FROM numbers({first}, {count})",
            c = args.candidates
        ))?;
    }
    eprintln!(
        "bench erase: {rows} proctor_events rows ({} candidates × {}) in {} inserts, {:.1} s",
        args.candidates,
        args.events,
        args.inserts,
        started.elapsed().as_secs_f64()
    );
    let timeline = |candidate: &str| -> anyhow::Result<f64> {
        let sql = format!(
            "SELECT seq, ts, type, state FROM proctor_events FINAL WHERE test_id = 'bench' AND candidate_id = '{candidate}' ORDER BY ts"
        );
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let text = chdb.query_text_sync(&sql, "TSV")?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(text.lines().count() as u64 == args.events, "the reader sees its events");
        }
        Ok(median(times))
    };
    let reader = format!("c{}", args.candidates - 1);
    let before = timeline(&reader)?;
    let (mut lightweight, mut mutation) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        for (kind, candidate) in [("lightweight", round * 2), ("mutation", round * 2 + 1)] {
            let condition = format!("test_id = 'bench' AND candidate_id = 'c{candidate}'");
            let sql = match kind {
                "lightweight" => format!("DELETE FROM proctor_events WHERE {condition}"),
                _ => format!("ALTER TABLE proctor_events DELETE WHERE {condition} SETTINGS mutations_sync = 1"),
            };
            let t = Instant::now();
            chdb.execute_sync(&sql)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let left = chdb.query_text_sync(&format!("SELECT count() FROM proctor_events WHERE {condition}"), "TSV")?;
            anyhow::ensure!(left.trim() == "0", "{kind} left {left} rows of c{candidate}");
            if kind == "lightweight" {
                lightweight.push(ms)
            } else {
                mutation.push(ms)
            }
        }
    }
    let after = timeline(&reader)?;
    let (light, heavy) = (median(lightweight), median(mutation));
    println!(
        "erasing one candidate of {} ({rows} rows, {} parts inserted), medians over {} rounds each:",
        args.candidates, args.inserts, args.rounds
    );
    println!("  lightweight DELETE      {light:>9.1} ms");
    println!("  mutation (synchronous)  {heavy:>9.1} ms   ({:.1}× the lightweight)", heavy / light);
    println!("  a candidate's timeline  {before:>9.1} ms before the deletes, {after:.1} ms after");
    Ok(())
}

//! `invigil loadgen`: N simulated candidates behaving like the SDK against a
//! running ingest — session start, a batch every `events_interval_ms`, tab
//! switches, blurs, captures marked uploaded (some failed), offline spells
//! whose buffered batches are replayed in order on reconnect — in simulated
//! time compressed by `--speedup`.

pub mod http1;
pub mod media;
#[cfg(test)]
mod sigv4_vectors;
pub mod sim;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use sim::{Cadence, Candidate, Rng};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Ingest base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub endpoint: String,
    /// Simulated candidates.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub candidates: usize,
    #[arg(long, default_value = "loadgen")]
    pub test_id: String,
    /// Simulated exam length, minutes.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 60.0)]
    pub speedup: f64,
    #[arg(long, default_value_t = 5000)]
    pub events_interval_ms: i64,
    /// Share of candidates who go offline once for 1–5 simulated minutes.
    #[arg(long, default_value_t = 0.1)]
    pub offline_fraction: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Writes one JSON line per accepted batch (candidate, session, batch_seq
    /// and its events as sent): the truth a chaos run checks the store against.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// HS256 secret the candidate tokens are signed with.
    #[arg(long, env = "INVIGIL_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: String,
    #[arg(long)]
    pub no_progress: bool,
    /// Also PUT every capture to S3 through the candidate's upload
    /// credentials (small generated JPEGs, placeholder audio), as the SDK does.
    #[arg(long)]
    pub upload_media: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub batches_ok: u64,
    pub events_ok: u64,
    pub shutdowns: u64,
    pub retries: u64,
    pub statuses: std::collections::BTreeMap<u16, u64>,
    pub latencies_us: Vec<u64>,
    pub uploads: sim::Uploads,
    /// `--upload-media` PUTs that failed.
    pub upload_failures: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile_us(&self.latencies_us, p) as f64 / 1000.0
    }
}

/// The `p`-th percentile (0–100) of a sample of microseconds.
pub fn percentile_us(sample: &[u64], p: f64) -> u64 {
    if sample.is_empty() {
        return 0;
    }
    let mut sorted = sample.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A candidate token as a host app would mint it.
pub fn mint_token(secret: &str, test: &str, candidate: &str, lifetime_secs: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    invigil_ops::token::sign(
        secret,
        &json!({"sub": candidate, "test_id": test, "iat": now, "exp": now + lifetime_secs}),
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.speedup > 0.0, "--speedup must be positive");
    invigil_ops::token::require_strong_secret(&args.token_secret)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(simulate(args.clone()))?;
    print_report(&args, &report);
    Ok(())
}

fn print_report(args: &Args, r: &Report) {
    let secs = r.elapsed.as_secs_f64();
    println!(
        "loadgen: {} candidates, {} simulated min at ×{} in {:.1} s",
        args.candidates, args.minutes, args.speedup, secs
    );
    println!("  batches accepted {:>10}   ({:.0}/s)", r.batches_ok, r.batches_ok as f64 / secs);
    println!("  events accepted  {:>10}   ({:.0}/s)", r.events_ok, r.events_ok as f64 / secs);
    println!("  shutdown replies {:>10}", r.shutdowns);
    println!("  retries          {:>10}", r.retries);
    println!("  statuses         {:?}", r.statuses);
    println!(
        "  latency ms       p50 {:.2}  p99 {:.2}  max {:.2}",
        r.percentile_ms(50.0),
        r.percentile_ms(99.0),
        r.percentile_ms(100.0)
    );
    println!("  objects uploaded face {}  screen {}  audio {}", r.uploads.face, r.uploads.screen, r.uploads.audio);
    if r.upload_failures > 0 {
        println!("  media PUTs failed {:>8}", r.upload_failures);
    }
}

struct Shared {
    client: reqwest::Client,
    url: String,
    report: Mutex<Report>,
    log: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    progress: indicatif::ProgressBar,
    sent: AtomicU64,
}

pub async fn simulate(args: Args) -> anyhow::Result<Report> {
    let cadence = Cadence { events_interval_ms: args.events_interval_ms, ..Cadence::default() };
    let ticks = (args.minutes * 60_000) as i64 / cadence.events_interval_ms;
    let log = match &args.log {
        Some(path) => Some(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ))),
        None => None,
    };
    let progress = if args.no_progress {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(args.candidates as u64 * (ticks as u64 + 1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} batches {per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    };
    let shared = Arc::new(Shared {
        client: reqwest::Client::builder().pool_max_idle_per_host(1024).timeout(Duration::from_secs(30)).build()?,
        url: format!("{}/api/v1/events", args.endpoint.trim_end_matches('/')),
        report: Mutex::new(Report::default()),
        log,
        progress,
        sent: AtomicU64::new(0),
    });
    let started = Instant::now();
    let start_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let mut tasks = Vec::new();
    for i in 0..args.candidates {
        let shared = Arc::clone(&shared);
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            run_candidate(i, args, cadence, ticks, start_ms, started, shared).await;
        }));
    }
    for task in tasks {
        task.await?;
    }
    shared.progress.finish_and_clear();
    if let Some(log) = &shared.log {
        log.lock().unwrap_or_else(|p| p.into_inner()).flush()?;
    }
    let mut report = std::mem::take(&mut *shared.report.lock().unwrap_or_else(|p| p.into_inner()));
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn run_candidate(
    index: usize,
    args: Args,
    cadence: Cadence,
    ticks: i64,
    start_ms: i64,
    started: Instant,
    shared: Arc<Shared>,
) {
    let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(index as u64);
    let id = format!("cand-{index:06}");
    let token = mint_token(&args.token_secret, &args.test_id, &id, (args.minutes as i64 * 60) + 24 * 3600);
    let mut candidate = Candidate::new(&args.test_id, &id, seed, cadence, start_ms);
    let mut rng = Rng::new(seed ^ 0xDEAD_BEEF);
    // Spread the start over the first interval, like a real exam's opening.
    let offset = rng.below(cadence.events_interval_ms as u64) as i64;
    let offline = if rng.chance(args.offline_fraction) && ticks > 4 {
        let from = 1 + rng.below(ticks as u64 / 2) as i64;
        Some(from..from + (12 + rng.below(48) as i64).min(ticks - from))
    } else {
        None
    };
    let mut uploader = args.upload_media.then(|| media::Uploader::new(&args.endpoint, &token, seed));
    let mut buffered: Vec<Value> = Vec::new();
    for tick in 0..=ticks {
        let due = Duration::from_secs_f64((offset + tick * cadence.events_interval_ms) as f64 / 1000.0 / args.speedup);
        tokio::time::sleep_until(tokio::time::Instant::from_std(started + due)).await;
        let is_offline = offline.as_ref().is_some_and(|spell| spell.contains(&tick));
        // The SDK notices it went offline first, then keeps observing.
        let mut events = Vec::new();
        if offline.as_ref().is_some_and(|spell| spell.start == tick) {
            events.push(candidate.network(candidate.clock, false));
        }
        events.extend(if tick == ticks { candidate.finish() } else { candidate.tick() });
        if let Some(uploader) = uploader.as_mut() {
            let failed = uploader.put_captures(&shared.client, &events).await;
            shared.report.lock().unwrap_or_else(|p| p.into_inner()).upload_failures += failed;
        }
        let sent_at = candidate.clock;
        let (_, body) = candidate.batch(events, sent_at);
        buffered.push(body);
        if is_offline {
            continue;
        }
        if offline.as_ref().is_some_and(|spell| spell.end == tick) {
            // Back online: the SDK notes it in the next batch it builds; the
            // buffer is replayed first, in order.
            let ts = candidate.clock;
            let online = candidate.network(ts, true);
            if let Some(events) = buffered.last_mut().and_then(|b| b["events"].as_array_mut()) {
                events.push(online);
            }
        }
        for body in std::mem::take(&mut buffered) {
            if !send(&shared, &token, &candidate, body).await {
                shared.progress.inc((ticks - tick) as u64);
                return;
            }
        }
    }
    let mut report = shared.report.lock().unwrap_or_else(|p| p.into_inner());
    report.uploads.face += candidate.uploads.face;
    report.uploads.screen += candidate.uploads.screen;
    report.uploads.audio += candidate.uploads.audio;
}

/// Sends one batch until it is accepted; false when told to shut down.
async fn send(shared: &Shared, token: &str, candidate: &Candidate, body: Value) -> bool {
    let bytes = serde_json::to_vec(&body).expect("JSON values serialise");
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        let result = shared
            .client
            .post(&shared.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(bytes.clone())
            .send()
            .await;
        let latency = started.elapsed().as_micros() as u64;
        shared.sent.fetch_add(1, Ordering::Relaxed);
        let (status, retry_after, reply) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                (status, retry, response.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, None, Value::Null),
        };
        {
            let mut report = shared.report.lock().unwrap_or_else(|p| p.into_inner());
            *report.statuses.entry(status).or_default() += 1;
            if status == 200 {
                report.latencies_us.push(latency);
            }
        }
        match (status, reply["status"].as_str()) {
            (200, Some("ok")) => {
                let events = body["events"].as_array().map(|e| e.len()).unwrap_or(0) as u64;
                {
                    let mut report = shared.report.lock().unwrap_or_else(|p| p.into_inner());
                    report.batches_ok += 1;
                    report.events_ok += events;
                }
                if let Some(log) = &shared.log {
                    let line = json!({"candidate": candidate.id, "session": candidate.session, "batch_seq": body["batch_seq"], "events": body["events"]});
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    let _ = writeln!(log, "{line}");
                }
                shared.progress.inc(1);
                return true;
            }
            (200, Some("shutdown")) => {
                shared.report.lock().unwrap_or_else(|p| p.into_inner()).shutdowns += 1;
                return false;
            }
            (400 | 401 | 403 | 413, _) => {
                // The SDK would drop a batch the server will never take.
                let what = reply["error"]["problems"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .take(3)
                            .map(|x| format!("{}: {}", x["field"], x["message"]))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default();
                eprintln!("loadgen: batch refused with {status}: {} {what}", reply["error"]["message"]);
                shared.progress.inc(1);
                return true;
            }
            _ => {
                shared.report.lock().unwrap_or_else(|p| p.into_inner()).retries += 1;
                let wait = retry_after.map(Duration::from_secs).unwrap_or(backoff);
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let sample: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_us(&sample, 50.0), 51);
        assert_eq!(percentile_us(&sample, 99.0), 99);
        assert_eq!(percentile_us(&sample, 100.0), 100);
        assert_eq!(percentile_us(&[], 99.0), 0);
    }
}

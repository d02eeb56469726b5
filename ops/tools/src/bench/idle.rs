//! `invigil bench idle`: what an all-in-one stack costs while next to
//! nothing happens. Starts `invigil up` (with its local broker) in a
//! temporary directory, lets one or two simulated candidates send a batch
//! every 5 s, and samples every thread's CPU over an idle minute. Prints
//! cores per process and the busiest threads by name, so that whoever keeps
//! an idle stack busy is named (consumers' fetch loops, timers, the
//! dashboards' live consumer).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::loadgen::sim::{Cadence, Candidate};
use crate::loadgen::{http1, mint_token};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds to sample (after the stack settled).
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Simulated candidates sending a batch every 5 s (0: none at all).
    #[arg(long, default_value_t = 2)]
    candidates: usize,
    /// Seconds to let the stack settle before sampling (broker start,
    /// pipeline start, first batches).
    #[arg(long, default_value_t = 15)]
    settle_secs: u64,
}

const SECRET: &str = "85vnIPtCdJg4IbkAmiAo20JuT3ZV7YeJZ98EUiWg2F7Z";

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let free_port = || -> anyhow::Result<u16> { Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
    let (port, broker_port) = (free_port()?, free_port()?);
    let settings = dir.path().join("up.toml");
    std::fs::write(
        &settings,
        format!(
            "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{d}/config.json\"\n[kafka]\nbrokers = \"127.0.0.1:{broker_port}\"\n\
             [spool]\ndir = \"{d}/spool\"\n",
            d = dir.path().display()
        ),
    )?;
    let log = dir.path().join("up.log");
    let mut up = Command::new(crate::product_binary()?)
        .args(["up", "--broker", "local", "--no-demo", "--media-listen", "127.0.0.1:0"])
        .arg("--settings")
        .arg(&settings)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("INVIGIL_TOKEN_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("INVIGIL_KAFKA_BROKERS")
        .env_remove("INVIGIL_LISTEN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting `invigil up`")?;
    let result = measure(&args, up.id(), port, &log).await;
    let stopped = invigil_ops::process::terminate(&mut up, Duration::from_secs(20)).is_some_and(|s| s.success());
    if !stopped {
        let _ = up.kill();
        let _ = up.wait();
    }
    result?;
    println!("invigil up stopped cleanly: {stopped}");
    Ok(())
}

async fn measure(args: &Args, up: u32, port: u16, log: &std::path::Path) -> anyhow::Result<()> {
    let address = format!("127.0.0.1:{port}");
    let ready_by = Instant::now() + Duration::from_secs(90);
    let readyz = format!("GET /readyz HTTP/1.1\r\nhost: {address}\r\n\r\n").into_bytes();
    eprintln!("bench idle: starting `invigil up` with a local broker");
    while http1::Connection::new(&address).send(&readyz).await.ok() != Some(200) {
        anyhow::ensure!(
            Instant::now() < ready_by,
            "`invigil up` was not ready in 90 s; its log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let mut candidates: Vec<(String, Candidate)> = (0..args.candidates)
        .map(|i| {
            let id = format!("idle-{i}");
            let token = mint_token(SECRET, "idle-exam", &id, 24 * 3600);
            (token, Candidate::new("idle-exam", &id, i as u64, Cadence::default(), now_ms() as i64))
        })
        .collect();
    let mut connection = http1::Connection::new(&address);
    let mut refused = 0u64;
    let mut send_all = async |candidates: &mut Vec<(String, Candidate)>| {
        for (token, candidate) in candidates.iter_mut() {
            let events = candidate.tick();
            let (_, body) = candidate.batch(events, candidate.clock);
            let body = serde_json::to_vec(&body).expect("JSON");
            let request = http1::post_json(&address, "/api/v1/events", token, &body);
            if !connection.send(&request).await.is_ok_and(|status| (200..300).contains(&status)) {
                refused += 1;
            }
        }
    };
    let every = Duration::from_millis(Cadence::default().events_interval_ms as u64);
    let mut ticker = tokio::time::interval(every);
    eprintln!("bench idle: settling for {} s, then sampling {} s", args.settle_secs, args.secs);
    let settle_until = tokio::time::Instant::now() + Duration::from_secs(args.settle_secs);
    while tokio::time::Instant::now() < settle_until {
        ticker.tick().await;
        send_all(&mut candidates).await;
    }
    let processes = family(up);
    let before = threads(&processes);
    let pressure = super::CpuPressure::now();
    let wall = Instant::now();
    let sample_until = tokio::time::Instant::now() + Duration::from_secs(args.secs);
    loop {
        tokio::select! {
            _ = ticker.tick() => send_all(&mut candidates).await,
            _ = tokio::time::sleep_until(sample_until) => break,
        }
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let pressure = pressure.percent_since();
    let after = threads(&processes);

    println!(
        "invigil bench idle — `invigil up` with its local broker, {} candidate(s) sending a batch every {} s, {:.0} s sampled, CPU pressure {:.1} %",
        args.candidates,
        every.as_secs(),
        elapsed,
        pressure
    );
    let mut total = 0.0;
    for (pid, name) in &processes {
        let mut by_name: BTreeMap<String, f64> = BTreeMap::new();
        for ((owner, tid), (comm, ticks)) in &after {
            if owner != pid {
                continue;
            }
            let earlier = before.get(&(*owner, *tid)).map_or(0.0, |(_, t)| *t);
            *by_name.entry(comm.clone()).or_default() += (ticks - earlier).max(0.0);
        }
        let cores: f64 = by_name.values().sum::<f64>() / 100.0 / elapsed;
        total += cores;
        println!("{:<10} pid {:>7}: {:.4} cores", name, pid, cores);
        let mut busiest: Vec<_> = by_name.into_iter().filter(|(_, ticks)| *ticks > 0.0).collect();
        busiest.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (comm, ticks) in busiest.into_iter().take(8) {
            println!("    {:<18} {:.4} cores", comm, ticks / 100.0 / elapsed);
        }
    }
    println!("whole stack: {total:.4} cores (goal < 0.02); batches refused: {refused}");
    Ok(())
}

/// `invigil up` and every process below it, with their command names.
fn family(root: u32) -> Vec<(u32, String)> {
    let mut out = vec![(root, comm(&format!("/proc/{root}/comm")))];
    let mut index = 0;
    while index < out.len() {
        let parent = out[index].0;
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
            out.push((child, comm(&format!("/proc/{child}/comm"))));
        }
        index += 1;
    }
    out
}

fn comm(path: &str) -> String {
    std::fs::read_to_string(path).map(|c| c.trim().to_owned()).unwrap_or_else(|_| "?".into())
}

/// Every thread of the processes: (pid, tid) → (thread name, CPU ticks).
fn threads(processes: &[(u32, String)]) -> BTreeMap<(u32, u32), (String, f64)> {
    let mut out = BTreeMap::new();
    for (pid, _) in processes {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.filter_map(|t| t.ok()) {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
            let path = task.path();
            let name = comm(&path.join("comm").to_string_lossy());
            // Thread names differ only by a number ("rdk:broker111"): group them.
            let name = name.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned();
            let ticks = super::cpu_seconds_of(&path.join("stat").to_string_lossy()) * 100.0;
            out.insert((*pid, tid), (name, ticks));
        }
    }
    out
}

//! `invigil bench live`: what the live video SFU costs per forwarded stream.
//!
//! For each count N: the SFU of `invigil ingest` (its own thread and UDP
//! socket, as in production), N publishers each sending one video track of
//! `--kbps` at 30 frames/s, and one subscriber per publisher — N forwarded
//! streams. Publishers and subscribers are str0m peers on loopback, driven
//! by one client thread of this process with a socket each, negotiated
//! through the same WHIP/WHEP code the HTTP routes use. Printed per N: the
//! frames sent and delivered, the SFU thread's CPU (from
//! `/proc/self/task/*/stat`, so the clients' own work does not count), CPU
//! per forwarded frame and the streams one core would forward at that cost.

use std::time::{Duration, Instant};

use anyhow::Context;
use invigil_ingest::live_video::loopback::LoopbackPeer;
use invigil_ingest::live_video::{LiveVideo, LiveVideoSettings};
use invigil_schemas::api::LiveView;

#[derive(clap::Args)]
pub struct Args {
    /// Forwarded stream counts to measure, one run each.
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,200")]
    streams: Vec<usize>,
    /// Video bitrate per stream, kbit/s.
    #[arg(long, default_value_t = 300)]
    kbps: u32,
    /// Measured seconds per run (after 3 s to connect).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Measure the signal instead: memory per held request and CPU per
    /// 1,000 answered, on a real `invigil ingest` (see `bench/signal.rs`).
    #[arg(long)]
    signal: bool,
    /// With --signal: held request counts to measure, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10000,50000")]
    held: Vec<usize>,
    /// With --signal: the hold each request asks for while answers are
    /// counted, ms.
    #[arg(long, default_value_t = 5000)]
    poll_ms: u64,
}

const FPS: u32 = 30;

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.signal {
        let signal = super::signal::SignalArgs { held: args.held, poll_ms: args.poll_ms, seconds: args.seconds };
        return super::signal::run(&signal);
    }
    println!(
        "live video SFU: N publishers x 1 video track of {} kbps at {FPS} fps, 1 subscriber each, {} s per run",
        args.kbps, args.seconds
    );
    println!(
        "{:>8} {:>12} {:>12} {:>10} {:>11} {:>10} {:>14} {:>16} {:>14}",
        "streams",
        "sent fr/s",
        "delivered",
        "SFU CPU",
        "client CPU",
        "kbit/s in",
        "µs CPU/frame",
        "streams/core",
        "KB/stream"
    );
    for &streams in &args.streams {
        let run = measure(streams, &args).with_context(|| format!("{streams} streams"))?;
        println!(
            "{:>8} {:>12.0} {:>11.1}% {:>9.1}% {:>10.1}% {:>10.0} {:>14.1} {:>16.0} {:>14.0}",
            streams,
            run.sent as f64 / run.seconds,
            100.0 * run.delivered as f64 / run.sent.max(1) as f64,
            100.0 * run.sfu_cpu / run.seconds,
            100.0 * run.client_cpu / run.seconds,
            run.bytes_in as f64 * 8.0 / 1000.0 / run.seconds / streams as f64,
            1e6 * run.sfu_cpu / run.delivered.max(1) as f64,
            streams as f64 / (run.sfu_cpu / run.seconds).max(1e-9),
            run.grew as f64 / 2.0 / 1e3 / streams as f64,
        );
    }
    println!("(streams/core: N divided by the SFU thread's share of one core; the clients run on the other core)");
    println!(
        "(KB/stream: resident memory the run added over N, halved: the SFU's publisher and subscriber and the \
         bench's two peers are str0m connections of about one size)"
    );
    Ok(())
}

struct Run {
    /// Resident memory the run added: the SFU's two peers per stream and
    /// the bench's own two (str0m on both sides, about the same size).
    grew: u64,
    seconds: f64,
    sent: u64,
    delivered: u64,
    bytes_in: u64,
    sfu_cpu: f64,
    /// The bench's own client thread (all publishers and subscribers).
    client_cpu: f64,
}

fn measure(streams: usize, args: &Args) -> anyhow::Result<Run> {
    let rss = || super::memory_bytes(std::process::id(), "VmRSS").unwrap_or(0);
    let rss_before = rss();
    let live = LiveVideo::start(LiveVideoSettings::default())?;
    let mut publishers = Vec::new();
    let mut subscribers = Vec::new();
    for i in 0..streams {
        let key = format!("bench/cand-{i}");
        let (mut subscriber, offer, pending) = LoopbackPeer::subscriber()?;
        let (answer, _) =
            live.subscribe(&key, &offer, "bench", LiveView::Full).map_err(|e| anyhow::anyhow!("{:?}", e.body))?;
        subscriber.accept(pending, &answer)?;
        let (mut publisher, offer, pending) = LoopbackPeer::publisher()?;
        let (answer, _) = live.publish(&key, &offer).map_err(|e| anyhow::anyhow!("{:?}", e.body))?;
        publisher.accept(pending, &answer)?;
        subscribers.push(subscriber);
        publishers.push(publisher);
    }
    let frame_bytes = (args.kbps as usize * 1000 / 8 / FPS as usize).max(16);
    let frame_every = Duration::from_secs(1) / FPS;
    let mut buf = vec![0u8; 2000];
    let connect_until = Instant::now() + Duration::from_secs(3);
    let measure_from = connect_until;
    let stop_at = measure_from + Duration::from_secs(args.seconds);
    let mut next_frame = Instant::now();
    let mut frame = 0u64;
    let (mut sent, mut cpu_start, mut delivered_start, mut bytes_start) = (0u64, None, 0u64, 0u64);
    let stats = live.stats();
    loop {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        if cpu_start.is_none() && now >= measure_from {
            cpu_start = Some((sfu_thread_cpu()?, client_thread_cpu()));
            delivered_start = subscribers.iter().map(|p| p.frames_in).sum();
            bytes_start = stats.media_bytes_in.load(std::sync::atomic::Ordering::Relaxed);
            sent = 0;
        }
        // Publishers are not in step: each sends in its own slice of the
        // frame interval, as independent cameras do.
        let count = publishers.len() as u64;
        while now >= next_frame {
            if publishers[(frame % count) as usize].send_frame(frame / count, FPS, frame_bytes) {
                sent += 1;
            }
            frame += 1;
            next_frame += frame_every / count as u32;
        }
        for peer in publishers.iter_mut().chain(subscribers.iter_mut()) {
            peer.turn(now, &mut buf);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let grew = rss().saturating_sub(rss_before);
    let (sfu_start, client_start) = cpu_start.unwrap_or_default();
    let sfu_cpu = sfu_thread_cpu()? - sfu_start;
    let client_cpu = client_thread_cpu() - client_start;
    let delivered = subscribers.iter().map(|p| p.frames_in).sum::<u64>() - delivered_start;
    let bytes_in = stats.media_bytes_in.load(std::sync::atomic::Ordering::Relaxed) - bytes_start;
    Ok(Run { grew, seconds: args.seconds as f64, sent, delivered, bytes_in, sfu_cpu, client_cpu })
}

/// CPU seconds of the calling thread.
fn client_thread_cpu() -> f64 {
    super::cpu_seconds_of("/proc/thread-self/stat")
}

/// CPU seconds of this process's thread named `invigil-sfu` (the newest, if
/// an earlier run's is still winding down).
fn sfu_thread_cpu() -> anyhow::Result<f64> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let task = entry?.path();
        if std::fs::read_to_string(task.join("comm")).is_ok_and(|c| c.trim() == "invigil-sfu") {
            let tid: u32 = task.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()).unwrap_or(0);
            found = found.max(Some(tid));
        }
    }
    let tid = found.context("no invigil-sfu thread")?;
    Ok(super::cpu_seconds_of(&format!("/proc/self/task/{tid}/stat")))
}

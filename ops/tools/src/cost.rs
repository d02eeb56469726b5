//! `invigil cost`: what one candidate-session and one exam cost on AWS, in
//! dollars and rupees, from the cadence in the config document, the objects
//! and batches the load generator's simulated SDK produces over a session,
//! and public list prices (each with its source). S3 PUT requests dominate;
//! the bundled upload mode (one object per bundle interval holding that
//! interval's face, screen and audio, with an index) is priced beside the
//! per-capture mode, and the video recording mode (`recording.mode =
//! "video"`: camera and screen segments besides the snapshots) beside both.
//! Face checks (`face_check`) are priced where they run, in the candidate's
//! browser, with identity mode's server-side alternative beside it.

use std::path::PathBuf;

use anyhow::Context;
use invigil_schemas::config::{ConfigDocument, FaceCheck, FaceCheckMode};

use crate::loadgen::sim::{Cadence, Candidate};

#[derive(clap::Args)]
pub struct Args {
    /// Config document whose defaults (or `--test` override) give the cadence.
    #[arg(long, env = "INVIGIL_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Test id whose override applies.
    #[arg(long)]
    test: Option<String>,
    /// Candidates in the exam.
    #[arg(long, default_value_t = 50_000)]
    candidates: u64,
    /// Session length, hours.
    #[arg(long, default_value_t = 3.0)]
    hours: f64,
    /// One bundle object per this many seconds in the bundled mode
    /// (default: the config's `uploads.bundle_ms`).
    #[arg(long)]
    bundle_secs: Option<u64>,
    /// Rupees per dollar.
    #[arg(long, default_value_t = 84.0)]
    inr_per_usd: f64,
    /// Video mode: recorded bytes per candidate-minute, camera and screen
    /// together (default: the config's `recording.video_kbps` at face value;
    /// the browser test prints what Chromium really wrote).
    #[arg(long)]
    video_bytes_per_min: Option<u64>,
    /// Data transfer out to the internet, $ per GB: what the face models'
    /// downloads cost when served from the region (a CDN prices its own).
    #[arg(long, default_value_t = 0.1093)]
    egress_per_gb: f64,
}

/// Public list prices used, with where they come from (ap-south-1, Mumbai).
pub struct Prices {
    pub put_per_1000: f64,
    pub get_per_1000: f64,
    pub standard_gb_month: f64,
    pub glacier_ir_gb_month: f64,
    pub transition_per_1000: f64,
    pub vcpu_hour: f64,
}

pub const PRICES: Prices = Prices {
    put_per_1000: 0.005,
    get_per_1000: 0.0004,
    standard_gb_month: 0.025,
    glacier_ir_gb_month: 0.005,
    transition_per_1000: 0.02,
    vcpu_hour: 0.0372,
};

const SOURCES: &[&str] = &[
    "lifecycle: objects under 128 KB are not transitioned by default; Glacier IR bills at least 128 KB and 90 days per object — https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html",
    "S3 Standard PUT/COPY/POST/LIST $0.005 per 1,000, GET $0.0004 per 1,000, storage $0.025 per GB-month (first 50 TB), ap-south-1 — https://aws.amazon.com/s3/pricing/",
    "S3 Glacier Instant Retrieval storage $0.005 per GB-month, lifecycle transition $0.02 per 1,000 objects — https://aws.amazon.com/s3/pricing/",
    "compute: c7g.large on-demand $0.0744/h for 2 vCPU = $0.0372 per vCPU-hour, ap-south-1 — https://aws.amazon.com/ec2/pricing/on-demand/",
    "STS AssumeRole: no charge — https://aws.amazon.com/iam/faqs/",
    "data transfer out to the internet $0.1093 per GB (ap-south-1, first 10 TB a month; --egress-per-gb) — https://aws.amazon.com/ec2/pricing/on-demand/",
];

/// The face-check chunk (script + detector wasm + YuNet), gzipped, as
/// `sdk/build.sh` printed it; fetched once per page by tests that check faces.
pub const FACE_CHUNK_GZ: u64 = 117_923;
/// The recogniser (SFace int8), gzipped, as `sdk/build.sh` printed it;
/// fetched once per page only in identity mode.
pub const SFACE_GZ: u64 = 10_172_866;
/// Medians measured in headless Chromium's Worker (ops/dev/browser/
/// faces.test.js, 2 cores): a presence check (one 320×240 detection), and
/// one that also embedded and compared the face.
pub const CHECK_S: f64 = 0.021;
pub const COMPARED_CHECK_S: f64 = 0.121;
/// Natively on one core (invigil-face's tests): YuNet on a 320×240 frame
/// and SFace on an aligned face: what a server doing identity from the
/// stored face photos would spend per photo.
pub const SERVER_PHOTO_S: f64 = 0.013 + 0.080;

/// What face checks cost per candidate-session, where each part runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceCost {
    pub checks: u64,
    pub comparisons: u64,
    /// Bytes each page downloads: the chunk, and the recogniser in identity mode.
    pub download_bytes: u64,
    pub download_usd: f64,
    /// Seconds of the candidate's CPU (a Worker thread).
    pub device_cpu_s: f64,
    /// Identity done on our servers from the stored face photos instead.
    pub server_cpu_s: f64,
    pub server_usd: f64,
}

pub fn face_cost(
    face: &FaceCheck,
    identity: bool,
    hours: f64,
    photos: u64,
    prices: &Prices,
    egress_per_gb: f64,
) -> FaceCost {
    let per = |every_ms: u32| (hours * 3_600_000.0 / f64::from(every_ms.max(1))).floor() as u64;
    let checks = per(face.every_ms);
    let comparisons = if identity { per(face.identity_every_ms).min(checks) } else { 0 };
    let download_bytes = FACE_CHUNK_GZ + if identity { SFACE_GZ } else { 0 };
    let server_cpu_s = photos as f64 * SERVER_PHOTO_S;
    FaceCost {
        checks,
        comparisons,
        download_bytes,
        download_usd: download_bytes as f64 / 1e9 * egress_per_gb,
        device_cpu_s: checks as f64 * CHECK_S + comparisons as f64 * (COMPARED_CHECK_S - CHECK_S),
        server_cpu_s,
        server_usd: server_cpu_s / 3600.0 * prices.vcpu_hour + photos as f64 / 1000.0 * prices.get_per_1000,
    }
}

/// What one simulated session produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Session {
    pub face: u64,
    pub screen: u64,
    pub audio: u64,
    pub batches: u64,
    /// Bytes stored, from the SDK's size targets.
    pub bytes: u64,
}

/// Runs the load generator's simulated SDK over one session of `hours`.
pub fn simulate(cadence: Cadence, hours: f64) -> Session {
    let mut candidate = Candidate::new("cost", "cand", 1, cadence, 1_800_000_000_000);
    let ticks = (hours * 3_600_000.0 / cadence.events_interval_ms as f64).round() as u64;
    for _ in 0..ticks {
        candidate.tick();
    }
    candidate.finish();
    let u = candidate.uploads;
    // SDK size targets: face ~20 KB, screen ~25 KB, audio 12 kbit/s.
    let audio_bytes = 12_000 / 8 * cadence.audio_chunk_ms as u64 / 1000;
    Session {
        face: u.face,
        screen: u.screen,
        audio: u.audio,
        batches: ticks + 1,
        bytes: u.face * 20_000 + u.screen * 25_000 + u.audio * audio_bytes,
    }
}

/// Dollars per candidate-session for `puts` objects holding `bytes`.
pub struct Breakdown {
    pub puts: f64,
    pub storage: f64,
    pub lifecycle: f64,
    pub review: f64,
    pub compute: f64,
}

impl Breakdown {
    pub fn total(&self) -> f64 {
        self.puts + self.storage + self.lifecycle + self.review + self.compute
    }
}

/// Smallest object S3 lifecycle moves out of Standard by default, and the
/// smallest size Glacier Instant Retrieval bills.
const LIFECYCLE_MIN_BYTES: f64 = 128.0 * 1024.0;
/// Glacier Instant Retrieval bills at least this many days per object.
const GLACIER_IR_MIN_DAYS: f64 = 90.0;

/// Cost of one session that writes `objects` objects, under the bucket's
/// lifecycle (`ops/deploy/s3/lifecycle.json`: Standard for 10 days, then
/// Glacier Instant Retrieval, deleted at 30 days): objects under 128 KB are
/// not transitioned (S3's default) and stay in Standard for the 30 days;
/// larger ones pay the transition and Glacier IR's 90-day minimum. Plus a
/// reviewer reading 5 % of the objects once, and ingest + pipeline + store
/// CPU (measured: ~0.19 ms of ingest CPU per batch; the rest taken as 3×).
/// `glacier`: the bucket lifecycle of SPEC §9 (Standard 10 days → Glacier
/// IR → delete at 30 days); otherwise Standard for the 30 days.
pub fn price(session: &Session, objects: u64, prices: &Prices, glacier: bool) -> Breakdown {
    let gb = session.bytes as f64 / 1e9;
    let average = session.bytes as f64 / objects.max(1) as f64;
    let (storage, lifecycle) = if !glacier || average < LIFECYCLE_MIN_BYTES {
        (gb * prices.standard_gb_month, 0.0)
    } else {
        let standard = gb * prices.standard_gb_month * 10.0 / 30.0;
        let glacier = gb * prices.glacier_ir_gb_month * GLACIER_IR_MIN_DAYS / 30.0;
        (standard + glacier, objects as f64 / 1000.0 * prices.transition_per_1000)
    };
    Breakdown {
        puts: objects as f64 / 1000.0 * prices.put_per_1000,
        storage,
        lifecycle,
        review: objects as f64 * 0.05 / 1000.0 * prices.get_per_1000,
        compute: session.batches as f64 * 0.000_19 * 4.0 / 3600.0 * prices.vcpu_hour,
    }
}

/// Issue 7's goal for a candidate-session at the reference cadence.
const TARGET_INR: f64 = 0.12;

pub fn run(args: Args) -> anyhow::Result<()> {
    let document = match &args.config {
        Some(path) => {
            ConfigDocument::from_json(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
                .map_err(|problems| anyhow::anyhow!("{}: {}", path.display(), problems[0]))?
        }
        None => ConfigDocument::default(),
    };
    let config = match &args.test {
        Some(test) => {
            document.for_test(&invigil_schemas::ids::TestId::new(test.as_str())?).map_err(|p| anyhow::anyhow!("{p}"))?
        }
        None => document.defaults.clone(),
    };
    let intervals = &config.capture_intervals;
    let cadence = Cadence {
        events_interval_ms: i64::from(config.events_interval_ms),
        face_ms: i64::from(intervals.face_ms),
        screen_ms: i64::from(intervals.screen_ms),
        audio_chunk_ms: i64::from(intervals.audio_chunk_ms),
    };
    let session = simulate(cadence, args.hours);
    let per_capture = session.face + session.screen + session.audio;
    let bundle_secs = args.bundle_secs.unwrap_or(u64::from(config.uploads.bundle_ms) / 1000).max(1);
    let bundles_every = |secs: u64| ((args.hours * 3600.0) / secs as f64).ceil() as u64;
    let bundles = bundles_every(bundle_secs);
    let inr = args.inr_per_usd;
    println!(
        "cadence: face {} s, screen {} s, audio {} s, events {} s; session {} h; {} candidates",
        intervals.face_ms / 1000,
        intervals.screen_ms / 1000,
        intervals.audio_chunk_ms / 1000,
        config.events_interval_ms / 1000,
        args.hours,
        args.candidates
    );
    println!(
        "simulated session (loadgen's SDK model): {} face + {} screen + {} audio objects, {} batches, {:.1} MB",
        session.face,
        session.screen,
        session.audio,
        session.batches,
        session.bytes as f64 / 1e6
    );
    println!();
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>9} {:>12}",
        "mode", "objects", "PUT $", "storage $", "other $", "CPU $", "$/session", "₹/session", "₹/exam"
    );
    let mut met = Vec::new();
    // Video mode: two tracks' segments on top of the per-capture snapshots.
    let recording = &config.recording;
    let video_per_min = args.video_bytes_per_min.unwrap_or(u64::from(recording.video_kbps) * 1000 / 8 * 60);
    let video_bytes = (video_per_min as f64 * args.hours * 60.0) as u64;
    let video_session = Session { bytes: session.bytes + video_bytes, ..session };
    let segments = |secs: u64| 2 * bundles_every(secs.max(1));
    let segment_secs = u64::from(recording.segment_ms / 1000).max(1);
    for (mode, objects, glacier, video) in [
        ("per capture (one object each)".to_owned(), per_capture, true, false),
        (format!("bundled every {bundle_secs} s"), bundles, true, false),
        ("bundled every 600 s".to_owned(), bundles_every(600), true, false),
        (format!("bundled every {bundle_secs} s, no Glacier"), bundles, false, false),
        (format!("video, {segment_secs} s segments + per capture"), per_capture + segments(segment_secs), true, true),
        ("video, 60 s segments + per capture".to_owned(), per_capture + segments(60), true, true),
        (format!("video, 60 s segments + bundled {bundle_secs} s"), bundles + segments(60), true, true),
    ] {
        let b = price(if video { &video_session } else { &session }, objects, &PRICES, glacier);
        if !video && b.total() * inr <= TARGET_INR {
            met.push(mode.clone());
        }
        println!(
            "{mode:<34} {objects:>9} {:>9.5} {:>9.5} {:>9.5} {:>9.5} {:>11.5} {:>9.3} {:>12.0}",
            b.puts,
            b.storage,
            b.lifecycle + b.review,
            b.compute,
            b.total(),
            b.total() * inr,
            b.total() * inr * args.candidates as f64
        );
    }
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>9.3}",
        "SPEC §10 reference (Go backend)", "54 M/exam", "", "", "", "", "", 0.35
    );
    println!();
    let reference = price(&session, per_capture, &PRICES, true);
    println!(
        "PUT requests: {:.0} % of the per-capture cost; bundling every {bundle_secs} s cuts them {:.1}×.",
        100.0 * reference.puts / reference.total(),
        per_capture as f64 / bundles as f64
    );
    println!("Rows price the bucket lifecycle of SPEC §9 unless they say \"no Glacier\" (Standard for the 30 days).");
    println!("Objects of 128 KB or more leave Standard at day 10 and pay Glacier IR's transition and 90-day minimum,");
    println!(
        "which for 30-day retention costs more than it saves below ~12 MB an object; smaller ones stay in Standard."
    );
    println!(
        "Bundles are the SDK's `uploads.mode = \"bundled\"` (config `uploads.bundle_ms`): one object per interval;"
    );
    println!("each capture's event names its byte range, so review still shows every photo and chunk.");
    println!(
        "Video rows (`recording.mode = \"video\"`, config `recording`): {:.0} KB per candidate-minute of camera + screen{} \
         ({:.0} MB a session) on top of the snapshots; segments are objects of their own, never bundled.",
        video_per_min as f64 / 1000.0,
        if args.video_bytes_per_min.is_some() {
            " as given".to_owned()
        } else {
            format!(" ({} kbit/s at face value)", recording.video_kbps)
        },
        video_bytes as f64 / 1e6
    );
    print_face_costs(&config.face_check, &args, &session);
    if met.is_empty() {
        println!("Target ≤ ₹{TARGET_INR} per candidate-session (snapshots): not met by any row.");
    } else {
        println!("Target ≤ ₹{TARGET_INR} per candidate-session (snapshots): met by {}.", met.join("; "));
    }
    println!();
    println!("prices (1 USD = ₹{inr}):");
    for source in SOURCES {
        println!("  - {source}");
    }
    Ok(())
}

/// The face-check lines: presence and identity in the browser (what the
/// SDK does), and identity on our servers from the stored photos.
fn print_face_costs(face: &FaceCheck, args: &Args, session: &Session) {
    let inr = args.inr_per_usd;
    let candidates = args.candidates as f64;
    let state = match face.mode {
        FaceCheckMode::Off => "off in this config; priced at its cadence if turned on",
        FaceCheckMode::Presence => "presence in this config",
        FaceCheckMode::Identity => "identity in this config",
    };
    println!();
    println!(
        "Face checks ({state}; a check every {} s, a comparison every {} s):",
        face.every_ms / 1000,
        face.identity_every_ms / 1000
    );
    let presence = face_cost(face, false, args.hours, session.face, &PRICES, args.egress_per_gb);
    let identity = face_cost(face, true, args.hours, session.face, &PRICES, args.egress_per_gb);
    println!(
        "  presence, in the browser: {:.0} KB download a page (${:.5}), {} checks = {:.0} s of the candidate's CPU \
         in a Worker; nothing on our servers",
        presence.download_bytes as f64 / 1e3,
        presence.download_usd,
        presence.checks,
        presence.device_cpu_s
    );
    println!(
        "  identity, in the browser (what the SDK does): {:.1} MB download a page (${:.5}, ₹{:.3} a session, ₹{:.0} an exam), \
         {} comparisons, {:.0} s of the candidate's CPU; no face leaves the device",
        identity.download_bytes as f64 / 1e6,
        identity.download_usd,
        identity.download_usd * inr,
        identity.download_usd * inr * candidates,
        identity.comparisons,
        identity.device_cpu_s
    );
    println!(
        "  identity on our servers instead, from the {} stored face photos: {:.0} vCPU-s + GETs (${:.5}, ₹{:.3} a session, \
         ₹{:.0} an exam), {:.0} vCPUs busy through the exam, and every face processed on our servers",
        session.face,
        identity.server_cpu_s,
        identity.server_usd,
        identity.server_usd * inr,
        identity.server_usd * inr * candidates,
        identity.server_cpu_s * candidates / (args.hours * 3600.0)
    );
    println!(
        "  (a page reload downloads again unless the browser's cache kept the files; the figures are one download a session)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_checks_cost_a_download_and_the_candidates_cpu_and_identity_on_a_server_costs_vcpus() {
        let face = FaceCheck { every_ms: 5_000, identity_every_ms: 30_000, ..FaceCheck::default() };
        let presence = face_cost(&face, false, 3.0, 360, &PRICES, 0.1);
        assert_eq!((presence.checks, presence.comparisons, presence.download_bytes), (2_160, 0, FACE_CHUNK_GZ));
        let identity = face_cost(&face, true, 3.0, 360, &PRICES, 0.1);
        assert_eq!((identity.checks, identity.comparisons), (2_160, 360));
        assert!((identity.download_usd - (FACE_CHUNK_GZ + SFACE_GZ) as f64 / 1e9 * 0.1).abs() < 1e-12);
        assert!((identity.device_cpu_s - (2_160.0 * CHECK_S + 360.0 * (COMPARED_CHECK_S - CHECK_S))).abs() < 1e-9);
        assert!((identity.server_cpu_s - 360.0 * SERVER_PHOTO_S).abs() < 1e-9);
        // Comparisons are never more than checks.
        let fast = FaceCheck { every_ms: 10_000, identity_every_ms: 1_000, ..FaceCheck::default() };
        assert_eq!(face_cost(&fast, true, 1.0, 0, &PRICES, 0.1).comparisons, 360);
    }

    /// The download figure follows the model the install step fetched: a new
    /// model (or a new release) must update it.
    #[test]
    fn the_recogniser_download_matches_the_installed_model() {
        let Ok(model) = invigil_face::assets::sface() else {
            panic!("no SFace model: run ops/dev/services.sh install");
        };
        let ratio = SFACE_GZ as f64 / model.len() as f64;
        assert!(
            (0.9..1.0).contains(&ratio),
            "SFACE_GZ {SFACE_GZ} vs {} B raw: int8 weights barely compress",
            model.len()
        );
    }

    #[test]
    fn a_reference_session_makes_about_360_objects_of_each_kind_and_puts_dominate() {
        let session = simulate(Cadence::default(), 3.0);
        // 360 slots each; the model fails ~1 % of uploads.
        for n in [session.face, session.screen, session.audio] {
            assert!((350..=361).contains(&n), "{session:?}");
        }
        assert_eq!(session.batches, 2_161);
        let per_capture = price(&session, session.face + session.screen + session.audio, &PRICES, true);
        assert!(per_capture.puts / per_capture.total() > 0.8, "PUTs dominate");
        // A minute's bundle is over 128 KB: it transitions and pays Glacier
        // IR's minimum, which costs more than the PUTs it saved.
        let bundled = price(&session, 180, &PRICES, true);
        assert!(bundled.lifecycle > 0.0 && per_capture.lifecycle == 0.0);
        assert!(per_capture.puts / bundled.puts >= 5.9);
        // Without the Glacier step, the same bundles cost less than per capture.
        let standard = price(&session, 180, &PRICES, false);
        assert_eq!(standard.lifecycle, 0.0);
        assert!(standard.total() < per_capture.total() && standard.total() < bundled.total());
    }
}

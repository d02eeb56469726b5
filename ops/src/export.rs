//! `invigil export`: one candidate's data from a running server, as the
//! review page's zip or unpacked into a folder of JSON, CSV and media.
//!
//! It asks the server (the same route as the review page's button, with a
//! reviewer's or admin's token), so it needs no access of its own to the
//! analytics store or the bucket, and the export is in the audit trail
//! like any other.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[derive(clap::Args)]
pub struct Args {
    /// The test.
    #[arg(long = "test")]
    test: String,
    /// The candidate.
    #[arg(long)]
    candidate: String,
    /// A folder to unpack into (created; must be empty), or a file ending
    /// in `.zip` to keep the archive as it is.
    #[arg(long)]
    out: PathBuf,
    /// A reviewer's (of the test) or admin's token, and the server.
    #[command(flatten)]
    server: crate::staff_api::Server,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    invigil_schemas::ids::check_id(&args.test).map_err(|e| anyhow::anyhow!("--test {:?}: {e}", args.test))?;
    invigil_schemas::ids::check_id(&args.candidate)
        .map_err(|e| anyhow::anyhow!("--candidate {:?}: {e}", args.candidate))?;
    let as_zip = args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if !as_zip && args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} is not empty: give a new or empty folder", args.out.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let zip = runtime.block_on(download(&args))?;
    if as_zip {
        std::fs::write(&args.out, &zip).with_context(|| format!("writing {}", args.out.display()))?;
        eprintln!("wrote {} ({:.1} MB)", args.out.display(), zip.len() as f64 / 1e6);
        return Ok(());
    }
    let files = invigil_dashboards::zip::read(&zip).context("reading the export")?;
    let mut bytes = 0;
    for (name, data) in &files {
        let path = inside(&args.out, name)?;
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::File::create(&path)
            .and_then(|mut file| file.write_all(data))
            .with_context(|| format!("writing {}", path.display()))?;
        bytes += data.len();
    }
    eprintln!("wrote {} files ({:.1} MB) to {}", files.len(), bytes as f64 / 1e6, args.out.display());
    summarise(&args.out.join("manifest.json"));
    Ok(())
}

/// `name` under `root`, refused if it would leave it (an absolute path, a
/// `..`): the archive comes over the network.
fn inside(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let relative = Path::new(name);
    if name.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("the export names a file outside its folder: {name:?}");
    }
    Ok(root.join(relative))
}

/// The export's bytes, with progress on stderr for a long download.
async fn download(args: &Args) -> anyhow::Result<Vec<u8>> {
    let path = format!("/api/v1/dashboard/tests/{}/candidates/{}/export", args.test, args.candidate);
    let mut response = args.server.send(reqwest::Method::GET, &path, None).await?;
    let mut zip = Vec::new();
    let mut told = Instant::now();
    while let Some(chunk) = response.chunk().await.context("the download was cut short")? {
        zip.extend_from_slice(&chunk);
        if told.elapsed() >= Duration::from_secs(2) {
            told = Instant::now();
            eprintln!("downloading… {:.1} MB", zip.len() as f64 / 1e6);
        }
    }
    Ok(zip)
}

/// One line per table and the media count, from the manifest.
fn summarise(manifest: &Path) {
    let Ok(text) = std::fs::read_to_string(manifest) else { return };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else { return };
    for table in manifest["tables"].as_array().into_iter().flatten() {
        eprintln!("  {:<20} {:>8} rows", table["table"].as_str().unwrap_or("?"), table["rows"]);
    }
    let media = manifest["media"].as_array().map_or(0, Vec::len);
    let missing = manifest["missing_media"].as_array().map_or(0, Vec::len);
    eprintln!("  {:<20} {media:>8} objects ({missing} named by events but not stored)", "media");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        let root = Path::new("/tmp/x");
        assert_eq!(
            inside(root, "media/2026-12-06/t/c/camera/1.jpg").unwrap(),
            root.join("media/2026-12-06/t/c/camera/1.jpg")
        );
        for bad in ["../evil", "/etc/passwd", "media/../../x", "", "./a"] {
            assert!(inside(root, bad).is_err(), "{bad}");
        }
    }
}

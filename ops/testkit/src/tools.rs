//! The tools binary (`invigil-tools`) that `invigil loadgen|cost|bench`
//! hands over to. Cargo builds a package's own binaries for its tests, not
//! another package's, so a test of `invigil` that reaches a tool makes sure
//! the tools binary is there first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// `invigil-tools` beside `invigil` (the test's `CARGO_BIN_EXE_invigil`),
/// built with the same profile if it is not there yet.
pub fn beside(invigil: &Path) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let tools = invigil.with_file_name("invigil-tools");
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    if !tools.is_file() {
        let release = invigil.parent().and_then(Path::file_name).is_some_and(|dir| dir == "release");
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build.args(["build", "--quiet", "-p", "invigil-tools"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build -p invigil-tools failed");
    }
    assert!(tools.is_file(), "{} missing after building it", tools.display());
    tools
}

//! Child processes of the `invigil` binary in integration tests (the
//! binary's path comes from the test: `env!("CARGO_BIN_EXE_invigil")`).

use std::path::Path;
use std::process::{Child, Command};

/// A child process killed and reaped when dropped, so a failing test leaves
/// nothing running.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `BINARY ingest --settings SETTINGS` as the tests run it: brokers from the
/// settings file only (the test environment exports `INVIGIL_KAFKA_BROKERS`,
/// which would override them), tokens signed with `secret`, warnings only
/// in its log. Callers add their environment and where output goes.
pub fn ingest_command(binary: &str, settings: &Path, secret: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["ingest", "--settings"])
        .arg(settings)
        .env_remove("INVIGIL_KAFKA_BROKERS")
        .env("INVIGIL_TOKEN_SECRET", secret)
        .env("RUST_LOG", "warn");
    command
}

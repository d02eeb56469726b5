//! The `invigil` binary: its help lists only working commands, and those
//! commands do what they say.

use std::path::Path;
use std::process::Command;

fn invigil(args: &[&str]) -> std::process::Output {
    // CLICKHOUSE_URL (exported by the test environment) would send `migrate` to a server.
    Command::new(env!("CARGO_BIN_EXE_invigil")).args(args).env_remove("CLICKHOUSE_URL").output().expect("invigil runs")
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures").join(path).display().to_string()
}

#[test]
fn help_lists_exactly_the_working_commands() {
    let help = String::from_utf8(invigil(&["--help"]).stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        ["up", "ingest", "pipeline", "loadgen", "migrate", "validate", "token", "tail", "bench", "help"]
    );
}

#[test]
fn validate_accepts_golden_and_names_every_bad_field() {
    let ok = invigil(&["validate", &fixture("valid/mixed_batch.json")]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("valid: 21 events"));

    let bad = invigil(&["validate", &fixture("invalid/wrong_types.json")]);
    assert_eq!(bad.status.code(), Some(1));
    let body: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(body["error"]["field"], "events[0].chars");
    assert_eq!(body["error"]["problems"].as_array().unwrap().len(), 3);
}

#[test]
fn migrate_applies_to_chdb_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chdb");
    let path = path.to_str().unwrap();
    let first = invigil(&["migrate", "--chdb-path", path]);
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{out}{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.contains("applied 001_proctor_events") && out.contains("5 applied now, 0 already applied"), "{out}");
    let second = invigil(&["migrate", "--chdb-path", path]);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 applied now, 5 already applied"));
}

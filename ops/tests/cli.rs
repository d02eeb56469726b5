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
        [
            "up",
            "ingest",
            "pipeline",
            "loadgen",
            "migrate",
            "sql",
            "export",
            "retention",
            "validate",
            "cost",
            "token",
            "tail",
            "bench",
            "bed",
            "faces",
            "help"
        ]
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
    let n = invigil_schemas::migrations::MIGRATIONS.len();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chdb");
    let path = path.to_str().unwrap();
    let first = invigil(&["migrate", "--chdb-path", path]);
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{out}{}", String::from_utf8_lossy(&first.stderr));
    assert!(
        out.contains("applied 001_proctor_events") && out.contains(&format!("{n} applied now, 0 already applied")),
        "{out}"
    );
    let second = invigil(&["migrate", "--chdb-path", path]);
    assert!(String::from_utf8_lossy(&second.stdout).contains(&format!("0 applied now, {n} already applied")));
}

/// On a ClickHouse cluster (`chcluster` of the dev services): the pipeline
/// refuses a database the cluster migrator has not prepared, naming what to
/// run; `invigil migrate --cluster` prepares it; then the pipeline's check
/// passes (it goes on to wait for Kafka, which this test does not start).
#[test]
fn the_pipeline_refuses_an_unmigrated_cluster_and_migrate_cluster_prepares_it() {
    let cluster = std::env::var("INVIGIL_CLICKHOUSE_CLUSTER").unwrap_or_else(|_| "invigil_test".into());
    let urls = std::env::var("INVIGIL_CLICKHOUSE_CLUSTER_URLS")
        .unwrap_or_else(|_| "http://127.0.0.1:18124,http://127.0.0.1:18125".into());
    let url = urls.split(',').next().unwrap().to_owned();
    let database = format!("invigil_cli_{}", std::process::id());
    let pipeline = |timeout_s: &str| {
        Command::new("timeout")
            .args([timeout_s, env!("CARGO_BIN_EXE_invigil"), "pipeline", "--clickhouse-url", &url])
            .args(["--cluster", &cluster, "--database", &database, "--legacy", "--brokers", "127.0.0.1:1"])
            .env_remove("CLICKHOUSE_URL")
            .output()
            .unwrap()
    };
    let refused = pipeline("60");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "refuses at once, not after the timeout: {stderr}");
    assert!(
        stderr.contains(&format!(
            "the ClickHouse cluster {cluster} (database {database}) lacks migrations 001_proctor_events"
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("invigil migrate --cluster {cluster} --database {database}")), "{stderr}");

    let migrated = invigil(&["migrate", "--url", &url, "--cluster", &cluster, "--database", &database, "--legacy"]);
    let out = String::from_utf8_lossy(&migrated.stdout);
    assert!(migrated.status.success(), "{out}{}", String::from_utf8_lossy(&migrated.stderr));
    let n = invigil_schemas::migrations::MIGRATIONS.len();
    assert!(out.contains(&format!("cluster {cluster} database {database}: {n} applied now")), "{out}");

    // The schema check passes; the pipeline then waits for the (absent)
    // broker until `timeout` stops it.
    let waiting = pipeline("8");
    let stderr = String::from_utf8_lossy(&waiting.stderr);
    assert_eq!(waiting.status.code(), Some(124), "still running after the check: {stderr}");
    assert!(stderr.contains("store schema ready"), "{stderr}");
    let cleanup = format!("DROP DATABASE IF EXISTS {database} ON CLUSTER {cluster}");
    let _ = Command::new("curl").args(["-sS", &url, "--data-binary", &cleanup]).output();
}

#[test]
fn sql_prints_query_results_and_runs_the_review_pack_with_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chdb");
    let path = path.to_str().unwrap();
    assert!(invigil(&["migrate", "--chdb-path", path]).status.success());
    let insert = "INSERT INTO reviews VALUES ('exam-1', 'cand-1', 'r1', 'flagged', 'why?', now64(3), 1), \
                  ('exam-2', 'cand-9', 'r1', 'cleared', '', now64(3), 1)";
    let inserted = invigil(&["sql", "--chdb-path", path, insert]);
    assert!(inserted.status.success(), "{}", String::from_utf8_lossy(&inserted.stderr));
    let table = invigil(&["sql", "--chdb-path", path, "SELECT candidate_id, verdict FROM reviews FINAL ORDER BY 1"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("candidate_id") && text.contains("│ cand-1") && text.contains("flagged"), "{text}");

    // A parameterised query from a file, as the review SQL pack is written.
    let file = dir.path().join("verdicts.sql");
    std::fs::write(
        &file,
        "-- verdicts of {test_id:String}\nSELECT candidate_id FROM reviews FINAL WHERE test_id = {test_id:String};\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let bound = invigil(&["sql", "--chdb-path", path, "--file", file, "--param", "test_id=exam-2", "--format", "TSV"]);
    assert_eq!(String::from_utf8_lossy(&bound.stdout), "cand-9\n", "{}", String::from_utf8_lossy(&bound.stderr));
    let missing = invigil(&["sql", "--chdb-path", path, "--file", file]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--param test_id"));
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/sql/top_candidates_by_score.sql");
    let ran = invigil(&["sql", "--chdb-path", path, "--file", pack.to_str().unwrap(), "--param", "test_id=exam-1"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let broken = invigil(&["sql", "--chdb-path", path, "SELEC 1"]);
    assert!(!broken.status.success() && String::from_utf8_lossy(&broken.stderr).contains("Syntax error"));
}

#[test]
fn tool_subcommands_are_handed_to_invigil_tools_with_their_arguments() {
    invigil_testkit::tools::beside(Path::new(env!("CARGO_BIN_EXE_invigil")));
    let help = invigil(&["cost", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}{}", String::from_utf8_lossy(&help.stderr));
    assert!(text.contains("Usage: invigil cost") && text.contains("--candidates"), "{text}");
    // A bad option reaches the tool, which refuses it as clap does.
    let bad = invigil(&["bench", "no-such-bench"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no-such-bench"));
}

#[test]
fn the_product_binary_links_none_of_the_tools_dependencies() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let tree = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "-p", "invigil", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo tree runs");
    let text = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.status.success(), "{}", String::from_utf8_lossy(&tree.stderr));
    let crates: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"invigil-ingest") && crates.contains(&"invigil-pipeline"), "{text}");
    for tool_only in ["invigil-tools", "invigil-sdk", "jpeg-encoder", "indicatif", "rmp-serde"] {
        assert!(!crates.contains(&tool_only), "the product binary links {tool_only}");
    }
}

/// The secret the manifests once shipped, and a few an operator might type,
/// stop every command that signs or checks tokens before it serves anything;
/// the message names the variable and how to make a good one.
#[test]
fn placeholder_and_weak_token_secrets_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("ingest.toml");
    let port = invigil_testkit::services::free_port();
    std::fs::write(
        &settings,
        format!(
            "listen = \"127.0.0.1:{port}\"\nconfig_file = \"{0}/config.json\"\n[spool]\ndir = \"{0}/spool\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let data_dir = dir.path().join("up");
    let commands: [(&str, Vec<&str>); 3] = [
        ("ingest", vec!["ingest", "--settings", settings.to_str().unwrap()]),
        ("up", vec!["up", "--data-dir", data_dir.to_str().unwrap(), "--broker", "external", "--no-demo"]),
        ("token", vec!["token", "--role", "admin", "--sub", "a", "--test", "t"]),
    ];
    for secret in ["replace-me-with-32-or-more-random-bytes", "abcdabcdabcdabcdabcdabcdabcdabcdabcd", "tooshort"] {
        for (name, args) in &commands {
            let started = std::time::Instant::now();
            let output = Command::new(env!("CARGO_BIN_EXE_invigil"))
                .args(args)
                .env("INVIGIL_TOKEN_SECRET", secret)
                .env("INVIGIL_IP_HASH_SECRET", "0123456789abcdefXYZ")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "`invigil {name}` ran with {secret:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "`invigil {name}` took long to refuse");
            assert!(
                stderr.contains("INVIGIL_TOKEN_SECRET") && stderr.contains("openssl rand"),
                "`invigil {name}` with {secret:?}: {stderr}"
            );
            assert!(!stderr.contains(secret), "`invigil {name}` printed the secret: {stderr}");
        }
    }
}

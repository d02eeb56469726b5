//! `invigil retention`: which tests' verdicts are final and when their data
//! goes; with `--sweep`, erases every test that is due (run it daily, as
//! the Kubernetes CronJob in `ops/deploy/k8s/retention.yaml` does).

use crate::staff_api::Server;

#[derive(clap::Args)]
pub struct Args {
    /// Erase every test that is due, then list what is left.
    #[arg(long)]
    sweep: bool,
    /// An admin's token, and the server.
    #[command(flatten)]
    server: Server,
    /// Without a token: sign a 1-hour admin token (`sub` retention-sweep)
    /// with this secret, as a scheduled job does with the deployment's.
    #[arg(long, env = "INVIGIL_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    if args.server.token.as_deref().is_none_or(str::is_empty) {
        if let Some(secret) = args.token_secret.as_deref().filter(|s| !s.is_empty()) {
            crate::token::require_strong_secret(secret)?;
            let claims = crate::token::claims("admin", "retention-sweep", &[], None, crate::now_ms() / 1000, 1)?;
            args.server.token = Some(crate::token::sign(secret, &claims));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        if args.sweep {
            let swept = args.server.json(reqwest::Method::POST, "/api/v1/dashboard/retention/sweep", None).await?;
            let erased = swept["erased"].as_array().cloned().unwrap_or_default();
            for report in &erased {
                let rows: u64 = report["rows"].as_object().into_iter().flatten().filter_map(|(_, n)| n.as_u64()).sum();
                println!(
                    "erased {}: {} candidates, {rows} rows, {} media objects in {} ms",
                    report["test_id"].as_str().unwrap_or("?"),
                    report["candidates"],
                    report["media_objects"],
                    report["took_ms"]
                );
            }
            println!("{} tests erased, {} not due yet", erased.len(), swept["not_due"]);
            return Ok(());
        }
        let status = args.server.json(reqwest::Method::GET, "/api/v1/dashboard/retention", None).await?;
        let now = status["now"].as_i64().unwrap_or(0);
        println!("{:<32} {:<9} {:>9}  due", "test", "verdicts", "keep days");
        for test in status["tests"].as_array().into_iter().flatten() {
            let due = match test["due_at"].as_i64() {
                Some(at) if at <= now => "now".to_owned(),
                Some(at) => format!("in {:.1} days", (at - now) as f64 / 86_400_000.0),
                None => "—".to_owned(),
            };
            let state = if test["final"].as_bool() == Some(true) { "final" } else { "reopened" };
            println!("{:<32} {state:<9} {:>9}  {due}", test["test_id"].as_str().unwrap_or("?"), test["keep_days"]);
        }
        Ok(())
    })
}

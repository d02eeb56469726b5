//! `invigil ingest`: runs the front door (SPEC §4) with the dashboards
//! mounted until Ctrl-C or SIGTERM, then drains requests and flushes the
//! producer.

use std::path::PathBuf;

use anyhow::Context;
use invigil_ingest::app::Ingest;

#[derive(clap::Args)]
pub struct Args {
    /// Settings file (TOML; `ops/dev/ingest.example.toml` lists every key).
    /// Without it, the defaults apply.
    #[arg(long, env = "INVIGIL_INGEST_SETTINGS")]
    settings: Option<PathBuf>,
    /// Print the effective settings (no secrets) and exit.
    #[arg(long)]
    print_settings: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    invigil_ingest::init_logging();
    let (settings, dashboard) = invigil_dashboards::settings::load(args.settings.as_deref())?;
    if args.print_settings {
        print!("{}", toml::to_string(&settings)?);
        print!("\n[dashboard]\n{}", toml::to_string(&dashboard)?);
        return Ok(());
    }
    let secrets = settings.secrets_from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        // The review pages read a ClickHouse server when one is configured.
        let analytics = (!dashboard.clickhouse_url.is_empty())
            .then(|| crate::analytics::SharedStore::http(&dashboard.clickhouse_url, &dashboard.clickhouse_database))
            .transpose()
            .context("[dashboard] clickhouse_url")?;
        let ingest = Ingest::start(settings, secrets, Default::default()).await?;
        let dashboards = invigil_dashboards::Backends { analytics, ..Default::default() };
        tracing::info!(listen = %listener.local_addr()?, "ingest serving");
        eprintln!("invigil ingest: serving on http://{}", listener.local_addr()?);
        invigil_dashboards::serve(ingest, dashboard, dashboards, listener, shutdown_signal()).await?;
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM (Kubernetes' stop signal).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stop requested; draining");
}

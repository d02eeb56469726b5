//! `invigil validate`: the server's validator on a local file, for host
//! developers checking what their integration sends.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use invigil_schemas::api::ErrorBody;
use invigil_schemas::validate::{parse_batch, Limits};

#[derive(clap::Args)]
pub struct Args {
    /// Batch JSON file, or `-` for standard input.
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut body = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body).context("reading standard input")?;
    } else {
        body = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    }
    match parse_batch(&body, &Limits::default()) {
        Ok(batch) => {
            println!(
                "valid: {} events, session {}, batch_seq {}",
                batch.events.len(),
                batch.session_id,
                batch.batch_seq
            );
            Ok(())
        }
        Err(problems) => {
            println!("{}", serde_json::to_string_pretty(&ErrorBody::invalid(problems.0))?);
            std::process::exit(1);
        }
    }
}

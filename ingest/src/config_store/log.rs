//! The configuration as the config log on Kafka: every replica follows the
//! same topic, so a document has one version everywhere (the rule is
//! [`invigil_schemas::config_log`]). A write is a proposal based on a
//! version; the log decides whether it installed, and the writer waits to
//! read its own record back before it answers. While the broker is away the
//! last document read stays in force and writes fail with a clear error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use invigil_schemas::config::ConfigDocument;
use invigil_schemas::config_log::kafka::{ConfigFollower, LogSettings};
use invigil_schemas::config_log::{Outcome, Proposal};

use super::{check, ConfigError, Versioned, Write};

/// How long a write waits for the log to take it and give it back.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A write without `if_version` that keeps losing to others gives up after
/// this many tries.
const UNCONDITIONAL_TRIES: usize = 5;

#[derive(Clone)]
pub struct LogStore {
    follower: ConfigFollower,
}

impl LogStore {
    pub fn open(
        settings: LogSettings,
        seed: &Path,
        wait: Duration,
        on_install: impl Fn(u64) + Send + 'static,
    ) -> Result<Self, ConfigError> {
        let log_error = |e: &dyn std::fmt::Display| ConfigError::Log(e.to_string());
        let follower = ConfigFollower::start(settings, on_install).map_err(|e| log_error(&e))?;
        follower.wait_until_caught_up(wait).map_err(|e| log_error(&e))?;
        let store = Self { follower };
        if store.follower.current().is_none() {
            store.seed(seed)?;
        }
        Ok(store)
    }

    /// Writes the seed file (or the defaults) as version 1. Several replicas
    /// starting together may all try; the log keeps the first.
    fn seed(&self, seed: &Path) -> Result<(), ConfigError> {
        let document = if seed.exists() {
            ConfigDocument::read_file(seed).map_err(|e| ConfigError::Log(format!("{}: {e}", seed.display())))?
        } else {
            ConfigDocument::default()
        };
        let by = format!("seed file {}", seed.display());
        match self.propose(document, 0, "seeded".into(), by)? {
            Outcome::Installed(version) => tracing::info!(version, seed = %seed.display(), "config log seeded"),
            _ => tracing::info!("config log seeded by another replica"),
        }
        Ok(())
    }

    pub fn current(&self) -> Versioned {
        let (version, document) = self.follower.current().expect("a log store is seeded before it is used");
        Versioned { version, document }
    }

    pub fn replace(&self, document: ConfigDocument, write: Write, action: String) -> Result<u64, ConfigError> {
        check(&document)?;
        self.refuse_known_stale(write.if_version)?;
        if let Some(read) = write.if_version {
            return match self.propose(document, read, action, write.by)? {
                Outcome::Installed(version) => Ok(version),
                Outcome::Stale { current } => Err(ConfigError::Stale { read, current }),
                Outcome::Unusable => Err(ConfigError::Log("the config log could not use the write".into())),
            };
        }
        // Over whatever is in force: a write that loses to another retries
        // on top of it, like a write that came a moment later.
        let mut base = self.current().version;
        for _ in 0..UNCONDITIONAL_TRIES {
            match self.propose(document.clone(), base, action.clone(), write.by.clone())? {
                Outcome::Installed(version) => return Ok(version),
                Outcome::Stale { current } => base = current,
                Outcome::Unusable => break,
            }
        }
        Err(ConfigError::Log(format!("the write lost {UNCONDITIONAL_TRIES} races to other writes; try again")))
    }

    pub fn rollback(&self, version: Option<u64>, write: Write) -> Result<u64, ConfigError> {
        self.refuse_known_stale(write.if_version)?;
        let current = write.if_version.unwrap_or(self.current().version);
        let target = super::rollback_target(version, current)?;
        let document = self.load_version(target)?;
        self.replace(document, write, format!("rolled back to {target}"))
    }

    /// A write based on a version older than one this replica has read is
    /// stale whatever else is in the log (versions never go back). One based
    /// on a newer version than it has read (this replica is behind) is left
    /// for the log to decide.
    fn refuse_known_stale(&self, if_version: Option<u64>) -> Result<(), ConfigError> {
        let current = self.current().version;
        match if_version {
            Some(read) if read < current => Err(ConfigError::Stale { read, current }),
            _ => Ok(()),
        }
    }

    pub fn history(&self) -> Vec<u64> {
        self.follower.with_log(|log| log.history().map(|v| v.version).collect())
    }

    pub fn load_version(&self, version: u64) -> Result<ConfigDocument, ConfigError> {
        self.follower
            .with_log(|log| log.version(version).map(|v| Arc::clone(&v.document)))
            .map(|document| (*document).clone())
            .ok_or(ConfigError::NoSuchVersion(version))
    }

    fn propose(&self, document: ConfigDocument, base: u64, action: String, by: String) -> Result<Outcome, ConfigError> {
        let proposal = Proposal {
            base,
            write_id: uuid::Uuid::new_v4(),
            action,
            by,
            at_ms: invigil_schemas::clock::now_ms(),
            document,
        };
        self.follower.write(&proposal, WRITE_TIMEOUT).map_err(|e| ConfigError::Log(e.to_string()))
    }
}

//! The configuration document in force, its version, and its history.
//!
//! Read on every request (a cheap clone of an `Arc`), replaced as a whole.
//! Two sources behind one face:
//! - [`file`]: a file on this host with its versions beside it — one
//!   process, or `invigil up`;
//! - [`log`]: the config log on Kafka ([`invigil_schemas::config_log`]) —
//!   any number of replicas, one version everywhere; the file only seeds an
//!   empty log.
//!
//! A write may carry the version it was based on (`if_version`); if another
//! write got there first it fails with [`ConfigError::Stale`] and changes
//! nothing, so two admins editing at once never silently undo each other.

mod file;
mod log;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use invigil_schemas::config::ConfigDocument;
use invigil_schemas::config_log::kafka::LogSettings;
use invigil_schemas::validate::FieldProblem;

pub use file::WatchGuard;

/// A document with the version it was stored under.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub version: u64,
    pub document: Arc<ConfigDocument>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration is invalid")]
    Invalid(Vec<FieldProblem>),
    #[error("version {0} is not in the history")]
    NoSuchVersion(u64),
    #[error("the write was based on version {read}, but version {current} is in force")]
    Stale { read: u64, current: u64 },
    #[error("configuration storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Log(String),
}

/// Who is writing and on what they based it.
#[derive(Debug, Clone, Default)]
pub struct Write {
    /// The version the writer read; `None` writes over whatever is in force.
    pub if_version: Option<u64>,
    /// A staff id, for the history.
    pub by: String,
}

#[derive(Clone)]
pub struct ConfigStore {
    source: Source,
}

#[derive(Clone)]
enum Source {
    File(file::FileStore),
    Log(log::LogStore),
}

impl ConfigStore {
    /// An in-memory store (tests, or a deployment configured only by API).
    pub fn in_memory(document: ConfigDocument) -> Result<Self, ConfigError> {
        Ok(Self { source: Source::File(file::FileStore::in_memory(document)?) })
    }

    /// The file source: see [`file`].
    pub fn open_file(path: &Path) -> Result<Self, ConfigError> {
        Ok(Self { source: Source::File(file::FileStore::open_file(path)?) })
    }

    /// The log source: reads the log to its end (up to `wait`), seeding an
    /// empty log from `seed` (the defaults if the file does not exist).
    /// `on_install` hears of each version installed after that. If the log
    /// cannot be read in time, the version last read (kept in `cache`) is
    /// served until it can.
    pub fn open_log(
        settings: LogSettings,
        seed: &Path,
        cache: &Path,
        wait: Duration,
        on_install: impl Fn(u64) + Send + 'static,
    ) -> Result<Self, ConfigError> {
        Ok(Self { source: Source::Log(log::LogStore::open(settings, seed, cache, wait, on_install)?) })
    }

    /// Before a read that must see every write made anywhere (an admin's):
    /// with the log source, waits (up to 5 s) until this replica has read
    /// the log to its end. Blocking. With the file source there is nothing
    /// to wait for.
    pub fn sync(&self) -> Result<(), ConfigError> {
        match &self.source {
            Source::File(_) => Ok(()),
            Source::Log(store) => store.sync(),
        }
    }

    pub fn current(&self) -> Versioned {
        match &self.source {
            Source::File(store) => store.current(),
            Source::Log(store) => store.current(),
        }
    }

    /// Validates and installs `document` as the next version. Blocking.
    pub fn replace(&self, document: ConfigDocument, write: Write) -> Result<u64, ConfigError> {
        match &self.source {
            Source::File(store) => store.replace(document, write.if_version),
            Source::Log(store) => store.replace(document, write, "replaced".into()),
        }
    }

    /// Installs the document of `version` (default: the one before the
    /// current) as a new version. Blocking.
    pub fn rollback(&self, version: Option<u64>, write: Write) -> Result<u64, ConfigError> {
        match &self.source {
            Source::File(store) => store.rollback(version, write.if_version),
            Source::Log(store) => store.rollback(version, write),
        }
    }

    /// Versions kept, oldest first.
    pub fn history(&self) -> Result<Vec<u64>, ConfigError> {
        match &self.source {
            Source::File(store) => store.history(),
            Source::Log(store) => Ok(store.history()),
        }
    }

    /// The document stored under `version`.
    pub fn load_version(&self, version: u64) -> Result<ConfigDocument, ConfigError> {
        match &self.source {
            Source::File(store) => store.load_version(version),
            Source::Log(store) => store.load_version(version),
        }
    }

    /// With the file source, watches the file and installs hand edits (see
    /// [`file`]); with the log source there is nothing to watch (`None`):
    /// the file only seeded the log, and edits go through the admin API.
    pub fn watch(
        &self,
        poll: Duration,
        on_reload: impl Fn(u64) + Send + 'static,
    ) -> notify::Result<Option<WatchGuard>> {
        match &self.source {
            Source::File(store) => store.watch(poll, on_reload),
            Source::Log(_) => Ok(None),
        }
    }
}

fn check(document: &ConfigDocument) -> Result<(), ConfigError> {
    let problems = document.validate();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// The version a rollback restores: `version`, or the one before `current`.
fn rollback_target(version: Option<u64>, current: u64) -> Result<u64, ConfigError> {
    let target = version.unwrap_or(current.saturating_sub(1));
    if target == 0 || target == current {
        return Err(ConfigError::NoSuchVersion(target));
    }
    Ok(target)
}

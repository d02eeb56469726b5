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
    /// What is served while the log cannot be read at start (the broker is
    /// away): the last version this replica read, kept in `cache`, or else
    /// the seed file as version 0. The log replaces it once read.
    fallback: Option<Versioned>,
    _keeper: Arc<Keeper>,
}

/// Stops the keeper thread when the last clone of the store goes.
struct Keeper(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Keeper {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl LogStore {
    /// Follows the log. A replica must start even when the broker is away
    /// (it spools batches then), so if the log cannot be read to its end
    /// within `wait` it serves the version it last read (`cache`, beside
    /// its spool) and follows the log as soon as it answers.
    pub fn open(
        settings: LogSettings,
        seed: &Path,
        cache: &Path,
        wait: Duration,
        on_install: impl Fn(u64) + Send + 'static,
    ) -> Result<Self, ConfigError> {
        let log_error = |e: &dyn std::fmt::Display| ConfigError::Log(e.to_string());
        let follower = ConfigFollower::start(settings, on_install).map_err(|e| log_error(&e))?;
        let fallback = match follower.wait_until_caught_up(wait) {
            Ok(()) => None,
            Err(error) => Some(fallback(&error, seed, cache)?),
        };
        if fallback.is_none() && follower.current().is_none() {
            seed_log(&follower, seed)?;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (kept, seed, cache, stopped) = (follower.clone(), seed.to_owned(), cache.to_owned(), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("invigil-config-keeper".into())
            .spawn(move || keep(&kept, &seed, &cache, &stopped))
            .map_err(ConfigError::Io)?;
        Ok(Self { follower, fallback, _keeper: Arc::new(Keeper(stop)) })
    }

    pub fn sync(&self) -> Result<(), ConfigError> {
        self.follower.sync(Duration::from_secs(5)).map_err(|e| ConfigError::Log(e.to_string()))
    }

    pub fn current(&self) -> Versioned {
        match (self.follower.current(), &self.fallback) {
            (Some((version, document)), _) => Versioned { version, document },
            (None, Some(fallback)) => fallback.clone(),
            (None, None) => unreachable!("a log store is seeded, or has a fallback, before it is used"),
        }
    }

    pub fn replace(&self, document: ConfigDocument, write: Write, action: String) -> Result<u64, ConfigError> {
        check(&document)?;
        self.refuse_known_stale(write.if_version)?;
        if let Some(read) = write.if_version {
            return match propose(&self.follower, document, read, action, write.by)? {
                Outcome::Installed(version) => Ok(version),
                Outcome::Stale { current } => Err(ConfigError::Stale { read, current }),
                Outcome::Unusable => Err(ConfigError::Log("the config log could not use the write".into())),
            };
        }
        // Over whatever is in force: a write that loses to another retries
        // on top of it, like a write that came a moment later.
        let mut base = self.current().version;
        for _ in 0..UNCONDITIONAL_TRIES {
            match propose(&self.follower, document.clone(), base, action.clone(), write.by.clone())? {
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
}

/// Every second, until `stop`: writes the version in force to `cache` when
/// it changed, and seeds the log if it turned out empty once readable.
fn keep(follower: &ConfigFollower, seed: &Path, cache: &Path, stop: &std::sync::atomic::AtomicBool) {
    let mut cached = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match follower.current() {
            Some((version, document)) if version != cached => {
                let text = serde_json::json!({ "version": version, "document": *document }).to_string();
                match super::file::write_atomically(cache, &text) {
                    Ok(()) => cached = version,
                    Err(error) => tracing::warn!(%error, cache = %cache.display(), "config cache not written"),
                }
            }
            None if follower.wait_until_caught_up(Duration::ZERO).is_ok() => {
                if let Err(error) = seed_log(follower, seed) {
                    tracing::warn!(%error, "seeding the config log failed; retrying");
                }
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Writes the seed file (or the defaults) as version 1. Several replicas
/// starting together may all try; the log keeps the first.
fn seed_log(follower: &ConfigFollower, seed: &Path) -> Result<(), ConfigError> {
    let by = format!("seed file {}", seed.display());
    match propose(follower, seed_document(seed)?, 0, "seeded".into(), by)? {
        Outcome::Installed(version) => tracing::info!(version, seed = %seed.display(), "config log seeded"),
        _ => tracing::info!("config log seeded by another replica"),
    }
    Ok(())
}

/// The seed file's document, or the defaults if there is no file.
fn seed_document(seed: &Path) -> Result<ConfigDocument, ConfigError> {
    if !seed.exists() {
        return Ok(ConfigDocument::default());
    }
    ConfigDocument::read_file(seed).map_err(|e| ConfigError::Log(format!("{}: {e}", seed.display())))
}

/// Writes `document` as a proposal based on `base` and waits for the log's
/// verdict on it.
fn propose(
    follower: &ConfigFollower,
    document: ConfigDocument,
    base: u64,
    action: String,
    by: String,
) -> Result<Outcome, ConfigError> {
    // A replica that has not read the log (the broker was away at its
    // start and still is) cannot tell whether a write would win.
    if follower.wait_until_caught_up(Duration::ZERO).is_err() {
        return Err(ConfigError::Log(
            "the config log cannot be read now (is Kafka reachable?); nothing changed".into(),
        ));
    }
    let proposal = Proposal {
        base,
        write_id: uuid::Uuid::new_v4(),
        action,
        by,
        at_ms: invigil_schemas::clock::now_ms(),
        document,
    };
    follower.write(&proposal, WRITE_TIMEOUT).map_err(|e| ConfigError::Log(e.to_string()))
}

/// What to serve while the log cannot be read: the cached version, else the
/// seed file (or the defaults) as version 0, with a loud log line either way.
fn fallback(error: &dyn std::fmt::Display, seed: &Path, cache: &Path) -> Result<Versioned, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Cached {
        version: u64,
        document: ConfigDocument,
    }
    let cached = std::fs::read(cache).ok().and_then(|bytes| serde_json::from_slice::<Cached>(&bytes).ok());
    if let Some(Cached { version, document }) = cached.filter(|c| c.document.validate().is_empty()) {
        tracing::warn!(%error, version, cache = %cache.display(), "config log unreadable at start; serving the version last read until it answers");
        return Ok(Versioned { version, document: Arc::new(document) });
    }
    let document = seed_document(seed)?;
    tracing::error!(%error, seed = %seed.display(), "config log unreadable at start and no version cached; serving the seed file as version 0 until it answers");
    Ok(Versioned { version: 0, document: Arc::new(document) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_log_the_cache_is_served_else_the_seed_as_version_0() {
        let dir = tempfile::tempdir().unwrap();
        let (seed, cache) = (dir.path().join("config.json"), dir.path().join("cache.json"));
        let mut seeded = ConfigDocument::default();
        seeded.defaults.events_interval_ms = 8_000;
        std::fs::write(&seed, serde_json::to_vec(&seeded).unwrap()).unwrap();
        let served = fallback(&"broker away", &seed, &cache).unwrap();
        assert_eq!((served.version, served.document.defaults.events_interval_ms), (0, 8_000));

        let mut cached = ConfigDocument::default();
        cached.defaults.events_interval_ms = 6_000;
        let text = serde_json::json!({ "version": 12, "document": cached }).to_string();
        std::fs::write(&cache, text).unwrap();
        let served = fallback(&"broker away", &seed, &cache).unwrap();
        assert_eq!((served.version, served.document.defaults.events_interval_ms), (12, 6_000));

        // A cache that does not validate is not served.
        std::fs::write(&cache, r#"{"version": 13, "document": {"defaults": {"events_interval_ms": 0}}}"#).unwrap();
        assert_eq!(fallback(&"broker away", &seed, &cache).unwrap().version, 0);
    }
}

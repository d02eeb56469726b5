//! The config document as a worker of the windows operator follows it,
//! looked at every 2 s, with each test's resolved config cached until it
//! changes. Its source is either the config log (the process's one
//! [`ConfigFollower`], the same versions ingest's replicas serve) or a file
//! (read and validated as ingest reads it, [`ConfigDocument::read_file`],
//! by its modification time). A file that turns invalid is logged and the
//! previous document kept — the pipeline never stops over a config edit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::session::SessionKey;
use invigil_schemas::config::{ConfigDocument, ProctorConfig};
use invigil_schemas::config_log::kafka::ConfigFollower;
use invigil_schemas::ids::{CandidateId, TestId};

/// Where the document comes from.
#[derive(Clone, Default)]
pub enum ConfigSource {
    /// The defaults, always.
    #[default]
    Defaults,
    File(PathBuf),
    Log(ConfigFollower),
}

/// The config document, re-read when its source changes.
pub(super) struct ConfigWatch {
    source: ConfigSource,
    document: ConfigDocument,
    /// The file's modification time, or the log's version, last read.
    modified: Option<SystemTime>,
    version: u64,
    checked: Instant,
    per_test: HashMap<TestId, ProctorConfig>,
    /// The configs of accommodated candidates (their checks waived).
    per_candidate: HashMap<(TestId, CandidateId), ProctorConfig>,
}

impl ConfigWatch {
    pub(super) fn new(source: ConfigSource) -> Self {
        let mut watch = Self {
            source,
            document: ConfigDocument::default(),
            modified: None,
            version: 0,
            checked: Instant::now(),
            per_test: HashMap::new(),
            per_candidate: HashMap::new(),
        };
        watch.reload();
        watch
    }

    /// Re-reads the source if it changed; returns whether the document did.
    fn reload(&mut self) -> bool {
        let path = match &self.source {
            ConfigSource::Defaults => return false,
            ConfigSource::File(path) => path,
            ConfigSource::Log(follower) => {
                let Some((version, document)) = follower.current() else { return false };
                if version == self.version {
                    return false;
                }
                self.version = version;
                tracing::info!(version, "config log: new version in force");
                self.document = (*document).clone();
                self.per_test.clear();
                self.per_candidate.clear();
                return true;
            }
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.modified {
            return false;
        }
        self.modified = modified;
        match ConfigDocument::read_file(path) {
            Ok(document) if document != self.document => {
                self.document = document;
                self.per_test.clear();
                self.per_candidate.clear();
                true
            }
            Ok(_) => false,
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "config file unusable; keeping the previous one");
                false
            }
        }
    }

    /// Looks at the file at most every 2 s; says whether the document changed.
    pub(super) fn poll(&mut self) -> bool {
        if self.checked.elapsed() < Duration::from_secs(2) {
            return false;
        }
        self.checked = Instant::now();
        self.reload()
    }

    /// The resolved config of one session's candidate: their test's (the
    /// defaults if its overrides do not resolve), with their
    /// accommodation's checks waived; cached until the document changes.
    /// Most candidates have none, and share their test's entry.
    pub(super) fn for_session(&mut self, key: &SessionKey) -> &ProctorConfig {
        let document = &self.document;
        let test = &key.test_id;
        let of_test = || document.for_test(test).unwrap_or_else(|_| document.defaults.clone());
        match document.accommodation(test, &key.candidate_id) {
            None => self.per_test.entry(test.clone()).or_insert_with(of_test),
            Some(accommodation) => {
                self.per_candidate.entry((test.clone(), key.candidate_id.clone())).or_insert_with(|| {
                    let mut config = of_test();
                    accommodation.apply(&mut config);
                    config
                })
            }
        }
    }
}

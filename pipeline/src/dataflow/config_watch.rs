//! The config document as a worker of the windows operator follows it: the
//! file (read and validated as ingest reads it,
//! [`ConfigDocument::read_file`]) looked at every 2 s by its modification
//! time, and each test's resolved config cached until it changes. A file
//! that turns invalid is logged and the previous document kept — the
//! pipeline never stops over a config edit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use invigil_schemas::config::{ConfigDocument, ProctorConfig};
use invigil_schemas::ids::TestId;

/// The config document, re-read when its file changes.
pub(super) struct ConfigWatch {
    path: Option<PathBuf>,
    document: ConfigDocument,
    modified: Option<SystemTime>,
    checked: Instant,
    per_test: HashMap<TestId, ProctorConfig>,
}

impl ConfigWatch {
    pub(super) fn new(path: Option<PathBuf>) -> Self {
        let mut watch = Self {
            path,
            document: ConfigDocument::default(),
            modified: None,
            checked: Instant::now(),
            per_test: HashMap::new(),
        };
        watch.reload();
        watch
    }

    /// Re-reads the file if it changed; returns whether the document did.
    fn reload(&mut self) -> bool {
        let Some(path) = &self.path else { return false };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == self.modified {
            return false;
        }
        self.modified = modified;
        match ConfigDocument::read_file(path) {
            Ok(document) if document != self.document => {
                self.document = document;
                self.per_test.clear();
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

    /// The resolved config of `test` (the defaults if its overrides do not
    /// resolve), cached until the document changes.
    pub(super) fn for_test(&mut self, test: &TestId) -> &ProctorConfig {
        let document = &self.document;
        self.per_test
            .entry(test.clone())
            .or_insert_with(|| document.for_test(test).unwrap_or_else(|_| document.defaults.clone()))
    }
}

//! The configuration kept in a file, for one host (`invigil up`, a single
//! replica), or only in memory (tests).
//!
//! With a file source, the live document is `config.json` (any name) and
//! every version ever installed is kept beside it as
//! `config.json.history/v000042.json`; the highest number is the current
//! version. Writes are atomic (temporary file, fsync, rename), so a reader —
//! this process's watcher, another replica on a shared volume, an operator —
//! never sees half a document. An operator editing the file by hand gets a new
//! version within a second (notify watcher, plus a poll as a safety net for
//! filesystems without events); an invalid edit is logged and ignored, the
//! previous version stays in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use invigil_schemas::config::{ConfigDocument, ConfigFileError};

use super::{check, ConfigError, Versioned};

#[derive(Clone)]
pub struct FileStore {
    current: Arc<RwLock<Versioned>>,
    /// Serialises writers so versions are gap-free and files agree.
    writer: Arc<Mutex<()>>,
    file: Option<PathBuf>,
}

impl FileStore {
    /// An in-memory store (tests, or a deployment configured only by API).
    pub fn in_memory(document: ConfigDocument) -> Result<Self, ConfigError> {
        check(&document)?;
        Ok(Self {
            current: Arc::new(RwLock::new(Versioned { version: 1, document: Arc::new(document) })),
            writer: Arc::default(),
            file: None,
        })
    }

    /// Opens the file source: reads `path` (writing the defaults there if it
    /// does not exist) and takes its version from the history, recording the
    /// file as a new version if it differs from the newest one.
    pub fn open_file(path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            write_atomically(path, &to_json(&ConfigDocument::default()))?;
        }
        let document = read_document(path)?;
        let store = Self {
            current: Arc::new(RwLock::new(Versioned { version: 0, document: Arc::new(document.clone()) })),
            writer: Arc::default(),
            file: Some(path.to_path_buf()),
        };
        let newest = store.history()?.last().copied();
        match newest {
            Some(version) if store.load_version(version)? == document => {
                store.current.write().unwrap_or_else(|p| p.into_inner()).version = version;
            }
            _ => {
                check(&document)?;
                let _writing = store.writer.lock().unwrap_or_else(|p| p.into_inner());
                store.install_locked(document, false)?;
            }
        }
        Ok(store)
    }

    pub fn current(&self) -> Versioned {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates and installs `document` as the next version, if the
    /// version in force is still `if_version` (when given).
    pub fn replace(&self, document: ConfigDocument, if_version: Option<u64>) -> Result<u64, ConfigError> {
        check(&document)?;
        let _writing = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.check_base(if_version)?;
        self.install_locked(document, true)
    }

    /// Installs the document of `version` (default: the one before the
    /// current) as a new version, if the version in force is still
    /// `if_version` (when given).
    pub fn rollback(&self, version: Option<u64>, if_version: Option<u64>) -> Result<u64, ConfigError> {
        let _writing = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.check_base(if_version)?;
        let current = self.current().version;
        let target = super::rollback_target(version, current)?;
        let document = self.load_version(target)?;
        self.install_locked(document, true)
    }

    fn check_base(&self, if_version: Option<u64>) -> Result<(), ConfigError> {
        let current = self.current().version;
        match if_version {
            Some(read) if read != current => Err(ConfigError::Stale { read, current }),
            _ => Ok(()),
        }
    }

    /// Versions kept, oldest first.
    pub fn history(&self) -> Result<Vec<u64>, ConfigError> {
        let Some(dir) = self.history_dir() else {
            return Ok(vec![self.current().version]);
        };
        let mut versions: Vec<u64> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.strip_prefix('v')?.strip_suffix(".json")?.parse().ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        versions.sort_unstable();
        Ok(versions)
    }

    /// The document stored under `version`.
    pub fn load_version(&self, version: u64) -> Result<ConfigDocument, ConfigError> {
        match self.history_dir() {
            Some(dir) => {
                let path = dir.join(format!("v{version:06}.json"));
                if !path.exists() {
                    return Err(ConfigError::NoSuchVersion(version));
                }
                read_document(&path)
            }
            None if version == self.current().version => Ok((*self.current().document).clone()),
            None => Err(ConfigError::NoSuchVersion(version)),
        }
    }

    fn history_dir(&self) -> Option<PathBuf> {
        self.file.as_ref().map(|file| {
            let mut name = file.file_name().unwrap_or_default().to_os_string();
            name.push(".history");
            file.with_file_name(name)
        })
    }

    /// Installs `document` (validated) as the next version; the caller
    /// holds the writer lock.
    fn install_locked(&self, document: ConfigDocument, write_live_file: bool) -> Result<u64, ConfigError> {
        let version = match self.history_dir() {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                let next = self.history()?.last().copied().unwrap_or(0).max(self.current().version) + 1;
                let text = to_json(&document);
                write_atomically(&dir.join(format!("v{next:06}.json")), &text)?;
                if write_live_file {
                    write_atomically(self.file.as_ref().expect("history implies a file"), &text)?;
                }
                next
            }
            None => self.current().version + 1,
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Versioned { version, document: Arc::new(document) };
        tracing::info!(version, "configuration installed");
        Ok(version)
    }

    /// Re-reads the live file; installs it as a new version if it changed and
    /// is valid. Returns the new version, if any.
    pub fn reload_file(&self) -> Result<Option<u64>, ConfigError> {
        let Some(path) = &self.file else { return Ok(None) };
        // Read and compared under the writer lock: an admin write renames
        // the live file before it updates `current`, and a reload that read
        // the file before (or during) that write must not install what it
        // saw as a version of its own.
        let _writing = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let document = read_document(path)?;
        if *self.current().document == document {
            return Ok(None);
        }
        check(&document)?;
        self.install_locked(document, false).map(Some)
    }

    /// Watches the live file and reloads it on change until the returned
    /// guard is dropped. Also polls every `poll` in case events are missed.
    pub fn watch(
        &self,
        poll: Duration,
        on_reload: impl Fn(u64) + Send + 'static,
    ) -> notify::Result<Option<WatchGuard>> {
        use notify::Watcher;
        let Some(path) = self.file.clone() else { return Ok(None) };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let events = tx.clone();
        let mut watcher = notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
            let _ = events.send(());
        })?;
        // Watch the directory: an atomic rename replaces the file's inode.
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        let store = self.clone();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new().name("invigil-config-watch".into()).spawn(move || loop {
            match rx.recv_timeout(poll) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if stopped.try_recv() != Err(std::sync::mpsc::TryRecvError::Empty) {
                return;
            }
            // Let a burst of events (write + rename) settle.
            std::thread::sleep(Duration::from_millis(50));
            while rx.try_recv().is_ok() {}
            match store.reload_file() {
                Ok(Some(version)) => on_reload(version),
                Ok(None) => {}
                Err(ConfigError::Invalid(problems)) => {
                    tracing::error!(problems = ?problems, "edited configuration file is invalid; keeping the current version")
                }
                Err(error) => tracing::error!(%error, "configuration file could not be read; keeping the current version"),
            }
        })?;
        Ok(Some(WatchGuard { _watcher: Box::new(watcher), _stop: stop, _wake: tx }))
    }
}

/// Keeps the file watcher alive; dropping it stops watching.
pub struct WatchGuard {
    _watcher: Box<dyn notify::Watcher + Send>,
    _stop: std::sync::mpsc::Sender<()>,
    _wake: std::sync::mpsc::Sender<()>,
}

fn to_json(document: &ConfigDocument) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("a config document always serialises");
    text.push('\n');
    text
}

fn read_document(path: &Path) -> Result<ConfigDocument, ConfigError> {
    ConfigDocument::read_file(path).map_err(|error| match error {
        ConfigFileError::Unreadable(io) => ConfigError::Io(io),
        ConfigFileError::Invalid(problems) => ConfigError::Invalid(problems),
    })
}

pub(super) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disabled() -> ConfigDocument {
        let mut document = ConfigDocument::default();
        document.defaults.proctoring_enabled = false;
        document
    }

    /// An admin write renames the live file, then updates `current`; a
    /// reload that looks in between must not install the same document as
    /// a version of its own (the suite once saw 4 where 3 was due).
    #[test]
    fn reloads_racing_admin_writes_add_no_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let store = FileStore::open_file(&path).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reloader = {
            let (store, stop) = (store.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut installed = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    installed += usize::from(matches!(store.reload_file(), Ok(Some(_))));
                }
                installed
            })
        };
        for i in 0..60 {
            let document = if i % 2 == 0 { disabled() } else { ConfigDocument::default() };
            assert_eq!(store.replace(document, None).unwrap(), i + 2);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(reloader.join().unwrap(), 0, "the reloader installed admin writes again");
        assert_eq!(store.current().version, 61);
        assert_eq!(store.history().unwrap(), (1..=61).collect::<Vec<u64>>());
    }

    #[test]
    fn versions_persist_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let store = FileStore::open_file(&path).unwrap();
        assert_eq!(store.current().version, 1);
        assert_eq!(store.replace(disabled(), None).unwrap(), 2);
        assert!(!store.current().document.defaults.proctoring_enabled);

        // A restart finds the same version, not a new one.
        let reopened = FileStore::open_file(&path).unwrap();
        assert_eq!(reopened.current().version, 2);
        assert_eq!(reopened.history().unwrap(), vec![1, 2]);

        assert_eq!(reopened.rollback(None, None).unwrap(), 3);
        assert!(reopened.current().document.defaults.proctoring_enabled);
        assert_eq!(read_document(&path).unwrap(), ConfigDocument::default(), "the live file follows the rollback");
        assert!(matches!(reopened.rollback(Some(9), None), Err(ConfigError::NoSuchVersion(9))));
    }

    #[test]
    fn a_write_based_on_an_old_version_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open_file(&dir.path().join("config.json")).unwrap();
        assert_eq!(store.replace(disabled(), Some(1)).unwrap(), 2);
        assert!(matches!(
            store.replace(ConfigDocument::default(), Some(1)),
            Err(ConfigError::Stale { read: 1, current: 2 })
        ));
        assert!(matches!(store.rollback(None, Some(1)), Err(ConfigError::Stale { read: 1, current: 2 })));
        assert_eq!(store.current().version, 2, "nothing changed");
        assert_eq!(store.rollback(None, Some(2)).unwrap(), 3);
    }

    #[test]
    fn invalid_documents_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let store = FileStore::open_file(&path).unwrap();
        let mut bad = ConfigDocument::default();
        bad.defaults.events_interval_ms = 0;
        assert!(matches!(store.replace(bad, None), Err(ConfigError::Invalid(p)) if !p.is_empty()));
        assert_eq!(store.current().version, 1);
        assert_eq!(store.history().unwrap(), vec![1]);

        std::fs::write(&path, r#"{"defaults": {"proctoring_enabled": "yes"}}"#).unwrap();
        match store.reload_file() {
            Err(ConfigError::Invalid(problems)) => assert_eq!(problems[0].field, "defaults.proctoring_enabled"),
            other => panic!("expected a field problem, got {other:?}"),
        }
        assert_eq!(store.current().version, 1);
    }

    #[test]
    fn a_hand_edit_is_picked_up_by_the_watcher() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let store = FileStore::open_file(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let _guard = store.watch(Duration::from_secs(30), move |v| tx.send(v).unwrap()).unwrap();
        write_atomically(&path, &to_json(&disabled())).unwrap();
        let version = rx.recv_timeout(Duration::from_secs(5)).expect("the watcher reloads within 5 s");
        assert_eq!(version, 2);
        assert!(!store.current().document.defaults.proctoring_enabled);
    }
}

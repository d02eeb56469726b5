//! chDB: the ClickHouse engine running inside this process.
//!
//! The engine ships as `libchdb.so` (npm `@chdb/lib-linux-x64-gnu`, ~570 MB).
//! That package carries no C header, so the `chdb-rust` crate (which generates
//! its bindings from `chdb.h` at build time) cannot build against it; instead
//! this module declares the seven C functions it needs and loads the library at
//! run time. A side benefit: binaries build and start on machines without chDB,
//! and only using the embedded store needs the library.
//!
//! Where the library is found, first match wins: `$INVIGIL_CHDB_LIB` (a file),
//! `$INVIGIL_CACHE/chdb/<version>/libchdb.so`, `~/.cache/invigil/chdb/<version>/libchdb.so`.
//! `ops/dev/services.sh up` installs it there.
//!
//! The engine allows one data directory per process; a second [`ChdbStore`]
//! on a different directory is refused with a clear error.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use invigil_schemas::migrations::Dialect;
use libloading::Library;

use super::{SqlStore, StoreError};

/// The engine version the project installs and is tested with.
pub const CHDB_VERSION: &str = "26.7.3";

type ConnHandle = *mut c_void;
type ResultHandle = *mut c_void;

/// The C API subset we use, as function pointers into the loaded library.
struct Api {
    connect: unsafe extern "C" fn(c_int, *mut *mut c_char) -> *mut ConnHandle,
    close_conn: unsafe extern "C" fn(*mut ConnHandle),
    query_n: unsafe extern "C" fn(ConnHandle, *const c_char, usize, *const c_char, usize) -> ResultHandle,
    result_buffer: unsafe extern "C" fn(ResultHandle) -> *mut c_char,
    result_length: unsafe extern "C" fn(ResultHandle) -> usize,
    result_error: unsafe extern "C" fn(ResultHandle) -> *const c_char,
    destroy_result: unsafe extern "C" fn(ResultHandle),
}

/// The library stays loaded for the life of the process: the engine starts
/// threads and registers static state that must not be unmapped under them.
static API: OnceLock<Result<(Library, Api), String>> = OnceLock::new();
/// The data directory the engine was opened on, if any.
static OPEN_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Where to look for `libchdb.so`, in order.
pub fn library_candidates() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(path) = std::env::var_os("INVIGIL_CHDB_LIB").filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(path));
    }
    let relative = Path::new("chdb").join(CHDB_VERSION).join("libchdb.so");
    if let Some(cache) = std::env::var_os("INVIGIL_CACHE").filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(cache).join(&relative));
    }
    if let Some(home) = std::env::var_os("HOME") {
        paths.push(PathBuf::from(home).join(".cache/invigil").join(&relative));
    }
    paths
}

fn api() -> Result<&'static Api, StoreError> {
    let loaded = API.get_or_init(|| {
        let candidates = library_candidates();
        let path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            format!(
                "libchdb.so not found (looked in {}); run `ops/dev/services.sh up` or set INVIGIL_CHDB_LIB",
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )
        })?;
        // SAFETY: loading runs the library's initialisers; libchdb's are the
        // engine's own static set-up and have no preconditions on the caller.
        let library = unsafe { Library::new(path) }.map_err(|e| format!("loading {}: {e}", path.display()))?;
        // SAFETY: the signatures match chdb.h of chdb-core 26.x (chdb_connection
        // is an opaque pointer, chdb_result an opaque struct).
        let api = unsafe {
            Api {
                connect: *library.get(b"chdb_connect\0").map_err(|e| e.to_string())?,
                close_conn: *library.get(b"chdb_close_conn\0").map_err(|e| e.to_string())?,
                query_n: *library.get(b"chdb_query_n\0").map_err(|e| e.to_string())?,
                result_buffer: *library.get(b"chdb_result_buffer\0").map_err(|e| e.to_string())?,
                result_length: *library.get(b"chdb_result_length\0").map_err(|e| e.to_string())?,
                result_error: *library.get(b"chdb_result_error\0").map_err(|e| e.to_string())?,
                destroy_result: *library.get(b"chdb_destroy_query_result\0").map_err(|e| e.to_string())?,
            }
        };
        Ok((library, api))
    });
    loaded.as_ref().map(|(_, api)| api).map_err(|e| StoreError::Unavailable(e.clone()))
}

/// An open chDB engine on one data directory. Queries are serialised: the
/// engine is internally parallel, and one connection is not meant to be
/// shared by concurrent callers.
pub struct ChdbStore {
    conn: Mutex<*mut ConnHandle>,
    data_dir: PathBuf,
    /// Per table, each column's engine type, for the Native rewrite.
    column_types: Mutex<HashMap<String, HashMap<String, String>>>,
}

// SAFETY: the connection handle is only used while holding the mutex.
unsafe impl Send for ChdbStore {}
unsafe impl Sync for ChdbStore {}

impl ChdbStore {
    /// Opens (creating if needed) the engine's data under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let api = api()?;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", data_dir.display())))?;
        let data_dir =
            data_dir.canonicalize().map_err(|e| StoreError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let mut open_path = OPEN_PATH.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = open_path.as_ref() {
            return Err(StoreError::Unavailable(format!(
                "chDB is already open on {} in this process; it allows one data directory per process",
                existing.display()
            )));
        }
        let args = [
            CString::new("clickhouse").expect("no NUL"),
            CString::new(format!("--path={}", data_dir.display()))
                .map_err(|_| StoreError::Unavailable("data dir path contains NUL".into()))?,
        ];
        let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        // SAFETY: argv points at NUL-terminated strings that outlive the call.
        let conn = unsafe { (api.connect)(argv.len() as c_int, argv.as_mut_ptr()) };
        // SAFETY: a non-null result points at a connection handle slot.
        if conn.is_null() || unsafe { (*conn).is_null() } {
            return Err(StoreError::Unavailable(format!("chDB refused to open {}", data_dir.display())));
        }
        *open_path = Some(data_dir.clone());
        Ok(Self { conn: Mutex::new(conn), data_dir, column_types: Mutex::new(HashMap::new()) })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Runs `sql`, returning the raw output in `format`.
    pub fn query_bytes(&self, sql: &str, format: &str) -> Result<Vec<u8>, StoreError> {
        self.query_raw(sql.as_bytes(), format)
    }

    /// Inserts `rows` RowBinary rows of `columns` into `table`. They go to
    /// the engine as one block of its `Native` format (see [`super::native`]:
    /// the engine reads it ~2.5× faster than the same rows in RowBinary),
    /// through a file beside the data (`INSERT … FROM INFILE`), not inline
    /// after the statement: the engine reads a file ~1.5–2.5× faster than the
    /// same bytes inline in the query, and writing a few MB to the page cache
    /// costs milliseconds. A table with a column type the rewrite does not
    /// know gets the RowBinary as it is. One file serves every insert:
    /// inserts are serialised by the connection lock, which is held from
    /// writing the file to the engine's answer.
    pub fn insert_rowbinary(&self, table: &str, columns: &[&str], rows: usize, bytes: &[u8]) -> Result<(), StoreError> {
        let file = self.data_dir.join(".invigil-insert");
        let target = format!("{table} ({})", columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "));
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let native = self.column_types_locked(&conn, table, columns).and_then(|types| {
            let named: Vec<(&str, &str)> = columns.iter().copied().zip(types.iter().map(String::as_str)).collect();
            super::native::from_rowbinary(&named, rows, bytes)
                .inspect_err(|error| tracing::warn!(table, %error, "inserting RowBinary instead of Native"))
                .ok()
        });
        let (contents, format) = match &native {
            Some(block) => (&block[..], "Native"),
            None => (bytes, "RowBinary"),
        };
        std::fs::write(&file, contents)
            .map_err(|e| StoreError::Unavailable(format!("writing {}: {e}", file.display())))?;
        let outcome = self.query_locked(&conn, infile_statement(&target, &file, format).as_bytes(), "TabSeparated");
        // An empty file rather than none: the next insert overwrites it anyway.
        let _ = std::fs::write(&file, b"");
        outcome.map(drop)
    }

    /// The engine's types of `columns` of `table`, read once per table and
    /// kept (the pipeline's tables change only by migrations, which run
    /// before any insert); `None` if a column is missing.
    fn column_types_locked(&self, conn: &*mut ConnHandle, table: &str, columns: &[&str]) -> Option<Vec<String>> {
        let mut cache = self.column_types.lock().unwrap_or_else(|p| p.into_inner());
        if !cache.contains_key(table) {
            let sql = format!(
                "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{}'",
                table.replace('\\', "\\\\").replace('\'', "\\'")
            );
            let text = String::from_utf8(self.query_locked(conn, sql.as_bytes(), "TabSeparated").ok()?).ok()?;
            let types = text
                .lines()
                .filter_map(|line| line.split_once('\t'))
                .map(|(name, type_name)| (name.to_owned(), unescape_tsv(type_name)))
                .collect();
            cache.insert(table.to_owned(), types);
        }
        let types = &cache[table];
        let found: Option<Vec<String>> = columns.iter().map(|c| types.get(*c).cloned()).collect();
        if found.is_none() {
            // A table recreated since (the benchmark's resets): read it again next time.
            cache.remove(table);
        }
        found
    }

    /// Forgets the column types read so far (after DDL that changes them).
    fn forget_column_types(&self) {
        self.column_types.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Inserts the RowBinary rows of the file at `path` into `table` (the
    /// benchmark's reference insert: the engine's own RowBinary rate).
    pub fn insert_rowbinary_file(&self, table: &str, path: &Path) -> Result<(), StoreError> {
        self.execute_sync(&infile_statement(table, path, "RowBinary"))
    }

    fn query_raw(&self, sql: &[u8], format: &str) -> Result<Vec<u8>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        self.query_locked(&conn, sql, format)
    }

    /// Runs `sql` on the connection its caller has locked.
    fn query_locked(&self, conn: &*mut ConnHandle, sql: &[u8], format: &str) -> Result<Vec<u8>, StoreError> {
        let api = api()?;
        // SAFETY: the handle is open until Drop, and pointer/length pairs are valid.
        let result =
            unsafe { (api.query_n)(**conn, sql.as_ptr().cast(), sql.len(), format.as_ptr().cast(), format.len()) };
        // Only for error messages: the statement's head, as text.
        let shown = || {
            let head = String::from_utf8_lossy(&sql[..sql.len().min(400)]);
            format!(
                "{}{}",
                abbreviate(&head),
                if sql.len() > 400 { format!(" ({} bytes)", sql.len()) } else { String::new() }
            )
        };
        if result.is_null() {
            return Err(StoreError::Query { sql: shown(), message: "chDB returned no result".into() });
        }
        // SAFETY: `result` is a live result until destroyed below; the error
        // string and buffer are owned by it and copied out before that.
        let outcome = unsafe {
            let error = (api.result_error)(result);
            if error.is_null() {
                let buffer = (api.result_buffer)(result);
                let length = (api.result_length)(result);
                Ok(if buffer.is_null() || length == 0 {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(buffer.cast::<u8>(), length).to_vec()
                })
            } else {
                Err(CStr::from_ptr(error).to_string_lossy().into_owned())
            }
        };
        // SAFETY: destroyed exactly once.
        unsafe { (api.destroy_result)(result) };
        outcome.map_err(|message| StoreError::Query { sql: shown(), message })
    }

    /// Runs a statement synchronously. DDL that can change a table's
    /// columns also drops the column types kept for the Native rewrite.
    pub fn execute_sync(&self, sql: &str) -> Result<(), StoreError> {
        let head = sql.trim_start().get(..6).unwrap_or_default().to_ascii_uppercase();
        if ["ALTER ", "CREATE", "DROP T", "DROP D", "RENAME"].iter().any(|ddl| head.starts_with(ddl)) {
            self.forget_column_types();
        }
        self.query_bytes(sql, "TabSeparated").map(drop)
    }

    /// Runs a query synchronously, returning text output.
    pub fn query_text_sync(&self, sql: &str, format: &str) -> Result<String, StoreError> {
        let bytes = self.query_bytes(sql, format)?;
        String::from_utf8(bytes)
            .map_err(|e| StoreError::Query { sql: abbreviate(sql), message: format!("output is not UTF-8: {e}") })
    }
}

impl Drop for ChdbStore {
    fn drop(&mut self) {
        if let Ok(api) = api() {
            let conn = self.conn.get_mut().unwrap_or_else(|p| p.into_inner());
            // SAFETY: the handle was opened by `connect` and is closed once.
            unsafe { (api.close_conn)(*conn) };
        }
        *OPEN_PATH.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// chDB calls are synchronous and return when the engine is done; these async
/// wrappers block the calling task. Callers on a shared runtime should run
/// them on a blocking thread (the sinks own a dedicated one).
impl SqlStore for ChdbStore {
    fn dialect(&self) -> Dialect {
        Dialect::Modern
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.execute_sync(sql)
    }

    async fn query_text(&self, sql: &str, format: &str) -> Result<String, StoreError> {
        self.query_text_sync(sql, format)
    }
}

/// `INSERT INTO table FROM INFILE 'path' … FORMAT format`, the path quoted
/// as an SQL string literal. Merging duplicates at insert time
/// (`optimize_on_insert`) only costs here: `FINAL` and merges do it.
fn infile_statement(table: &str, path: &Path, format: &str) -> String {
    format!(
        "INSERT INTO {table} FROM INFILE '{}' SETTINGS optimize_on_insert = 0 FORMAT {format}",
        path.display().to_string().replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// A `TabSeparated` field as text (`\'` → `'`, `\\` → `\`).
fn unescape_tsv(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// SQL in error messages, cut to a readable length.
pub(crate) fn abbreviate(sql: &str) -> String {
    const MAX: usize = 300;
    if sql.len() <= MAX {
        return sql.to_owned();
    }
    let cut = (0..=MAX).rev().find(|i| sql.is_char_boundary(*i)).unwrap_or(0);
    format!("{}… ({} bytes)", &sql[..cut], sql.len())
}

//! One candidate's data, as theirs: everything kept about them exported in
//! one archive, or erased everywhere.
//!
//! **What "everything" is.** Their rows of every table of
//! [`CANDIDATE_TABLES`] (events, windows, score components, sessions,
//! verdicts, the staff actions about them, webhook deliveries) and their
//! media objects. Media live under `{date}/{test}/{candidate}/`, `date` the
//! day an upload grant was issued; the days are taken from their events
//! (each day they sent anything, one either side for grants that crossed
//! midnight, and every day a capture key names), and each such prefix is
//! listed, so an object the events never mentioned is found too.
//!
//! **Export** ([`plan_export`], then [`write_export`]): `manifest.json`
//! (what is in the archive and what the events name but the store lacks),
//! `README.txt`, `tables/{table}.jsonl` and `.csv` (columns in the table's
//! order), `media/{key}`.
//!
//! **Erasure** ([`erase`]): first an [`Erasure`] on the erasures topic,
//! acknowledged (the pipeline then drops the candidate's records received
//! until now, including in a replay), then the media objects, then the rows
//! (lightweight `DELETE`s; on a cluster, of each shard's local table). Rows
//! the pipeline was still writing when the tombstone went out can land
//! after the first pass, so the rows are counted again and deleted again
//! until none are left (up to [`ERASE_PASSES`]). The staff actions done
//! after the erasure — its own record first — stay: the trail keeps that it
//! happened and by whom, with counts, not what was erased.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use invigil_ingest::error::{parse_candidate_id, parse_test_id, ApiError};
use invigil_ingest::staff_log::{Done, Peer, StaffLog};
use invigil_schemas::api::ErrorCode;
use invigil_schemas::claims::StaffRole;
use invigil_schemas::erasure::{Erasure, CANDIDATE_TABLES};
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::validate::ProblemCode;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::media_objects::{MediaObjects, StoredObject};
use crate::store::{sql_string, AnalyticsStore, StoreFailure};
use crate::Dashboards;

type Row = Map<String, Value>;

/// Why an export or erasure stopped.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Store(#[from] StoreFailure),
    #[error("media store: {0}")]
    Media(String),
    #[error("erasures topic: {0}")]
    Tombstone(String),
    #[error("{0} rows of the candidate were still there after {ERASE_PASSES} passes")]
    RowsRemain(u64),
}

/// How many times an erasure deletes and counts again.
pub const ERASE_PASSES: u32 = 4;

/// How long rows the pipeline had in flight take to land: longer than the
/// staff actions' gathering (200 ms) and a store write.
const SETTLE: Duration = Duration::from_millis(1_500);

/// The days of more than this span are not listed one by one (a candidate
/// whose events span over a year is a clock gone wrong, not an exam).
const MAX_DAYS: i64 = 400;

/// Whose data: one candidate of a test, or (`candidate: None`, erasure
/// only) every candidate of it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub test: &'a TestId,
    pub candidate: Option<&'a CandidateId>,
}

impl Subject<'_> {
    fn condition(&self) -> String {
        let test = format!("test_id = {}", sql_string(self.test.as_str()));
        match self.candidate {
            Some(candidate) => format!("{test} AND candidate_id = {}", sql_string(candidate.as_str())),
            None => test,
        }
    }

    /// The media prefix of day `date`.
    fn prefix(&self, date: &str) -> String {
        match self.candidate {
            Some(candidate) => invigil_schemas::media_key::candidate_prefix(date, self.test, candidate),
            None => format!("{date}/{}/", self.test),
        }
    }
}

/// The media prefixes that can hold the candidate's objects.
pub async fn media_prefixes(store: &dyn AnalyticsStore, who: Subject<'_>) -> Result<Vec<String>, StoreFailure> {
    let sql = format!(
        "SELECT count() AS n, min(toUInt32(toDate(received_at))) AS first, max(toUInt32(toDate(received_at))) AS last, \
         groupUniqArrayIf(substring(capture_key, 1, 10), capture_key != '') AS key_days \
         FROM proctor_events WHERE {}",
        who.condition()
    );
    let rows = store.rows(sql).await?;
    let row = rows.first().cloned().unwrap_or_default();
    let mut days = BTreeSet::new();
    if row.get("n").and_then(Value::as_u64).unwrap_or(0) > 0 {
        let first = row.get("first").and_then(Value::as_i64).unwrap_or(0);
        let last = row.get("last").and_then(Value::as_i64).unwrap_or(first).min(first + MAX_DAYS);
        for day in first - 1..=last + 1 {
            days.insert(invigil_schemas::media_key::utc_date(day * 86_400));
        }
    }
    for day in row.get("key_days").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if invigil_schemas::media_key::is_date(day) {
            days.insert(day.to_owned());
        }
    }
    Ok(days.into_iter().map(|day| who.prefix(&day)).collect())
}

/// Every object under `prefixes`, in key order.
async fn list_media(media: &MediaObjects, prefixes: &[String]) -> Result<Vec<StoredObject>, DataError> {
    let mut objects = Vec::new();
    for prefix in prefixes {
        objects.extend(media.list(prefix).await.map_err(DataError::Media)?);
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects.dedup_by(|a, b| a.key == b.key);
    Ok(objects)
}

// Export.

/// One table's rows of the candidate, columns in the table's order.
pub struct TableRows {
    pub table: &'static str,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// What an export will hold, read before the first byte is sent so that a
/// failure is an error reply, not a broken download.
pub struct ExportPlan {
    pub test_id: String,
    pub candidate_id: String,
    pub tables: Vec<TableRows>,
    pub media: Vec<StoredObject>,
    /// Keys the events say were uploaded that the media store does not have.
    pub missing_media: Vec<String>,
}

/// Reads the candidate's rows and lists their media.
pub async fn plan_export(
    store: &dyn AnalyticsStore,
    media: &MediaObjects,
    who: Subject<'_>,
) -> Result<ExportPlan, DataError> {
    let mut tables = Vec::with_capacity(CANDIDATE_TABLES.len());
    for (table, time) in CANDIDATE_TABLES {
        let columns = store
            .rows(format!("DESCRIBE TABLE {table}"))
            .await?
            .iter()
            .filter_map(|row| row.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let rows = store.rows(format!("SELECT * FROM {table} FINAL WHERE {} ORDER BY {time}", who.condition())).await?;
        tables.push(TableRows { table, columns, rows });
    }
    let prefixes = media_prefixes(store, who).await?;
    let media_found = list_media(media, &prefixes).await?;
    let stored: BTreeSet<&str> = media_found.iter().map(|o| o.key.as_str()).collect();
    let named: BTreeSet<String> = tables[0]
        .rows
        .iter()
        .filter(|row| row.get("capture_status").and_then(Value::as_str) == Some("uploaded"))
        .filter_map(|row| row.get("capture_key").and_then(Value::as_str))
        .map(|key| key.split('#').next().unwrap_or(key).to_owned())
        .filter(|key| !key.is_empty())
        .collect();
    let missing_media = named.into_iter().filter(|key| !stored.contains(key.as_str())).collect();
    Ok(ExportPlan {
        test_id: who.test.as_str().to_owned(),
        candidate_id: who.candidate.map(|c| c.as_str().to_owned()).unwrap_or_default(),
        tables,
        media: media_found,
        missing_media,
    })
}

/// Where an export's files go, one whole file at a time.
pub trait ExportSink {
    fn put(&mut self, name: &str, bytes: Bytes) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// The manifest's account of one table.
#[derive(Serialize)]
struct TableEntry<'a> {
    table: &'a str,
    rows: usize,
    jsonl: String,
    csv: String,
}

#[derive(Serialize)]
struct MediaEntry<'a> {
    key: &'a str,
    bytes: u64,
    file: String,
}

impl ExportPlan {
    /// Every file name and its size as far as known before writing (media
    /// exactly, tables roughly): for [`crate::zip::fits`].
    pub fn sizes(&self) -> Vec<(String, u64)> {
        let mut sizes: Vec<(String, u64)> =
            self.media.iter().map(|object| (format!("media/{}", object.key), object.bytes)).collect();
        for table in &self.tables {
            let estimate =
                table.rows.iter().map(|row| serde_json::to_vec(row).map_or(0, |b| b.len() as u64)).sum::<u64>();
            sizes.push((format!("tables/{}.jsonl", table.table), estimate));
            sizes.push((format!("tables/{}.csv", table.table), estimate));
        }
        sizes.push(("manifest.json".into(), 64 * 1024 + 200 * self.media.len() as u64));
        sizes.push(("README.txt".into(), 4 * 1024));
        sizes
    }

    /// Total bytes of the media objects.
    pub fn media_bytes(&self) -> u64 {
        self.media.iter().map(|object| object.bytes).sum()
    }
}

/// Writes the plan's files into `sink`, fetching each media object in
/// turn: tables first, then media, then `manifest.json` and `README.txt`.
/// An object deleted since it was listed is noted as missing.
pub async fn write_export(
    plan: &ExportPlan,
    media: &MediaObjects,
    exported_by: &str,
    exported_at: i64,
    sink: &mut impl ExportSink,
) -> Result<(), DataError> {
    let mut table_entries = Vec::new();
    for table in &plan.tables {
        let jsonl = format!("tables/{}.jsonl", table.table);
        let csv = format!("tables/{}.csv", table.table);
        sink.put(&jsonl, Bytes::from(json_lines(&table.rows))).await.map_err(DataError::Media)?;
        sink.put(&csv, Bytes::from(csv_of(&table.columns, &table.rows))).await.map_err(DataError::Media)?;
        table_entries.push(TableEntry { table: table.table, rows: table.rows.len(), jsonl, csv });
    }
    let mut media_entries = Vec::new();
    let mut vanished = Vec::new();
    for object in &plan.media {
        let file = format!("media/{}", object.key);
        match media.get(&object.key).await.map_err(DataError::Media)? {
            Some(bytes) => {
                media_entries.push(MediaEntry { key: &object.key, bytes: bytes.len() as u64, file: file.clone() });
                sink.put(&file, bytes).await.map_err(DataError::Media)?;
            }
            None => vanished.push(object.key.clone()),
        }
    }
    let missing: Vec<&str> = plan.missing_media.iter().chain(&vanished).map(String::as_str).collect();
    let manifest = serde_json::json!({
        "format": "invigil-candidate-export/1",
        "test_id": plan.test_id,
        "candidate_id": plan.candidate_id,
        "exported_at": exported_at,
        "exported_by": exported_by,
        "tables": table_entries,
        "media": media_entries,
        "media_bytes": media_entries.iter().map(|m| m.bytes).sum::<u64>(),
        "missing_media": missing,
    });
    let manifest = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    sink.put("manifest.json", Bytes::from(manifest)).await.map_err(DataError::Media)?;
    sink.put("README.txt", Bytes::from_static(README.as_bytes())).await.map_err(DataError::Media)?;
    Ok(())
}

const README: &str = "\
Everything invigil kept about one candidate of one test, as exported.

manifest.json      who, which test, when exported and by whom; each table's
                   row count; each media object's key and size; and
                   missing_media: objects the events say were uploaded that
                   the media store no longer has (expired by its lifecycle,
                   or never arrived).
tables/NAME.jsonl  the table's rows, one JSON object a line (times are UTC).
tables/NAME.csv    the same rows for a spreadsheet, columns in the table's
                   order.
media/KEY          the photos (camera/), screenshots (screen/), audio
                   pieces (audio/), recordings (video/) and bundles
                   (bundle/: several captures in one object; the events'
                   capture_key says which bytes are which).

The tables: proctor_events (what the browser reported: counts and states,
never the content of keys or the clipboard), candidate_windows (per-minute
and per-session measures), anomalies (score components), sessions,
reviews (verdicts), staff_actions (what staff did about the candidate),
webhook_deliveries (notices sent to the institution's systems).
";

/// One JSON object a line.
fn json_lines(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut out, row).expect("a row serialises");
        out.push(b'\n');
    }
    out
}

/// RFC 4180 CSV with a header line; arrays and objects as their JSON.
fn csv_of(columns: &[String], rows: &[Row]) -> Vec<u8> {
    let mut out = String::new();
    let field = |out: &mut String, text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(text);
        }
    };
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(&mut out, column);
    }
    out.push_str("\r\n");
    for row in rows {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match row.get(column) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => field(&mut out, text),
                Some(other) => field(&mut out, &other.to_string()),
            }
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

// Erasure.

/// What an erasure removed, by count: the reply, and the audit record's detail.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    pub test_id: String,
    /// Absent when the whole test was erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_id: Option<String>,
    /// Candidates who had rows.
    pub candidates: u64,
    /// The erasure's time (Unix ms): what came before it is gone.
    pub erased_at: i64,
    /// Rows deleted per table.
    pub rows: BTreeMap<&'static str, u64>,
    pub media_objects: u64,
    pub media_bytes: u64,
    /// Delete passes until no row was left (more than one: the pipeline was
    /// still writing the candidate's rows).
    pub passes: u32,
    pub took_ms: u64,
}

/// How the tables are reached: directly, or (on a cluster) each shard's
/// local table with `ON CLUSTER`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    Single,
    Cluster(String),
}

/// `proctor_events`' engine says which: a `Distributed` table names its
/// cluster first.
async fn layout(store: &dyn AnalyticsStore) -> Result<Layout, StoreFailure> {
    let rows = store
        .rows("SELECT engine, engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'proctor_events'".into())
        .await?;
    let row = rows.first().cloned().unwrap_or_default();
    Ok(cluster_of(
        row.get("engine").and_then(Value::as_str).unwrap_or_default(),
        row.get("engine_full").and_then(Value::as_str).unwrap_or_default(),
    ))
}

fn cluster_of(engine: &str, engine_full: &str) -> Layout {
    if engine != "Distributed" {
        return Layout::Single;
    }
    let inside = engine_full.split_once('(').map_or("", |(_, rest)| rest);
    let cluster = inside.split(',').next().unwrap_or_default().trim().trim_matches(['\'', '`', '"']);
    Layout::Cluster(cluster.to_owned())
}

/// The statement that deletes `condition`'s rows of `table`.
fn delete_statement(layout: &Layout, table: &str, condition: &str) -> String {
    match layout {
        Layout::Single => format!("DELETE FROM {table} WHERE {condition}"),
        Layout::Cluster(cluster) => format!("DELETE FROM {table}_local ON CLUSTER {cluster} WHERE {condition}"),
    }
}

/// Which of `table`'s rows an erasure at `erased_at` removes: all the
/// subject's, except staff actions done after it (its own record).
fn erase_condition(who: Subject<'_>, table: &str, erased_at: i64) -> String {
    let mut condition = who.condition();
    if table == "staff_actions" {
        condition.push_str(&format!(" AND at <= fromUnixTimestamp64Milli(toInt64({erased_at}), 'UTC')"));
    }
    condition
}

/// How many candidates have rows in the tables an erasure empties (staff
/// actions aside: those after an erasure stay, so they would count it again).
async fn distinct_candidates(store: &dyn AnalyticsStore, who: Subject<'_>) -> Result<u64, StoreFailure> {
    let union = CANDIDATE_TABLES
        .iter()
        .filter(|(table, _)| *table != "staff_actions")
        .map(|(table, _)| format!("SELECT candidate_id FROM {table} WHERE {}", who.condition()))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    count(store, format!("SELECT uniqExact(candidate_id) AS n FROM ({union})")).await
}

/// The `n` of a query's one row (0 when it has none).
async fn count(store: &dyn AnalyticsStore, sql: String) -> Result<u64, StoreFailure> {
    let rows = store.rows(sql).await?;
    Ok(rows.first().and_then(|r| r.get("n")).and_then(Value::as_u64).unwrap_or(0))
}

async fn count_rows(
    store: &dyn AnalyticsStore,
    who: Subject<'_>,
    erased_at: i64,
) -> Result<BTreeMap<&'static str, u64>, StoreFailure> {
    let mut counts = BTreeMap::new();
    for (table, _) in CANDIDATE_TABLES {
        let sql = format!("SELECT count() AS n FROM {table} WHERE {}", erase_condition(who, table, erased_at));
        counts.insert(table, count(store, sql).await?);
    }
    Ok(counts)
}

/// Erases the subject: the tombstone on the erasures topic (nothing is
/// deleted unless the brokers took it), then media, then rows.
pub async fn erase(
    store: &dyn AnalyticsStore,
    media: &MediaObjects,
    staff_log: &StaffLog,
    who: Subject<'_>,
    by: &str,
    reason: &str,
) -> Result<ErasureReport, DataError> {
    let started = Instant::now();
    // The prefixes come from the rows, so they are read before the rows go.
    let prefixes = media_prefixes(store, who).await?;
    let layout = layout(store).await?;
    let candidates = distinct_candidates(store, who).await?;
    let erased_at = invigil_schemas::clock::now_ms();
    let erasure = Erasure {
        test_id: who.test.clone(),
        candidate_id: who.candidate.cloned(),
        at: erased_at,
        by: by.to_owned(),
        reason: reason.to_owned(),
    };
    staff_log.publish_erasure(&erasure).await.map_err(DataError::Tombstone)?;

    let objects = list_media(media, &prefixes).await?;
    for object in &objects {
        media.delete(&object.key).await.map_err(DataError::Media)?;
    }

    let mut deleted: BTreeMap<&'static str, u64> = CANDIDATE_TABLES.iter().map(|(t, _)| (*t, 0)).collect();
    // Delete, wait for what the pipeline had in flight when the tombstone
    // went out, count again: done when a count after a wait finds nothing.
    let mut passes = 0;
    loop {
        let counts = count_rows(store, who, erased_at).await?;
        let left: u64 = counts.values().sum();
        if left == 0 && passes > 0 {
            break;
        }
        if passes == ERASE_PASSES {
            return Err(DataError::RowsRemain(left));
        }
        passes += 1;
        for (table, n) in counts {
            if n > 0 {
                store.execute(delete_statement(&layout, table, &erase_condition(who, table, erased_at))).await?;
                *deleted.get_mut(table).expect("every table listed") += n;
            }
        }
        tokio::time::sleep(SETTLE).await;
    }
    Ok(ErasureReport {
        test_id: who.test.as_str().to_owned(),
        candidate_id: who.candidate.map(|c| c.as_str().to_owned()),
        candidates,
        erased_at,
        rows: deleted,
        media_objects: objects.len() as u64,
        media_bytes: objects.iter().map(|o| o.bytes).sum(),
        passes,
        took_ms: started.elapsed().as_millis() as u64,
    })
}

// The routes.

/// Most characters of an erasure's reason.
const MAX_REASON_CHARS: usize = 500;

/// `POST …/erase`'s body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The candidate id typed again: an erasure cannot be undone.
    pub confirm: String,
    /// Why (a request's reference); kept in the audit trail.
    #[serde(default)]
    pub reason: String,
}

pub(crate) fn data_error(error: DataError) -> ApiError {
    match error {
        DataError::Store(failure) => crate::store_error(failure),
        DataError::Media(why) => {
            tracing::warn!(%why, "media store");
            ApiError::unavailable("the media store is not answering; try again shortly", 30)
        }
        DataError::Tombstone(why) => {
            tracing::warn!(%why, "erasures topic");
            ApiError::unavailable(
                "the erasure could not be recorded on the broker, so nothing was deleted; try again",
                30,
            )
        }
        DataError::RowsRemain(left) => {
            tracing::error!(left, "rows remained after erasing");
            ApiError::unavailable("some rows were still being written; erase again to finish", 5)
        }
    }
}

/// Streams a zip into the response body as it is written.
struct ZipBody {
    zip: crate::zip::ZipWriter,
    sent: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    modified_ms: i64,
}

impl ExportSink for ZipBody {
    async fn put(&mut self, name: &str, bytes: Bytes) -> Result<(), String> {
        let header = self.zip.entry(name, &bytes, self.modified_ms).map_err(|e| e.to_string())?;
        let gone = |_| "the download was closed".to_owned();
        self.sent.send(Ok(Bytes::from(header))).await.map_err(gone)?;
        self.sent.send(Ok(bytes)).await.map_err(gone)
    }
}

/// `GET /api/v1/dashboard/tests/{test}/candidates/{candidate}/export`: the
/// candidate's data as a zip (a reviewer of the test or an admin).
pub async fn get_export(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
    Path((test, candidate)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let test = parse_test_id(&test)?;
    let candidate = parse_candidate_id(&candidate)?;
    let claims = state.verifier.staff_of_test(&headers, &test, &[StaffRole::Reviewer, StaffRole::Admin])?;
    let who = Subject { test: &test, candidate: Some(&candidate) };
    let plan = plan_export(state.analytics()?, &state.media_objects, who).await.map_err(data_error)?;
    let sizes = plan.sizes();
    if !crate::zip::fits(sizes.iter().map(|(name, bytes)| (name.as_str(), *bytes))) {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "{candidate}'s data ({} files, {} MB of media) is more than one zip holds (65,535 files, 4 GiB)",
                sizes.len(),
                plan.media_bytes() / 1_000_000
            ),
        ));
    }
    let rows: usize = plan.tables.iter().map(|t| t.rows.len()).sum();
    let done = Done::new(&claims, "candidate.export", state.staff_log.origin(&headers, &peer))
        .on(&test, Some(&candidate))
        .with("rows", rows)
        .with("media_objects", plan.media.len())
        .with("media_bytes", plan.media_bytes());
    state.staff_log.record(done).await;
    let (sent, mut receiving) = tokio::sync::mpsc::channel(4);
    let media = state.media_objects.clone();
    let exported_by = claims.sub.clone();
    tokio::spawn(async move {
        let now = invigil_schemas::clock::now_ms();
        let mut body = ZipBody { zip: crate::zip::ZipWriter::default(), sent, modified_ms: now };
        let written = write_export(&plan, &media, &exported_by, now, &mut body).await;
        let ended = match written {
            Ok(()) => std::mem::take(&mut body.zip).finish().map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        let last = match ended {
            Ok(directory) => Ok(Bytes::from(directory)),
            Err(why) => {
                // Cut the body short: the client sees a failed download,
                // never a zip that looks whole.
                tracing::error!(%why, test = %plan.test_id, candidate = %plan.candidate_id, "export cut short");
                Err(std::io::Error::other(why))
            }
        };
        let _ = body.sent.send(last).await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| receiving.poll_recv(cx));
    let filename = format!("invigil-{test}-{candidate}.zip");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Takes erased candidates' live tiles off the walls: from this replica
/// at once, and from the compacted live-counters topic (a tombstone per
/// candidate), so other replicas and later starts never read them again.
/// A failure is logged, not fatal: the rows and media are gone already.
pub(crate) async fn forget_live(state: &Dashboards, test: &TestId, candidate: Option<&CandidateId>) {
    let mut candidates: BTreeSet<String> =
        state.walls.forget(test.as_str(), candidate.map(CandidateId::as_str)).into_iter().collect();
    candidates.extend(candidate.map(|c| c.as_str().to_owned()));
    if state.settings.live_topic.is_empty() {
        return;
    }
    for candidate in candidates {
        let key = format!("{test}/{candidate}");
        if let Err(why) = state.staff_log.publish_tombstone(&state.settings.live_topic, &key).await {
            tracing::warn!(%why, %test, %candidate, "an erased candidate's live counters stay on the live topic");
        }
    }
}

/// Erases `who` for the staff member of `done` (an erasure page's or the
/// retention sweep's action, with its detail so far), then records the
/// outcome in the audit trail — the counts, or the error — and, done, takes
/// the erased tiles off the walls.
pub(crate) async fn erase_recorded(
    state: &Dashboards,
    store: &dyn AnalyticsStore,
    who: Subject<'_>,
    reason: &str,
    done: Done<'_>,
) -> Result<ErasureReport, DataError> {
    let by = done.staff.sub.as_str();
    match erase(store, &state.media_objects, &state.staff_log, who, by, reason).await {
        Ok(report) => {
            let counts = serde_json::to_value(&report.rows).expect("counts serialise");
            let done = done
                .with("candidates", report.candidates)
                .with("rows", counts)
                .with("media_objects", report.media_objects)
                .with("media_bytes", report.media_bytes)
                .with("passes", report.passes);
            state.staff_log.record(done).await;
            forget_live(state, who.test, who.candidate).await;
            Ok(report)
        }
        Err(error) => {
            let failed = Done { outcome: invigil_schemas::staff::StaffOutcome::Failed, ..done };
            state.staff_log.record(failed.with("error", error.to_string())).await;
            Err(error)
        }
    }
}

/// `POST /api/v1/dashboard/tests/{test}/candidates/{candidate}/erase`
/// (admins): erases the candidate and answers what was removed, by count.
pub async fn post_erase(
    State(state): State<Arc<Dashboards>>,
    headers: HeaderMap,
    peer: Peer,
    Path((test, candidate)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ErasureReport>, ApiError> {
    let test = parse_test_id(&test)?;
    let candidate = parse_candidate_id(&candidate)?;
    let claims = state.verifier.staff_of_test(&headers, &test, &[StaffRole::Admin])?;
    invigil_ingest::error::require_json(&headers)?;
    let request: EraseRequest =
        invigil_schemas::validate::decode_json(&body).map_err(|problem| ApiError::invalid(vec![problem]))?;
    if request.confirm != candidate.as_str() {
        return Err(ApiError::bad_field(
            "confirm",
            ProblemCode::InvalidValue,
            "must repeat the candidate id: an erasure cannot be undone",
        ));
    }
    if request.reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_field(
            "reason",
            ProblemCode::TooLong,
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    let who = Subject { test: &test, candidate: Some(&candidate) };
    let origin = state.staff_log.origin(&headers, &peer);
    let done =
        Done::new(&claims, "candidate.erase", origin).on(&test, Some(&candidate)).with("reason", &*request.reason);
    let report = erase_recorded(&state, state.analytics()?, who, &request.reason, done).await.map_err(data_error)?;
    tracing::info!(admin = %claims.sub, test = %test, candidate = %candidate, took_ms = report.took_ms, "candidate erased");
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_keeps_column_order() {
        let columns = vec!["z".to_owned(), "a".to_owned(), "n".to_owned()];
        let mut row = Row::new();
        row.insert("a".into(), Value::String("say \"hi\", twice".into()));
        row.insert("z".into(), Value::String("plain".into()));
        row.insert("n".into(), serde_json::json!([1, 2]));
        let mut second = Row::new();
        second.insert("n".into(), serde_json::json!(7));
        let csv = String::from_utf8(csv_of(&columns, &[row, second])).unwrap();
        assert_eq!(csv, "z,a,n\r\nplain,\"say \"\"hi\"\", twice\",\"[1,2]\"\r\n,,7\r\n");
    }

    #[test]
    fn a_cluster_deletes_on_each_shard_and_staff_actions_after_the_erasure_stay() {
        let test = TestId::new("exam-1").unwrap();
        let candidate = CandidateId::new("o.brien@x:1").unwrap();
        let who = Subject { test: &test, candidate: Some(&candidate) };
        assert_eq!(cluster_of("ReplacingMergeTree", "ReplacingMergeTree(version) ORDER BY x"), Layout::Single);
        let cluster =
            cluster_of("Distributed", "Distributed('invigil', 'exams', 'proctor_events_local', cityHash64(test_id))");
        assert_eq!(cluster, Layout::Cluster("invigil".into()));
        assert_eq!(
            delete_statement(&cluster, "sessions", &erase_condition(who, "sessions", 5)),
            "DELETE FROM sessions_local ON CLUSTER invigil WHERE test_id = 'exam-1' AND candidate_id = 'o.brien@x:1'"
        );
        assert_eq!(
            delete_statement(&Layout::Single, "staff_actions", &erase_condition(who, "staff_actions", 5)),
            "DELETE FROM staff_actions WHERE test_id = 'exam-1' AND candidate_id = 'o.brien@x:1' \
             AND at <= fromUnixTimestamp64Milli(toInt64(5), 'UTC')"
        );
        let whole = Subject { test: &test, candidate: None };
        assert_eq!(whole.condition(), "test_id = 'exam-1'");
        assert_eq!(whole.prefix("2026-12-06"), "2026-12-06/exam-1/");
        assert_eq!(who.prefix("2026-12-06"), "2026-12-06/exam-1/o.brien@x:1/");
    }

    #[test]
    fn only_dates_name_days() {
        assert!(invigil_schemas::media_key::is_date("2026-12-06"));
        for not in ["2026-12-6", "bundle/123", "2026_12_06", "abcd-ef-gh", ""] {
            assert!(!invigil_schemas::media_key::is_date(not), "{not}");
        }
    }
}

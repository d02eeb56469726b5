//! The on-disk spool: where accepted batches wait while Kafka is away.
//!
//! ## Promise
//! A batch answered `200` is either acknowledged by Kafka (`acks=all`) or
//! written **and fsynced** here. Appends are group-committed: one writer
//! thread takes every append queued since its last write, writes them in one
//! go, calls `fdatasync` once, and only then releases the waiting requests.
//! Under a Kafka outage the cost of durability is one fsync per group, not per
//! request.
//!
//! ## Order
//! While the spool holds anything, every new batch goes behind it (the spool
//! is *active*), so a candidate's batches reach Kafka in the order they were
//! accepted. The replayer switches the spool back to inactive only when it has
//! replayed everything written and no append is in flight — under the same
//! lock that appends take, so no batch can slip past the queue.
//!
//! ## Layout
//! `dir/seg-NNNNNNNNNNNN.log` segments, each a sequence of frames
//! `len: u32 LE | crc32(payload): u32 LE | payload`, payload
//! `key_len: u16 LE | key | value`; `dir/cursor` holds `segment offset` of
//! the first frame not yet acknowledged by Kafka, replaced atomically (write,
//! fsync, rename) after each replayed chunk. A crash between Kafka's ack and
//! the cursor write replays a chunk twice; downstream dedups by
//! `session_id`+`seq`. A torn frame at the tail (a crash mid-write, never
//! acknowledged to anyone) is cut off when the spool is opened.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, Notify};

/// Where the spool lives and how big it may grow.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolSettings {
    /// Directory of segments and cursor; created if missing. One per replica.
    pub dir: PathBuf,
    /// Unreplayed bytes allowed on disk; past it, requests get 503.
    pub max_bytes: u64,
    /// A new segment starts past this size; replayed segments are deleted whole.
    pub segment_bytes: u64,
    /// On a stop, how long ingest keeps replaying what the spool still holds
    /// (while the broker answers) before it exits. Whatever is left stays on
    /// disk for the next start on the same volume.
    pub drain_on_exit_secs: u64,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("invigil-data/spool"),
            max_bytes: 1 << 30,
            segment_bytes: 64 << 20,
            drain_on_exit_secs: 30,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full ({0} bytes waiting)")]
    Full(u64),
    #[error("the spool cannot write: {0}")]
    Io(String),
}

/// Frame header: length and checksum.
const HEADER: u64 = 8;
/// Largest payload a frame may carry; anything larger is corruption.
const MAX_PAYLOAD: u32 = 64 << 20;

/// A position in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// One record read back for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    pub key: String,
    pub value: Vec<u8>,
}

/// Records read for replay, where they start and where the next read starts.
#[derive(Debug)]
pub struct Chunk {
    pub records: Vec<SpooledRecord>,
    /// The read cursor the chunk was read from: a chunk read again from the
    /// same start begins with the same records.
    pub start: Position,
    pub next: Position,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Bytes written and fsynced.
    len: u64,
}

#[derive(Debug)]
struct State {
    segments: VecDeque<Segment>,
    read: Position,
    /// Durable bytes from `read` to the end.
    waiting_bytes: u64,
    /// Bytes of appends queued to the writer, not yet durable.
    reserved_bytes: u64,
    pending_appends: usize,
    active: bool,
    failure: Option<String>,
}

struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    /// Woken when something becomes durable.
    written: Notify,
}

struct Append {
    frame: Vec<u8>,
    done: oneshot::Sender<Result<(), SpoolError>>,
}

/// Handle to the spool; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    shared: Arc<Shared>,
    writer: mpsc::Sender<Append>,
}

/// What [`Spool::open`] found on disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub records: u64,
    pub bytes: u64,
    /// Bytes of a torn tail frame cut off.
    pub torn_bytes: u64,
}

impl Spool {
    /// Opens (or creates) the spool in `settings.dir`, checks every frame not
    /// yet replayed, cuts a torn tail, and starts the writer thread.
    pub fn open(settings: &SpoolSettings) -> io::Result<(Self, Recovered)> {
        fs::create_dir_all(&settings.dir)?;
        let dir = settings.dir.clone();
        let mut ids: Vec<u64> = fs::read_dir(&dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| parse_segment_name(&entry.file_name().to_string_lossy()))
            .collect();
        ids.sort_unstable();
        let cursor = read_cursor(&dir)?.unwrap_or(Position { segment: ids.first().copied().unwrap_or(1), offset: 0 });

        let mut recovered = Recovered::default();
        let mut segments = VecDeque::new();
        for id in ids {
            let path = segment_path(&dir, id);
            if id < cursor.segment {
                fs::remove_file(&path)?;
                continue;
            }
            let start = if id == cursor.segment { cursor.offset } else { 0 };
            let (records, valid_end, file_len) = scan_segment(&path, start)?;
            if valid_end < file_len {
                recovered.torn_bytes += file_len - valid_end;
                tracing::warn!(segment = id, cut = file_len - valid_end, "spool: cutting a torn or corrupt tail");
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(valid_end)?;
                file.sync_all()?;
            }
            recovered.records += records;
            recovered.bytes += valid_end - start;
            segments.push_back(Segment { id, len: valid_end });
        }
        let read = match segments.front() {
            Some(first) if first.id == cursor.segment => cursor,
            Some(first) => Position { segment: first.id, offset: 0 },
            None => cursor,
        };

        // Appends go to a fresh segment: simpler than reopening a possibly
        // cut one, and the cost is one small file per restart.
        let next_id = segments.back().map(|s| s.id + 1).unwrap_or(read.segment.max(1));
        let file = create_segment(&dir, next_id)?;
        segments.push_back(Segment { id: next_id, len: 0 });

        let state = State {
            segments,
            read,
            waiting_bytes: recovered.bytes,
            reserved_bytes: 0,
            pending_appends: 0,
            active: recovered.bytes > 0,
            failure: None,
        };
        let shared =
            Arc::new(Shared { dir, max_bytes: settings.max_bytes, state: Mutex::new(state), written: Notify::new() });
        let (writer, appends) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let segment_bytes = settings.segment_bytes.max(1 << 16);
        std::thread::Builder::new()
            .name("invigil-spool-writer".into())
            .spawn(move || write_loop(writer_shared, appends, file, next_id, segment_bytes))?;
        Ok((Self { shared, writer }, recovered))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True while anything waits in the spool: new batches must queue behind it.
    pub fn is_active(&self) -> bool {
        self.state().active
    }

    /// Appends only if the spool is active; `None` means "send it directly".
    pub fn append_if_active(&self, key: &str, value: &[u8]) -> Option<oneshot::Receiver<Result<(), SpoolError>>> {
        self.enqueue(key, value, false)
    }

    /// Activates the spool and appends: the direct path failed.
    pub fn append(&self, key: &str, value: &[u8]) -> oneshot::Receiver<Result<(), SpoolError>> {
        self.enqueue(key, value, true).expect("a forced append always enqueues")
    }

    fn enqueue(&self, key: &str, value: &[u8], force: bool) -> Option<oneshot::Receiver<Result<(), SpoolError>>> {
        // The common case (inactive, not forced) returns before any encoding.
        let mut state = self.state();
        if !force && !state.active {
            return None;
        }
        let (done, receiver) = oneshot::channel();
        let frame = encode_frame(key, value);
        state.active = true;
        let size = frame.len() as u64;
        if let Some(failure) = &state.failure {
            let _ = done.send(Err(SpoolError::Io(failure.clone())));
        } else if state.waiting_bytes + state.reserved_bytes + size > self.shared.max_bytes {
            let _ = done.send(Err(SpoolError::Full(state.waiting_bytes + state.reserved_bytes)));
        } else {
            state.reserved_bytes += size;
            state.pending_appends += 1;
            if let Err(mpsc::SendError(append)) = self.writer.send(Append { frame, done }) {
                state.reserved_bytes -= size;
                state.pending_appends -= 1;
                let _ = append.done.send(Err(SpoolError::Io("the spool writer stopped".into())));
            }
        }
        Some(receiver)
    }

    /// Reads up to `max_records` / about `max_bytes` durable records from the
    /// read position. Blocking file IO: call from a blocking thread.
    pub fn read_chunk(&self, max_records: usize, max_bytes: u64) -> io::Result<Chunk> {
        let (mut position, segments): (Position, Vec<(u64, u64)>) = {
            let state = self.state();
            (state.read, state.segments.iter().map(|s| (s.id, s.len)).collect())
        };
        let start = position;
        let mut records = Vec::new();
        let mut bytes = 0u64;
        for (id, len) in segments {
            if id < position.segment {
                continue;
            }
            if id > position.segment {
                position = Position { segment: id, offset: 0 };
            }
            if position.offset >= len {
                continue;
            }
            let mut reader = BufReader::new(File::open(segment_path(&self.shared.dir, id))?);
            reader.seek(SeekFrom::Start(position.offset))?;
            while position.offset < len && records.len() < max_records && bytes < max_bytes {
                let (record, size) = read_frame(&mut reader)?.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("spool segment {id} ends inside a durable frame"),
                    )
                })?;
                position.offset += size;
                bytes += size;
                records.push(record);
            }
            if records.len() >= max_records || bytes >= max_bytes {
                break;
            }
        }
        Ok(Chunk { records, start, next: position })
    }

    /// Marks everything before `next` as acknowledged by Kafka: persists the
    /// cursor and deletes segments wholly behind it.
    pub fn commit(&self, next: Position) -> io::Result<()> {
        write_cursor(&self.shared.dir, next)?;
        let doomed = {
            let mut state = self.state();
            let mut consumed = 0u64;
            for segment in &state.segments {
                if segment.id < state.read.segment || segment.id > next.segment {
                    continue;
                }
                let from = if segment.id == state.read.segment { state.read.offset } else { 0 };
                let to = if segment.id == next.segment { next.offset } else { segment.len };
                consumed += to.saturating_sub(from);
            }
            state.waiting_bytes = state.waiting_bytes.saturating_sub(consumed);
            state.read = next;
            let last = state.segments.back().map(|s| s.id);
            let mut doomed = Vec::new();
            while let Some(front) = state.segments.front() {
                let behind = front.id < next.segment || (front.id == next.segment && next.offset >= front.len);
                if behind && Some(front.id) != last {
                    doomed.push(front.id);
                    state.segments.pop_front();
                } else {
                    break;
                }
            }
            doomed
        };
        for id in doomed {
            fs::remove_file(segment_path(&self.shared.dir, id))?;
        }
        Ok(())
    }

    /// Switches the spool off if everything written has been replayed and no
    /// append is in flight. Returns whether it is now inactive.
    pub fn try_deactivate(&self) -> bool {
        let mut state = self.state();
        if state.waiting_bytes == 0 && state.pending_appends == 0 {
            state.active = false;
        }
        !state.active
    }

    /// Waits until the writer made something durable (or `timeout` passes).
    pub async fn wait_written(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.shared.written.notified()).await;
    }

    /// Bytes waiting for replay, and the capacity.
    pub fn usage(&self) -> (u64, u64) {
        let state = self.state();
        (state.waiting_bytes + state.reserved_bytes, self.shared.max_bytes)
    }

    /// Why the spool cannot write, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.state().failure.clone()
    }
}

fn write_loop(
    shared: Arc<Shared>,
    appends: mpsc::Receiver<Append>,
    mut file: File,
    mut segment: u64,
    segment_bytes: u64,
) {
    let mut written_in_segment = 0u64;
    while let Ok(first) = appends.recv() {
        let mut group = vec![first];
        while group.len() < 4096 {
            match appends.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let bytes: u64 = group.iter().map(|a| a.frame.len() as u64).sum();
        let result = (|| -> io::Result<Option<u64>> {
            let mut rolled = None;
            if written_in_segment > 0 && written_in_segment + bytes > segment_bytes {
                file.sync_data()?;
                segment += 1;
                file = create_segment(&shared.dir, segment)?;
                written_in_segment = 0;
                rolled = Some(segment);
            }
            let mut buffer = Vec::with_capacity(bytes as usize);
            for append in &group {
                buffer.extend_from_slice(&append.frame);
            }
            file.write_all(&buffer)?;
            file.sync_data()?;
            Ok(rolled)
        })();
        let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        state.reserved_bytes -= bytes;
        state.pending_appends -= group.len();
        let outcome = match result {
            Ok(rolled) => {
                if let Some(id) = rolled {
                    state.segments.push_back(Segment { id, len: 0 });
                }
                written_in_segment += bytes;
                if let Some(last) = state.segments.back_mut() {
                    last.len += bytes;
                }
                state.waiting_bytes += bytes;
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "spool write failed; the spool refuses appends from now on");
                state.failure = Some(error.to_string());
                Err(SpoolError::Io(error.to_string()))
            }
        };
        drop(state);
        shared.written.notify_waiters();
        for append in group {
            let _ = append.done.send(outcome.clone());
        }
    }
}

fn encode_frame(key: &str, value: &[u8]) -> Vec<u8> {
    let key = &key.as_bytes()[..key.len().min(u16::MAX as usize)];
    let payload_len = 2 + key.len() + value.len();
    let mut frame = Vec::with_capacity(HEADER as usize + payload_len);
    frame.extend_from_slice(&(payload_len as u32).to_le_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&(key.len() as u16).to_le_bytes());
    frame.extend_from_slice(key);
    frame.extend_from_slice(value);
    let crc = crc32fast::hash(&frame[HEADER as usize..]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    frame
}

/// Reads one frame; `None` at a clean end, an error for a torn or corrupt one.
fn read_frame(reader: &mut impl Read) -> io::Result<Option<(SpooledRecord, u64)>> {
    let mut header = [0u8; HEADER as usize];
    match reader.read_exact(&mut header[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    reader.read_exact(&mut header[1..])?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if !(2..=MAX_PAYLOAD).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame length {len} out of range")));
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != crc {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame checksum mismatch"));
    }
    let key_len = u16::from_le_bytes([payload[0], payload[1]]) as usize;
    if 2 + key_len > payload.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame key overruns its payload"));
    }
    let key = String::from_utf8(payload[2..2 + key_len].to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame key is not UTF-8"))?;
    let value = payload[2 + key_len..].to_vec();
    Ok(Some((SpooledRecord { key, value }, HEADER + len as u64)))
}

/// Counts valid frames from `start`; returns (frames, end of the last valid
/// frame, file length).
fn scan_segment(path: &Path, start: u64) -> io::Result<(u64, u64, u64)> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(start.min(file_len)))?;
    let mut end = start.min(file_len);
    let mut frames = 0;
    while let Ok(Some((_, size))) = read_frame(&mut reader) {
        end += size;
        frames += 1;
    }
    Ok((frames, end, file_len))
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("seg-{id:012}.log"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
}

fn create_segment(dir: &Path, id: u64) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, id))?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

fn read_cursor(dir: &Path) -> io::Result<Option<Position>> {
    let text = match fs::read_to_string(dir.join("cursor")) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(segment)), Some(Ok(offset))) => Ok(Some(Position { segment, offset })),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, format!("spool cursor is unreadable: {text:?}"))),
    }
}

fn write_cursor(dir: &Path, position: Position) -> io::Result<()> {
    let temporary = dir.join("cursor.tmp");
    let mut file = File::create(&temporary)?;
    writeln!(file, "{} {}", position.segment, position.offset)?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join("cursor"))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> SpoolSettings {
        SpoolSettings { dir: dir.to_path_buf(), max_bytes: 1 << 20, segment_bytes: 1 << 16, drain_on_exit_secs: 5 }
    }

    async fn append_all(spool: &Spool, n: usize, tag: &str) {
        for i in 0..n {
            let waiter = spool.append(&format!("t/c{}", i % 3), format!("{tag}-{i}").as_bytes());
            waiter.await.unwrap().unwrap();
        }
    }

    fn drain(spool: &Spool) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let chunk = spool.read_chunk(7, 1 << 20).unwrap();
            if chunk.records.is_empty() {
                return seen;
            }
            seen.extend(chunk.records.iter().map(|r| String::from_utf8(r.value.clone()).unwrap()));
            spool.commit(chunk.next).unwrap();
        }
    }

    #[tokio::test]
    async fn replays_in_append_order_across_segments_and_deactivates() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, recovered) = Spool::open(&settings(dir.path())).unwrap();
        assert_eq!(recovered, Recovered::default());
        assert!(!spool.is_active());
        assert!(spool.append_if_active("k", b"v").is_none(), "an inactive spool sends callers to Kafka");
        // 3,000 frames of ~30 bytes span two 64 KiB segments.
        append_all(&spool, 3000, "a").await;
        assert!(spool.is_active());
        let seen = drain(&spool);
        assert_eq!(seen, (0..3000).map(|i| format!("a-{i}")).collect::<Vec<_>>());
        assert!(spool.try_deactivate());
        assert_eq!(spool.usage().0, 0);
        let segments = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("seg-"))
            .count();
        assert_eq!(segments, 1, "replayed segments are deleted");
    }

    #[tokio::test]
    async fn a_reopened_spool_replays_what_was_left_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (spool, _) = Spool::open(&settings(dir.path())).unwrap();
            append_all(&spool, 10, "b").await;
            let chunk = spool.read_chunk(4, 1 << 20).unwrap();
            spool.commit(chunk.next).unwrap();
        }
        // A crash mid-write leaves half a frame at the end of the last segment.
        let mut last: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| parse_segment_name(&e.unwrap().file_name().to_string_lossy()))
            .collect();
        last.sort();
        let torn = encode_frame("t/c0", b"never-acknowledged");
        OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), *last.last().unwrap()))
            .unwrap()
            .write_all(&torn[..torn.len() - 3])
            .unwrap();

        let (spool, recovered) = Spool::open(&settings(dir.path())).unwrap();
        assert_eq!(recovered.records, 6);
        assert_eq!(recovered.torn_bytes, torn.len() as u64 - 3);
        assert!(spool.is_active());
        append_all(&spool, 2, "c").await;
        let seen = drain(&spool);
        let expected: Vec<String> = (4..10).map(|i| format!("b-{i}")).chain((0..2).map(|i| format!("c-{i}"))).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn refuses_appends_past_its_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let small = SpoolSettings { max_bytes: 100, ..settings(dir.path()) };
        let (spool, _) = Spool::open(&small).unwrap();
        spool.append("k", &[1; 40]).await.unwrap().unwrap();
        let refused = spool.append("k", &[1; 60]).await.unwrap();
        assert!(matches!(refused, Err(SpoolError::Full(_))), "{refused:?}");
        assert_eq!(drain(&spool).len(), 1);
    }

    #[test]
    fn corrupt_frames_are_reported_not_returned() {
        let mut frame = encode_frame("key", b"value");
        let last = frame.len() - 1;
        frame[last] ^= 1;
        let error = read_frame(&mut frame.as_slice()).unwrap_err();
        assert!(error.to_string().contains("checksum"), "{error}");
        let good = encode_frame("key", b"value");
        let (record, size) = read_frame(&mut good.as_slice()).unwrap().unwrap();
        assert_eq!((record.key.as_str(), record.value.as_slice(), size), ("key", &b"value"[..], good.len() as u64));
    }
}

//! The Kafka record: a validated batch plus what the server knows about it.
//!
//! Topic `proctor_events`, key [`record_key`] (`test_id/candidate_id`, so one
//! candidate's batches stay ordered in one partition). The value is
//! [`encode`]d as one format byte followed by the body in that format, so the
//! encoding can change without a flag day: decoders dispatch on the byte.
//!
//! ## Why postcard
//! Measured with `invigil bench encoding --rounds 9` (release build) on a
//! typical 10-event batch (the first ten events of the golden mixed batch),
//! on the project's 2-core machine; medians per record:
//!
//! | format        | bytes | vs JSON | encode | decode  |
//! |---------------|------:|--------:|-------:|--------:|
//! | JSON          | 1 620 | 1.00×   | 2.69 µs| 14.95 µs|
//! | MessagePack   |   623 | 2.60×   | 1.16 µs|  1.51 µs|
//! | postcard (v1) |   504 | 3.21×   | 0.48 µs|  0.79 µs|
//!
//! postcard is 3.2× smaller than JSON, ~5× faster to encode and ~19× faster
//! to decode (JSON decoding goes through the validating decoder, as any JSON
//! consumer of untrusted-shaped data would). Events are positional tuples in
//! both binary formats, so field names are never repeated. The producer still
//! compresses batches of records (lz4/zstd) on top; a smaller input costs less
//! broker disk and consumer CPU all the same. Re-run the bench after changing
//! the types: a second run printed the same sizes and times within ±2×.

use serde::{Deserialize, Serialize};

use crate::batch::EventBatch;
use crate::ids::{CandidateId, TestId};

/// Topic holding raw enriched batches, produced by ingest.
pub const EVENTS_TOPIC: &str = "proctor_events";
/// Compacted topic of live per-candidate counters, produced by the pipeline.
pub const LIVE_TOPIC: &str = "proctor_live";

/// A batch as ingest accepted it. `test_id` and `candidate_id` come from the
/// verified token, never from the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaRecord {
    /// Server clock when ingest accepted the batch, Unix ms.
    pub received_at: i64,
    pub test_id: TestId,
    pub candidate_id: CandidateId,
    /// Which ingest replica accepted it.
    pub ingest_node: String,
    /// Client IP, keyed-hashed with a server secret: lets reviewers see that two
    /// candidates shared an address without storing the address.
    pub client_ip_hash: u64,
    /// The client address's network (IPv4 /24, IPv6 /48), keyed-hashed the
    /// same way: two sessions of one candidate from one home or school
    /// share it, a second device elsewhere does not. 0 in format-1 records.
    pub client_net_hash: u64,
    pub user_agent: String,
    pub batch: EventBatch,
}

/// A record as format 1 laid it out (before `client_net_hash`).
#[derive(Deserialize)]
struct KafkaRecordV1 {
    received_at: i64,
    test_id: TestId,
    candidate_id: CandidateId,
    ingest_node: String,
    client_ip_hash: u64,
    user_agent: String,
    batch: EventBatch,
}

impl From<KafkaRecordV1> for KafkaRecord {
    fn from(v1: KafkaRecordV1) -> Self {
        KafkaRecord {
            received_at: v1.received_at,
            test_id: v1.test_id,
            candidate_id: v1.candidate_id,
            ingest_node: v1.ingest_node,
            client_ip_hash: v1.client_ip_hash,
            client_net_hash: 0,
            user_agent: v1.user_agent,
            batch: v1.batch,
        }
    }
}

/// The Kafka key of a candidate's records.
pub fn record_key(test: &TestId, candidate: &CandidateId) -> String {
    format!("{test}/{candidate}")
}

/// The first byte of every record value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordFormat {
    /// postcard of [`KafkaRecord`] as defined in protocol v1, before
    /// `client_net_hash`, `clipboard.target` and
    /// `key_activity.peak_per_s`/`burst_s` (December 2026). Still read: the
    /// topic keeps a week of records for replays.
    PostcardV1 = 1,
    /// postcard of today's [`KafkaRecord`].
    PostcardV2 = 2,
}

/// Why a record value could not be decoded. None of these heal on retry: the
/// consumer should count the record as poison and move on.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("empty record value")]
    Empty,
    #[error("unknown record format byte {0}")]
    UnknownFormat(u8),
    #[error("corrupt postcard record: {0}")]
    Corrupt(#[from] postcard::Error),
}

/// Encodes a record in the current format.
pub fn encode(record: &KafkaRecord) -> Vec<u8> {
    let out = vec![RecordFormat::PostcardV2 as u8];
    postcard::to_extend(record, out).expect("writing postcard into a Vec cannot fail")
}

/// Decodes a record value of any known format.
pub fn decode(value: &[u8]) -> Result<KafkaRecord, RecordError> {
    let (&format, body) = value.split_first().ok_or(RecordError::Empty)?;
    match format {
        f if f == RecordFormat::PostcardV2 as u8 => Ok(postcard::from_bytes(body)?),
        f if f == RecordFormat::PostcardV1 as u8 => {
            let v1: KafkaRecordV1 = crate::event::v1::reading(|| postcard::from_bytes(body))?;
            Ok(v1.into())
        }
        other => Err(RecordError::UnknownFormat(other)),
    }
}

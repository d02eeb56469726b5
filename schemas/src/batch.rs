//! The batch the SDK posts to `POST /api/v1/events` every `events_interval_ms`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::Event;

/// A batch of events from one SDK session.
///
/// Decode untrusted bytes with [`crate::validate::parse_batch`], which reports
/// every problem; the derived `Deserialize` stops at the first and is meant for
/// trusted input (fixtures, the SDK's own queue, Kafka records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// Protocol version; always [`crate::PROTOCOL_VERSION`].
    pub v: u16,
    /// One per SDK start (UUID, v7 from our SDK).
    pub session_id: Uuid,
    /// Monotonic per session; a retried batch repeats its number.
    pub batch_seq: u64,
    /// Client clock when the batch was (first) sent, Unix ms.
    pub sent_at: i64,
    /// 1..=`max_events` events, `seq` strictly increasing.
    pub events: Vec<Event>,
}

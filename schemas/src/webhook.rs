//! Webhook notices: what invigil tells a host application without being
//! asked — a session started, ended or was flagged, a recording segment was
//! stored or a recording completed, a verdict was given, captures went
//! missing.
//!
//! The pipeline decides them from its own stream (and the staff topic, for
//! verdicts) and appends each, as JSON, to the outbox topic: the events
//! topic's name plus [`OUTBOX_TOPIC_SUFFIX`]. A dispatcher follows the outbox
//! once per endpoint and delivers each notice the endpoint subscribed to,
//! signed per the Standard Webhooks scheme, at least once. A notice's `id`
//! is derived from what it announces, so a notice announced twice (the
//! pipeline replaying after a crash) carries the same id both times, and a
//! receiver deduplicates on the `webhook-id` header made from it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Appended to the events topic's name to name the outbox topic.
pub const OUTBOX_TOPIC_SUFFIX: &str = "_webhooks";

/// The outbox topic that goes with `events_topic`.
pub fn outbox_topic(events_topic: &str) -> String {
    format!("{events_topic}{OUTBOX_TOPIC_SUFFIX}")
}

/// What a notice announces: the `type` of the delivered payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NoticeKind {
    /// The first rows of a session were written.
    #[serde(rename = "session.started")]
    SessionStarted,
    /// The session ended (the SDK said so, or it went silent and was
    /// closed): its totals as of then.
    #[serde(rename = "session.ended")]
    SessionEnded,
    /// A minute window's anomaly score reached the test's alert score:
    /// the score, the threshold and each component.
    #[serde(rename = "session.flagged")]
    SessionFlagged,
    /// The SDK stored one video segment (camera or screen) in the bucket.
    #[serde(rename = "recording.segment_stored")]
    RecordingSegmentStored,
    /// A recorded session ended: how much of its expected video arrived.
    #[serde(rename = "recording.completed")]
    RecordingCompleted,
    /// A reviewer gave a verdict.
    #[serde(rename = "review.verdict")]
    ReviewVerdict,
    /// While the exam runs, the share of capture slots filled fell below
    /// the test's `notify.capture_missing_below_pct`.
    #[serde(rename = "capture.missing")]
    CaptureMissing,
    /// An admin erased the candidate's data here: the receiver should
    /// erase its own copies (what it got from earlier notices included).
    #[serde(rename = "candidate.erased")]
    CandidateErased,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 8] = [
        Self::SessionStarted,
        Self::SessionEnded,
        Self::SessionFlagged,
        Self::RecordingSegmentStored,
        Self::RecordingCompleted,
        Self::ReviewVerdict,
        Self::CaptureMissing,
        Self::CandidateErased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionStarted => "session.started",
            Self::SessionEnded => "session.ended",
            Self::SessionFlagged => "session.flagged",
            Self::RecordingSegmentStored => "recording.segment_stored",
            Self::RecordingCompleted => "recording.completed",
            Self::ReviewVerdict => "review.verdict",
            Self::CaptureMissing => "capture.missing",
            Self::CandidateErased => "candidate.erased",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notice on the outbox topic. The Kafka key is the candidate's
/// [`crate::record::record_key`], so one candidate's notices stay in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Stable for what it announces (see [`notice_id`]).
    pub id: Uuid,
    pub kind: NoticeKind,
    /// When what it announces happened (event time), Unix ms.
    pub at: i64,
    /// When the pipeline announced it (server clock), Unix ms: retries end
    /// 24 hours after this.
    pub created_at: i64,
    pub test_id: String,
    pub candidate_id: String,
    /// `None` for a verdict (on the candidate, not a session).
    pub session_id: Option<Uuid>,
    /// What the kind carries (scores, totals, the segment's key).
    pub data: serde_json::Map<String, serde_json::Value>,
    /// A manual redelivery from the admin page: only this endpoint sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_endpoint: Option<String>,
    /// A redelivery's body: exactly what was signed and sent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_payload: Option<String>,
}

impl Notice {
    /// The record's value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a notice always serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The `webhook-id` header: the same for every delivery of this notice.
    pub fn message_id(&self) -> String {
        format!("msg_{}", self.id.simple())
    }

    /// The delivered body, per the Standard Webhooks payload convention:
    /// `{"type", "timestamp", "data"}`, the ids first in `data`.
    pub fn payload(&self) -> Vec<u8> {
        if let Some(sent) = &self.sent_payload {
            return sent.clone().into_bytes();
        }
        let mut data = serde_json::Map::new();
        data.insert("test_id".into(), self.test_id.clone().into());
        data.insert("candidate_id".into(), self.candidate_id.clone().into());
        if let Some(session) = self.session_id {
            data.insert("session_id".into(), session.to_string().into());
        }
        for (key, value) in &self.data {
            data.insert(key.clone(), value.clone());
        }
        let body = serde_json::json!({
            "type": self.kind.as_str(),
            "timestamp": crate::clock::rfc3339_ms(self.at),
            "data": data,
        });
        serde_json::to_vec(&body).expect("a payload always serialises")
    }
}

/// A notice's id from what it announces: the kind, the session (or
/// candidate) and what tells two notices of one kind apart (a window's
/// start, an event's id). Two 64-bit FNV-1a hashes with different seeds make
/// the 128 bits, marked as a custom (version 8) UUID.
pub fn notice_id(kind: NoticeKind, subject: &str, discriminator: &str) -> Uuid {
    let text = format!("{}\u{1f}{subject}\u{1f}{discriminator}", kind.as_str());
    let hash = |seed: u64| text.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    let (high, low) = (hash(0xcbf2_9ce4_8422_2325), hash(0x6c62_272e_07bb_0142));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        let mut data = serde_json::Map::new();
        data.insert("score".into(), 7.5.into());
        Notice {
            id: notice_id(NoticeKind::SessionFlagged, "s-1", "60000"),
            kind: NoticeKind::SessionFlagged,
            at: 1_764_000_000_123,
            created_at: 1_764_000_001_000,
            test_id: "exam-1".into(),
            candidate_id: "cand-7".into(),
            session_id: Some(Uuid::from_u128(0x1234)),
            data,
            only_endpoint: None,
            sent_payload: None,
        }
    }

    #[test]
    fn a_redelivery_sends_the_body_sent_before() {
        let first = notice();
        let again = Notice {
            data: Default::default(),
            only_endpoint: Some("lms".into()),
            sent_payload: Some(String::from_utf8(first.payload()).unwrap()),
            ..first.clone()
        };
        assert_eq!(again.payload(), first.payload());
        assert_eq!(Notice::decode(&again.encode()).unwrap(), again);
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(NoticeKind::parse("session.paused"), None);
    }

    #[test]
    fn ids_are_stable_and_tell_what_they_announce_apart() {
        let id = notice_id(NoticeKind::SessionFlagged, "s-1", "60000");
        assert_eq!(id, notice_id(NoticeKind::SessionFlagged, "s-1", "60000"));
        assert_ne!(id, notice_id(NoticeKind::SessionFlagged, "s-1", "120000"));
        assert_ne!(id, notice_id(NoticeKind::SessionFlagged, "s-2", "60000"));
        assert_ne!(id, notice_id(NoticeKind::SessionEnded, "s-1", "60000"));
        assert_eq!(id.get_version_num(), 8);
    }

    #[test]
    fn a_notice_round_trips_and_its_payload_follows_the_convention() {
        let notice = notice();
        assert_eq!(Notice::decode(&notice.encode()).unwrap(), notice);
        let payload: serde_json::Value = serde_json::from_slice(&notice.payload()).unwrap();
        assert_eq!(payload["type"], "session.flagged");
        assert_eq!(payload["timestamp"], "2025-11-24T16:00:00.123Z");
        assert_eq!(payload["data"]["candidate_id"], "cand-7");
        assert_eq!(payload["data"]["session_id"], Uuid::from_u128(0x1234).to_string());
        assert_eq!(payload["data"]["score"], 7.5);
        assert!(notice.message_id().starts_with("msg_") && notice.message_id().len() == 36);
    }
}

//! Staff actions — the audit trail: what a proctor, reviewer or admin did,
//! to which test and candidate, when and from where, as a record on its own
//! topic and a row of `staff_actions`.
//!
//! The front door and the dashboards produce one for each action: a control
//! sent to a learning platform (taken or not), a timeline opened, a media
//! link signed, a live watch, a message, a verdict, a configuration change.
//! The pipeline writes them to the store; the review page shows a
//! candidate's beside the SDK's events, and admins read a test's. They are
//! kept apart from `proctor_events` because they are not the SDK's: they
//! have no session and no `seq`, and no window is computed from them.
//!
//! The topic is the events topic's name plus [`STAFF_TOPIC_SUFFIX`], so a
//! deployment (or a test) with its own events topic has its own staff
//! topic with no setting to forget. The value is JSON: a few records an
//! exam, read by people debugging more often than by machines.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CandidateId, TestId};

/// Appended to the events topic's name to name the staff topic.
pub const STAFF_TOPIC_SUFFIX: &str = "_staff";

/// The staff topic that goes with `events_topic`.
pub fn staff_topic(events_topic: &str) -> String {
    format!("{events_topic}{STAFF_TOPIC_SUFFIX}")
}

/// One staff action. The Kafka key is the candidate's
/// [`crate::record::record_key`], so one candidate's actions stay in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffAction {
    /// Unique per action: a record delivered twice repeats it, and the
    /// table keeps one row per id.
    pub id: Uuid,
    /// Server clock when the action was carried out, Unix ms.
    pub at: i64,
    /// The test and candidate acted on; `None` for an action on neither
    /// (a configuration change is on the whole document).
    pub test_id: Option<TestId>,
    pub candidate_id: Option<CandidateId>,
    /// The staff token's subject, and the role it acted in.
    pub staff: String,
    pub role: String,
    /// What was done, dotted: `lti.pause`, `lti.terminate`, …
    pub action: String,
    pub outcome: StaffOutcome,
    /// What staff gave (a reason, extra time) and what came back (the
    /// platform's status, or why it failed), as one JSON object.
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// The ingest replica that carried it out.
    pub node: String,
    /// Where the request came from: the client's address, keyed-hashed
    /// with the server's secret as candidates' are (0: not known).
    #[serde(default)]
    pub client_ip_hash: u64,
}

/// Whether the action took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffOutcome {
    Done,
    Failed,
}

impl StaffOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

impl StaffAction {
    /// The record's value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a staff action always serialises")
    }

    /// Reads a record's value; an error means a record to skip, not retry.
    pub fn decode(value: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_names_its_topic() {
        let mut detail = serde_json::Map::new();
        detail.insert("reason_msg".into(), "phone on the desk".into());
        detail.insert("status".into(), "Paused".into());
        let action = StaffAction {
            id: Uuid::from_u128(7),
            at: 1_764_892_800_123,
            test_id: Some(TestId::new("final-exam").unwrap()),
            candidate_id: Some(CandidateId::new("learner-1").unwrap()),
            staff: "proctor-1".into(),
            role: "proctor".into(),
            action: "lti.pause".into(),
            outcome: StaffOutcome::Done,
            detail,
            node: "ingest-0".into(),
            client_ip_hash: 7,
        };
        let bytes = action.encode();
        assert_eq!(StaffAction::decode(&bytes).unwrap(), action);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""outcome":"done""#), "{text}");
        assert!(StaffAction::decode(b"{\"id\":1}").is_err());
        assert_eq!(staff_topic("proctor_events"), "proctor_events_staff");
    }
}

//! Recording what staff did: each action ingest carries out for a proctor
//! or an admin becomes a [`StaffAction`] on the staff topic, which the
//! pipeline writes to `staff_actions` and the review page shows in the
//! candidate's timeline.
//!
//! The record is produced after the action and awaited for a few seconds.
//! Staff are told whether it was recorded (`recorded` in the reply); a
//! record the brokers did not take is also logged (who, what, when, for
//! whom: not the reasons written) so an operator can still find it. It is not
//! spooled: an action is rare and its caller is a person who can see the
//! failure, unlike a candidate's batch.

use std::time::Duration;

use invigil_schemas::claims::StaffClaims;
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::record::record_key;
use invigil_schemas::staff::{StaffAction, StaffOutcome};

use crate::kafka::{delivered, EventsProducer};

/// How long an action's reply waits for its record's acknowledgement.
const RECORD_WAIT: Duration = Duration::from_secs(5);

/// Produces staff actions to the staff topic.
#[derive(Clone)]
pub struct StaffLog {
    producer: EventsProducer,
    topic: String,
    node: String,
}

/// What an action was, before it is stamped and recorded.
pub struct Done<'a> {
    pub staff: &'a StaffClaims,
    pub test: &'a TestId,
    pub candidate: &'a CandidateId,
    pub action: String,
    pub outcome: StaffOutcome,
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl StaffLog {
    pub fn new(producer: EventsProducer, events_topic: &str, node: &str) -> Self {
        Self { producer, topic: invigil_schemas::staff::staff_topic(events_topic), node: node.to_owned() }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Records `done`; `true` once the brokers acknowledged it.
    pub async fn record(&self, done: Done<'_>) -> bool {
        let action = StaffAction {
            id: uuid::Uuid::new_v4(),
            at: invigil_schemas::clock::now_ms(),
            test_id: done.test.clone(),
            candidate_id: done.candidate.clone(),
            staff: done.staff.sub.clone(),
            role: done.staff.role.as_str().to_owned(),
            action: done.action,
            outcome: done.outcome,
            detail: done.detail,
            node: self.node.clone(),
        };
        let key = record_key(&action.test_id, &action.candidate_id);
        let acknowledged = match self.producer.enqueue_to(&self.topic, &key, &action.encode()) {
            Ok(delivery) => match tokio::time::timeout(RECORD_WAIT, delivered(delivery)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no acknowledgement in {} s", RECORD_WAIT.as_secs())),
            },
            Err(error) => Err(error.to_string()),
        };
        match acknowledged {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(
                    %error, topic = %self.topic, id = %action.id, at = action.at, staff = %action.staff,
                    test = %action.test_id, candidate = %action.candidate_id, action = %action.action,
                    outcome = action.outcome.as_str(), "a staff action was carried out but not recorded"
                );
                false
            }
        }
    }
}

//! The audit trail: each action staff take through the front door or the
//! dashboards — a control sent to a learning platform, a timeline opened, a
//! media link signed, a live watch, a message, a verdict, a configuration
//! change — becomes a [`StaffAction`] on the staff topic, which the
//! pipeline writes to `staff_actions`. The review page shows a candidate's
//! in their timeline; admins read a test's.
//!
//! Two ways to record, by what the action is:
//! - [`StaffLog::record`] for what changes something (a control, a verdict,
//!   a configuration write): produced after the action and awaited for a
//!   few seconds, so the reply can say whether it was recorded;
//! - [`StaffLog::note`] for what only reads (a timeline, a media link, a
//!   live watch): produced without holding the reader up; the broker's
//!   acknowledgement is awaited in the background.
//!
//! Either way a record the brokers did not take is logged (who, what, when,
//! for whom: never the reasons or texts written), so an operator can still
//! find it. It is not spooled: an action is rare and its actor is a person
//! who was answered, unlike a candidate's batch.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use invigil_schemas::claims::StaffClaims;
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::staff::{StaffAction, StaffOutcome};

use crate::kafka::{delivered, EventsProducer};

/// How long an action's reply waits for its record's acknowledgement.
const RECORD_WAIT: Duration = Duration::from_secs(5);

/// Produces staff actions to the staff topic.
#[derive(Clone)]
pub struct StaffLog {
    producer: EventsProducer,
    topic: String,
    /// The webhooks' outbox, where an admin's redelivery is queued.
    outbox_topic: String,
    /// Where erasures go before anything is deleted (see
    /// [`invigil_schemas::erasure`]).
    erasure_topic: String,
    node: String,
    ip_hash_secret: [u8; 16],
    trust_forwarded_for: bool,
}

/// What an action was, before it is stamped and recorded.
pub struct Done<'a> {
    pub staff: &'a StaffClaims,
    /// The test and candidate acted on, when there are.
    pub test: Option<&'a TestId>,
    pub candidate: Option<&'a CandidateId>,
    /// Dotted: `lti.pause`, `review.open`, `config.replaced`, …
    pub action: String,
    pub outcome: StaffOutcome,
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// Where the request came from ([`StaffLog::origin`]).
    pub origin: u64,
}

impl<'a> Done<'a> {
    /// An action `staff` took (from `origin`) that took effect, on no test
    /// and with no detail yet.
    pub fn new(staff: &'a StaffClaims, action: impl Into<String>, origin: u64) -> Self {
        Self {
            staff,
            test: None,
            candidate: None,
            action: action.into(),
            outcome: StaffOutcome::Done,
            detail: serde_json::Map::new(),
            origin,
        }
    }

    /// On `test` and, when known, one of its candidates.
    pub fn on(self, test: &'a TestId, candidate: Option<&'a CandidateId>) -> Self {
        Self { test: Some(test), candidate, ..self }
    }

    /// With `key` in the detail.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

/// The peer address of a request, when the server recorded one (it does;
/// a router driven without a socket, as in tests, has none).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0)))
    }
}

/// Waits up to [`RECORD_WAIT`] for the broker to take a record queued
/// with `delivery`.
async fn acknowledged(delivery: Result<crate::kafka::DeliveryFuture, String>) -> Result<(), String> {
    match tokio::time::timeout(RECORD_WAIT, delivered(delivery?)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no acknowledgement in {} s", RECORD_WAIT.as_secs())),
    }
}

impl StaffLog {
    pub fn new(
        producer: EventsProducer,
        events_topic: &str,
        node: &str,
        ip_hash_secret: [u8; 16],
        trust_forwarded_for: bool,
    ) -> Self {
        Self {
            producer,
            topic: invigil_schemas::staff::staff_topic(events_topic),
            outbox_topic: invigil_schemas::webhook::outbox_topic(events_topic),
            erasure_topic: invigil_schemas::erasure::erasure_topic(events_topic),
            node: node.to_owned(),
            ip_hash_secret,
            trust_forwarded_for,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn erasure_topic(&self) -> &str {
        &self.erasure_topic
    }

    /// Appends `erasure` to the erasures topic and waits for the brokers:
    /// only then may anything be deleted, or a replay could write it back.
    pub async fn publish_erasure(&self, erasure: &invigil_schemas::erasure::Erasure) -> Result<(), String> {
        acknowledged(
            self.producer.enqueue_to(&self.erasure_topic, &erasure.key(), &erasure.encode()).map_err(|e| e.to_string()),
        )
        .await
    }

    /// Where a request came from, keyed-hashed as candidates' addresses are
    /// (0 when the server has no peer address).
    pub fn origin(&self, headers: &HeaderMap, peer: &Peer) -> u64 {
        peer.0.map_or(0, |peer| {
            let ip = crate::events::client_ip(headers, peer, self.trust_forwarded_for);
            crate::enrich::hash_ip(&self.ip_hash_secret, ip)
        })
    }

    /// Records `done` and waits for the brokers; `true` once they took it.
    pub async fn record(&self, done: Done<'_>) -> bool {
        let (action, delivery) = self.produce(done);
        Self::settle(&self.topic, &action, delivery).await
    }

    /// Queues `notice` on the webhooks' outbox (a redelivery an admin asked
    /// for) and waits for the brokers.
    pub async fn queue_notice(&self, notice: &invigil_schemas::webhook::Notice) -> Result<(), String> {
        let key = format!("{}/{}", notice.test_id, notice.candidate_id);
        acknowledged(self.producer.enqueue_to(&self.outbox_topic, &key, &notice.encode()).map_err(|e| e.to_string()))
            .await
    }

    /// Removes `key` from the compacted `topic` (a tombstone) and waits for
    /// the brokers: an erased candidate's last live counters.
    pub async fn publish_tombstone(&self, topic: &str, key: &str) -> Result<(), String> {
        acknowledged(self.producer.enqueue_tombstone_to(topic, key).map_err(|e| e.to_string())).await
    }

    /// Records `done` without waiting: for actions that only read.
    pub fn note(&self, done: Done<'_>) {
        let (action, delivery) = self.produce(done);
        let topic = self.topic.clone();
        tokio::spawn(async move {
            Self::settle(&topic, &action, delivery).await;
        });
    }

    fn produce(&self, done: Done<'_>) -> (StaffAction, Result<crate::kafka::DeliveryFuture, String>) {
        let action = StaffAction {
            id: uuid::Uuid::new_v4(),
            at: invigil_schemas::clock::now_ms(),
            test_id: done.test.cloned(),
            candidate_id: done.candidate.cloned(),
            staff: done.staff.sub.clone(),
            role: done.staff.role.as_str().to_owned(),
            action: done.action,
            outcome: done.outcome,
            detail: done.detail,
            node: self.node.clone(),
            client_ip_hash: done.origin,
        };
        let key = format!(
            "{}/{}",
            action.test_id.as_ref().map_or("", TestId::as_str),
            action.candidate_id.as_ref().map_or("", CandidateId::as_str)
        );
        let delivery = self.producer.enqueue_to(&self.topic, &key, &action.encode()).map_err(|e| e.to_string());
        (action, delivery)
    }

    async fn settle(topic: &str, action: &StaffAction, delivery: Result<crate::kafka::DeliveryFuture, String>) -> bool {
        match acknowledged(delivery).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(
                    %error, %topic, id = %action.id, at = action.at, staff = %action.staff,
                    test = ?action.test_id, candidate = ?action.candidate_id, action = %action.action,
                    outcome = action.outcome.as_str(), "a staff action was carried out but not recorded"
                );
                false
            }
        }
    }
}

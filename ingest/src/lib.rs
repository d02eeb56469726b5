//! The front door (SPEC §4): an axum service between browsers and Kafka.
//!
//! Data flow, per request: verify the token ([`invigil_schemas::claims`]) →
//! check the resolved config (shutdown / bypass) → validate the body
//! ([`invigil_schemas::validate::parse_batch`]) → enrich into a
//! [`invigil_schemas::record::KafkaRecord`] → produce to `proctor_events`, or
//! spool to disk when Kafka is away.
//!
//! The HTTP service itself is the subject of the ingest issue; this crate
//! currently holds only what the wire contract already fixes: how a record's
//! Kafka key and value are derived from an accepted batch.

use invigil_schemas::batch::EventBatch;
use invigil_schemas::claims::CandidateClaims;
use invigil_schemas::record::{self, KafkaRecord};

/// Server-side facts about one request, added to the batch before it is produced.
#[derive(Debug, Clone)]
pub struct Enrichment {
    pub received_at: i64,
    pub ingest_node: String,
    pub client_ip_hash: u64,
    pub user_agent: String,
}

/// The Kafka key and encoded value for an accepted batch. `test_id` and
/// `candidate_id` come from the verified claims only.
pub fn to_record(claims: &CandidateClaims, batch: EventBatch, enrichment: Enrichment) -> (String, Vec<u8>) {
    let key = record::record_key(&claims.test_id, &claims.sub);
    let value = record::encode(&KafkaRecord {
        received_at: enrichment.received_at,
        test_id: claims.test_id.clone(),
        candidate_id: claims.sub.clone(),
        ingest_node: enrichment.ingest_node,
        client_ip_hash: enrichment.client_ip_hash,
        user_agent: enrichment.user_agent,
        batch,
    });
    (key, value)
}

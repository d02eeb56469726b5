//! Shared fixtures for store tests: a small realistic record and its rows.

use invigil_pipeline::rows::EventRow;
use invigil_schemas::batch::EventBatch;
use invigil_schemas::record::KafkaRecord;

/// The golden valid batch, as ingest would have enriched it.
pub fn sample_record() -> KafkaRecord {
    let batch: EventBatch = serde_json::from_str(include_str!("../../../schemas/fixtures/valid/mixed_batch.json"))
        .expect("golden batch parses");
    KafkaRecord {
        received_at: 1_763_800_000_500,
        test_id: "exam-1".parse_id(),
        candidate_id: "cand-7".parse_id(),
        ingest_node: "ingest-0".into(),
        client_ip_hash: 0xdead_beef,
        user_agent: "Mozilla/5.0 test".into(),
        batch,
    }
}

pub fn rows_of(record: &KafkaRecord, version_bump: u64) -> Vec<EventRow> {
    record
        .batch
        .events
        .iter()
        .map(|event| {
            let mut row = EventRow::new(record, event);
            row.version += version_bump;
            row
        })
        .collect()
}

trait ParseId<T> {
    fn parse_id(self) -> T;
}

impl<T: TryFrom<String>> ParseId<T> for &str
where
    T::Error: std::fmt::Debug,
{
    fn parse_id(self) -> T {
        T::try_from(self.to_owned()).expect("valid id")
    }
}

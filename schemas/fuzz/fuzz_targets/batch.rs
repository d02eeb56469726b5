//! Any bytes as a request body: the validator never panics, and a batch it
//! accepts survives JSON and the binary Kafka record unchanged.
#![no_main]

use invigil_schemas::record::{self, KafkaRecord};
use invigil_schemas::validate::{parse_batch, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(batch) = parse_batch(data, &limits) else { return };
    let json = serde_json::to_vec(&batch).expect("an accepted batch serializes");
    let again = parse_batch(&json, &limits).expect("an accepted batch, re-encoded, is accepted");
    assert_eq!(again, batch);
    let record = KafkaRecord {
        received_at: 1,
        test_id: "t".to_owned().try_into().unwrap(),
        candidate_id: "c".to_owned().try_into().unwrap(),
        ingest_node: "n".into(),
        client_ip_hash: 2,
        user_agent: String::new(),
        batch,
    };
    assert_eq!(record::decode(&record::encode(&record)).expect("own records decode"), record);
});

//! Any bytes as a request body: the validator never panics, its one-pass
//! path answers what the full validator answers, a batch it
//! accepts survives JSON and the binary Kafka record unchanged, and the
//! caller check (event times, capture keys) never lets a capture through
//! whose object is not canonical and under the caller's own prefix.
#![no_main]

use invigil_schemas::event::{split_part_key, EventBody};
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::media_key::{self, MediaKey};
use invigil_schemas::record::{self, KafkaRecord};
use invigil_schemas::validate::{check_caller, parse_batch, parse_batch_thoroughly, Caller, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The bytes as a key: a canonical key has no segment a file system or
    // URL normaliser would resolve, and nothing that decodes to one.
    if let Ok(key) = std::str::from_utf8(data) {
        if media_key::check(key).is_ok() {
            assert!(key.split('/').all(|s| !s.is_empty() && s != "." && s != ".."), "{key:?}");
            assert!(!key.contains('%') && !key.contains('\\'), "{key:?}");
        }
    }

    // The one-pass path and the full validator give one answer.
    let limits = Limits::default();
    let answer = parse_batch(data, &limits);
    assert_eq!(answer, parse_batch_thoroughly(data, &limits), "the one-pass path disagrees");
    let Ok(batch) = answer else { return };
    let json = serde_json::to_vec(&batch).expect("an accepted batch serializes");
    let again = parse_batch(&json, &limits).expect("an accepted batch, re-encoded, is accepted");
    assert_eq!(again, batch);

    let (test, candidate) = (TestId::new("t").unwrap(), CandidateId::new("c").unwrap());
    let caller = Caller { test: &test, candidate: &candidate, now_ms: 1_800_000_000_000 };
    if check_caller(&batch, &caller, &limits).is_ok() {
        for event in &batch.events {
            if let EventBody::Capture(capture) = &event.body {
                let Some(key) = &capture.key else { continue };
                let (object, _) = split_part_key(key).expect("an accepted key splits");
                let media = MediaKey::parse(object).expect("an accepted key is a canonical media key");
                assert_eq!((media.test, media.candidate), ("t", "c"), "{key}");
                assert!(media_key::is_within(object, &format!("{}/t/c/", media.date)), "{key}");
            }
        }
    }

    let record = KafkaRecord {
        received_at: 1,
        test_id: test,
        candidate_id: candidate,
        ingest_node: "n".into(),
        client_ip_hash: 2,
        client_net_hash: 3,
        user_agent: String::new(),
        batch,
    };
    assert_eq!(record::decode(&record::encode(&record)).expect("own records decode"), record);
});

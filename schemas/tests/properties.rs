//! Property tests: the validator and the record decoder never panic, whatever
//! arrives, and whatever they accept round-trips exactly.

use invigil_schemas::batch::EventBatch;
use invigil_schemas::record;
use invigil_schemas::validate::{parse_batch, parse_batch_thoroughly, Limits};
use proptest::prelude::*;
use serde_json::{json, Value};

const GOLDEN: &str = include_str!("../fixtures/valid/mixed_batch.json");

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        // Strings that look like the protocol's own values.
        prop::sample::select(vec!["capture", "focus", "face", "uploaded", "0192f4a0-7000-7000-8000-000000000000", "v"])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,12}",
                    prop::sample::select(vec!["v", "events", "id", "seq", "ts", "type", "kind", "bytes", "state"])
                        .prop_map(str::to_owned)
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Checks the contract for any input: no panic; the one-pass path answers
/// what the full validator answers; an accepted batch re-serializes to JSON
/// that is accepted again as the same batch, and survives the Kafka record
/// encoding.
fn check(body: &[u8]) {
    let answer = parse_batch(body, &Limits::default());
    assert_eq!(answer, parse_batch_thoroughly(body, &Limits::default()));
    match answer {
        Ok(batch) => {
            let again = serde_json::to_vec(&batch).unwrap();
            assert_eq!(parse_batch(&again, &Limits::default()).unwrap(), batch);
            let bytes = postcard::to_allocvec(&batch).unwrap();
            assert_eq!(postcard::from_bytes::<EventBatch>(&bytes).unwrap(), batch);
        }
        Err(problems) => {
            assert!(!problems.0.is_empty());
            assert!(problems.0.iter().all(|p| !p.message.is_empty()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json()) {
        check(&serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
        let _ = record::decode(&bytes);
    }

    /// A valid batch with one value replaced anywhere: still no panic, and every
    /// problem points into the part that was changed.
    #[test]
    fn mutated_golden_batch_is_handled(event in 0usize..21, key in "[a-z_]{1,12}|id|seq|ts|type|kind|state|chars", value in arbitrary_json()) {
        let mut batch: Value = serde_json::from_str(GOLDEN).unwrap();
        batch["events"][event][key.as_str()] = value;
        let body = serde_json::to_vec(&batch).unwrap();
        check(&body);
        if let Err(problems) = parse_batch(&body, &Limits::default()) {
            // Only the mutated event can be wrong, or (through its seq) the
            // ordering check of the event after it.
            let prefix = format!("events[{event}]");
            let next_seq = format!("events[{}].seq", event + 1);
            for problem in &problems.0 {
                prop_assert!(problem.field == prefix || problem.field.starts_with(&format!("{prefix}.")) || problem.field == next_seq,
                    "problem outside the mutated event: {problem}");
            }
        }
    }

    /// Corrupting an encoded record never panics the decoder.
    #[test]
    fn corrupted_records_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let batch: EventBatch = serde_json::from_str(GOLDEN).unwrap();
        let record = record::KafkaRecord {
            received_at: 1, test_id: "t".to_owned().try_into().unwrap(), candidate_id: "c".to_owned().try_into().unwrap(),
            ingest_node: "n".into(), client_ip_hash: 0, client_net_hash: 0, user_agent: "ua".into(), batch,
        };
        let mut bytes = record::encode(&record);
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = record::decode(&bytes);
    }
}

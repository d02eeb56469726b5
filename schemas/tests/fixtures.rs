//! Golden fixtures: valid batches round-trip exactly through both encodings,
//! invalid ones yield exactly the expected problems, and the binary Kafka
//! record format does not drift.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite `kafka_record_v1.hex` after an intended
//! format change (and bump the format byte if old records can no longer be read).

use std::fs;
use std::path::{Path, PathBuf};

use invigil_schemas::batch::EventBatch;
use invigil_schemas::record::{self, KafkaRecord};
use invigil_schemas::validate::{parse_batch, Limits};
use serde_json::Value;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(kind);
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
}

fn record_for(batch: EventBatch) -> KafkaRecord {
    KafkaRecord {
        received_at: 1_763_800_030_000,
        test_id: "exam-1".to_owned().try_into().unwrap(),
        candidate_id: "cand-7".to_owned().try_into().unwrap(),
        ingest_node: "ingest-0".into(),
        client_ip_hash: 0x0123_4567_89ab_cdef,
        client_net_hash: 0x0123_4567_89ab_cdef,
        user_agent: "Mozilla/5.0".into(),
        batch,
    }
}

#[test]
fn valid_fixtures_round_trip_exactly() {
    for path in fixtures("valid") {
        let text = fs::read(&path).unwrap();
        let batch =
            parse_batch(&text, &Limits::default()).unwrap_or_else(|problems| panic!("{}: {problems}", path.display()));
        let original: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(serde_json::to_value(&batch).unwrap(), original, "{} JSON round trip", path.display());

        let record = record_for(batch);
        let bytes = record::encode(&record);
        assert_eq!(record::decode(&bytes).unwrap(), record, "{} record round trip", path.display());
    }
}

#[test]
fn invalid_fixtures_report_exactly_the_expected_problems() {
    for path in fixtures("invalid") {
        let text = fs::read(&path).unwrap();
        let expected_path = path.with_extension("expected.json");
        let expected: Vec<(String, String)> = serde_json::from_slice(&fs::read(&expected_path).unwrap()).unwrap();
        let problems = parse_batch(&text, &Limits::default()).expect_err(&path.display().to_string()).0;
        let found: Vec<(String, String)> = problems
            .iter()
            .map(|p| (p.field.clone(), serde_json::to_value(p.code).unwrap().as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(found, expected, "{}: {problems:#?}", path.display());
        assert!(problems.iter().all(|p| !p.message.is_empty()));
    }
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn kafka_record_format_v2_is_stable() {
    let text = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/valid/mixed_batch.json")).unwrap();
    let record = record_for(serde_json::from_slice(&text).unwrap());
    let hex: String = record::encode(&record).iter().map(|b| format!("{b:02x}")).collect();
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kafka_record_v2.hex");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&golden_path, format!("{hex}\n")).unwrap();
    }
    let golden = fs::read_to_string(&golden_path).expect("golden record exists (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(hex, golden.trim(), "the v2 record encoding changed");
    assert_eq!(record::decode(&from_hex(golden.trim())).unwrap(), record);
}

/// A record ingest wrote before format 2 (kept as it was written) still
/// decodes: the week of records a replay reads spans upgrades. Its
/// clipboard and key events read the fields they lacked at their defaults,
/// which is what the golden batch holds, and its network hash as 0.
#[test]
fn kafka_records_of_format_v1_still_decode() {
    let text = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/valid/mixed_batch.json")).unwrap();
    // Format 1 had no network hash: it reads as 0, "not known".
    let record = KafkaRecord { client_net_hash: 0, ..record_for(serde_json::from_slice(&text).unwrap()) };
    let golden =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kafka_record_v1.hex")).unwrap();
    let bytes = from_hex(golden.trim());
    assert_eq!(bytes[0], 1, "format byte");
    assert_eq!(record::decode(&bytes).unwrap(), record);
    // The same bytes read with today's layout are not this record: the
    // format byte is what tells them apart.
    let mut as_v2 = bytes.clone();
    as_v2[0] = 2;
    assert_ne!(record::decode(&as_v2).ok(), Some(record));
}

#[test]
fn limits_are_configurable() {
    let text = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/valid/mixed_batch.json")).unwrap();
    let tight = Limits { max_events: 3, max_body_bytes: 1 << 20, ..Limits::default() };
    let problems = parse_batch(&text, &tight).unwrap_err().0;
    assert_eq!(problems[0].field, "events");
    assert!(problems[0].message.contains("limit is 3"), "{}", problems[0].message);

    let tiny = Limits { max_body_bytes: 100, ..Limits::default() };
    let problems = parse_batch(&text, &tiny).unwrap_err().0;
    assert_eq!(serde_json::to_value(problems[0].code).unwrap(), "too_large");
}

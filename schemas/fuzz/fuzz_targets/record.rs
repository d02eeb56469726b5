//! Any bytes as a Kafka record value: decoding never panics, and whatever
//! decodes encodes back to a value that decodes to the same record.
#![no_main]

use invigil_schemas::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = record::decode(data) else { return };
    let again = record::decode(&record::encode(&decoded)).expect("a re-encoded record decodes");
    assert_eq!(again, decoded);
});

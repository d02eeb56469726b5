//! Any bytes as a configuration document: parsing and validation never
//! panic, and every test of a valid document resolves.
#![no_main]

use invigil_schemas::config::ConfigDocument;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = ConfigDocument::from_json(data) else { return };
    for test in document.tests.keys() {
        document.for_test(test).expect("a valid document resolves every test");
    }
});

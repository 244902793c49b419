//! NDJSON parser + validator on arbitrary bytes: no panic, every row accepted or rejected.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| opintel::ingest::fuzzing::ndjson(data));

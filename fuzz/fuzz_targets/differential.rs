//! Whatever querygate allows is, to PostgreSQL's grammar, one read-only statement.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| querygate::fuzzing::differential(data));

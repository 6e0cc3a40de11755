//! Whatever querygate allows is, to PostgreSQL's grammar, one read-only statement.
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::differential(data));

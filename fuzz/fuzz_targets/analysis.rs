//! SQL analysis and the read-only guard on arbitrary bytes: no panic, abort or stack overflow.
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::analysis(data));

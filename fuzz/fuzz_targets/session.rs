//! The session state machine of two shards driven by a byte program; see `switchyard_fuzz::session`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::session::run(data));

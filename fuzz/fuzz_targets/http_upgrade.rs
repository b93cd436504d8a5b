//! The WebSocket opening handshake's HTTP upgrade request; see `switchyard_fuzz::http`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::http::run(data));

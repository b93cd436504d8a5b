//! The inbound byte stream of a WebSocket connection, whole and split into reads; see
//! `switchyard_fuzz::framing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::framing::websocket(data));

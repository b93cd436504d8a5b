//! A RawSocket client's handshake and frames, whole and split into reads; see `switchyard_fuzz::framing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_fuzz::framing::rawsocket(data));

//! Decodes one inbound Cbor frame; see `switchyard_fuzz::codec`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::wamp::codec::Serializer;

fuzz_target!(|data: &[u8]| switchyard_fuzz::codec::run(Serializer::Cbor, data));

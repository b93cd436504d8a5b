//! Codec benchmarks: what the router pays per message on the hot path.
//!
//! For a PUBLISH with a ~64-byte and a ~4 KiB payload in each serializer: the header-only `decode` the
//! router does, against a full parse (`decode` + `Payload::to_values`); encoding the EVENT it sends out
//! (payload spliced); and transcoding a payload JSON -> MessagePack and MessagePack -> CBOR.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use switchyard::dict;
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::{Dict, Message, Payload, Value};

/// Arguments and keyword arguments whose JSON encoding is at least `target` bytes: typical application
/// data (short strings, integers, floats, booleans, nested records).
fn payload_values(target: usize) -> (Vec<Value>, Dict) {
    let args = vec![Value::from("sensor-7"), Value::Int(1_712_345_678)];
    let mut kwargs = Dict::new();
    let mut i = 0u64;
    loop {
        let size = Payload::from_values(Serializer::Json, Some(&args), Some(&kwargs)).len();
        if size >= target {
            return (args, kwargs);
        }
        let record = if target <= 64 {
            Value::Int(i as i64)
        } else {
            Value::Dict(dict! {
                "name" => format!("reading \"{i}\" ü"),
                "value" => Value::Float(i as f64 * 1.25 + 0.1),
                "ok" => i % 3 != 0,
                "tags" => vec![Value::from("a"), Value::Int(i as i64 * 1000)],
            })
        };
        kwargs.insert(format!("k{i}"), record);
        i += 1;
    }
}

fn publish_frame(format: Serializer, target: usize) -> Bytes {
    let (args, kwargs) = payload_values(target);
    let publish = Message::Publish {
        request: 239_714_735,
        options: dict! { "acknowledge" => true, "exclude_me" => false },
        topic: "com.myapp.sensors.temperature".into(),
        payload: Payload::from_values(format, Some(&args), Some(&kwargs)),
    };
    codec::encode_to_bytes(&publish, format)
}

const SIZES: [(&str, usize); 2] = [("64B", 64), ("4KiB", 4096)];

fn decode(c: &mut Criterion) {
    for (mode, full) in [("header_only", false), ("full_parse", true)] {
        let mut group = c.benchmark_group(format!("decode_publish/{mode}"));
        for format in Serializer::ALL {
            for (label, size) in SIZES {
                let frame = publish_frame(format, size);
                group.throughput(Throughput::Bytes(frame.len() as u64));
                group.bench_with_input(BenchmarkId::new(format.name(), label), &frame, |b, frame| {
                    b.iter(|| {
                        let message = codec::decode(format, black_box(frame.clone())).unwrap();
                        if full {
                            if let Message::Publish { payload, .. } = &message {
                                black_box(payload.to_values().unwrap());
                            }
                        }
                        message
                    })
                });
            }
        }
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_event");
    for format in Serializer::ALL {
        for (label, size) in SIZES {
            let Message::Publish { payload, .. } =
                codec::decode(format, publish_frame(format, size)).unwrap()
            else {
                unreachable!()
            };
            let event = Message::Event {
                subscription: 5_512_315_355,
                publication: 4_429_313_566,
                details: dict! { "publisher" => 3_335_656_u64, "topic" => "com.myapp.sensors.temperature" },
                payload,
            };
            let mut out = BytesMut::with_capacity(8192);
            group.throughput(Throughput::Bytes(codec::encode_to_bytes(&event, format).len() as u64));
            group.bench_function(BenchmarkId::new(format.name(), label), |b| {
                b.iter(|| {
                    out.clear();
                    codec::encode(black_box(&event), format, &mut out);
                    black_box(out.len())
                })
            });
        }
    }
    group.finish();
}

fn transcode(c: &mut Criterion) {
    let mut group = c.benchmark_group("transcode_payload");
    for (from, to) in [(Serializer::Json, Serializer::MsgPack), (Serializer::MsgPack, Serializer::Cbor)] {
        for (label, size) in SIZES {
            let (args, kwargs) = payload_values(size);
            let payload = Payload::from_values(from, Some(&args), Some(&kwargs));
            group.throughput(Throughput::Bytes(payload.len() as u64));
            let name = format!("{}_to_{}", from.name(), to.name());
            group.bench_function(BenchmarkId::new(name, label), |b| {
                b.iter(|| black_box(&payload).transcode(to).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode, encode, transcode);
criterion_main!(benches);

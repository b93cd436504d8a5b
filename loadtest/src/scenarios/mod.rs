//! What the scenarios share: the stamped payload every request carries (`[sender, seq, sent_ns, padding]`)
//! and the measured phase (start every sender thread at a barrier, send for the configured duration, stop).

pub mod churn;
pub mod fanout;
pub mod latency;
pub mod rpc;
pub mod sessions;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use switchyard::wamp::codec::Serializer;
use switchyard::wamp::{Id, Payload, Value};

use crate::cli::CommonArgs;
use crate::control::{wait_until, Control};
use crate::cpu::{CpuClock, CpuUsage};
use crate::sender::{spawn_senders, Source, Wakeup};

/// The identifying part of a payload: who sent it, its sequence number, and when (ns on the run's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u64,
    pub seq: u64,
    pub sent_ns: u64,
}

impl Stamp {
    /// The stamp a caller's RESULT echoes, checked to answer its own call: caller `caller`'s call with
    /// sequence number n has request ID n + 1.
    pub fn of_result(caller: u64, request: Id, payload: &Payload) -> Result<Stamp, String> {
        let stamp = Stamp::parse(payload).map_err(|e| format!("RESULT with {e}"))?;
        if stamp.sender != caller || request.checked_sub(1) != Some(stamp.seq) {
            return Err(format!(
                "RESULT for request {request} echoes call #{} of caller {}, not ours",
                stamp.seq, stamp.sender
            ));
        }
        Ok(stamp)
    }

    /// The `Arguments` payload carrying this stamp and `padding`.
    pub fn payload(self, serializer: Serializer, padding: &str) -> Payload {
        let args = [
            Value::from(self.sender),
            Value::from(self.seq),
            Value::from(self.sent_ns),
            Value::Str(padding.to_owned()),
        ];
        Payload::from_values(serializer, Some(&args), None)
    }

    /// Reads the stamp back from a received payload: straight from the encoded bytes where the format
    /// allows (no values built, nothing allocated), else by parsing the whole list.
    pub fn parse(payload: &Payload) -> Result<Stamp, String> {
        let args = payload.args.as_deref().filter(|_| payload.kwargs.is_none());
        let fast = args.and_then(|args| match payload.format {
            Serializer::MsgPack => Stamp::read_msgpack(args),
            Serializer::Json => Stamp::read_json(args),
            Serializer::Cbor => None,
        });
        fast.map_or_else(|| Stamp::parse_values(payload), Ok)
    }

    /// `[uint, uint, uint, str...]` in MessagePack.
    fn read_msgpack(mut bytes: &[u8]) -> Option<Stamp> {
        if rmp::decode::read_array_len(&mut bytes).ok()? != 4 {
            return None;
        }
        let sender = rmp::decode::read_int(&mut bytes).ok()?;
        let seq = rmp::decode::read_int(&mut bytes).ok()?;
        let sent_ns = rmp::decode::read_int(&mut bytes).ok()?;
        let padding = rmp::Marker::from_u8(*bytes.first()?);
        matches!(
            padding,
            rmp::Marker::FixStr(_) | rmp::Marker::Str8 | rmp::Marker::Str16 | rmp::Marker::Str32
        )
        .then_some(Stamp { sender, seq, sent_ns })
    }

    /// `[digits, digits, digits, "...` in JSON (the span is already known to be valid JSON).
    fn read_json(bytes: &[u8]) -> Option<Stamp> {
        let mut rest = bytes.trim_ascii_start().strip_prefix(b"[")?;
        let mut number = || {
            let text = rest.trim_ascii_start();
            let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
            let value = std::str::from_utf8(&text[..digits]).ok()?.parse().ok()?;
            rest = text[digits..].trim_ascii_start().strip_prefix(b",")?;
            Some(value)
        };
        let stamp = Stamp { sender: number()?, seq: number()?, sent_ns: number()? };
        rest.trim_ascii_start().starts_with(b"\"").then_some(stamp)
    }

    fn parse_values(payload: &Payload) -> Result<Stamp, String> {
        let malformed = || "a payload that is not [sender, seq, sent_ns, padding]".to_owned();
        let (args, _) = payload.to_values().map_err(|e| format!("a payload that cannot be parsed: {e}"))?;
        let args = args.ok_or_else(malformed)?;
        match args.as_slice() {
            [sender, seq, sent_ns, Value::Str(_)] => Ok(Stamp {
                sender: sender.as_u64().ok_or_else(malformed)?,
                seq: seq.as_u64().ok_or_else(malformed)?,
                sent_ns: sent_ns.as_u64().ok_or_else(malformed)?,
            }),
            _ => Err(malformed()),
        }
    }
}

/// The padding that brings a stamped payload's encoded `Arguments` to about `target` bytes (exactly, for
/// stamps with the widths of a long run; at least the bare stamp's size).
pub fn padding_for(serializer: Serializer, target: usize) -> String {
    let typical = Stamp { sender: 1_000, seq: 1_000_000, sent_ns: 100_000_000_000 };
    let encoded = |pad: usize| {
        let payload = typical.payload(serializer, &"x".repeat(pad));
        payload.args.map_or(0, |a| a.len())
    };
    let mut pad = target.saturating_sub(encoded(0));
    while pad > 0 && encoded(pad) > target {
        pad -= 1;
    }
    "x".repeat(pad)
}

/// The measured phase: when it ran and what the generator spent on it.
pub struct Phase {
    /// When sending started, in ns on the run's clock.
    pub start_ns: u64,
    /// From the barrier to the moment every sender thread stopped.
    pub elapsed: Duration,
    /// The generator's CPU use over the same interval.
    pub cpu: CpuUsage,
    /// When the grace period for answers and stragglers ends.
    pub grace_deadline: Instant,
}

/// Starts one sender thread per wakeup over `sources`, lets them send for `--duration` (or until a
/// failure) and collects them again, in their original order (`index` gives each source's position).
pub fn send_for<S: Source>(
    sources: Vec<S>,
    wakeups: &[Arc<Wakeup>],
    control: &Arc<Control>,
    common: &CommonArgs,
    index: impl Fn(&S) -> usize,
) -> Result<(Vec<S>, Phase), String> {
    let barrier = Arc::new(Barrier::new(wakeups.len() + 1));
    let handles = spawn_senders(sources, wakeups, control, &barrier)?;
    barrier.wait();
    let cpu_start = CpuClock::now();
    let start = Instant::now();
    let start_ns = control.now_ns();
    wait_until(start + common.duration, || control.failed());
    control.stop_sending();
    let mut sources = Vec::new();
    for handle in handles {
        sources.extend(handle.join().map_err(|_| "a sender thread panicked".to_owned())?);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_start.usage_since();
    sources.sort_by_key(|s| index(s));
    Ok((sources, Phase { start_ns, elapsed, cpu, grace_deadline: Instant::now() + common.grace }))
}

/// Events or calls per second.
pub fn rate(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        (count as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_every_serializer() {
        for serializer in Serializer::ALL {
            let stamp = Stamp { sender: 7, seq: 123_456, sent_ns: 9_876_543_210 };
            let payload = stamp.payload(serializer, "xyz");
            assert_eq!(Stamp::parse(&payload), Ok(stamp), "{serializer:?}");
            assert_eq!(Stamp::parse_values(&payload), Ok(stamp), "{serializer:?}");
        }
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let serializer = Serializer::MsgPack;
        let payload = Payload::from_values(serializer, Some(&[Value::from("x")]), None);
        assert!(Stamp::parse(&payload).is_err());
        assert!(Stamp::parse(&Payload::empty()).is_err());
        for serializer in [Serializer::Json, Serializer::MsgPack] {
            // Three numbers but no padding string, or a float where a number belongs: not a stamp.
            let short =
                Payload::from_values(serializer, Some(&[1u64.into(), 2u64.into(), 3u64.into()]), None);
            assert!(Stamp::parse(&short).is_err(), "{serializer:?}");
            let args = [Value::from(1u64), Value::Float(2.5), Value::from(3u64), Value::from("x")];
            assert!(Stamp::parse(&Payload::from_values(serializer, Some(&args), None)).is_err());
        }
    }

    #[test]
    fn padding_reaches_the_target_size() {
        let stamp = Stamp { sender: 1_000, seq: 1_000_000, sent_ns: 100_000_000_000 };
        for serializer in Serializer::ALL {
            for target in [64, 100, 1_000, 70_000] {
                let padding = padding_for(serializer, target);
                let len = stamp.payload(serializer, &padding).args.map_or(0, |a| a.len());
                assert!(len <= target && len + 4 >= target, "{serializer:?} {target}: {len}");
            }
            assert_eq!(padding_for(serializer, 0), "");
        }
    }
}

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
use switchyard::wamp::{Payload, Value};

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

    /// Reads the stamp back from a received payload.
    pub fn parse(payload: &Payload) -> Result<Stamp, String> {
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
            assert_eq!(Stamp::parse(&stamp.payload(serializer, "xyz")), Ok(stamp), "{serializer:?}");
        }
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let serializer = Serializer::MsgPack;
        let payload = Payload::from_values(serializer, Some(&[Value::from("x")]), None);
        assert!(Stamp::parse(&payload).is_err());
        assert!(Stamp::parse(&Payload::empty()).is_err());
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

//! The `latency` scenario: latency at a fixed offered load, measured without coordinated omission.
//!
//! Why it exists: `fanout` and `rpc` are closed loops (a sender sends only while fewer than W of its
//! requests are unanswered), so when the router stalls the senders stall with it and only the few requests
//! in flight see the stall; their percentiles describe a router that is never kept waiting (coordinated
//! omission). Here the senders run an open loop: send k, counted over all senders, is due `k / rate`
//! seconds after a common start; nobody waits for answers; a sender that falls behind schedule (a blocked
//! write, no CPU) sends what is due at once to catch up; and latency counts from the *scheduled* time that
//! each payload carries (`[sender, seq, scheduled_ns, padding]`), so every request a stall delayed shows
//! it. The report says how far behind schedule the senders fell (send lag) and whether they kept the rate.
//!
//! `--mode pubsub` (the default): P publishers publish, unacknowledged, to one topic with S subscribers,
//! which check every event for loss and order per publisher as in `fanout`. `--mode rpc`: P callers call S
//! callees that echo the payload back (caller c calls `<prefix>.proc.(c % S)`); latency is the round trip.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::dict;
use switchyard::wamp::Message;

use super::fanout::{subscribe, Subscriber};
use super::rpc::{register, Callee};
use super::{padding_for, rate, Phase, Stamp};
use crate::cli::{LatencyArgs, LatencyMode};
use crate::client::{describe_unexpected, spawn_reader, Handler, MessageWriter, Session};
use crate::control::{wait_until, Control};
use crate::cpu::CpuClock;
use crate::report::{LatencyResults, Report, Results};
use crate::stats::Latency;

/// From fixing the schedule's start to its first send: time for the sender threads to start.
const START_DELAY_NS: u64 = 20_000_000;

/// The most messages a sender writes at once while it catches up.
const MAX_BATCH: usize = 256;

/// The longest a sender thread sleeps before it looks at the stop flag again.
const MAX_SLEEP: Duration = Duration::from_millis(10);

/// The share of the requested rate that counts as keeping it.
const RATE_KEPT: f64 = 0.99;

pub fn run(args: &LatencyArgs) -> Result<Report, String> {
    match args.mode {
        LatencyMode::Pubsub => run_pubsub(args),
        LatencyMode::Rpc => run_rpc(args),
    }
}

fn run_pubsub(args: &LatencyArgs) -> Result<Report, String> {
    let common = &args.common;
    let control = Arc::new(Control::new());
    let topic = format!("{}.latency", common.prefix());
    let padding = padding_for(common.serializer, args.payload);

    // Every subscription is confirmed before any publisher connects.
    let mut writers = Vec::new();
    let mut subscriber_threads = Vec::with_capacity(args.subscribers as usize);
    let mut delivered = Vec::with_capacity(args.subscribers as usize);
    for i in 0..args.subscribers {
        let (session, subscription) =
            subscribe(common, &topic).map_err(|e| format!("subscriber {i}: {e}"))?;
        let subscriber = Subscriber::new(subscription, 0, args.publishers as usize, control.clone());
        delivered.push(subscriber.delivered.clone());
        writers.push(session.writer);
        let name = format!("subscriber {i}");
        subscriber_threads.push(spawn_reader(name, session.reader, subscriber, control.clone())?);
    }
    let mut senders = Vec::with_capacity(args.publishers as usize);
    let mut publisher_threads = Vec::with_capacity(args.publishers as usize);
    for p in 0..args.publishers {
        let session = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("publisher {p}: {e}"))?;
        let name = format!("publisher {p}");
        publisher_threads.push(spawn_reader(name, session.reader, NoAnswers, control.clone())?);
        writers.push(session.writer.clone());
        let request = Request::Publish(topic.clone());
        senders.push(Sender::new(p, session.writer, request, padding.clone()));
    }

    let open_loop = send_paced(senders, args, &control)?;
    let sent = open_loop.sent();
    wait_until(open_loop.phase.grace_deadline, || {
        control.failed() || delivered.iter().all(|d| d.load(Ordering::Acquire) >= sent)
    });
    control.stop_reading();
    let mut counts = Counts::default();
    for thread in subscriber_threads {
        let subscriber = thread.join().map_err(|_| "a subscriber thread panicked".to_owned())?;
        // Subscriber counts are per publisher index, and the senders are in index order.
        let per_publisher = subscriber.received.iter().zip(&subscriber.out_of_order);
        for (sender, (&received, &out_of_order)) in open_loop.senders.iter().zip(per_publisher) {
            counts.add(sender.seq, received, out_of_order);
        }
        counts.latency.merge(&subscriber.latency);
    }
    for thread in publisher_threads {
        thread.join().map_err(|_| "a publisher thread panicked".to_owned())?;
    }
    for writer in &writers {
        writer.close();
    }
    Ok(open_loop.report(args, &counts, &control))
}

fn run_rpc(args: &LatencyArgs) -> Result<Report, String> {
    let common = &args.common;
    let control = Arc::new(Control::new());
    let prefix = common.prefix();
    let procedures: Vec<String> = (0..args.subscribers).map(|k| format!("{prefix}.proc.{k}")).collect();
    let padding = padding_for(common.serializer, args.payload);

    // Every registration is confirmed before any caller connects.
    let mut writers = Vec::new();
    let mut callee_threads = Vec::with_capacity(procedures.len());
    for (k, procedure) in procedures.iter().enumerate() {
        let (session, registration) =
            register(common, procedure, dict!()).map_err(|e| format!("callee {k}: {e}"))?;
        writers.push(session.writer.clone());
        let callee = Callee::new(registration, session.writer, false);
        callee_threads.push(spawn_reader(format!("callee {k}"), session.reader, callee, control.clone())?);
    }
    let delivered = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::with_capacity(args.publishers as usize);
    let mut caller_threads = Vec::with_capacity(args.publishers as usize);
    for c in 0..args.publishers {
        let session = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("caller {c}: {e}"))?;
        let answers = Answers {
            caller: u64::from(c),
            next_seq: 0,
            results: 0,
            out_of_order: 0,
            delivered: delivered.clone(),
            latency: Latency::new(),
            control: control.clone(),
        };
        caller_threads.push(spawn_reader(format!("caller {c}"), session.reader, answers, control.clone())?);
        writers.push(session.writer.clone());
        let request = Request::Call(procedures[c as usize % procedures.len()].clone());
        senders.push(Sender::new(c, session.writer, request, padding.clone()));
    }

    let open_loop = send_paced(senders, args, &control)?;
    let sent = open_loop.sent();
    wait_until(open_loop.phase.grace_deadline, || {
        control.failed() || delivered.load(Ordering::Acquire) >= sent
    });
    control.stop_reading();
    let mut counts = Counts::default();
    // The caller threads were started in index order, as the senders are sorted.
    for (sender, thread) in open_loop.senders.iter().zip(caller_threads) {
        let answers = thread.join().map_err(|_| "a caller thread panicked".to_owned())?;
        counts.add(sender.seq, answers.results, answers.out_of_order);
        counts.latency.merge(&answers.latency);
    }
    for thread in callee_threads {
        thread.join().map_err(|_| "a callee thread panicked".to_owned())?;
    }
    for writer in &writers {
        writer.close();
    }
    Ok(open_loop.report(args, &counts, &control))
}

/// The fixed schedule every sender follows: send k, counted over all senders in turn (sender p makes
/// sends p, p + P, p + 2P, ...), is due `k / rate` seconds after `t0_ns`; the run's sends are those due
/// before the end of the duration.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// When send 0 is due, in ns on the run's clock.
    t0_ns: u64,
    /// Sends per second, all senders together.
    rate: u64,
    senders: u64,
    duration_ns: u64,
    /// Sends due before `t0_ns + duration_ns`.
    total: u64,
}

impl Schedule {
    fn new(t0_ns: u64, rate: u64, senders: u64, duration: Duration) -> Schedule {
        let duration_ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        // Send k is in the run while k / rate < duration, that is while k < duration * rate.
        let total = (u128::from(duration_ns) * u128::from(rate)).div_ceil(1_000_000_000);
        Schedule { t0_ns, rate, senders, duration_ns, total: u64::try_from(total).unwrap_or(u64::MAX) }
    }

    /// When send `seq` of sender `sender` is due, in ns on the run's clock; `None` once it is past the run.
    fn due_ns(&self, sender: u64, seq: u64) -> Option<u64> {
        let k = seq.checked_mul(self.senders)?.checked_add(sender)?;
        if k >= self.total {
            return None;
        }
        let offset = u128::from(k) * 1_000_000_000 / u128::from(self.rate);
        Some(self.t0_ns.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX)))
    }

    fn end_ns(&self) -> u64 {
        self.t0_ns.saturating_add(self.duration_ns)
    }
}

/// What a sender sends.
enum Request {
    /// PUBLISH to this topic, unacknowledged.
    Publish(String),
    /// CALL this procedure.
    Call(String),
}

/// One publisher's or caller's sending side, driven along the schedule by a sender thread.
struct Sender {
    /// The sender's index: its place in the schedule, and the `sender` in its stamps.
    index: u64,
    writer: MessageWriter,
    request: Request,
    /// Sends made so far: the next sequence number (and request ID - 1).
    seq: u64,
    padding: String,
}

impl Sender {
    fn new(index: u32, writer: MessageWriter, request: Request, padding: String) -> Sender {
        Sender { index: u64::from(index), writer, request, seq: 0, padding }
    }

    /// Sends, in one write, every send of this sender due by now (at most [`MAX_BATCH`]), each stamped
    /// with its scheduled time, and records how late each goes out.
    fn send_due(&mut self, schedule: &Schedule, control: &Control, lag: &mut Latency) -> Result<(), String> {
        let now = control.now_ns();
        let mut batch = Vec::new();
        while batch.len() < MAX_BATCH {
            let Some(due) = schedule.due_ns(self.index, self.seq).filter(|&due| due <= now) else {
                break;
            };
            lag.record_ns(now - due);
            let stamp = Stamp { sender: self.index, seq: self.seq, sent_ns: due };
            let payload = stamp.payload(self.writer.serializer(), &self.padding);
            self.seq += 1;
            batch.push(match &self.request {
                Request::Publish(topic) => {
                    Message::Publish { request: self.seq, options: dict!(), topic: topic.clone(), payload }
                }
                Request::Call(procedure) => Message::Call {
                    request: self.seq,
                    options: dict!(),
                    procedure: procedure.clone(),
                    payload,
                },
            });
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.writer.send_all(&batch).map_err(|e| {
            let role = match self.request {
                Request::Publish(_) => "publisher",
                Request::Call(_) => "caller",
            };
            format!("{role} {}: {e}", self.index)
        })
    }
}

/// What one sender thread hands back: its senders, how late their sends went out, and when it last sent.
struct Paced {
    senders: Vec<Sender>,
    lag: Latency,
    last_send_ns: u64,
}

/// Runs `senders` along `schedule` until each has made all its sends, the run fails, or `give_up_ns`
/// passes with sends still due.
fn pace(senders: Vec<Sender>, schedule: Schedule, give_up_ns: u64, control: &Control) -> Paced {
    fine_timer_slack();
    let mut paced = Paced { senders, lag: Latency::new(), last_send_ns: schedule.t0_ns };
    while !control.sending_stopped() {
        let next = paced.senders.iter().filter_map(|s| schedule.due_ns(s.index, s.seq)).min();
        let Some(next) = next else {
            break;
        };
        let now = control.now_ns();
        if next > now {
            std::thread::sleep(Duration::from_nanos(next - now).min(MAX_SLEEP));
            continue;
        }
        if now >= give_up_ns {
            break;
        }
        for sender in &mut paced.senders {
            if let Err(e) = sender.send_due(&schedule, control, &mut paced.lag) {
                control.fail(e);
                return paced;
            }
        }
        paced.last_send_ns = now;
    }
    paced
}

/// Asks for the finest timer slack on this thread, so that sleeping until the next send overshoots by
/// microseconds rather than Linux's default 50 µs. Best effort: without it sends go out later, which the
/// send lag and the latency show.
#[cfg(target_os = "linux")]
fn fine_timer_slack() {
    let (slack_ns, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
    // SAFETY: PR_SET_TIMERSLACK takes plain integers and changes only the calling thread's timer slack.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, slack_ns, unused, unused, unused) };
}

#[cfg(not(target_os = "linux"))]
fn fine_timer_slack() {}

/// The open-loop sending phase, over.
struct OpenLoop {
    /// Every sender, in index order.
    senders: Vec<Sender>,
    threads: usize,
    schedule: Schedule,
    lag: Latency,
    /// From the first scheduled send to the last send, at least the duration.
    span: Duration,
    phase: Phase,
}

/// Starts the sender threads (sender i on thread i % threads), lets them run the schedule, and collects
/// them again.
fn send_paced(senders: Vec<Sender>, args: &LatencyArgs, control: &Arc<Control>) -> Result<OpenLoop, String> {
    let common = &args.common;
    let threads = common.sender_threads(args.publishers);
    let t0_ns = control.now_ns().saturating_add(START_DELAY_NS);
    let schedule = Schedule::new(t0_ns, args.rate, u64::from(args.publishers), common.duration);
    let grace_ns = u64::try_from(common.grace.as_nanos()).unwrap_or(u64::MAX);
    let give_up_ns = schedule.end_ns().saturating_add(grace_ns);
    let mut groups: Vec<Vec<Sender>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, sender) in senders.into_iter().enumerate() {
        groups[i % threads].push(sender);
    }
    let mut handles = Vec::with_capacity(threads);
    for (t, group) in groups.into_iter().enumerate() {
        let control = control.clone();
        let handle = std::thread::Builder::new()
            .name(format!("sender-{t}"))
            .spawn(move || pace(group, schedule, give_up_ns, &control))
            .map_err(|e| format!("cannot start a sender thread: {e}"))?;
        handles.push(handle);
    }
    // The measured phase starts with the first scheduled send.
    std::thread::sleep(Duration::from_nanos(t0_ns.saturating_sub(control.now_ns())));
    let cpu_start = CpuClock::now();
    let start = Instant::now();
    let mut senders = Vec::with_capacity(args.publishers as usize);
    let mut lag = Latency::new();
    let mut last_send_ns = t0_ns;
    for handle in handles {
        let paced = handle.join().map_err(|_| "a sender thread panicked".to_owned())?;
        senders.extend(paced.senders);
        lag.merge(&paced.lag);
        last_send_ns = last_send_ns.max(paced.last_send_ns);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_start.usage_since();
    senders.sort_by_key(|s| s.index);
    let span = Duration::from_nanos(last_send_ns - t0_ns).max(common.duration);
    let phase = Phase { start_ns: t0_ns, elapsed, cpu, grace_deadline: Instant::now() + common.grace };
    Ok(OpenLoop { senders, threads, schedule, lag, span, phase })
}

impl OpenLoop {
    fn sent(&self) -> u64 {
        self.senders.iter().map(|s| s.seq).sum()
    }

    fn report(&self, args: &LatencyArgs, counts: &Counts, control: &Control) -> Report {
        let sent = self.sent();
        let sent_per_s = rate(sent, self.span);
        let results = LatencyResults {
            mode: args.mode,
            senders: args.publishers,
            receivers: args.subscribers,
            payload_bytes: args.payload,
            requested_per_s: args.rate,
            scheduled: self.schedule.total,
            sent,
            sent_per_s,
            rate_kept: sent_per_s >= args.rate as f64 * RATE_KEPT,
            send_lag: self.lag.summary(),
            expected: counts.expected,
            delivered: counts.delivered,
            lost: counts.lost,
            out_of_order: counts.out_of_order,
            excess: counts.excess,
            latency: counts.latency.summary(),
        };
        let connections = args.publishers as usize + args.subscribers as usize;
        Report::new(&args.common, self.threads, connections, &self.phase, Results::Latency(results), control)
    }
}

/// What the receivers got, over every (sender, receiver) pair.
#[derive(Default)]
struct Counts {
    expected: u64,
    delivered: u64,
    lost: u64,
    out_of_order: u64,
    excess: u64,
    latency: Latency,
}

impl Counts {
    /// Adds one pair: the sender made `sent` sends, of which the receiver got `received`.
    fn add(&mut self, sent: u64, received: u64, out_of_order: u64) {
        self.expected += sent;
        self.delivered += received;
        self.lost += sent.saturating_sub(received);
        self.out_of_order += out_of_order;
        self.excess += received.saturating_sub(sent);
    }
}

/// A publisher's reader: unacknowledged publications get no answer, so any message (an ABORT above all)
/// fails the run.
struct NoAnswers;

impl Handler for NoAnswers {
    fn on_message(&mut self, message: Message) -> Result<(), String> {
        Err(describe_unexpected(&message))
    }
}

/// A caller's reader: every RESULT must echo the stamp of this caller's call with its request ID, and
/// yields a latency sample from that call's scheduled time.
struct Answers {
    caller: u64,
    /// The sequence number expected next.
    next_seq: u64,
    results: u64,
    /// Results for calls older than one already answered.
    out_of_order: u64,
    /// RESULTs received by every caller, for the main thread to see when stragglers are in.
    delivered: Arc<AtomicU64>,
    latency: Latency,
    control: Arc<Control>,
}

impl Handler for Answers {
    fn on_message(&mut self, message: Message) -> Result<(), String> {
        let Message::Result { request, payload, .. } = message else {
            return Err(describe_unexpected(&message));
        };
        let now = self.control.now_ns();
        let stamp = Stamp::of_result(self.caller, request, &payload)?;
        self.latency.record_ns(now.saturating_sub(stamp.sent_ns));
        self.results += 1;
        if stamp.seq < self.next_seq {
            self.out_of_order += 1;
        } else {
            self.next_seq = stamp.seq + 1;
        }
        self.delivered.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_interleaved_at_fixed_intervals() {
        let schedule = Schedule::new(5_000, 1_000, 2, Duration::from_secs(1));
        assert_eq!(schedule.total, 1_000);
        assert_eq!(schedule.due_ns(0, 0), Some(5_000));
        assert_eq!(schedule.due_ns(1, 0), Some(5_000 + 1_000_000));
        assert_eq!(schedule.due_ns(0, 1), Some(5_000 + 2_000_000));
        assert_eq!(schedule.due_ns(1, 499), Some(5_000 + 999_000_000));
        assert_eq!(schedule.due_ns(0, 500), None);
        assert_eq!(schedule.end_ns(), 1_000_005_000);
    }

    #[test]
    fn uneven_rates_round_the_count_up() {
        // 3 sends per second for half a second: sends at 0 and 1/3 s, not at 2/3 s.
        let schedule = Schedule::new(0, 3, 1, Duration::from_millis(500));
        assert_eq!(schedule.total, 2);
        assert_eq!(schedule.due_ns(0, 1), Some(333_333_333));
        assert_eq!(schedule.due_ns(0, 2), None);
    }

    #[test]
    fn counts_add_up_loss_and_duplicates() {
        let mut counts = Counts::default();
        counts.add(10, 8, 1);
        counts.add(10, 11, 0);
        assert_eq!((counts.expected, counts.delivered), (20, 19));
        assert_eq!((counts.lost, counts.out_of_order, counts.excess), (2, 1, 1));
    }
}

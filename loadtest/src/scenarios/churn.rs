//! The `churn` scenario: peers that vanish in the middle of a call, to prove the router forgets them.
//!
//! Each loop keeps a long-lived callee (registered for `<prefix>.stay`, announcing call canceling, so the
//! router owes it INTERRUPT) and a long-lived caller, and runs cycles one at a time:
//! - even: a new caller joins and calls `<prefix>.stay`; once the callee has the INVOCATION, the new
//!   caller's connection is reset (TCP RST); the callee must then get INTERRUPT for that invocation;
//! - odd: a new callee joins and registers `<prefix>.gone.<k>`; the long-lived caller calls it; once the
//!   new callee has the INVOCATION, its connection is reset; the caller must get `wamp.error.canceled`.
//!
//! A cycle that ends any other way, or not within [`CYCLE_TIMEOUT`], fails the run. With `--router-pid`
//! the router's RSS is read before the first cycle, after the warm-up (10% of the cycles) and after the
//! last one, to show how much memory the cycles cost it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchyard::dict;
use switchyard::wamp::message::code;
use switchyard::wamp::{uris, Id, Message, Payload};

use super::{rate, Phase};
use crate::cli::{ChurnArgs, CommonArgs};
use crate::client::{client_roles, describe_unexpected, Session};
use crate::control::Control;
use crate::cpu::{process_cpu_of, CpuClock};
use crate::report::{ChurnResults, Report, Results, RouterCpu};

/// How long one cycle may take from the new session's CALL or REGISTER to its expected end (joining a
/// session has the usual setup timeout on top).
const CYCLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after the last cycle the end RSS is read.
const END_SETTLE: Duration = Duration::from_secs(1);

pub fn run(args: &ChurnArgs) -> Result<Report, String> {
    let common = &args.common;
    let control = Arc::new(Control::new());
    let loops = common.threads.map_or(1, u64::from).min(args.cycles);
    let prefix = common.prefix();
    let mut pairs = Vec::new();
    for i in 0..loops {
        pairs.push(Pair::join(common, format!("{prefix}.churn{i}")).map_err(|e| format!("loop {i}: {e}"))?);
    }

    let pid = args.router_pid;
    let rss_start = pid.map(Memory::read).transpose()?;
    let router_cpu_start = pid.and_then(process_cpu_of);
    let cpu_start = CpuClock::now();
    let start = Instant::now();
    let start_ns = control.now_ns();
    let completed = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for (i, pair) in (0..loops).zip(pairs) {
        // Loop i runs cycles i, i + loops, ... so that the cycles add up and each loop alternates.
        let cycles = (args.cycles - i).div_ceil(loops);
        let (common, control, completed) = (common.clone(), control.clone(), completed.clone());
        let handle = std::thread::Builder::new()
            .name(format!("churn {i}"))
            .spawn(move || pair.churn(cycles, &common, &control, &completed))
            .map_err(|e| format!("cannot start churn loop {i}: {e}"))?;
        handles.push(handle);
    }

    // The warm-up: the first 10% of the cycles, which grow the router's pools and tables to their size.
    let warm_target = (args.cycles / 10).max(1);
    while completed.load(Ordering::Relaxed) < warm_target && !finished(&handles, &control) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let warm_cycles = completed.load(Ordering::Relaxed);
    let rss_warm = pid.and_then(|pid| Memory::read(pid).ok());

    let mut pairs = Vec::new();
    let (mut interrupts, mut canceled_errors) = (0, 0);
    for handle in handles {
        let (pair, counts) = handle.join().map_err(|_| "a churn loop panicked".to_owned())?;
        interrupts += counts.interrupts;
        canceled_errors += counts.canceled_errors;
        pairs.push(pair);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_start.usage_since();
    let router_cpu = match (router_cpu_start, pid.and_then(process_cpu_of)) {
        (Some((user0, system0)), Some((user, system))) => {
            let user_s = user.saturating_sub(user0).as_secs_f64();
            let system_s = system.saturating_sub(system0).as_secs_f64();
            let percent = (user_s + system_s) / elapsed.as_secs_f64().max(1e-9) * 100.0;
            Some(RouterCpu { user_s, system_s, percent_of_one_core: (percent * 10.0).round() / 10.0 })
        }
        _ => None,
    };

    // The end readings, with the long-lived sessions still there as they were at the start.
    let mut rss_end = None;
    let mut rss_settled = None;
    if let Some(pid) = pid {
        std::thread::sleep(END_SETTLE);
        rss_end = Memory::read(pid).ok();
        if let Some(settle) = args.settle {
            std::thread::sleep(settle.saturating_sub(END_SETTLE));
            rss_settled = Memory::read(pid).ok();
        }
    }
    for pair in &pairs {
        pair.callee.writer.close();
        pair.caller.writer.close();
    }

    let cycles_done = interrupts + canceled_errors;
    let growth = |end: Option<&Memory>| {
        let (warm, end) = (rss_warm.as_ref()?, end?);
        let after_warm_up = cycles_done.checked_sub(warm_cycles).filter(|&n| n > 0)?;
        let growth = (end.rss_kib as f64 - warm.rss_kib as f64) * 1000.0 / after_warm_up as f64;
        Some((growth * 100.0).round() / 100.0)
    };
    let results = ChurnResults {
        loops: pairs.len(),
        cycles: args.cycles,
        completed_cycles: cycles_done,
        interrupts,
        canceled_errors,
        cycles_per_s: rate(cycles_done, elapsed),
        router_pid: pid,
        rss_start_kib: rss_start.as_ref().map(|m| m.rss_kib),
        rss_warm_kib: rss_warm.as_ref().map(|m| m.rss_kib),
        warm_cycles,
        rss_end_kib: rss_end.as_ref().map(|m| m.rss_kib),
        settle_s: pid.and(args.settle).map(|s| s.as_secs_f64()),
        rss_settled_kib: rss_settled.as_ref().map(|m| m.rss_kib),
        rss_hwm_kib: rss_settled.as_ref().or(rss_end.as_ref()).map(|m| m.hwm_kib),
        growth_kib_per_1000_cycles: growth(rss_end.as_ref()),
        settled_growth_kib_per_1000_cycles: growth(rss_settled.as_ref()),
        router_cpu,
    };
    let phase = Phase { start_ns, elapsed, cpu, grace_deadline: Instant::now() };
    Ok(Report::new(common, pairs.len(), 2 * pairs.len(), &phase, Results::Churn(results), &control))
}

/// Whether every loop has ended (or one failed, which ends them all).
fn finished(handles: &[JoinHandle<(Pair, Counts)>], control: &Control) -> bool {
    control.failed() || handles.iter().all(JoinHandle::is_finished)
}

/// A loop's long-lived sessions.
struct Pair {
    prefix: String,
    /// Registered for `<prefix>.stay`, announcing call canceling; never answers.
    callee: Session,
    stay: Id,
    caller: Session,
    /// The long-lived caller's last request ID.
    request: Id,
}

/// How a loop's completed cycles ended.
#[derive(Default)]
struct Counts {
    interrupts: u64,
    canceled_errors: u64,
}

impl Pair {
    fn join(common: &CommonArgs, prefix: String) -> Result<Pair, String> {
        let mut roles = client_roles();
        roles.insert("callee".to_owned(), dict! { "features" => dict! { "call_canceling" => true } }.into());
        let mut callee = Session::join_with_roles(&common.url, common.serializer, &common.realm, roles)
            .map_err(|e| format!("callee: {e}"))?;
        let stay = register(&mut callee, &format!("{prefix}.stay"), CYCLE_TIMEOUT)
            .map_err(|e| format!("callee: {e}"))?;
        let caller = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("caller: {e}"))?;
        Ok(Pair { prefix, callee, stay, caller, request: 0 })
    }

    /// Runs `cycles` cycles, alternating, until done or the run fails; counts every completed one.
    fn churn(
        mut self,
        cycles: u64,
        common: &CommonArgs,
        control: &Control,
        completed: &AtomicU64,
    ) -> (Pair, Counts) {
        let mut counts = Counts::default();
        for k in 0..cycles {
            if control.failed() {
                break;
            }
            let (result, count) = if k % 2 == 0 {
                (self.drop_caller(common), &mut counts.interrupts)
            } else {
                (self.drop_callee(common, k), &mut counts.canceled_errors)
            };
            if let Err(e) = result {
                control.fail(format!("{} cycle {k}: {e}", self.prefix));
                break;
            }
            *count += 1;
            completed.fetch_add(1, Ordering::Relaxed);
        }
        (self, counts)
    }

    /// A new caller calls `<prefix>.stay` and vanishes once it is invoked: the callee must get INTERRUPT.
    fn drop_caller(&mut self, common: &CommonArgs) -> Result<(), String> {
        let caller = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("new caller: {e}"))?;
        let deadline = Instant::now() + CYCLE_TIMEOUT;
        let call = Message::Call {
            request: 1,
            options: dict!(),
            procedure: format!("{}.stay", self.prefix),
            payload: Payload::empty(),
        };
        caller.writer.send(&call).map_err(|e| format!("new caller: {e}"))?;
        let invocation = match self.callee.reader.expect_within(left(deadline), "INVOCATION")? {
            Message::Invocation { request, registration, .. } if registration == self.stay => request,
            other => return Err(format!("callee, waiting for the INVOCATION: {}", describe(&other))),
        };
        caller.reset().map_err(|e| format!("new caller: {e}"))?;
        match self.callee.reader.expect_within(left(deadline), "INTERRUPT")? {
            Message::Interrupt { request, .. } if request == invocation => Ok(()),
            other => Err(format!("callee, waiting for INTERRUPT {invocation}: {}", describe(&other))),
        }
    }

    /// A new callee registers `<prefix>.gone.<k>` and vanishes once the long-lived caller's call invokes it:
    /// the caller must get `wamp.error.canceled`.
    fn drop_callee(&mut self, common: &CommonArgs, k: u64) -> Result<(), String> {
        let mut callee = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("new callee: {e}"))?;
        let deadline = Instant::now() + CYCLE_TIMEOUT;
        let procedure = format!("{}.gone.{k}", self.prefix);
        let registration =
            register(&mut callee, &procedure, left(deadline)).map_err(|e| format!("new callee: {e}"))?;
        self.request += 1;
        let call =
            Message::Call { request: self.request, options: dict!(), procedure, payload: Payload::empty() };
        self.caller.writer.send(&call).map_err(|e| format!("caller: {e}"))?;
        match callee.reader.expect_within(left(deadline), "INVOCATION")? {
            Message::Invocation { registration: r, .. } if r == registration => {}
            other => return Err(format!("new callee, waiting for the INVOCATION: {}", describe(&other))),
        }
        callee.reset().map_err(|e| format!("new callee: {e}"))?;
        match self.caller.reader.expect_within(left(deadline), "ERROR")? {
            Message::Error { request_type: code::CALL, request, error, .. }
                if request == self.request && error == uris::CANCELED =>
            {
                Ok(())
            }
            other => Err(format!(
                "caller, waiting for {} on call {}: {}",
                uris::CANCELED,
                self.request,
                describe(&other)
            )),
        }
    }
}

/// Registers `procedure` (request 1) and waits at most `timeout` for REGISTERED.
fn register(session: &mut Session, procedure: &str, timeout: Duration) -> Result<Id, String> {
    let register = Message::Register { request: 1, options: dict!(), procedure: procedure.to_owned() };
    session.writer.send(&register)?;
    match session.reader.expect_within(timeout, "REGISTERED")? {
        Message::Registered { request: 1, registration } => Ok(registration),
        other => Err(describe(&other)),
    }
}

/// What is left until `deadline`.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// A message that did not end a cycle as it must, with the IDs that tell which request it was about.
fn describe(message: &Message) -> String {
    match message {
        Message::Invocation { request, registration, .. } => {
            format!("unexpected INVOCATION {request} for registration {registration}")
        }
        Message::Interrupt { request, .. } => format!("unexpected INTERRUPT {request}"),
        Message::Registered { request, .. } => format!("unexpected REGISTERED for request {request}"),
        Message::Result { request, .. } => format!("unexpected RESULT for call {request}"),
        other => describe_unexpected(other),
    }
}

/// The router's memory, from /proc/PID/status.
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

impl Memory {
    pub(crate) fn read(pid: u32) -> Result<Memory, String> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let kib = |name: &str| {
            let line = status.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':'));
            let value = line.and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok());
            value.ok_or_else(|| format!("{path} has no {name} in kB"))
        };
        Ok(Memory { rss_kib: kib("VmRSS")?, hwm_kib: kib("VmHWM")? })
    }
}

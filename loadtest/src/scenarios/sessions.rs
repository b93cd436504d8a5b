//! The `sessions` scenario: how many sessions a router holds at once, how fast they are set up, and what
//! each costs the router in memory.
//!
//! N sessions, each subscribed to `<prefix>.topic.(i % T)` and registered for its own `<prefix>.proc.i`,
//! are set up by `--processes` worker processes (this binary again, see `sessions/worker.rs`: one process
//! may hold only so many sockets), each driving its slice on one thread's non-blocking multiplexer, with a
//! bounded number of setups in flight. Then, with every session held:
//! 1. the router's RSS is read again (`--router-pid`): the growth over N is its memory per session;
//! 2. an extra session publishes one event to each topic and calls a sample of the procedures: every
//!    session must get its event, and every call its result;
//! 3. every session says GOODBYE and closes, and the router's RSS is read `--settle` later.
//!
//! The parent talks to its workers over their stdin (commands) and stdout (one JSON line per step).

mod report;
mod worker;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use switchyard::dict;
use switchyard::wamp::{Message, Payload, Value};

use self::report::{FailureTally, SessionsReport};
use self::worker::Step;
use super::churn::Memory;
use crate::cli::SessionsArgs;
use crate::client::{describe_unexpected, Session};
use crate::cpu::{process_cpu_of, CpuUsage};
use crate::report::RouterCpu;
use crate::transport::{Address, Protocol, Target, SETUP_TIMEOUT};

/// Runs the scenario (or, with the hidden `--worker`, one worker process of it), prints the report and
/// says how the run went: 0 clean, 1 failures or problems, 2 could not run.
pub fn main(args: &SessionsArgs) -> ExitCode {
    if let Some(slice) = &args.worker {
        return worker::main(args, slice);
    }
    crate::report::conclude(run(args))
}

/// The router's TCP address, from an `rs://HOST:PORT` URL (the only kind this scenario speaks).
fn router_address(target: &Target) -> Result<SocketAddr, String> {
    let (Protocol::RawSocket, Address::Tcp(authority)) = (&target.protocol, &target.address) else {
        return Err(format!(
            "{}: the sessions scenario needs rs://HOST:PORT (RawSocket over TCP)",
            target.url
        ));
    };
    let mut addrs = authority.to_socket_addrs().map_err(|e| format!("cannot resolve {authority}: {e}"))?;
    addrs.next().ok_or_else(|| format!("{authority} resolves to no address"))
}

fn run(args: &SessionsArgs) -> Result<SessionsReport, String> {
    let common = &args.common;
    router_address(&common.url)?;
    let prefix = common.prefix();
    let pid = args.router_pid;
    let rss_before = pid.map(Memory::read).transpose()?;
    let router_cpu_start = pid.and_then(process_cpu_of);
    let spawned = Instant::now();

    let mut workers = spawn_workers(args, &prefix)?;
    let mut failures = FailureTally::default();
    let (mut established, mut start_ns, mut end_ns, mut max_setup_ms) = (0, u64::MAX, 0, 0.0f64);
    let (mut cpu_user_s, mut cpu_system_s) = (0.0, 0.0);
    for w in &mut workers {
        match w.next_step()? {
            Step::Ready {
                established: e,
                start_unix_ns,
                end_unix_ns,
                max_setup_ms: m,
                cpu_user_s: u,
                cpu_system_s: s,
                failures: f,
            } => {
                established += e;
                start_ns = start_ns.min(start_unix_ns);
                end_ns = end_ns.max(end_unix_ns);
                max_setup_ms = max_setup_ms.max(m);
                cpu_user_s += u;
                cpu_system_s += s;
                failures.merge(f);
            }
            other => return Err(format!("worker {}: expected its ready report, got {other:?}", w.index)),
        }
    }
    let rss_after = pid.and_then(|pid| Memory::read(pid).ok());
    let router_cpu = router_cpu_since(pid, router_cpu_start, spawned.elapsed());
    let connect_s = end_ns.saturating_sub(start_ns) as f64 / 1e9;

    let (calls, calls_answered) = verify_from_extra_session(args, &prefix, &mut failures);
    for w in &mut workers {
        w.command("verify")?;
    }
    let (mut with_event, mut events, mut invocations) = (0, 0, 0);
    for w in &mut workers {
        match w.next_step()? {
            Step::Verified { with_event: e, events: n, invocations: i, failures: f } => {
                with_event += e;
                events += n;
                invocations += i;
                failures.merge(f);
            }
            other => return Err(format!("worker {}: expected its verify report, got {other:?}", w.index)),
        }
    }

    for w in &mut workers {
        w.command("close")?;
    }
    let (mut goodbyes, mut close_start, mut close_end, mut cpu_total_s) = (0, u64::MAX, 0, 0.0);
    for w in &mut workers {
        match w.next_step()? {
            Step::Closed { goodbyes: g, start_unix_ns, end_unix_ns, cpu_total_s: c, failures: f } => {
                goodbyes += g;
                close_start = close_start.min(start_unix_ns);
                close_end = close_end.max(end_unix_ns);
                cpu_total_s += c;
                failures.merge(f);
            }
            other => return Err(format!("worker {}: expected its close report, got {other:?}", w.index)),
        }
    }
    for w in &mut workers {
        w.wait(&mut failures);
    }
    let rss_closed = pid.and_then(|pid| {
        std::thread::sleep(args.settle);
        Memory::read(pid).ok()
    });

    let rss_per_session_bytes = match (&rss_before, &rss_after) {
        (Some(before), Some(after)) if established > 0 => {
            let bytes = (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0 / established as f64;
            Some(bytes.round())
        }
        _ => None,
    };
    let cpu_percent = if connect_s > 0.0 { (cpu_user_s + cpu_system_s) / connect_s * 100.0 } else { 0.0 };
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let mut report = SessionsReport {
        scenario: "sessions",
        url: common.url.url.clone(),
        transport: common.url.transport_name(),
        serializer: common.serializer.name(),
        realm: common.realm.clone(),
        sessions: u64::from(args.sessions),
        processes: workers.len() as u32,
        source_addresses: args.source_addresses,
        in_flight: args.in_flight,
        topics: args.topics,
        established,
        connect_s: round3(connect_s),
        connect_rate: if connect_s > 0.0 {
            (established as f64 / connect_s * 10.0).round() / 10.0
        } else {
            0.0
        },
        max_setup_ms,
        router_pid: pid,
        rss_before_kib: rss_before.as_ref().map(|m| m.rss_kib),
        rss_after_kib: rss_after.as_ref().map(|m| m.rss_kib),
        rss_per_session_bytes,
        rss_closed_kib: rss_closed.as_ref().map(|m| m.rss_kib),
        settle_s: args.settle.as_secs_f64(),
        router_cpu_connecting: router_cpu,
        events_expected: u64::from(args.sessions),
        events_received: with_event,
        duplicate_events: events.saturating_sub(with_event),
        calls,
        calls_answered,
        invocations,
        goodbyes,
        close_s: round3(close_end.saturating_sub(close_start) as f64 / 1e9),
        loadtest_cpu_connecting: CpuUsage {
            wall_s: round3(connect_s),
            user_s: round3(cpu_user_s),
            system_s: round3(cpu_system_s),
            percent_of_one_core: (cpu_percent * 10.0).round() / 10.0,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        },
        loadtest_cpu_total_s: round3(cpu_total_s),
        failure_kinds: failures.kinds.clone(),
        failure_count: failures.count,
        failures: failures.first,
        problems: Vec::new(),
        ok: false,
    };
    report.judge();
    Ok(report)
}

/// The router's CPU use between `start` and now (`elapsed` apart).
fn router_cpu_since(
    pid: Option<u32>,
    start: Option<(Duration, Duration)>,
    elapsed: Duration,
) -> Option<RouterCpu> {
    let (user0, system0) = start?;
    let (user, system) = process_cpu_of(pid?)?;
    let user_s = user.saturating_sub(user0).as_secs_f64();
    let system_s = system.saturating_sub(system0).as_secs_f64();
    let percent = (user_s + system_s) / elapsed.as_secs_f64().max(1e-9) * 100.0;
    Some(RouterCpu { user_s, system_s, percent_of_one_core: (percent * 10.0).round() / 10.0 })
}

/// A worker process and its pipes.
struct WorkerProcess {
    index: usize,
    process: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    waited: bool,
}

/// Starts `--processes` workers (at most one per session), each with its slice of the sessions.
fn spawn_workers(args: &SessionsArgs, prefix: &str) -> Result<Vec<WorkerProcess>, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program to run its workers: {e}"))?;
    let common = &args.common;
    let total = u64::from(args.sessions);
    let processes = args.processes.min(args.sessions);
    let mut workers = Vec::new();
    for index in 0..u64::from(processes) {
        let first = total * index / u64::from(processes);
        let count = total * (index + 1) / u64::from(processes) - first;
        let argv = [
            "sessions".to_owned(),
            format!("--url={}", common.url.url),
            format!("--serializer={}", common.serializer.name()),
            format!("--realm={}", common.realm),
            format!("--prefix={prefix}"),
            format!("--grace={}", common.grace.as_secs_f64()),
            format!("--topics={}", args.topics),
            format!("--processes={processes}"),
            format!("--source-addresses={}", args.source_addresses),
            format!("--in-flight={}", args.in_flight),
            format!("--worker={first}:{count}"),
        ];
        let mut process = Command::new(&exe)
            .args(argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start worker {index}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (process.stdin.take(), process.stdout.take()) else {
            // Not reachable with piped stdio; the process still gets reaped.
            let _ = process.kill();
            let _ = process.wait();
            return Err(format!("worker {index} has no pipes"));
        };
        let stdout = BufReader::new(stdout);
        workers.push(WorkerProcess { index: index as usize, process, stdin, stdout, waited: false });
    }
    Ok(workers)
}

impl WorkerProcess {
    /// The worker's next step report (blocks until it has one).
    fn next_step(&mut self) -> Result<Step, String> {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).map_err(|e| format!("worker {}: {e}", self.index))?;
        if n == 0 {
            return Err(format!("worker {} ended without reporting (its error is above)", self.index));
        }
        serde_json::from_str(&line)
            .map_err(|e| format!("worker {}: unreadable report {line:?}: {e}", self.index))
    }

    fn command(&mut self, command: &str) -> Result<(), String> {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("worker {}: cannot send `{command}`: {e}", self.index))
    }

    /// Waits for the worker to exit; an unclean exit is a failure.
    fn wait(&mut self, failures: &mut FailureTally) {
        self.waited = true;
        match self.process.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => failures.add(
                "worker exited uncleanly".to_owned(),
                format!("worker {} exited with {status}", self.index),
            ),
            Err(e) => failures.add("worker lost".to_owned(), format!("worker {}: {e}", self.index)),
        }
    }
}

impl Drop for WorkerProcess {
    /// A worker left behind by an error is stopped (it would also stop once its stdin closes).
    fn drop(&mut self) {
        if !self.waited {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// From an extra session: publishes one event to each topic (acknowledged) and calls a sample of the
/// procedures, once each; returns (calls to make, calls answered with RESULT). Problems are failures.
fn verify_from_extra_session(args: &SessionsArgs, prefix: &str, failures: &mut FailureTally) -> (u64, u64) {
    let common = &args.common;
    let total = u64::from(args.sessions);
    let calls = u64::from(args.calls).min(total);
    let mut fail = |kind: String, detail: String| failures.add(format!("verification: {kind}"), detail);
    let mut session = match Session::join(&common.url, common.serializer, &common.realm) {
        Ok(session) => session,
        Err(e) => {
            fail("cannot join".to_owned(), format!("verification session: {e}"));
            return (calls, 0);
        }
    };
    let topics = u64::from(args.topics);
    let publishes: Vec<Message> = (0..topics)
        .map(|t| Message::Publish {
            request: t + 1,
            options: dict! { "acknowledge" => true },
            topic: format!("{prefix}.topic.{t}"),
            payload: Payload::from_values(common.serializer, Some(&[Value::from(t)]), None),
        })
        .collect();
    let call_messages: Vec<Message> = (0..calls)
        .map(|j| {
            let target = j * total / calls;
            Message::Call {
                request: topics + 1 + j,
                options: dict!(),
                procedure: format!("{prefix}.proc.{target}"),
                payload: Payload::from_values(common.serializer, Some(&[Value::from(target)]), None),
            }
        })
        .collect();
    if let Err(e) = session.writer.send_all(&publishes).and_then(|()| session.writer.send_all(&call_messages))
    {
        fail("cannot send".to_owned(), format!("verification session: {e}"));
        return (calls, 0);
    }
    let deadline = Instant::now() + common.grace + SETUP_TIMEOUT;
    let (mut replies, mut answered) = (0, 0);
    while replies < topics + calls {
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = session.reader.expect_within(left, "PUBLISHED or RESULT");
        replies += 1;
        match reply {
            Ok(Message::Published { .. }) => {}
            Ok(Message::Result { .. }) => answered += 1,
            Ok(Message::Error { error, request, .. }) => {
                let what = if request <= topics { "PUBLISH" } else { "CALL" };
                fail(
                    format!("ERROR {error} for {what}"),
                    format!("verification: {what} {request}: ERROR {error}"),
                );
            }
            Ok(other) => {
                fail(format!("unexpected {}", other.name()), describe_unexpected(&other));
                break;
            }
            Err(e) => {
                fail("timeout".to_owned(), format!("verification session: {e}"));
                break;
            }
        }
    }
    session.writer.close();
    (calls, answered)
}

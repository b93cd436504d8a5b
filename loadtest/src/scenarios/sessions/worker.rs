//! One worker process of the `sessions` scenario: sets up its slice of the sessions on one thread's
//! [`Multiplexer`], holds them (answering PINGs and INVOCATIONs, counting EVENTs) and closes them, step by
//! step as the parent says on stdin (`verify`, `close`), reporting each step as one JSON line on stdout.
//!
//! The sessions live in several processes because one process may hold only so many sockets (the
//! open-file limit); each worker raises its soft limit to the hard one.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use switchyard::dict;
use switchyard::wamp::message::code_name;
use switchyard::wamp::{Id, Message};

use super::report::FailureTally;
use crate::cli::SessionsArgs;
use crate::client::{client_roles, describe_unexpected};
use crate::cpu::CpuClock;
use crate::multiplex::{Multiplexer, Notice};
use crate::transport::SETUP_TIMEOUT;

/// How long one wait for socket events lasts at most, so that commands and timeouts are seen promptly.
const TICK: Duration = Duration::from_millis(10);

/// Request IDs of a session's SUBSCRIBE and REGISTER.
const SUBSCRIBE_REQUEST: Id = 1;
const REGISTER_REQUEST: Id = 2;

/// One step's report, a line of JSON on stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Every session of the slice is set up or failed.
    Ready {
        established: u64,
        /// When the first connect started and the last setup ended, in ns since the Unix epoch.
        start_unix_ns: u64,
        end_unix_ns: u64,
        max_setup_ms: f64,
        /// This process's CPU time while setting up, in seconds.
        cpu_user_s: f64,
        cpu_system_s: f64,
        failures: FailureTally,
    },
    /// After `verify`: every established session got its event, or `--grace` passed.
    Verified { with_event: u64, events: u64, invocations: u64, failures: FailureTally },
    /// After `close`: every session is closed.
    Closed {
        goodbyes: u64,
        start_unix_ns: u64,
        end_unix_ns: u64,
        /// This process's CPU time since it started, in seconds.
        cpu_total_s: f64,
        failures: FailureTally,
    },
}

/// `FIRST:COUNT` from `--worker`.
pub fn parse_slice(s: &str) -> Result<(u32, u32), String> {
    let parse = || -> Option<(u32, u32)> {
        let (first, count) = s.split_once(':')?;
        Some((first.parse().ok()?, count.parse().ok()?))
    };
    parse().ok_or_else(|| format!("--worker {s}: expected FIRST:COUNT"))
}

/// Runs the worker for `--worker FIRST:COUNT`; the parent reads its exit status and stdout.
pub fn main(args: &SessionsArgs, slice: &str) -> ExitCode {
    let result = parse_slice(slice).and_then(|(first, count)| serve(args, first, count));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard-loadtest sessions worker {slice}: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &SessionsArgs, first: u32, count: u32) -> Result<(), String> {
    raise_nofile_limit()?;
    let addr = super::router_address(&args.common.url)?;
    let commands = spawn_stdin_reader()?;
    let mut worker = Worker::new(args, first, count, addr)?;
    let in_flight = args.in_flight.div_ceil(args.processes).max(1) as usize;
    let ready = worker.set_up(in_flight)?;
    report(&ready)?;
    loop {
        match worker.hold(&commands)? {
            Command::Verify => {
                let verified = worker.verify(args.common.grace, &commands)?;
                report(&verified)?;
            }
            Command::Close => {
                let closed = worker.close()?;
                return report(&closed);
            }
        }
    }
}

enum Command {
    Verify,
    Close,
}

/// A thread that passes stdin's lines on; the channel closes when the parent closes our stdin.
fn spawn_stdin_reader() -> Result<Receiver<String>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot start the stdin reader: {e}"))?;
    Ok(rx)
}

fn report(step: &Step) -> Result<(), String> {
    let line = serde_json::to_string(step).map_err(|e| format!("cannot serialize a report: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Raises this process's soft open-file limit to the hard limit: one descriptor per session.
fn raise_nofile_limit() -> Result<(), String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a pointer to a live rlimit, which getrlimit fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: a pointer to a live rlimit, which setrlimit only reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(format!("setrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    NotStarted,
    /// TCP connect and RawSocket handshake.
    Connecting,
    /// HELLO sent.
    Joining,
    /// SUBSCRIBE and REGISTER sent; `replies` of the two are in.
    SettingUp {
        replies: u8,
    },
    Established,
    /// GOODBYE sent.
    Closing,
    /// Closed after GOODBYE, or failed.
    Done,
}

impl Stage {
    fn in_setup(self) -> bool {
        matches!(self, Stage::Connecting | Stage::Joining | Stage::SettingUp { .. })
    }

    /// How a failure at this stage is labelled.
    fn label(self) -> &'static str {
        match self {
            Stage::NotStarted | Stage::Connecting => "",
            Stage::Joining => "HELLO: ",
            Stage::SettingUp { .. } => "SUBSCRIBE/REGISTER: ",
            Stage::Established => "established: ",
            Stage::Closing => "GOODBYE: ",
            Stage::Done => "closed: ",
        }
    }
}

struct Slot {
    stage: Stage,
    /// When its setup started.
    started: Instant,
    subscription: Id,
    registration: Id,
    events: u32,
}

struct Worker {
    mux: Multiplexer,
    slots: Vec<Slot>,
    first: u32,
    addr: SocketAddr,
    source_addresses: u32,
    realm: String,
    prefix: String,
    topics: u32,
    failures: FailureTally,
    /// Sessions being set up now.
    setting_up: usize,
    established: u64,
    /// Sessions (established ones) that have had at least one event.
    with_event: u64,
    events: u64,
    invocations: u64,
    goodbyes: u64,
    closing: usize,
    max_setup: Duration,
    /// The sessions being set up, oldest first (every setup has the same timeout).
    started: VecDeque<usize>,
    /// This process's CPU clock at its start.
    born: CpuClock,
    notices: Vec<Notice>,
}

impl Worker {
    fn new(args: &SessionsArgs, first: u32, count: u32, addr: SocketAddr) -> Result<Worker, String> {
        let mux = Multiplexer::new(count as usize, args.common.serializer)
            .map_err(|e| format!("cannot create a poller: {e}"))?;
        let slots = (0..count)
            .map(|_| Slot {
                stage: Stage::NotStarted,
                started: Instant::now(),
                subscription: 0,
                registration: 0,
                events: 0,
            })
            .collect();
        Ok(Worker {
            mux,
            slots,
            first,
            addr,
            source_addresses: args.source_addresses,
            realm: args.common.realm.clone(),
            prefix: args.common.prefix(),
            topics: args.topics,
            failures: FailureTally::default(),
            setting_up: 0,
            established: 0,
            with_event: 0,
            events: 0,
            invocations: 0,
            goodbyes: 0,
            closing: 0,
            max_setup: Duration::ZERO,
            started: VecDeque::new(),
            born: CpuClock::now(),
            notices: Vec::new(),
        })
    }

    /// The session number across all workers.
    fn global(&self, key: usize) -> u64 {
        u64::from(self.first) + key as u64
    }

    /// Sets every session up, at most `in_flight` at a time.
    fn set_up(&mut self, in_flight: usize) -> Result<Step, String> {
        let cpu = CpuClock::now();
        let start = unix_ns();
        let mut next = 0;
        while next < self.slots.len() || self.setting_up > 0 {
            while next < self.slots.len() && self.setting_up < in_flight {
                self.start(next);
                next += 1;
            }
            self.turn(TICK)?;
            self.expire_setups();
        }
        let end = unix_ns();
        let usage = cpu.usage_since();
        Ok(Step::Ready {
            established: self.established,
            start_unix_ns: start,
            end_unix_ns: end,
            max_setup_ms: (self.max_setup.as_secs_f64() * 1e4).round() / 10.0,
            cpu_user_s: usage.user_s,
            cpu_system_s: usage.system_s,
            failures: std::mem::take(&mut self.failures),
        })
    }

    fn start(&mut self, key: usize) {
        let global = self.global(key);
        let source = match self.source_addresses {
            0 => None,
            m => {
                // 2 + (i % m) <= 254 (m <= 253).
                let host = 2 + (global % u64::from(m)) as u8;
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
            }
        };
        self.slots[key].stage = Stage::Connecting;
        self.slots[key].started = Instant::now();
        self.setting_up += 1;
        self.started.push_back(key);
        if let Err(e) = self.mux.connect(key, self.addr, source) {
            self.fail(key, e);
        }
    }

    /// Fails every session whose setup has run past [`SETUP_TIMEOUT`].
    fn expire_setups(&mut self) {
        let now = Instant::now();
        while let Some(&key) = self.started.front() {
            if !self.slots[key].stage.in_setup() {
                self.started.pop_front();
                continue;
            }
            if now.duration_since(self.slots[key].started) < SETUP_TIMEOUT {
                break;
            }
            self.started.pop_front();
            let waiting_for = match self.slots[key].stage {
                Stage::Connecting => "connect and RawSocket handshake",
                Stage::Joining => "WELCOME",
                _ => "SUBSCRIBED and REGISTERED",
            };
            let timeout = SETUP_TIMEOUT.as_secs();
            self.mux.close(key);
            self.fail(key, format!("timeout: no {waiting_for} within {timeout} s"));
        }
    }

    /// Waits at most `timeout` for socket events and handles what they brought.
    fn turn(&mut self, timeout: Duration) -> Result<(), String> {
        let mut notices = std::mem::take(&mut self.notices);
        self.mux.poll(timeout, &mut notices).map_err(|e| format!("poller: {e}"))?;
        for notice in notices.drain(..) {
            match notice {
                Notice::Open(key) => self.on_open(key),
                Notice::Message(key, message) => self.on_message(key, message),
                Notice::Failed(key, why) => self.fail(key, why),
            }
        }
        self.notices = notices;
        Ok(())
    }

    fn on_open(&mut self, key: usize) {
        let details = dict! {
            "roles" => client_roles(),
            "agent" => concat!("switchyard-loadtest/", env!("CARGO_PKG_VERSION")),
        };
        self.slots[key].stage = Stage::Joining;
        self.mux.send(key, &Message::Hello { realm: self.realm.clone(), details });
    }

    fn on_message(&mut self, key: usize, message: Message) {
        let global = self.global(key);
        let stage = self.slots[key].stage;
        match (stage, message) {
            (Stage::Joining, Message::Welcome { .. }) => {
                let topic = format!("{}.topic.{}", self.prefix, global % u64::from(self.topics));
                let procedure = format!("{}.proc.{global}", self.prefix);
                self.slots[key].stage = Stage::SettingUp { replies: 0 };
                self.mux
                    .send(key, &Message::Subscribe { request: SUBSCRIBE_REQUEST, options: dict!(), topic });
                self.mux
                    .send(key, &Message::Register { request: REGISTER_REQUEST, options: dict!(), procedure });
            }
            (
                Stage::SettingUp { replies },
                Message::Subscribed { request: SUBSCRIBE_REQUEST, subscription },
            ) => {
                self.slots[key].subscription = subscription;
                self.set_up_reply(key, replies);
            }
            (
                Stage::SettingUp { replies },
                Message::Registered { request: REGISTER_REQUEST, registration },
            ) => {
                self.slots[key].registration = registration;
                self.set_up_reply(key, replies);
            }
            (Stage::Established | Stage::Closing, Message::Event { subscription, .. })
                if subscription == self.slots[key].subscription =>
            {
                self.events += 1;
                self.slots[key].events += 1;
                if self.slots[key].events == 1 {
                    self.with_event += 1;
                }
            }
            (
                Stage::Established | Stage::Closing,
                Message::Invocation { request, registration, payload, .. },
            ) if registration == self.slots[key].registration => {
                self.invocations += 1;
                self.mux.send(key, &Message::Yield { request, options: dict!(), payload });
            }
            (Stage::Closing, Message::Goodbye { .. }) => {
                self.mux.close(key);
                self.slots[key].stage = Stage::Done;
                self.closing -= 1;
                self.goodbyes += 1;
            }
            (_, message) => {
                let (kind, detail) = (kind_of(&message), describe_unexpected(&message));
                self.mux.close(key);
                self.fail_with(key, kind, detail);
            }
        }
    }

    /// SUBSCRIBED or REGISTERED came in; with both, the session is established.
    fn set_up_reply(&mut self, key: usize, replies: u8) {
        if replies == 0 {
            self.slots[key].stage = Stage::SettingUp { replies: 1 };
            return;
        }
        self.slots[key].stage = Stage::Established;
        self.setting_up -= 1;
        self.established += 1;
        self.max_setup = self.max_setup.max(self.slots[key].started.elapsed());
    }

    /// Records a failure of `key` (whose connection is gone or closed) at its current stage.
    fn fail(&mut self, key: usize, why: String) {
        self.fail_with(key, why.clone(), why);
    }

    fn fail_with(&mut self, key: usize, kind: String, detail: String) {
        let stage = self.slots[key].stage;
        let label = stage.label();
        let global = self.global(key);
        self.failures.add(format!("{label}{kind}"), format!("session {global}: {label}{detail}"));
        if stage.in_setup() {
            self.setting_up -= 1;
        }
        if stage == Stage::Closing {
            self.closing -= 1;
        }
        self.slots[key].stage = Stage::Done;
    }

    /// Keeps the sessions alive until the parent's next command.
    fn hold(&mut self, commands: &Receiver<String>) -> Result<Command, String> {
        loop {
            match commands.try_recv() {
                Ok(line) => match line.trim() {
                    "verify" => return Ok(Command::Verify),
                    "close" => return Ok(Command::Close),
                    other => return Err(format!("unknown command `{other}` from the parent")),
                },
                Err(TryRecvError::Disconnected) => return Err("the parent closed our stdin".to_owned()),
                Err(TryRecvError::Empty) => self.turn(TICK)?,
            }
        }
    }

    /// Waits until every established session has had its event, or `grace` passed.
    fn verify(&mut self, grace: Duration, commands: &Receiver<String>) -> Result<Step, String> {
        let deadline = Instant::now() + grace;
        while self.with_event < self.established && Instant::now() < deadline {
            if let Err(TryRecvError::Disconnected) = commands.try_recv() {
                return Err("the parent closed our stdin".to_owned());
            }
            self.turn(TICK)?;
        }
        Ok(Step::Verified {
            with_event: self.with_event,
            events: self.events,
            invocations: self.invocations,
            failures: std::mem::take(&mut self.failures),
        })
    }

    /// Says GOODBYE on every established session and closes each once the router answers (or fails it
    /// after [`SETUP_TIMEOUT`]).
    fn close(&mut self) -> Result<Step, String> {
        let start = unix_ns();
        let goodbye = Message::Goodbye { details: dict!(), reason: "wamp.close.close_realm".to_owned() };
        for key in 0..self.slots.len() {
            if self.slots[key].stage == Stage::Established {
                self.slots[key].stage = Stage::Closing;
                self.closing += 1;
                self.mux.send(key, &goodbye);
            }
        }
        let deadline = Instant::now() + SETUP_TIMEOUT;
        while self.closing > 0 && Instant::now() < deadline {
            self.turn(TICK)?;
        }
        for key in 0..self.slots.len() {
            if self.slots[key].stage == Stage::Closing {
                self.mux.close(key);
                let timeout = SETUP_TIMEOUT.as_secs();
                self.fail(key, format!("no GOODBYE reply within {timeout} s"));
            }
        }
        Ok(Step::Closed {
            goodbyes: self.goodbyes,
            start_unix_ns: start,
            end_unix_ns: unix_ns(),
            cpu_total_s: {
                let usage = self.born.usage_since();
                ((usage.user_s + usage.system_s) * 1000.0).round() / 1000.0
            },
            failures: std::mem::take(&mut self.failures),
        })
    }
}

/// A short label for an unexpected message, without the IDs and texts that would make every one differ.
fn kind_of(message: &Message) -> String {
    match message {
        Message::Abort { reason, .. } => format!("ABORT {reason}"),
        Message::Goodbye { reason, .. } => format!("GOODBYE {reason}"),
        Message::Error { request_type, error, .. } => {
            format!("ERROR {error} for {}", code_name(*request_type))
        }
        other => format!("unexpected {}", other.name()),
    }
}

/// Nanoseconds since the Unix epoch: a clock every worker shares.
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_parse() {
        assert_eq!(parse_slice("250:250"), Ok((250, 250)));
        assert!(parse_slice("250").is_err());
        assert!(parse_slice("a:1").is_err());
    }

    #[test]
    fn steps_survive_json() {
        let mut failures = FailureTally::default();
        failures.add("connect: refused".to_owned(), "session 3: connect: refused".to_owned());
        let step = Step::Verified { with_event: 2, events: 3, invocations: 1, failures };
        let line = serde_json::to_string(&step).unwrap();
        match serde_json::from_str::<Step>(&line).unwrap() {
            Step::Verified { with_event: 2, events: 3, invocations: 1, failures } => {
                assert_eq!(failures.count, 1);
                assert_eq!(failures.kinds.get("connect: refused"), Some(&1));
            }
            other => panic!("{other:?}"),
        }
    }
}

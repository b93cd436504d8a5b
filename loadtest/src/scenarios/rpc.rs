//! The `rpc` scenario: K callees, callee k registering `<prefix>.proc.k` (or all of them sharing one
//! registration of `<prefix>.proc` under an invocation policy) and echoing every invocation's payload
//! back, and C callers, caller c calling `<prefix>.proc.(c % K)` with W calls in flight. Each call
//! carries `[caller, seq, sent_ns, padding]`; the echoed stamp gives the round-trip latency and proves the
//! result belongs to its caller.

use std::sync::Arc;

use switchyard::dict;
use switchyard::wamp::{Dict, Id, Message};

use super::{padding_for, rate, send_for, Stamp};
use crate::cli::{CommonArgs, RpcArgs};
use crate::client::{describe_unexpected, spawn_reader_pool, Handler, MessageWriter, Session};
use crate::control::{wait_until, Control};
use crate::report::{Report, Results, RpcResults};
use crate::sender::{wakeups, Source, Window};
use crate::stats::Latency;

pub fn run(args: &RpcArgs) -> Result<Report, String> {
    let common = &args.common;
    let control = Arc::new(Control::new());
    let prefix = common.prefix();
    let procedures: Vec<String> = (0..args.callees)
        .map(|k| match args.shared {
            Some(_) => format!("{prefix}.proc"),
            None => format!("{prefix}.proc.{k}"),
        })
        .collect();
    let options = match &args.shared {
        Some(policy) => dict! { "invoke" => policy.as_str() },
        None => dict!(),
    };

    // Every registration is confirmed before any caller connects.
    let mut writers = Vec::new();
    let mut callees = Vec::with_capacity(procedures.len());
    for (k, procedure) in procedures.iter().enumerate() {
        let (session, registration) =
            register(common, procedure, options.clone()).map_err(|e| format!("callee {k}: {e}"))?;
        writers.push(session.writer.clone());
        callees.push((session.reader, Callee::new(registration, session.writer, true)));
    }
    let callee_pool = spawn_reader_pool("callee", callees, args.reader_threads(), &control)?;

    let threads = common.sender_threads(args.callers);
    let wakeups = wakeups(threads);
    let padding = padding_for(common.serializer, args.payload);
    let mut sources = Vec::with_capacity(args.callers as usize);
    let mut readers = Vec::with_capacity(args.callers as usize);
    for c in 0..args.callers as usize {
        let session = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("caller {c}: {e}"))?;
        let window = Arc::new(Window::new(args.outstanding as usize, wakeups[c % threads].clone()));
        let answers = Answers {
            caller: c as u64,
            window: window.clone(),
            results: 0,
            latency: Latency::new(),
            control: control.clone(),
        };
        readers.push((session.reader, answers));
        writers.push(session.writer.clone());
        sources.push(Caller {
            index: c,
            writer: session.writer,
            window,
            procedure: procedures[c % procedures.len()].clone(),
            seq: 0,
            padding: padding.clone(),
            control: control.clone(),
        });
    }

    let caller_pool = spawn_reader_pool("caller", readers, args.reader_threads(), &control)?;
    let (callers, phase) = send_for(sources, &wakeups, &control, common, |c: &Caller| c.index)?;
    wait_until(phase.grace_deadline, || {
        control.failed() || callers.iter().all(|c| c.window.in_flight() == 0)
    });
    control.stop_reading();
    let mut latency = Latency::new();
    let mut answered = 0;
    for results in caller_pool.join()? {
        latency.merge(&results.latency);
        answered += results.results;
    }
    let invocations_per_callee: Vec<u64> =
        callee_pool.join()?.iter().map(|callee| callee.invocations).collect();
    for writer in &writers {
        writer.close();
    }

    let results = RpcResults {
        callees: args.callees,
        callers: args.callers,
        outstanding: args.outstanding,
        payload_bytes: args.payload,
        calls: callers.iter().map(|c| c.seq).sum(),
        results: answered,
        unanswered: callers.iter().map(|c| c.window.in_flight() as u64).sum(),
        invocations: invocations_per_callee.iter().sum(),
        shared: args.shared.clone(),
        invocations_per_callee,
        calls_per_s: rate(answered, phase.elapsed),
        latency: latency.summary(),
    };
    let connections = callers.len() + procedures.len();
    Ok(Report::new(common, threads, connections, &phase, Results::Rpc(results), &control))
}

/// Joins a session and registers it for `procedure` with these REGISTER options.
pub(super) fn register(common: &CommonArgs, procedure: &str, options: Dict) -> Result<(Session, Id), String> {
    let mut session = Session::join(&common.url, common.serializer, &common.realm)?;
    let register = Message::Register { request: 1, options, procedure: procedure.to_owned() };
    match session.request(&register, "REGISTERED")? {
        Message::Registered { request: 1, registration } => Ok((session, registration)),
        other => Err(describe_unexpected(&other)),
    }
}

/// A caller's sending side.
struct Caller {
    index: usize,
    writer: MessageWriter,
    window: Arc<Window>,
    procedure: String,
    /// Calls made so far: the next sequence number (and request ID - 1).
    seq: u64,
    padding: String,
    control: Arc<Control>,
}

impl Source for Caller {
    fn window(&self) -> &Window {
        &self.window
    }

    fn send(&mut self, count: usize) -> Result<(), String> {
        let mut batch = Vec::with_capacity(count);
        for _ in 0..count {
            let stamp = Stamp { sender: self.index as u64, seq: self.seq, sent_ns: self.control.now_ns() };
            self.seq += 1;
            batch.push(Message::Call {
                request: self.seq,
                options: dict!(),
                procedure: self.procedure.clone(),
                payload: stamp.payload(self.writer.serializer(), &self.padding),
            });
        }
        self.writer.send_all(&batch).map_err(|e| format!("caller {}: {e}", self.index))
    }
}

/// A caller's reader: RESULT frees a window slot and yields a latency sample; an ERROR fails the run.
struct Answers {
    caller: u64,
    window: Arc<Window>,
    results: u64,
    latency: Latency,
    control: Arc<Control>,
}

impl Handler for Answers {
    fn on_message(&mut self, message: Message) -> Result<(), String> {
        let Message::Result { request, payload, .. } = message else {
            return Err(describe_unexpected(&message));
        };
        let now = self.control.now_ns();
        self.window.release().map_err(|e| format!("RESULT: {e}"))?;
        let stamp = Stamp::of_result(self.caller, request, &payload)?;
        self.latency.record_ns(now.saturating_sub(stamp.sent_ns));
        self.results += 1;
        Ok(())
    }
}

/// A callee's reader: answers every INVOCATION with a YIELD of the same payload. On a pool reader the
/// YIELDs for everything read at once go out in one write; on a reader of its own, each at once.
pub(super) struct Callee {
    registration: Id,
    writer: MessageWriter,
    invocations: u64,
    /// Whether YIELDs wait for [`Handler::drained`] (a pool reader), in `yields`.
    batched: bool,
    yields: Vec<Message>,
}

impl Callee {
    pub(super) fn new(registration: Id, writer: MessageWriter, batched: bool) -> Callee {
        Callee { registration, writer, invocations: 0, batched, yields: Vec::new() }
    }
}

impl Handler for Callee {
    fn on_message(&mut self, message: Message) -> Result<(), String> {
        let Message::Invocation { request, registration, payload, .. } = message else {
            return Err(describe_unexpected(&message));
        };
        if registration != self.registration {
            return Err(format!(
                "INVOCATION for registration {registration}, not ours ({})",
                self.registration
            ));
        }
        self.invocations += 1;
        let answer = Message::Yield { request, options: dict!(), payload };
        if self.batched {
            self.yields.push(answer);
            Ok(())
        } else {
            self.writer.send(&answer)
        }
    }

    fn drained(&mut self) -> Result<(), String> {
        if self.yields.is_empty() {
            return Ok(());
        }
        let sent = self.writer.send_all(&self.yields);
        self.yields.clear();
        sent
    }
}

//! `session`: the sans-I/O session state machine. Two `ShardRouter`s over one `Registry` (built from
//! `Config::default().realms`, as `src/router/tests` does), connections on both, and the peer messages
//! between the shards queued per direction (FIFO, like the cross-shard channels) and delivered when the
//! input says so, so that the fuzzer also chooses how cross-shard traffic interleaves with client frames.
//!
//! The input is a byte program (see [`run`]): frames as raw bytes in a connection's serializer, or
//! messages built from a few bytes (so that HELLO, SUBSCRIBE, CALL, YIELD ... reach the deeper states,
//! with IDs taken from what the router sent), closes, new connections, deliveries, HELLO timeouts and
//! shutdowns. Checked: no panic; every frame the router sends decodes in the connection's serializer and
//! fits the connection's outbound limit; nothing is sent on a connection after the transport reported it
//! closed; once every connection is gone and every peer message delivered, no session is left on either
//! shard nor in the registry, and every procedure is free to be registered again.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::config::RealmConfig;
use switchyard::router::{ConnId, ConnLimits, Effect, Outbox, PeerMessage, Registry, ShardRouter};
use switchyard::wamp::codec::{self, Serializer};
use switchyard::wamp::message::code;
use switchyard::wamp::{Dict, Message, Payload, Value};
use switchyard::Config;

const SHARDS: usize = 2;
const MAX_CONNS: usize = 16;
const TOPICS: [&str; 5] = ["com.a", "com.b", "com.a.b", "wamp.session.on_join", "com..bad"];
const PROCEDURES: [&str; 3] = ["com.a", "com.b", "com.a.b"];
const REALMS: [&str; 3] = ["realm1", "realm1", "nope"];
const ERRORS: [&str; 3] = ["com.app.error", "wamp.error.canceled", "bad uri"];

/// The fuzz input, read front to back; reads past its end give zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.byte()) % items.len()]
    }
}

struct Conn {
    shard: usize,
    id: ConnId,
    serializer: Serializer,
    limits: ConnLimits,
    /// The router asked to close it (the I/O layer then stops reading and reports it closed).
    closing: bool,
    /// The transport reported closed (`ShardRouter::closed`).
    gone: bool,
}

struct Harness {
    registry: Arc<Registry>,
    shards: Vec<ShardRouter>,
    conns: Vec<Conn>,
    /// Peer messages in flight, per (from, to).
    queues: Vec<Vec<VecDeque<PeerMessage>>>,
    /// IDs the router sent (sessions, subscriptions, registrations, invocation requests), for messages.
    ids: Vec<u64>,
    /// Shards that were shut down (they take no new sessions).
    stopped: Vec<bool>,
    /// REGISTERED messages sent so far.
    registrations_seen: usize,
    /// The harness's clock, for call timeouts: it moves only when the input says so.
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        // The default configuration's realms, parsed once.
        static REALMS: OnceLock<Vec<RealmConfig>> = OnceLock::new();
        let realms = REALMS.get_or_init(|| Config::default().realms).clone();
        let registry = Arc::new(Registry::new(realms).expect("valid realms"));
        let shards = (0..SHARDS).map(|i| ShardRouter::new(i, SHARDS, registry.clone())).collect();
        let queues = (0..SHARDS).map(|_| (0..SHARDS).map(|_| VecDeque::new()).collect()).collect();
        Harness {
            registry,
            shards,
            conns: Vec::new(),
            queues,
            ids: Vec::new(),
            stopped: vec![false; SHARDS],
            registrations_seen: 0,
            now: Instant::now(),
        }
    }

    fn open(&mut self, shard: usize, serializer: Serializer, limits: ConnLimits) -> usize {
        let id = self.shards[shard].open(serializer, limits, Default::default());
        self.conns.push(Conn { shard, id, serializer, limits, closing: false, gone: false });
        self.conns.len() - 1
    }

    /// Runs `f` on the shard of connection `c`.
    fn on_conn(&mut self, c: usize, f: impl FnOnce(&mut ShardRouter, ConnId, &mut Outbox)) {
        let (shard, id) = (self.conns[c].shard, self.conns[c].id);
        let mut out = Outbox::default();
        f(&mut self.shards[shard], id, &mut out);
        self.apply(shard, out);
    }

    fn apply(&mut self, shard: usize, out: Outbox) {
        for effect in out.effects {
            match effect {
                Effect::Send(id, frame) | Effect::Event(id, frame) => self.sent(shard, id, frame),
                Effect::Close(id) => {
                    let c = self.find(shard, id);
                    self.conns[c].closing = true;
                }
                Effect::Peer(to, message) => {
                    assert!(to < SHARDS && to != shard, "peer message from shard {shard} to {to}");
                    self.queues[shard][to].push_back(message);
                }
            }
        }
    }

    fn find(&self, shard: usize, id: ConnId) -> usize {
        self.conns
            .iter()
            .position(|c| c.shard == shard && c.id == id)
            .unwrap_or_else(|| panic!("effect for connection {id} on shard {shard}, which was never opened"))
    }

    /// A frame the router sends to a client.
    fn sent(&mut self, shard: usize, id: ConnId, frame: Bytes) {
        let c = self.find(shard, id);
        let conn = &self.conns[c];
        assert!(!conn.gone, "shard {shard} sends on connection {id} after it was reported closed");
        assert!(
            frame.len() <= conn.limits.max_outbound,
            "a {}-byte frame for a peer that accepts {}",
            frame.len(),
            conn.limits.max_outbound
        );
        let message = codec::decode(conn.serializer, frame.clone()).unwrap_or_else(|e| {
            panic!("router output does not decode in {:?}: {e}: {frame:?}", conn.serializer)
        });
        let id = match message {
            Message::Welcome { session, .. } => Some(session),
            Message::Subscribed { subscription, .. } | Message::Event { subscription, .. } => {
                Some(subscription)
            }
            Message::Registered { registration, .. } => {
                self.registrations_seen += 1;
                Some(registration)
            }
            Message::Invocation { request, .. } => Some(request),
            Message::Published { publication, .. } => Some(publication),
            _ => None,
        };
        if let Some(id) = id.filter(|id| !self.ids.contains(id)) {
            if self.ids.len() < 64 {
                self.ids.push(id);
            }
        }
    }

    /// Delivers up to `n` peer messages from `from` to `to`, in order.
    fn deliver(&mut self, from: usize, to: usize, n: usize) {
        for _ in 0..n {
            let Some(message) = self.queues[from][to].pop_front() else { return };
            let mut out = Outbox::default();
            self.shards[to].handle_peer(from, message, &mut out);
            self.apply(to, out);
        }
    }

    fn deliver_all(&mut self) {
        while let Some((from, to)) = (0..SHARDS)
            .flat_map(|from| (0..SHARDS).map(move |to| (from, to)))
            .find(|&(from, to)| !self.queues[from][to].is_empty())
        {
            self.deliver(from, to, usize::MAX);
        }
    }

    /// The I/O layer reports closed every transport the router asked to close.
    fn reap(&mut self) {
        while let Some(c) = self.conns.iter().position(|c| c.closing && !c.gone) {
            self.close(c);
        }
    }

    fn close(&mut self, c: usize) {
        if !self.conns[c].gone {
            self.on_conn(c, |r, id, out| r.closed(id, out));
            self.conns[c].gone = true;
        }
    }

    /// A connection the client may still send on.
    fn usable(&self, c: usize) -> bool {
        !self.conns[c].closing && !self.conns[c].gone
    }

    fn id(&self, input: &mut Input<'_>) -> u64 {
        let b = input.byte();
        match (b & 0x80 != 0, self.ids.is_empty()) {
            (true, false) => self.ids[usize::from(b & 0x7f) % self.ids.len()],
            _ => u64::from(b & 0x7f),
        }
    }

    fn value(&self, input: &mut Input<'_>, depth: usize) -> Value {
        match input.byte() % 8 {
            0 => Value::Null,
            1 => Value::Int(i64::from(input.byte() as i8)),
            2 => Value::Float(f64::from(input.byte()) / 3.0),
            3 => {
                let n = usize::from(input.byte() % 16);
                Value::Str(String::from_utf8_lossy(input.take(n)).into_owned())
            }
            4 => {
                let n = usize::from(input.byte() % 16);
                Value::Bytes(input.take(n).to_vec())
            }
            5 if depth < 4 => {
                let n = input.byte() % 4;
                Value::List((0..n).map(|_| self.value(input, depth + 1)).collect())
            }
            6 if depth < 4 => {
                let n = input.byte() % 4;
                Value::Dict((0..n).map(|i| (format!("k{i}"), self.value(input, depth + 1))).collect())
            }
            _ => Value::Int(self.id(input) as i64),
        }
    }

    fn payload(&self, input: &mut Input<'_>, serializer: Serializer) -> Payload {
        match input.byte() % 4 {
            0 => Payload::empty(),
            1 => Payload::from_values(serializer, Some(&[self.value(input, 0)]), None),
            2 => {
                let args = [self.value(input, 0), self.value(input, 0)];
                let kwargs: Dict = [("a".to_owned(), self.value(input, 0))].into_iter().collect();
                Payload::from_values(serializer, Some(&args), Some(&kwargs))
            }
            _ => {
                let n = usize::from(input.byte() % 32);
                Payload::from_transparent(serializer, input.take(n))
            }
        }
    }

    /// Options or details: a few flags, some of them ill-typed.
    fn options(&self, input: &mut Input<'_>) -> Dict {
        let flags = input.byte();
        let mut dict = Dict::new();
        let mut put = |bit: u8, key: &str, value: Value| {
            if flags & (1 << bit) != 0 {
                dict.insert(key.to_owned(), value);
            }
        };
        put(0, "acknowledge", Value::Bool(true));
        put(1, "exclude_me", Value::Bool(false));
        put(2, "exclude", Value::List(vec![Value::Int(self.id(input) as i64)]));
        put(3, "eligible", Value::List(vec![Value::Int(self.id(input) as i64)]));
        put(4, "disclose_me", Value::Bool(true));
        put(5, "match", Value::from(["prefix", "wildcard", "exact"][usize::from(input.byte()) % 3]));
        put(6, "timeout", Value::Int(i64::from(input.byte())));
        put(7, "exclude", Value::from("not a list"));
        dict
    }

    fn hello_details(input: &mut Input<'_>) -> Dict {
        let flags = input.byte();
        let mut roles = Dict::new();
        for (bit, role) in ["publisher", "subscriber", "caller", "callee"].iter().enumerate() {
            if flags & (1 << bit) != 0 {
                roles.insert((*role).to_owned(), Value::Dict(Dict::new()));
            }
        }
        if flags & 0x80 != 0 {
            // A callee that understands INTERRUPT.
            let features: Dict = [("call_canceling".to_owned(), Value::Bool(true))].into_iter().collect();
            let callee: Dict = [("features".to_owned(), Value::Dict(features))].into_iter().collect();
            roles.insert("callee".into(), Value::Dict(callee));
        }
        let mut details = Dict::new();
        if flags & 0x10 == 0 {
            details.insert("roles".into(), Value::Dict(roles));
        }
        if flags & 0x20 != 0 {
            details.insert("authmethods".into(), Value::List(vec![Value::from("ticket")]));
        }
        if flags & 0x40 != 0 {
            details.insert("authmethods".into(), Value::List(vec![Value::from("anonymous")]));
        }
        details
    }

    /// A message built from the input's next bytes.
    fn message(&self, input: &mut Input<'_>, serializer: Serializer) -> Message {
        let kind = input.byte() % 16;
        match kind {
            0 => Message::Hello { realm: input.pick(&REALMS).into(), details: Self::hello_details(input) },
            1 => Message::Goodbye {
                details: Dict::new(),
                reason: input.pick(&["wamp.close.close_realm", "wamp.close.goodbye_and_out"]).into(),
            },
            2 => Message::Abort {
                details: Dict::new(),
                reason: "wamp.close.x".into(),
                payload: Payload::empty(),
            },
            3 => Message::Subscribe {
                request: self.id(input),
                options: self.options(input),
                topic: input.pick(&TOPICS).into(),
            },
            4 => Message::Unsubscribe { request: self.id(input), subscription: self.id(input) },
            5 => Message::Publish {
                request: self.id(input),
                options: self.options(input),
                topic: input.pick(&TOPICS).into(),
                payload: self.payload(input, serializer),
            },
            6 => Message::Register {
                request: self.id(input),
                options: self.options(input),
                procedure: input.pick(&PROCEDURES).into(),
            },
            7 => Message::Unregister { request: self.id(input), registration: self.id(input) },
            8 | 9 => Message::Call {
                request: self.id(input),
                options: self.options(input),
                procedure: input.pick(&PROCEDURES).into(),
                payload: self.payload(input, serializer),
            },
            10 | 11 => Message::Yield {
                request: self.id(input),
                options: self.options(input),
                payload: self.payload(input, serializer),
            },
            12 => Message::Error {
                request_type: code::INVOCATION,
                request: self.id(input),
                details: Dict::new(),
                error: input.pick(&ERRORS).into(),
                payload: self.payload(input, serializer),
            },
            13 => Message::Error {
                request_type: input.pick(&[code::CALL, code::SUBSCRIBE, 0, 99]),
                request: self.id(input),
                details: Dict::new(),
                error: input.pick(&ERRORS).into(),
                payload: Payload::empty(),
            },
            14 => Message::Cancel { request: self.id(input), options: self.options(input) },
            _ => match input.byte() % 4 {
                0 => Message::Published { request: self.id(input), publication: self.id(input) },
                1 => Message::Authenticate { signature: "x".into(), extra: Dict::new() },
                2 => Message::Interrupt { request: self.id(input), options: Dict::new() },
                _ => Message::Event {
                    subscription: self.id(input),
                    publication: self.id(input),
                    details: Dict::new(),
                    payload: self.payload(input, serializer),
                },
            },
        }
    }

    /// Closes everything, delivers everything, and checks that nothing is left behind.
    fn finish(mut self) {
        self.deliver_all();
        self.reap();
        for c in 0..self.conns.len() {
            self.close(c);
            self.deliver_all();
        }
        self.deliver_all();
        for (i, shard) in self.shards.iter().enumerate() {
            assert_eq!(shard.session_count(), 0, "sessions left on shard {i}");
            assert_eq!(shard.next_call_deadline(), None, "a call deadline left on shard {i}");
        }
        assert_eq!(self.registry.session_count(), 0, "sessions left in the registry");
        // Every procedure was released on every shard: a new session can register each of them.
        let Some(shard) = (0..SHARDS).find(|&s| !self.stopped[s]) else { return };
        let c = self.open(shard, Serializer::Json, ConnLimits::default());
        let mut roles = Dict::new();
        roles.insert("callee".into(), Value::Dict(Dict::new()));
        let details: Dict = [("roles".to_owned(), Value::Dict(roles))].into_iter().collect();
        self.send(c, &Message::Hello { realm: "realm1".into(), details });
        for (i, procedure) in PROCEDURES.iter().enumerate() {
            let register = Message::Register {
                request: i as u64 + 1,
                options: Dict::new(),
                procedure: (*procedure).into(),
            };
            let before = self.registrations_seen;
            self.send(c, &register);
            self.deliver_all();
            assert!(self.registrations_seen > before, "{procedure} is still held after everyone left");
        }
    }

    fn send(&mut self, c: usize, message: &Message) {
        let frame = codec::encode_to_bytes(message, self.conns[c].serializer);
        self.on_conn(c, |r, id, out| r.handle_frame(id, frame, out));
    }
}

/// Runs one byte program:
///
/// ```text
/// byte 0: flags; bit 0: deliver every peer message after each step
/// then steps, each an opcode byte (mod 8) and its operands:
///   0, 1  raw frame       conn, len (u16 LE), bytes
///   2, 3  built message   conn, kind, operands (see `Harness::message`)
///   4     close           conn
///   5     new connection  flags (shard, serializer, small outbound limit), nesting depth
///   6     deliver         direction, count (0: all)
///   7     timer/shutdown  what (mod 8: 7 shutdown, 4-6 time passes, else HELLO timeout), conn
/// ```
pub fn run(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let mut h = Harness::new();
    for (shard, serializer) in
        [(0, Serializer::Json), (1, Serializer::MsgPack), (0, Serializer::Cbor), (1, Serializer::Json)]
    {
        h.open(shard, serializer, ConnLimits::default());
    }
    while !input.is_empty() {
        let op = input.byte() % 8;
        match op {
            0..=4 => {
                let c = usize::from(input.byte()) % h.conns.len();
                let usable = h.usable(c);
                match op {
                    0 | 1 => {
                        let len = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
                        let frame = Bytes::copy_from_slice(input.take(len));
                        if usable {
                            h.on_conn(c, |r, id, out| r.handle_frame(id, frame, out));
                        }
                    }
                    2 | 3 => {
                        let message = h.message(&mut input, h.conns[c].serializer);
                        if usable {
                            h.send(c, &message);
                        }
                    }
                    _ => h.close(c),
                }
            }
            5 => {
                let b = input.byte();
                let depth = usize::from(input.byte() % 12);
                if h.conns.len() < MAX_CONNS {
                    let shard = usize::from(b & 1);
                    let serializer = Serializer::ALL[usize::from(b >> 1) % 3];
                    let mut limits = ConnLimits::default();
                    if b & 0x40 != 0 {
                        // RawSocket peers accept 2^9 bytes at least.
                        limits.max_outbound = 512 + usize::from(b & 0x3f) * 64;
                    }
                    if b & 0x80 != 0 {
                        limits.max_nesting_depth = depth;
                    }
                    h.open(shard, serializer, limits);
                }
            }
            6 => {
                let from = usize::from(input.byte()) % SHARDS;
                let n = usize::from(input.byte() % 8);
                h.deliver(from, (from + 1) % SHARDS, if n == 0 { usize::MAX } else { n });
            }
            _ => {
                let what = input.byte();
                let c = usize::from(input.byte()) % h.conns.len();
                if what % 8 == 7 {
                    let shard = h.conns[c].shard;
                    h.stopped[shard] = true;
                    let mut out = Outbox::default();
                    h.shards[shard].shutdown(&mut out);
                    h.apply(shard, out);
                } else if what % 8 >= 4 {
                    // Time passes (call timeouts): up to about 25 s.
                    h.now += Duration::from_millis(100 * u64::from(what));
                    for shard in 0..SHARDS {
                        let mut out = Outbox::default();
                        h.shards[shard].expire_calls(h.now, &mut out);
                        h.apply(shard, out);
                    }
                } else if h.usable(c) {
                    h.on_conn(c, |r, id, out| r.hello_timeout(id, out));
                }
            }
        }
        if flags & 1 != 0 {
            h.deliver_all();
        }
        h.reap();
    }
    h.finish();
}

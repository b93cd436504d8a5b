//! A minimal blocking WAMP client session on top of a transport: join a realm (HELLO/WELCOME), exchange
//! messages, wait for a reply with a deadline, drop a connection abruptly (TCP RST), and run a connection's
//! reader thread, or a few threads polling many connections, that hand every message to a scenario's
//! [`Handler`].

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};
use switchyard::dict;
use switchyard::wamp::codec::Serializer;
use switchyard::wamp::message::code_name;
use switchyard::wamp::{Dict, Message, Payload};

use crate::control::Control;
use crate::transport::{self, FrameReader, FrameWriter, Target, POLL_INTERVAL, SETUP_TIMEOUT};

/// Receives and decodes messages; owned by one thread.
pub struct MessageReader {
    frames: FrameReader,
    serializer: Serializer,
}

impl MessageReader {
    /// The next message, or `None` when the poll interval passed without one.
    pub fn poll(&mut self) -> Result<Option<Message>, String> {
        self.frames.poll_message(self.serializer)
    }

    /// See [`FrameReader::set_nonblocking`].
    fn set_nonblocking(&self, nonblocking: bool) -> Result<(), String> {
        self.frames.set_nonblocking(nonblocking)
    }

    /// The next message, waiting at most [`SETUP_TIMEOUT`]; `what` names it in the timeout error.
    pub fn expect(&mut self, what: &str) -> Result<Message, String> {
        self.expect_within(SETUP_TIMEOUT, what)
    }

    /// The next message, waiting at most `timeout` (give or take one [`POLL_INTERVAL`]).
    ///
    /// [`POLL_INTERVAL`]: crate::transport::POLL_INTERVAL
    pub fn expect_within(&mut self, timeout: Duration, what: &str) -> Result<Message, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(message) = self.poll()? {
                return Ok(message);
            }
            if Instant::now() >= deadline {
                return Err(format!("no {what} from the router within {:.1} s", timeout.as_secs_f64()));
            }
        }
    }
}

/// Encodes and sends messages; clones share the connection.
#[derive(Clone)]
pub struct MessageWriter {
    frames: FrameWriter,
    serializer: Serializer,
}

impl MessageWriter {
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    pub fn send(&self, message: &Message) -> Result<(), String> {
        self.frames.send(std::slice::from_ref(message), self.serializer)
    }

    /// Sends several messages at once (one write where the transport allows).
    pub fn send_all(&self, messages: &[Message]) -> Result<(), String> {
        self.frames.send(messages, self.serializer)
    }

    /// Says GOODBYE (without waiting for the reply) and shuts the connection down.
    pub fn close(&self) {
        let goodbye = Message::Goodbye { details: dict!(), reason: "wamp.close.close_realm".to_owned() };
        // The router may already be gone; closing is best effort.
        let _ = self.send(&goodbye);
        self.frames.shutdown();
    }
}

/// A joined session.
pub struct Session {
    pub reader: MessageReader,
    pub writer: MessageWriter,
}

/// The roles [`Session::join`] announces: every client role, without advanced features.
pub fn client_roles() -> Dict {
    dict! {
        "publisher" => dict!(),
        "subscriber" => dict!(),
        "caller" => dict!(),
        "callee" => dict!(),
    }
}

impl Session {
    /// Connects, joins `realm` with every client role and waits for WELCOME.
    pub fn join(target: &Target, serializer: Serializer, realm: &str) -> Result<Session, String> {
        Session::join_with_roles(target, serializer, realm, client_roles())
    }

    /// Connects, joins `realm` announcing `roles` (HELLO's `Details.roles`) and waits for WELCOME.
    pub fn join_with_roles(
        target: &Target,
        serializer: Serializer,
        realm: &str,
        roles: Dict,
    ) -> Result<Session, String> {
        let (frames_in, frames_out) = transport::connect(target, serializer)?;
        let mut reader = MessageReader { frames: frames_in, serializer };
        let writer = MessageWriter { frames: frames_out, serializer };
        let details = dict! {
            "roles" => roles,
            "agent" => concat!("switchyard-loadtest/", env!("CARGO_PKG_VERSION")),
        };
        writer.send(&Message::Hello { realm: realm.to_owned(), details })?;
        // On failure the connection closes as the reader and writer drop (no GOODBYE without a session).
        match reader.expect("WELCOME")? {
            Message::Welcome { .. } => Ok(Session { reader, writer }),
            other => Err(describe_unexpected(&other)),
        }
    }

    /// Sends `request` and waits for its reply (any message; the caller checks it).
    pub fn request(&mut self, request: &Message, reply: &str) -> Result<Message, String> {
        self.writer.send(request)?;
        self.reader.expect(reply)
    }

    /// Drops the connection abruptly, as a crashed peer would: no GOODBYE, and a TCP RST instead of a FIN
    /// (a plain close on a Unix socket). The RST goes out when the last clone of the writer is dropped too.
    pub fn reset(self) -> Result<(), String> {
        self.writer.frames.reset_on_close()
    }
}

/// A human description of a message a scenario did not expect at this point (ABORT, GOODBYE, ERROR, ...).
pub fn describe_unexpected(message: &Message) -> String {
    match message {
        Message::Abort { details, reason, payload } => {
            format!("the router aborted the session: {reason}{}", explanation(details, payload))
        }
        Message::Goodbye { reason, .. } => format!("the router ended the session: {reason}"),
        Message::Error { request_type, request, details, error, payload } => format!(
            "the router answered {} request {request} with ERROR {error}{}",
            code_name(*request_type),
            explanation(details, payload)
        ),
        other => format!("unexpected {} from the router", other.name()),
    }
}

/// `: message` from an ABORT/ERROR's `Details.message` or first argument, if either is a string.
fn explanation(details: &Dict, payload: &Payload) -> String {
    let from_details = details.get("message").and_then(|v| v.as_str()).map(str::to_owned);
    let from_args = || {
        let (args, _) = payload.to_values().ok()?;
        args?.first()?.as_str().map(str::to_owned)
    };
    from_details.or_else(from_args).map(|m| format!(": {m}")).unwrap_or_default()
}

/// What a connection's reader thread does with each message.
pub trait Handler: Send + 'static {
    /// Handles one message; an error fails the run and ends this reader.
    fn on_message(&mut self, message: Message) -> Result<(), String>;

    /// Called by a pool reader ([`spawn_reader_pool`]) once it has handed over everything the connection
    /// had to read for now: the moment to send replies gathered from those messages in one write.
    fn drained(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Starts the reader thread of one connection: it polls until the run stops reading (or the connection
/// fails, which fails the run) and then returns the handler with whatever it collected.
pub fn spawn_reader<H: Handler>(
    name: String,
    mut reader: MessageReader,
    mut handler: H,
    control: Arc<Control>,
) -> Result<JoinHandle<H>, String> {
    const STACK: usize = 256 * 1024;
    std::thread::Builder::new()
        .name(name.clone())
        .stack_size(STACK)
        .spawn(move || {
            while !control.reading_stopped() {
                let result = match reader.poll() {
                    Ok(Some(message)) => handler.on_message(message),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    if !control.reading_stopped() {
                        control.fail(format!("{name}: {e}"));
                    }
                    break;
                }
            }
            handler
        })
        .map_err(|e| format!("cannot start a reader thread: {e}"))
}

/// Connections read by [`spawn_reader_pool`]'s threads; [`ReaderPool::join`] gives their handlers back.
pub struct ReaderPool<H> {
    threads: Vec<JoinHandle<Vec<(usize, H)>>>,
}

impl<H> ReaderPool<H> {
    /// Waits for every pool thread (they stop once the run stops reading) and returns the handlers in the
    /// order they were given.
    pub fn join(self) -> Result<Vec<H>, String> {
        let mut handlers = Vec::new();
        for thread in self.threads {
            handlers.extend(thread.join().map_err(|_| "a reader thread panicked".to_owned())?);
        }
        handlers.sort_by_key(|(i, _)| *i);
        Ok(handlers.into_iter().map(|(_, h)| h).collect())
    }
}

/// Reads many connections with a few threads: connection i goes to thread i % `threads`, which waits on
/// an epoll set of its connections (level-triggered) and drains each readable one with non-blocking reads,
/// handing every message to that connection's handler. Compared with a thread per connection
/// ([`spawn_reader`]) this saves most wakeups and context switches on both sides of loopback when many
/// connections receive at once (fan-out). An error on any connection fails the run and ends its thread.
pub fn spawn_reader_pool<H: Handler>(
    name: &str,
    connections: Vec<(MessageReader, H)>,
    threads: usize,
    control: &Arc<Control>,
) -> Result<ReaderPool<H>, String> {
    let threads = threads.clamp(1, connections.len().max(1));
    let mut groups: Vec<Vec<(usize, MessageReader, H)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, (reader, handler)) in connections.into_iter().enumerate() {
        groups[i % threads].push((i, reader, handler));
    }
    let mut pool = ReaderPool { threads: Vec::with_capacity(threads) };
    for (t, group) in groups.into_iter().enumerate() {
        let (name, control) = (name.to_owned(), control.clone());
        let thread = std::thread::Builder::new()
            .name(format!("{name}-reader-{t}"))
            .spawn(move || read_pooled(&name, group, &control))
            .map_err(|e| format!("cannot start a reader thread: {e}"))?;
        pool.threads.push(thread);
    }
    Ok(pool)
}

/// One pool thread: registers its connections, polls them until the run stops reading, and leaves them
/// blocking and unregistered again.
fn read_pooled<H: Handler>(
    name: &str,
    mut group: Vec<(usize, MessageReader, H)>,
    control: &Control,
) -> Vec<(usize, H)> {
    match Poller::new() {
        Ok(poller) => {
            let mut registered = 0;
            let mut setup = Ok(());
            for (key, (_, reader, _)) in group.iter().enumerate() {
                setup = reader.set_nonblocking(true).and_then(|()| {
                    // SAFETY: every registered socket is deleted below, before `group` (which owns the
                    // sockets) is dropped or handed back.
                    unsafe {
                        poller.add_with_mode(&reader.frames.fd(), Event::readable(key), PollMode::Level)
                    }
                    .map_err(|e| format!("poller: cannot register a socket: {e}"))
                });
                if setup.is_err() {
                    break;
                }
                registered += 1;
            }
            if let Err(e) = setup.and_then(|()| drive(name, &poller, &mut group, control)) {
                if !control.reading_stopped() {
                    control.fail(e);
                }
            }
            for (_, reader, _) in &group[..registered] {
                // Deleting a registered socket cannot fail, and a failure to restore blocking mode only
                // matters to a GOODBYE that is best effort anyway.
                let _ = poller.delete(reader.frames.fd());
                let _ = reader.set_nonblocking(false);
            }
        }
        Err(e) => control.fail(format!("{name}: cannot create a poller: {e}")),
    }
    group.into_iter().map(|(i, _, handler)| (i, handler)).collect()
}

fn drive<H: Handler>(
    name: &str,
    poller: &Poller,
    group: &mut [(usize, MessageReader, H)],
    control: &Control,
) -> Result<(), String> {
    let mut events = Events::new();
    while !control.reading_stopped() {
        events.clear();
        poller.wait(&mut events, Some(POLL_INTERVAL)).map_err(|e| format!("{name}: poll failed: {e}"))?;
        for event in events.iter() {
            let (i, reader, handler) = &mut group[event.key];
            while let Some(message) = reader.poll().map_err(|e| format!("{name} {i}: {e}"))? {
                handler.on_message(message).map_err(|e| format!("{name} {i}: {e}"))?;
            }
            handler.drained().map_err(|e| format!("{name} {i}: {e}"))?;
        }
    }
    Ok(())
}

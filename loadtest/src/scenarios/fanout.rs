//! The `fanout` scenario: S subscribers (subscriber i on topic i % T) and P publishers that publish with
//! acknowledgement, round-robin over the T topics, with at most W PUBLISHED outstanding each and at most
//! `--max-backlog` events per subscriber published but not yet received (all publishers together). Every event
//! carries `[publisher, seq, sent_ns, padding]` with `seq` counted per (publisher, topic), so each
//! subscriber knows the next sequence number to expect from each publisher and detects loss, reordering and
//! duplicates per (publisher, subscriber) pair, and measures end-to-end latency. With `--rate` the
//! publishers send open loop instead, through the `latency` scenario's engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchyard::dict;
use switchyard::wamp::{Dict, Id, Message};

use super::{padding_for, rate, send_for, Phase, Stamp};
use crate::cli::{CommonArgs, FanoutArgs, LatencyArgs, LatencyMode};
use crate::client::{describe_unexpected, spawn_reader, spawn_reader_pool, Handler, MessageWriter, Session};
use crate::control::{wait_until, Control};
use crate::report::{FanoutResults, PairProblem, Report, Results};
use crate::sender::{wakeups, Source, Wakeup, Window};
use crate::stats::Latency;

/// At most this many (publisher, subscriber) pairs with problems are listed individually.
const MAX_LISTED_PAIRS: usize = 100;

pub fn run(args: &FanoutArgs) -> Result<Report, String> {
    if let Some(rate) = args.rate {
        return open_loop(args, rate);
    }
    let common = &args.common;
    let control = Arc::new(Control::new());
    let prefix = common.prefix();
    let topics: Arc<[String]> = (0..args.topics).map(|t| format!("{prefix}.topic.{t}")).collect();

    // Every subscription is confirmed before any publisher connects.
    let mut subscriber_sessions = Vec::with_capacity(args.subscribers as usize);
    for i in 0..args.subscribers as usize {
        let topic = i % topics.len();
        let subscribed = subscribe(common, &topics[topic]).map_err(|e| format!("subscriber {i}: {e}"))?;
        subscriber_sessions.push((subscribed, topic));
    }
    let mut publisher_sessions = Vec::with_capacity(args.publishers as usize);
    for p in 0..args.publishers {
        let session = Session::join(&common.url, common.serializer, &common.realm)
            .map_err(|e| format!("publisher {p}: {e}"))?;
        publisher_sessions.push(session);
    }

    let threads = common.sender_threads(args.publishers);
    let wakeups = wakeups(threads);
    let mut subscribers_per_topic = vec![0; topics.len()];
    for (_, topic) in &subscriber_sessions {
        subscribers_per_topic[*topic] += 1;
    }
    let backlog = Arc::new(Backlog::new(args.max_backlog.saturating_mul(args.subscribers.into()), &wakeups));
    let mut writers = Vec::new();
    let mut subscribers = Vec::with_capacity(subscriber_sessions.len());
    let mut delivered = Vec::with_capacity(subscriber_sessions.len());
    for ((session, subscription), topic) in subscriber_sessions {
        let mut subscriber = Subscriber::new(subscription, topic, publisher_sessions.len(), control.clone());
        subscriber.backlog = Some(backlog.clone());
        delivered.push((subscriber.delivered.clone(), topic));
        writers.push(session.writer);
        subscribers.push((session.reader, subscriber));
    }
    let subscriber_pool = spawn_reader_pool("subscriber", subscribers, args.reader_threads(), &control)?;

    let padding = padding_for(common.serializer, args.payload);
    let mut sources = Vec::with_capacity(publisher_sessions.len());
    let mut ack_threads = Vec::with_capacity(publisher_sessions.len());
    for (p, session) in publisher_sessions.into_iter().enumerate() {
        let window = Arc::new(Window::new(args.window as usize, wakeups[p % threads].clone()));
        let acks = Acks { window: window.clone() };
        ack_threads.push(spawn_reader(format!("publisher {p}"), session.reader, acks, control.clone())?);
        writers.push(session.writer.clone());
        sources.push(Publisher {
            index: p,
            writer: session.writer,
            window,
            topics: topics.clone(),
            seqs: vec![0; topics.len()],
            next_topic: 0,
            request: 0,
            options: dict! { "acknowledge" => true },
            subscribers_per_topic: subscribers_per_topic.clone(),
            backlog: backlog.clone(),
            padding: padding.clone(),
            control: control.clone(),
        });
    }

    let (publishers, phase) = send_for(sources, &wakeups, &control, common, |p: &Publisher| p.index)?;
    // Stragglers: wait for every acknowledgement and for each subscriber to have all its topic's events.
    let per_topic: Vec<u64> = (0..topics.len()).map(|t| publishers.iter().map(|p| p.seqs[t]).sum()).collect();
    wait_until(phase.grace_deadline, || {
        control.failed()
            || (publishers.iter().all(|p| p.window.in_flight() == 0)
                && delivered.iter().all(|(d, t)| d.load(Ordering::Acquire) >= per_topic[*t]))
    });
    control.stop_reading();
    let subscribers = subscriber_pool.join()?;
    for thread in ack_threads {
        thread.join().map_err(|_| "a publisher thread panicked".to_owned())?;
    }
    for writer in &writers {
        writer.close();
    }

    let results = tally(args, &publishers, &subscribers, &phase);
    let connections = subscribers.len() + publishers.len();
    Ok(Report::new(common, threads, connections, &phase, Results::Fanout(results), &control))
}

/// `--rate`: the same publishers and subscribers, open loop, through the `latency` scenario's engine (its
/// report, under this scenario's name).
fn open_loop(args: &FanoutArgs, rate: u64) -> Result<Report, String> {
    if args.topics != 1 {
        return Err("--rate publishes to one topic: leave --topics at 1".to_owned());
    }
    let mut report = super::latency::run(&LatencyArgs {
        common: args.common.clone(),
        mode: LatencyMode::Pubsub,
        rate,
        publishers: args.publishers,
        subscribers: args.subscribers,
        payload: args.payload,
    })?;
    report.scenario = "fanout";
    Ok(report)
}

/// Joins a session and subscribes it to `topic`.
pub(super) fn subscribe(common: &CommonArgs, topic: &str) -> Result<(Session, Id), String> {
    let mut session = Session::join(&common.url, common.serializer, &common.realm)?;
    let subscribe = Message::Subscribe { request: 1, options: dict!(), topic: topic.to_owned() };
    match session.request(&subscribe, "SUBSCRIBED")? {
        Message::Subscribed { request: 1, subscription } => Ok((session, subscription)),
        other => Err(describe_unexpected(&other)),
    }
}

/// Compares what each subscriber received from each publisher with what that publisher published to the
/// subscriber's topic.
fn tally(
    args: &FanoutArgs,
    publishers: &[Publisher],
    subscribers: &[Subscriber],
    phase: &Phase,
) -> FanoutResults {
    let mut latency = Latency::new();
    let mut results = FanoutResults {
        publishers: args.publishers,
        subscribers: args.subscribers,
        topics: args.topics,
        payload_bytes: args.payload,
        window: args.window,
        published: publishers.iter().map(|p| p.seqs.iter().sum::<u64>()).sum(),
        unacknowledged: publishers.iter().map(|p| p.window.in_flight() as u64).sum(),
        ..FanoutResults::default()
    };
    let mut last_event_ns = 0;
    for (i, subscriber) in subscribers.iter().enumerate() {
        latency.merge(&subscriber.latency);
        last_event_ns = last_event_ns.max(subscriber.last_event_ns);
        for (p, publisher) in publishers.iter().enumerate() {
            let (expected, received) = (publisher.seqs[subscriber.topic], subscriber.received[p]);
            let pair = PairProblem {
                publisher: p,
                subscriber: i,
                expected,
                received,
                lost: expected.saturating_sub(received),
                out_of_order: subscriber.out_of_order[p],
                excess: received.saturating_sub(expected),
            };
            results.expected_events += expected;
            results.delivered_events += received;
            results.lost_events += pair.lost;
            results.out_of_order_events += pair.out_of_order;
            results.excess_events += pair.excess;
            if pair.lost + pair.out_of_order + pair.excess > 0 {
                results.pairs_with_problems += 1;
                if results.pair_problems.len() < MAX_LISTED_PAIRS {
                    results.pair_problems.push(pair);
                }
            }
        }
    }
    let acknowledged = results.published - results.unacknowledged;
    results.published_per_s = rate(acknowledged, phase.elapsed);
    // Deliveries are counted until the last event arrived, which may be after sending stopped.
    let delivery_span = Duration::from_nanos(last_event_ns.saturating_sub(phase.start_ns));
    results.delivered_per_s = rate(results.delivered_events, delivery_span.max(phase.elapsed));
    results.delivery_ratio = if results.expected_events == 0 {
        0.0
    } else {
        results.delivered_events as f64 / results.expected_events as f64
    };
    results.latency = latency.summary();
    results
}

/// A publisher's sending side.
struct Publisher {
    index: usize,
    writer: MessageWriter,
    window: Arc<Window>,
    topics: Arc<[String]>,
    /// Events published so far to each topic: the next sequence number for it.
    seqs: Vec<u64>,
    next_topic: usize,
    request: Id,
    options: Dict,
    /// Per topic: the events one publication there means.
    subscribers_per_topic: Vec<u64>,
    backlog: Arc<Backlog>,
    padding: String,
    control: Arc<Control>,
}

impl Source for Publisher {
    fn window(&self) -> &Window {
        &self.window
    }

    fn held(&self) -> bool {
        self.backlog.full()
    }

    fn send(&mut self, count: usize) -> Result<(), String> {
        let mut batch = Vec::with_capacity(count);
        for _ in 0..count {
            let t = self.next_topic;
            self.next_topic = (t + 1) % self.topics.len();
            self.request += 1;
            let stamp =
                Stamp { sender: self.index as u64, seq: self.seqs[t], sent_ns: self.control.now_ns() };
            self.seqs[t] += 1;
            self.backlog.expected.fetch_add(self.subscribers_per_topic[t], Ordering::SeqCst);
            batch.push(Message::Publish {
                request: self.request,
                options: self.options.clone(),
                topic: self.topics[t].clone(),
                payload: stamp.payload(self.writer.serializer(), &self.padding),
            });
        }
        self.writer.send_all(&batch).map_err(|e| format!("publisher {}: {e}", self.index))
    }
}

/// A publisher's reader: PUBLISHED frees a window slot; anything else (an ERROR above all) fails the run.
struct Acks {
    window: Arc<Window>,
}

impl Handler for Acks {
    fn on_message(&mut self, message: Message) -> Result<(), String> {
        match message {
            Message::Published { .. } => self.window.release().map_err(|e| format!("PUBLISHED: {e}")),
            other => Err(describe_unexpected(&other)),
        }
    }
}

/// End-to-end flow control: events published (times their subscribers) but not yet received, which the
/// publishers keep under a limit. Subscribers report what they received each time their reader has
/// drained their connection, and wake the sender threads once there is room again.
struct Backlog {
    expected: AtomicU64,
    delivered: AtomicU64,
    limit: u64,
    wakeups: Vec<Arc<Wakeup>>,
}

impl Backlog {
    fn new(limit: u64, wakeups: &[Arc<Wakeup>]) -> Backlog {
        let wakeups = wakeups.to_vec();
        Backlog { expected: AtomicU64::new(0), delivered: AtomicU64::new(0), limit, wakeups }
    }

    fn full(&self) -> bool {
        // SeqCst pairs with the sender's sleep protocol (see `Wakeup`): either the sender's last look sees
        // the deliveries, or `received` sees it sleeping and wakes it.
        let delivered = self.delivered.load(Ordering::SeqCst);
        self.expected.load(Ordering::SeqCst).saturating_sub(delivered) >= self.limit
    }

    fn received(&self, events: u64) {
        self.delivered.fetch_add(events, Ordering::SeqCst);
        if !self.full() {
            for wakeup in &self.wakeups {
                wakeup.notify();
            }
        }
    }
}

/// A subscriber's reader: checks and counts every event.
pub(super) struct Subscriber {
    subscription: Id,
    /// The index of the subscribed topic.
    topic: usize,
    /// Per publisher: the sequence number expected next.
    next_seq: Vec<u64>,
    /// Per publisher: events received.
    pub(super) received: Vec<u64>,
    /// Per publisher: events older than one already received (late or duplicated).
    pub(super) out_of_order: Vec<u64>,
    /// All events received, for the main thread to see when stragglers are in.
    pub(super) delivered: Arc<AtomicU64>,
    last_event_ns: u64,
    /// From each event's `sent_ns` to its receipt.
    pub(super) latency: Latency,
    control: Arc<Control>,
    /// The publishers' flow control (`fanout` only), and the events not yet reported to it.
    backlog: Option<Arc<Backlog>>,
    unreported: u64,
}

impl Subscriber {
    pub(super) fn new(
        subscription: Id,
        topic: usize,
        publishers: usize,
        control: Arc<Control>,
    ) -> Subscriber {
        Subscriber {
            subscription,
            topic,
            next_seq: vec![0; publishers],
            received: vec![0; publishers],
            out_of_order: vec![0; publishers],
            delivered: Arc::new(AtomicU64::new(0)),
            last_event_ns: 0,
            latency: Latency::new(),
            control,
            backlog: None,
            unreported: 0,
        }
    }
}

impl Handler for Subscriber {
    fn on_message(&mut self, message: Message) -> Result<(), String> {
        let Message::Event { subscription, payload, .. } = message else {
            return Err(describe_unexpected(&message));
        };
        if subscription != self.subscription {
            return Err(format!("EVENT for subscription {subscription}, not ours ({})", self.subscription));
        }
        let now = self.control.now_ns();
        let stamp = Stamp::parse(&payload).map_err(|e| format!("EVENT with {e}"))?;
        let p = usize::try_from(stamp.sender)
            .ok()
            .filter(|&p| p < self.received.len())
            .ok_or_else(|| format!("EVENT from unknown publisher {}", stamp.sender))?;
        self.latency.record_ns(now.saturating_sub(stamp.sent_ns));
        self.received[p] += 1;
        if stamp.seq < self.next_seq[p] {
            self.out_of_order[p] += 1;
        } else {
            self.next_seq[p] = stamp.seq + 1;
        }
        self.last_event_ns = now;
        self.delivered.fetch_add(1, Ordering::Release);
        self.unreported += 1;
        Ok(())
    }

    fn drained(&mut self) -> Result<(), String> {
        if let Some(backlog) = &self.backlog {
            backlog.received(std::mem::take(&mut self.unreported));
        }
        Ok(())
    }
}

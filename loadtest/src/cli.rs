//! The command line: one subcommand per scenario, each with the common connection options flattened in, so
//! `switchyard-loadtest fanout --url ... --publishers 2` works with the options in any order.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use switchyard::wamp::codec::Serializer;

use crate::transport::Target;

/// A WAMP v2 load generator: drives a router with publishers and subscribers (`fanout`) or callers and
/// callees (`rpc`) and reports throughput, loss, ordering, latency and its own CPU use; measures latency
/// at a fixed offered rate (`latency`); or drops peers in the middle of calls (`churn`) and reports
/// whether the router cleaned up, and its memory use.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Publishers publish (acknowledged, windowed) round-robin to T topics; each subscriber listens to
    /// one topic and checks every event for loss and order.
    Fanout(FanoutArgs),
    /// Callers keep W calls in flight each against callees that echo the arguments back.
    Rpc(RpcArgs),
    /// Peers vanish mid-call (TCP RST): even cycles drop a new caller while its call is invoked, and the
    /// callee must get INTERRUPT; odd cycles drop a new callee while invoked, and the caller must get
    /// `wamp.error.canceled`. Reads the router's RSS from /proc with --router-pid. --threads runs that many
    /// independent loops; --duration and --grace do not apply.
    Churn(ChurnArgs),
    /// Holds N sessions at once, each subscribed to one of T topics and registered for its own procedure,
    /// spread over --processes worker processes and --source-addresses loopback source addresses; reports
    /// the connect rate and, with --router-pid, the router's RSS per session; then checks that every
    /// session still gets an event (and that a sample of the procedures answer) and closes them all.
    Sessions(SessionsArgs),
    /// Open loop at a fixed rate: P publishers publish --rate events/s in all to one topic with S
    /// subscribers (with --mode rpc: callers call echoing callees at that rate). Sends are scheduled at
    /// fixed intervals and never wait for answers; latency counts from each send's scheduled time, so a
    /// stall of the router or of the sender shows in the percentiles (no coordinated omission).
    Latency(LatencyArgs),
}

/// Options every scenario shares.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// The router: rs://HOST:PORT (RawSocket over TCP), rs+unix:///PATH (RawSocket over a Unix socket)
    /// or ws://HOST:PORT/PATH (WebSocket); or nats://HOST:PORT, a NATS server (fanout only, same workload).
    #[arg(long, default_value = "rs://127.0.0.1:8080", value_parser = Target::parse)]
    pub url: Target,
    /// The WAMP serializer: json, msgpack or cbor.
    #[arg(long, default_value = "json", value_parser = parse_serializer)]
    pub serializer: Serializer,
    /// The realm every session joins.
    #[arg(long, default_value = "realm1")]
    pub realm: String,
    /// How long to send, in seconds.
    #[arg(long, default_value = "5", value_parser = parse_duration)]
    pub duration: Duration,
    /// How long after sending stops to wait for outstanding answers and in-flight events, in seconds;
    /// whatever has not arrived by then counts as lost.
    #[arg(long, default_value = "2", value_parser = parse_duration)]
    pub grace: Duration,
    /// Sender threads driving the publishers/callers. Default: one per publisher/caller, at most one per
    /// CPU. Every connection also has its own reader thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Prefix of the topic and procedure URIs. Default: `loadtest.<pid>`, so concurrent runs against one
    /// router do not see each other's traffic.
    #[arg(long)]
    pub prefix: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Publishing sessions.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub publishers: u32,
    /// Subscribing sessions; subscriber i subscribes to topic i % T.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,
    /// Topics; every publisher publishes to them round-robin.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub topics: u32,
    /// Approximate size in bytes of each event's encoded `Arguments` list (padded with a string).
    #[arg(long, default_value = "64")]
    pub payload: usize,
    /// Most PUBLISH messages a publisher has awaiting their PUBLISHED acknowledgement.
    #[arg(long, default_value = "32", value_parser = clap::value_parser!(u32).range(1..))]
    pub window: u32,
    /// Open loop instead: publish this many events per second (all publishers together, unacknowledged,
    /// on a fixed schedule), measuring latency from each send's scheduled time. This runs the `latency`
    /// scenario's engine and prints its report (loss, order, rate kept, send lag; `mode` "pubsub" in the JSON
    /// line); one topic only.
    #[arg(long, value_name = "PER_S", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: Option<u64>,
    /// Most events per subscriber published but not yet received: beyond that the publishers wait (end-to-
    /// end flow control, so readers slower than the router show as a lower rate, not as a queue in the
    /// router growing for the whole run).
    #[arg(long, default_value = "1024", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_backlog: u64,
    /// Threads reading the subscribers' connections, each polling its share (epoll). Default: one per CPU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub reader_threads: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct RpcArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Callee sessions; callee k registers `<prefix>.proc.k` (with --shared: all register `<prefix>.proc`).
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub callees: u32,
    /// Caller sessions; caller c calls `<prefix>.proc.(c % callees)` (with --shared: `<prefix>.proc`).
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub callers: u32,
    /// One shared registration (11.9) of `<prefix>.proc` held by every callee under this invocation
    /// policy, instead of a procedure per callee; the report shows how the calls were spread.
    #[arg(long, value_name = "POLICY", value_parser = ["roundrobin", "random", "first", "last"])]
    pub shared: Option<String>,
    /// Calls each caller keeps in flight.
    #[arg(long, default_value = "16", value_parser = clap::value_parser!(u32).range(1..))]
    pub outstanding: u32,
    /// Approximate size in bytes of each call's encoded `Arguments` list (echoed back by the callee).
    #[arg(long, default_value = "64")]
    pub payload: usize,
    /// Threads reading the callers' connections, each polling its share (epoll), and as many reading the
    /// callees'. Default: one per CPU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub reader_threads: Option<u32>,
}

#[derive(Args, Debug, Clone)]
pub struct ChurnArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Cycles in all, split across the loops (--threads, default 1).
    #[arg(long, default_value = "10000", value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: u64,
    /// The router's process ID: read its RSS (VmRSS, VmHWM in /proc/PID/status) before the first cycle,
    /// after 10% of them and 1 s after the last, and its CPU time (/proc/PID/stat).
    #[arg(long, value_name = "PID")]
    pub router_pid: Option<u32>,
    /// Also read the router's RSS this many seconds after the last cycle (e.g. 12, once connections'
    /// timers have run out).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub settle: Option<Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct SessionsArgs {
    /// --url must be rs://HOST:PORT (RawSocket over TCP). --grace is how long to wait for the verification
    /// events and call results; --duration and --threads do not apply (--processes is the parallelism).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Sessions held at once, in all.
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u32).range(1..))]
    pub sessions: u32,
    /// Topics: session i subscribes to `<prefix>.topic.(i % T)`; every session registers `<prefix>.proc.i`.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub topics: u32,
    /// Worker processes (re-executions of this binary) the sessions are split across: each holds one
    /// socket per session, and a process may have only so many open files.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub processes: u32,
    /// Bind session i's socket to 127.0.0.(2 + i % M) before connecting (a loopback router only), so that
    /// neither the ephemeral ports of one address nor a per-IP limit bound the run. 0: no binding.
    #[arg(long, default_value = "0", value_parser = clap::value_parser!(u32).range(0..=253))]
    pub source_addresses: u32,
    /// Sessions being set up (connect, RawSocket handshake, HELLO, SUBSCRIBE and REGISTER) at once, in
    /// all, split across the processes: keeps the router's listen backlog from overflowing.
    #[arg(long, default_value = "256", value_parser = clap::value_parser!(u32).range(1..))]
    pub in_flight: u32,
    /// Procedures called once each at the end (evenly spread over the sessions); 0: none.
    #[arg(long, default_value = "100")]
    pub calls: u32,
    /// The router's process ID: read its RSS (VmRSS in /proc/PID/status) before the first session, once
    /// all are established, and --settle after all are closed; and its CPU time while connecting.
    #[arg(long, value_name = "PID")]
    pub router_pid: Option<u32>,
    /// How long after the last session closed the final RSS is read, in seconds.
    #[arg(long, default_value = "1", value_parser = parse_duration)]
    pub settle: Duration,
    /// Internal: run as a worker process for sessions FIRST..FIRST+COUNT, driven over stdin/stdout.
    #[arg(long, hide = true, value_name = "FIRST:COUNT")]
    pub worker: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct LatencyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// `pubsub`: publish to subscribers (latency to each subscriber's receipt); `rpc`: call callees that
    /// echo the arguments back (round-trip latency).
    #[arg(long, value_enum, default_value = "pubsub")]
    pub mode: LatencyMode,
    /// Sends per second, all publishers (callers) together, spread evenly over them.
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: u64,
    /// Publishing sessions (with --mode rpc: calling sessions).
    #[arg(
        long,
        visible_alias = "callers",
        default_value = "1",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub publishers: u32,
    /// Subscribing sessions, all on one topic (with --mode rpc: callees, callee k registering
    /// `<prefix>.proc.k`; caller c calls `<prefix>.proc.(c % callees)`).
    #[arg(
        long,
        visible_alias = "callees",
        default_value = "1",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub subscribers: u32,
    /// Approximate size in bytes of each send's encoded `Arguments` list (padded with a string).
    #[arg(long, default_value = "64")]
    pub payload: usize,
}

/// What the `latency` scenario sends.
#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LatencyMode {
    Pubsub,
    Rpc,
}

impl FanoutArgs {
    pub fn reader_threads(&self) -> usize {
        reader_threads(self.reader_threads)
    }
}

impl RpcArgs {
    pub fn reader_threads(&self) -> usize {
        reader_threads(self.reader_threads)
    }
}

/// `--reader-threads`, or one per CPU.
fn reader_threads(option: Option<u32>) -> usize {
    option.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |n| n as usize)
}

impl CommonArgs {
    /// The URI prefix for this run.
    pub fn prefix(&self) -> String {
        self.prefix.clone().unwrap_or_else(|| format!("loadtest.{}", std::process::id()))
    }

    /// The number of sender threads for `clients` publishers or callers.
    pub fn sender_threads(&self, clients: u32) -> usize {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        match self.threads {
            Some(n) => n.min(clients) as usize,
            None => (clients as usize).min(cpus),
        }
    }
}

fn parse_serializer(s: &str) -> Result<Serializer, String> {
    Serializer::ALL
        .into_iter()
        .find(|f| f.name() == s)
        .ok_or_else(|| format!("unknown serializer `{s}`: use json, msgpack or cbor"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("duration must be in (0, 86400] seconds, not {s}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

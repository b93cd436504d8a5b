//! Smoke test of every load-generator scenario against a router started in this process, for CI: each
//! runs the built `switchyard-loadtest` for about a second at small rates (RawSocket and WebSocket both
//! appear), and must exit 0 with a report whose JSON line has its key numbers and delivered something.
//! Not a measurement: nothing here asserts a timing.
//!
//! Adding a scenario is one test function: start a [`Router`], [`run`] the scenario against it, and check
//! its own fields with [`positive`] (and `assert_eq!` where an exact number is known).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard::{BoundAddr, Config, RouterHandle};

/// The longest one load-generator run may take before the test kills it and fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A router on a free loopback port with realm `realm1` and one universal endpoint; stops when dropped.
struct Router {
    _handle: RouterHandle,
    addr: SocketAddr,
}

impl Router {
    fn start() -> Router {
        let toml = "cores = 2\n[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"universal\"\n\
                    listen = \"127.0.0.1:0\"\n";
        let config = Config::from_toml_str(toml).expect("valid router config");
        let handle = RouterHandle::start(config).expect("the router starts");
        let addr = match handle.endpoints().first() {
            Some(BoundAddr::Tcp(addr)) => *addr,
            other => panic!("expected a TCP endpoint, got {other:?}"),
        };
        Router { _handle: handle, addr }
    }

    fn rs(&self) -> String {
        format!("rs://{}", self.addr)
    }

    fn ws(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

/// Runs `switchyard-loadtest SCENARIO --url URL ARGS...`, checks that it exited 0 and that its report
/// (the JSON line its output ends with) names the scenario, is ok and has the fields every report has;
/// returns the report.
fn run(scenario: &str, url: &str, args: &[&str]) -> Value {
    let command = format!("switchyard-loadtest {scenario} --url {url} {}", args.join(" "));
    // The output is a few lines, well within a pipe's buffer, so it can wait in the pipes until the end.
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard-loadtest"))
        .arg(scenario)
        .args(["--url", url])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command}: cannot start: {e}"));
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().unwrap_or_else(|e| panic!("{command}: cannot wait: {e}")).is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command}: still running after {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{command}: no output: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{command}: {}\n{stdout}\n{stderr}", output.status);
    let line = stdout.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{command}: the last line is not JSON ({e}):\n{stdout}"));
    assert_eq!(report["scenario"], scenario, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["failure_count"], 0, "{report}");
    positive(&report, &["/duration_s", "/connections", "/sender_threads", "/loadtest_cpu/wall_s"]);
    report
}

/// Asserts that every field (a JSON pointer, e.g. `/latency/p50_us`) is a number above zero.
fn positive(report: &Value, pointers: &[&str]) {
    for pointer in pointers {
        let value = report.pointer(pointer).and_then(Value::as_f64);
        assert!(value.is_some_and(|v| v > 0.0), "{pointer} is {value:?} in {report}");
    }
}

#[test]
fn fanout_over_rawsocket() {
    let router = Router::start();
    let args = ["--serializer", "msgpack", "--subscribers", "2", "--duration", "1"];
    let report = run("fanout", &router.rs(), &args);
    positive(&report, &["/published", "/delivered_events", "/delivered_per_s", "/latency/samples"]);
    assert_eq!(report["lost_events"], 0, "{report}");
}

#[test]
fn fanout_open_loop_over_websocket() {
    let router = Router::start();
    let args = ["--serializer", "cbor", "--subscribers", "3", "--rate", "2000", "--duration", "1"];
    let report = run("fanout", &router.ws(), &args);
    positive(&report, &["/sent", "/delivered", "/latency/samples"]);
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["expected"], report["delivered"], "{report}");
}

#[test]
fn rpc_over_websocket() {
    let router = Router::start();
    let args = ["--serializer", "json", "--callers", "2", "--outstanding", "4", "--duration", "1"];
    let report = run("rpc", &router.ws(), &args);
    positive(&report, &["/calls", "/results", "/invocations", "/calls_per_s", "/latency/samples"]);
    assert_eq!(report["unanswered"], 0, "{report}");
}

#[test]
fn rpc_shared_registration_over_rawsocket() {
    let router = Router::start();
    let args = ["--serializer", "msgpack", "--callees", "2", "--shared", "roundrobin", "--duration", "1"];
    let report = run("rpc", &router.rs(), &args);
    positive(&report, &["/invocations_per_callee/0", "/invocations_per_callee/1"]);
    assert_eq!(report["unanswered"], 0, "{report}");
}

#[test]
fn churn_over_rawsocket() {
    let router = Router::start();
    let report = run("churn", &router.rs(), &["--serializer", "cbor", "--cycles", "20"]);
    positive(&report, &["/completed_cycles", "/interrupts", "/canceled_errors"]);
    assert_eq!(report["completed_cycles"], 20, "{report}");
}

#[test]
fn latency_pubsub_over_rawsocket() {
    let router = Router::start();
    let args = ["--serializer", "msgpack", "--rate", "2000", "--subscribers", "2", "--duration", "1"];
    let report = run("latency", &router.rs(), &args);
    positive(&report, &["/sent", "/sent_per_s", "/delivered", "/latency/samples", "/latency/p50_us"]);
    assert_eq!(report["mode"], "pubsub", "{report}");
    assert_eq!(report["scheduled"], 2_000, "{report}");
    assert_eq!(report["sent"], 2_000, "{report}");
    assert_eq!(report["delivered"], 4_000, "{report}");
}

#[test]
fn latency_rpc_over_websocket() {
    let router = Router::start();
    let args =
        ["--mode", "rpc", "--serializer", "json", "--rate", "1000", "--callers", "2", "--duration", "1"];
    let report = run("latency", &router.ws(), &args);
    positive(&report, &["/sent", "/sent_per_s", "/delivered", "/latency/samples", "/latency/p50_us"]);
    assert_eq!(report["mode"], "rpc", "{report}");
    assert_eq!(report["sent"], 1_000, "{report}");
    assert_eq!(report["delivered"], 1_000, "{report}");
}

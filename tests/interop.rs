//! Interoperability tests with real third-party WAMP clients: autobahn-python (asyncio) and
//! autobahn-js (node), talking to an in-process router and, in the cross-library tests, to each other
//! through it.
//!
//! The client scripts live in tests/interop/ (py_client.py, js_client.js); tests/interop/setup.sh
//! installs the pinned libraries into tests/interop/.venv and tests/interop/node_modules (run once
//! per test binary; needs network the first time). If setup fails these tests fail, they do not skip.
//! Each test starts its own router and runs one scenario; a failing script's output is printed.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use switchyard::{BoundAddr, Config, RouterHandle};

/// The scripts give up after 20 s on their own; this is the backstop if one does not.
const HARD_LIMIT: Duration = Duration::from_secs(30);
/// How long a serving script ("callee", "subscriber") may take to print READY.
const READY_LIMIT: Duration = Duration::from_secs(15);

const REALM: &str = "realm1";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop")
}

/// Runs tests/interop/setup.sh once for all tests in this binary; panics (in every test) if it failed.
fn setup() {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = RESULT.get_or_init(|| {
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(interop_dir().join("setup.sh"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run bash tests/interop/setup.sh: {e}"))?;
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if output.status.success() {
            eprintln!("{text}interop setup took {:.1?}", started.elapsed());
            Ok(())
        } else {
            Err(format!("tests/interop/setup.sh failed ({}):\n{text}", output.status))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Starts a router with two shards and one universal (WebSocket + RawSocket) endpoint. The realm checks
/// URIs strictly, so the scripts can provoke wamp.error.invalid_uri with a URI their client libraries
/// accept.
fn start_router() -> (RouterHandle, SocketAddr) {
    let config = Config::from_toml_str(&format!(
        r#"
cores = 2
[[realms]]
name = "{REALM}"
uri_check = "strict"
[[endpoints]]
kind = "universal"
listen = "127.0.0.1:0"
"#
    ))
    .expect("config");
    let router = RouterHandle::start(config).expect("router starts");
    let addr = match &router.endpoints()[0] {
        BoundAddr::Tcp(a) => *a,
        other => panic!("expected a TCP endpoint, got {other:?}"),
    };
    (router, addr)
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/ws")
}

fn rs_url(addr: SocketAddr) -> String {
    format!("rs://{addr}")
}

/// `py_client.py <args>` under the venv's python.
fn py(args: &[&str]) -> Command {
    let dir = interop_dir();
    let mut cmd = Command::new(dir.join(".venv").join("bin").join("python"));
    cmd.arg(dir.join("py_client.py")).args(args).current_dir(&dir);
    cmd
}

/// `node js_client.js <args>`, run in tests/interop so node finds node_modules.
fn js(args: &[&str]) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg("js_client.js").args(args).current_dir(interop_dir());
    cmd
}

/// A script that is running; its output is collected by two threads.
struct Running {
    label: String,
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
    ready: mpsc::Receiver<()>,
}

/// A script that has ended (or was killed: `status` is None).
struct Finished {
    label: String,
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

fn spawn(mut cmd: Command) -> Running {
    let label = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
    let (ready_tx, ready) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    let stdout = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.trim() == "READY" {
                let _ = ready_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let err = child.stderr.take().expect("stderr");
    let stderr = thread::spawn(move || {
        let mut all = String::new();
        let _ = BufReader::new(err).read_to_string(&mut all);
        all
    });
    Running { label, child, stdout, stderr, ready }
}

impl Running {
    /// Waits for the script to end (killing it after HARD_LIMIT) and collects its output.
    fn finish(mut self) -> Finished {
        let deadline = Instant::now() + HARD_LIMIT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        Finished {
            label: self.label,
            status,
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }

    fn kill(mut self) -> Finished {
        let _ = self.child.kill();
        self.finish()
    }
}

impl Finished {
    fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn report(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {HARD_LIMIT:?}"),
        };
        format!(
            "=== {} ({status})\n--- stdout ---\n{}--- stderr ---\n{}",
            self.label, self.stdout, self.stderr
        )
    }
}

/// Panics with every script's output unless all of them exited with status 0
/// (the output is printed on success too: `cargo test --test interop -- --nocapture` shows it).
fn assert_passed(scripts: &[Finished]) {
    let reports: Vec<String> = scripts.iter().map(Finished::report).collect();
    if !scripts.iter().all(Finished::passed) {
        panic!("interop scenario failed:\n{}", reports.join("\n"));
    }
    eprintln!("{}", reports.join("\n"));
}

/// Runs one self-contained scenario script against a fresh router.
fn run_suite(make: fn(&[&str]) -> Command, url: fn(SocketAddr) -> String, serializer: &str, prefix: &str) {
    setup();
    let (_router, addr) = start_router();
    let url = url(addr);
    let script = spawn(make(&["suite", &url, serializer, REALM, "--prefix", prefix])).finish();
    assert_passed(&[script]);
}

/// Starts `server` (a callee or subscriber), waits for its READY, then runs `client` against it;
/// both must succeed.
fn run_pair(server: Command, client: Command) {
    let server = spawn(server);
    match server.ready.recv_timeout(READY_LIMIT) {
        Ok(()) => {}
        Err(_) => {
            let server = server.kill();
            panic!("server script never printed READY within {READY_LIMIT:?}:\n{}", server.report());
        }
    }
    let client = spawn(client).finish();
    let server = server.finish();
    assert_passed(&[server, client]);
}

// ---------------------------------------------------------------- autobahn-python

#[test]
fn python_websocket_json() {
    run_suite(py, ws_url, "json", "py_ws_json");
}

#[test]
fn python_websocket_msgpack() {
    run_suite(py, ws_url, "msgpack", "py_ws_msgpack");
}

#[test]
fn python_websocket_cbor() {
    run_suite(py, ws_url, "cbor", "py_ws_cbor");
}

#[test]
fn python_rawsocket_json() {
    run_suite(py, rs_url, "json", "py_rs_json");
}

#[test]
fn python_rawsocket_msgpack() {
    run_suite(py, rs_url, "msgpack", "py_rs_msgpack");
}

#[test]
fn python_rawsocket_cbor() {
    run_suite(py, rs_url, "cbor", "py_rs_cbor");
}

// ---------------------------------------------------------------- autobahn-js

#[test]
fn js_websocket_json() {
    run_suite(js, ws_url, "json", "js_ws_json");
}

#[test]
fn js_websocket_msgpack() {
    run_suite(js, ws_url, "msgpack", "js_ws_msgpack");
}

#[test]
fn js_websocket_cbor() {
    run_suite(js, ws_url, "cbor", "js_ws_cbor");
}

// ---------------------------------------------------------------- cross-library
//
// The two sides use different serializers on purpose, so the router also has to translate the
// payload (including a binary value, which JSON carries as a "\0"-prefixed base64 string).

#[test]
fn cross_python_callee_js_caller() {
    setup();
    let (_router, addr) = start_router();
    let (ws, proc_) = (ws_url(addr), "com.interop.cross1.echo");
    run_pair(
        py(&["callee", &ws, "cbor", REALM, "--uri", proc_]),
        js(&["call", &ws, "json", REALM, "--uri", proc_, "--peer", "python"]),
    );
}

#[test]
fn cross_js_callee_python_caller() {
    setup();
    let (_router, addr) = start_router();
    let (ws, rs, proc_) = (ws_url(addr), rs_url(addr), "com.interop.cross2.echo");
    run_pair(
        js(&["callee", &ws, "json", REALM, "--uri", proc_]),
        py(&["call", &rs, "msgpack", REALM, "--uri", proc_, "--peer", "js"]),
    );
}

#[test]
fn cross_python_publisher_js_subscriber() {
    setup();
    let (_router, addr) = start_router();
    let (ws, rs, topic) = (ws_url(addr), rs_url(addr), "com.interop.cross3.topic");
    run_pair(
        js(&["subscriber", &ws, "json", REALM, "--uri", topic, "--count", "3", "--peer", "python"]),
        py(&["publisher", &rs, "msgpack", REALM, "--uri", topic, "--count", "3"]),
    );
}

#[test]
fn cross_js_publisher_python_subscriber() {
    setup();
    let (_router, addr) = start_router();
    let (ws, topic) = (ws_url(addr), "com.interop.cross4.topic");
    run_pair(
        py(&["subscriber", &ws, "cbor", REALM, "--uri", topic, "--count", "3", "--peer", "js"]),
        js(&["publisher", &ws, "json", REALM, "--uri", topic, "--count", "3"]),
    );
}

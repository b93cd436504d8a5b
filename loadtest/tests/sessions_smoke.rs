//! The `sessions` scenario end to end against a router in this process: 500 sessions over 2 worker
//! processes and 4 loopback source addresses must all be set up, each get its verification event, answer
//! the sampled calls and close; the router's RSS is read from this process (`--router-pid`).

use std::process::Command;
use std::time::{Duration, Instant};

use switchyard::{BoundAddr, Config, RouterHandle};

#[test]
fn five_hundred_sessions_over_two_processes() {
    let toml = "cores = 1\n[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"rawsocket\"\n\
                listen = \"127.0.0.1:0\"\n";
    let router =
        RouterHandle::start(Config::from_toml_str(toml).expect("valid config")).expect("router starts");
    let addr = match &router.endpoints()[0] {
        BoundAddr::Tcp(addr) => *addr,
        other => panic!("expected a TCP endpoint, got {other:?}"),
    };
    let started = Instant::now();
    let pid = std::process::id().to_string();
    let url = format!("rs://{addr}");
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard-loadtest"))
        .args(["sessions", "--url", url.as_str(), "--serializer", "msgpack", "--sessions", "500"])
        .args(["--processes", "2", "--source-addresses", "4", "--topics", "3", "--calls", "50"])
        .args(["--grace", "5", "--settle", "0.2", "--router-pid", pid.as_str()])
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    let last = stdout.lines().last().expect("a JSON line");
    let json: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    assert_eq!(json["established"], 500, "{stdout}");
    assert_eq!(json["events_received"], 500, "{stdout}");
    assert_eq!(json["duplicate_events"], 0, "{stdout}");
    assert_eq!(json["calls_answered"], 50, "{stdout}");
    assert_eq!(json["goodbyes"], 500, "{stdout}");
    assert_eq!(json["failure_count"], 0, "{stdout}");
    assert!(json["rss_per_session_bytes"].is_number(), "{stdout}");
    assert!(json["connect_rate"].as_f64().is_some_and(|r| r > 0.0), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    router.stop();
}

//! Start-up failures of the `switchyard` binary are explained, not only reported.

use std::process::Command;
use std::time::Duration;

/// io_uring needs locked memory: with too little (hard limit 128 KiB), the router exits at once and says
/// what to raise, instead of "a shard exited".
#[test]
fn too_little_locked_memory_is_named() {
    let dir = std::env::temp_dir().join(format!("switchyard-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("router.toml");
    let toml =
        "[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"rawsocket\"\nlisten = \"127.0.0.1:0\"\n";
    std::fs::write(&config, toml).expect("write config");
    let script = format!("ulimit -l 128 2>/dev/null; exec \"$0\" --config {}", config.display());
    let mut child = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_switchyard")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        assert!(std::time::Instant::now() < deadline, "the router kept running without locked memory");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let _ = std::fs::remove_dir_all(&dir);
    let log = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("ulimit -l"), "the error says what to raise: {log}");
}

//! Graceful shutdown of the real binary: SIGTERM says GOODBYE `wamp.close.system_shutdown` to every
//! session, waits (bounded) for the answers, and exits 0; a second signal exits at once.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The binary, serving RawSocket on a Unix socket in a fresh directory.
struct Binary {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Binary {
    fn start(name: &str, limits: &str) -> Binary {
        let dir = std::env::temp_dir().join(format!("switchyard-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("rs.sock");
        let config = dir.join("config.toml");
        let text = format!(
            "[[realms]]\nname = \"realm1\"\n[[endpoints]]\nkind = \"rawsocket\"\nunix = \"{}\"\n[limits]\n{limits}\n",
            socket.display()
        );
        std::fs::write(&config, text).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["--config", config.to_str().unwrap(), "--cores", "2"])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("switchyard starts");
        Binary { child, dir, socket }
    }

    /// A JSON RawSocket session on realm1.
    fn join(&self) -> UnixStream {
        let mut stream = None;
        for _ in 0..100 {
            if let Ok(s) = UnixStream::connect(&self.socket) {
                stream = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut stream = stream.expect("router listens on the unix socket");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(&[0x7F, 0xF1, 0, 0]).unwrap();
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(reply[0], 0x7F);
        send(&mut stream, br#"[1,"realm1",{"roles":{"subscriber":{}}}]"#);
        assert!(recv(&mut stream).starts_with(b"[2,"), "WELCOME");
        stream
    }

    fn signal(&self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }

    /// Waits up to `within` for the process to exit; returns its exit code and how long it took.
    fn exit(&mut self, within: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the router did not exit within {within:?}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn send(stream: &mut UnixStream, message: &[u8]) {
    let len = message.len() as u32;
    stream.write_all(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8]).unwrap();
    stream.write_all(message).unwrap();
}

fn recv(stream: &mut UnixStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    let len = (header[1] as usize) << 16 | (header[2] as usize) << 8 | header[3] as usize;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    body
}

#[test]
fn sigterm_says_goodbye_and_exits_as_soon_as_sessions_answer() {
    let mut router = Binary::start("graceful", "shutdown_grace_secs = 30");
    let mut sessions = [router.join(), router.join()];
    router.signal();
    for stream in &mut sessions {
        let goodbye = String::from_utf8(recv(stream)).unwrap();
        assert!(goodbye.starts_with("[6,") && goodbye.contains("wamp.close.system_shutdown"), "{goodbye}");
        send(stream, br#"[6,{},"wamp.close.goodbye_and_out"]"#);
    }
    let (code, took) = router.exit(Duration::from_secs(20));
    assert_eq!(code, Some(0));
    assert!(
        took < Duration::from_secs(10),
        "exited once every session answered, not at the grace ({took:?})"
    );
}

#[test]
fn a_silent_session_delays_shutdown_only_until_the_grace_and_a_second_signal_exits_at_once() {
    let mut router = Binary::start("grace", "shutdown_grace_secs = 1");
    let _silent = router.join();
    router.signal();
    let (code, _) = router.exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "a session that never answers GOODBYE does not stop a clean exit");

    let mut router = Binary::start("second", "shutdown_grace_secs = 60");
    let _silent = router.join();
    router.signal();
    std::thread::sleep(Duration::from_millis(300));
    router.signal();
    let (code, took) = router.exit(Duration::from_secs(15));
    assert_ne!(code, Some(0), "the second signal exits at once, not cleanly");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

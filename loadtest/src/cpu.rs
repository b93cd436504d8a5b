//! The load generator's own CPU use (getrusage of the whole process, user + system), so a report can show
//! when the generator rather than the router is the bottleneck; and another process's (the router's) CPU
//! time from /proc.

use std::time::{Duration, Instant};

use serde::Serialize;

/// A point in wall-clock and process CPU time.
#[derive(Clone, Copy)]
pub struct CpuClock {
    wall: Instant,
    user: Duration,
    system: Duration,
}

impl CpuClock {
    pub fn now() -> CpuClock {
        let (user, system) = process_cpu();
        CpuClock { wall: Instant::now(), user, system }
    }

    /// The CPU used since `self`.
    pub fn usage_since(&self) -> CpuUsage {
        let now = CpuClock::now();
        let wall = now.wall.duration_since(self.wall).as_secs_f64();
        let user = now.user.saturating_sub(self.user).as_secs_f64();
        let system = now.system.saturating_sub(self.system).as_secs_f64();
        let percent = if wall > 0.0 { (user + system) / wall * 100.0 } else { 0.0 };
        CpuUsage {
            wall_s: round3(wall),
            user_s: round3(user),
            system_s: round3(system),
            percent_of_one_core: (percent * 10.0).round() / 10.0,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// CPU used over a wall-clock interval; 100 % is one core busy all the time.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUsage {
    pub wall_s: f64,
    pub user_s: f64,
    pub system_s: f64,
    pub percent_of_one_core: f64,
    /// Cores this process may run on.
    pub cores: usize,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The process's user and system CPU time so far (zero if getrusage fails, which it cannot for SELF).
fn process_cpu() -> (Duration, Duration) {
    // SAFETY: `rusage` is plain data, valid when zeroed; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a live `rusage` and the RUSAGE_SELF selector.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let time = |tv: libc::timeval| {
        Duration::from_secs(u64::try_from(tv.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec).unwrap_or(0))
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// The user and system CPU time process `pid` has used so far, from `/proc/PID/stat`; `None` when it cannot
/// be read (no such process, no /proc).
pub fn process_cpu_of(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; after it come field 3 (the state)
    // onwards, so utime (field 14) and stime (15) are at 11 and 12.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok().filter(|&hz| hz > 0)?;
    let time = |t: u64| Duration::from_nanos(t.saturating_mul(1_000_000_000) / hz);
    Some((time(ticks(11)?), time(ticks(12)?)))
}

//! The shared state of one run: the clock every timestamp is measured against, the stop flags for the
//! sender and reader threads, and the failures any thread reports (the first one ends the run early).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Control {
    start: Instant,
    stop_sending: AtomicBool,
    stop_reading: AtomicBool,
    failed: AtomicBool,
    /// The first [`MAX_KEPT_FAILURES`] failures, and how many there were in all.
    failures: Mutex<(Vec<String>, usize)>,
}

/// How many failure messages are kept (a dying router fails every connection at once).
const MAX_KEPT_FAILURES: usize = 20;

impl Default for Control {
    fn default() -> Control {
        Control::new()
    }
}

impl Control {
    pub fn new() -> Control {
        Control {
            start: Instant::now(),
            stop_sending: AtomicBool::new(false),
            stop_reading: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            failures: Mutex::new((Vec::new(), 0)),
        }
    }

    /// Nanoseconds since the run's shared start: the timestamps carried in payloads.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn stop_sending(&self) {
        self.stop_sending.store(true, Ordering::Release);
    }

    pub fn sending_stopped(&self) -> bool {
        self.stop_sending.load(Ordering::Acquire)
    }

    pub fn stop_reading(&self) {
        self.stop_reading.store(true, Ordering::Release);
    }

    pub fn reading_stopped(&self) -> bool {
        self.stop_reading.load(Ordering::Acquire)
    }

    /// Records a failure; senders stop at once, the main thread ends the run.
    pub fn fail(&self, failure: String) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.0.len() < MAX_KEPT_FAILURES {
                failures.0.push(failure);
            }
            failures.1 += 1;
        }
        self.failed.store(true, Ordering::Release);
        self.stop_sending();
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The first failures, and how many there were in all.
    pub fn failures(&self) -> (Vec<String>, usize) {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

/// Waits until `done` holds or `deadline` passes, checking every few milliseconds; true if `done` held.
pub fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

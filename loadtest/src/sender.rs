//! The writer loops: a few sender threads drive many windowed [`Source`]s (publishers, callers). A source
//! may send while it has fewer than its window's limit of requests unanswered; the connection's reader
//! thread releases a slot on each answer and wakes the sender thread that owns the source.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::control::Control;

/// How long an idle sender thread sleeps when no wakeup comes (a safety net, not the normal path).
const IDLE_WAIT: Duration = Duration::from_millis(10);

/// Wakes one sender thread. Notifying is cheap (one atomic load) unless the thread is about to sleep.
#[derive(Default)]
pub struct Wakeup {
    /// Set by the sender thread before its last look at its windows; notifiers only lock when it is set.
    sleeping: AtomicBool,
    pending: Mutex<bool>,
    condvar: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        // SeqCst pairs with `prepare_sleep` and the window release: either the sender's last look sees the
        // freed slot, or this sees `sleeping` and wakes it.
        if self.sleeping.load(Ordering::SeqCst) {
            if let Ok(mut pending) = self.pending.lock() {
                *pending = true;
                self.condvar.notify_one();
            }
        }
    }

    fn prepare_sleep(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
    }

    /// Sleeps until notified (or `timeout`), unless a notification came since `prepare_sleep`.
    fn sleep(&self, timeout: Duration) {
        if let Ok(mut pending) = self.pending.lock() {
            if !*pending {
                if let Ok((woken, _)) = self.condvar.wait_timeout(pending, timeout) {
                    pending = woken;
                } else {
                    return;
                }
            }
            *pending = false;
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }

    fn cancel_sleep(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

/// The requests one source has in flight, shared between its sender thread and its reader thread.
pub struct Window {
    in_flight: AtomicUsize,
    limit: usize,
    wakeup: Arc<Wakeup>,
}

impl Window {
    pub fn new(limit: usize, wakeup: Arc<Wakeup>) -> Window {
        Window { in_flight: AtomicUsize::new(0), limit, wakeup }
    }

    /// Takes every free slot and returns how many (only the owning sender thread takes slots).
    fn acquire_free(&self) -> usize {
        let free = self.limit.saturating_sub(self.in_flight.load(Ordering::SeqCst));
        if free > 0 {
            self.in_flight.fetch_add(free, Ordering::SeqCst);
        }
        free
    }

    fn has_room(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) < self.limit
    }

    /// Frees a slot for an answered request; fails if no request was in flight (an answer nobody asked for).
    pub fn release(&self) -> Result<(), String> {
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map_err(|_| "an answer to a request that was not in flight".to_owned())?;
        self.wakeup.notify();
        Ok(())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Something that sends requests under a [`Window`].
pub trait Source: Send + 'static {
    fn window(&self) -> &Window;
    /// Whether the source must not send now whatever its window says (it is woken through the window's
    /// [`Wakeup`] when that changes).
    fn held(&self) -> bool {
        false
    }
    /// Sends `count` requests (their slots are already taken), in one write where possible.
    fn send(&mut self, count: usize) -> Result<(), String>;
}

/// The wakeups for `threads` sender threads; source `i` must use `wakeups[i % threads]`.
pub fn wakeups(threads: usize) -> Vec<Arc<Wakeup>> {
    (0..threads).map(|_| Arc::new(Wakeup::default())).collect()
}

/// Starts one sender thread per wakeup, source `i` on thread `i % threads`. Each waits on `barrier`, then
/// sends until the run stops sending, and returns its sources.
pub fn spawn_senders<S: Source>(
    sources: Vec<S>,
    wakeups: &[Arc<Wakeup>],
    control: &Arc<Control>,
    barrier: &Arc<Barrier>,
) -> Result<Vec<JoinHandle<Vec<S>>>, String> {
    let threads = wakeups.len();
    let mut groups: Vec<Vec<S>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, source) in sources.into_iter().enumerate() {
        groups[i % threads].push(source);
    }
    let mut handles = Vec::with_capacity(threads);
    for (t, (group, wakeup)) in groups.into_iter().zip(wakeups).enumerate() {
        let (wakeup, control, barrier) = (wakeup.clone(), control.clone(), barrier.clone());
        let handle = std::thread::Builder::new()
            .name(format!("sender-{t}"))
            .spawn(move || run_sender(group, &wakeup, &control, &barrier))
            .map_err(|e| format!("cannot start a sender thread: {e}"))?;
        handles.push(handle);
    }
    Ok(handles)
}

fn run_sender<S: Source>(
    mut sources: Vec<S>,
    wakeup: &Wakeup,
    control: &Control,
    barrier: &Barrier,
) -> Vec<S> {
    barrier.wait();
    while !control.sending_stopped() {
        let mut sent = false;
        for source in &mut sources {
            if source.held() {
                continue;
            }
            let count = source.window().acquire_free();
            if count > 0 {
                if let Err(e) = source.send(count) {
                    control.fail(e);
                    return sources;
                }
                sent = true;
            }
        }
        if !sent {
            wakeup.prepare_sleep();
            if sources.iter().any(|s| !s.held() && s.window().has_room()) {
                wakeup.cancel_sleep();
            } else {
                wakeup.sleep(IDLE_WAIT);
            }
        }
    }
    sources
}

//! The writer loops: a few sender threads drive many windowed [`Source`]s (publishers, callers). A source
//! may send while it has fewer than its window's limit of requests unanswered; the connection's reader
//! thread releases a slot on each answer and wakes the sender thread that owns the source.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::control::Control;

/// How long an idle sender thread sleeps when no wakeup comes (a safety net, not the normal path).
const IDLE_WAIT: Duration = Duration::from_millis(10);

/// Wakes one sender thread.
#[derive(Default)]
pub struct Wakeup {
    pending: Mutex<bool>,
    condvar: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = true;
            self.condvar.notify_one();
        }
    }

    fn wait(&self, timeout: Duration) {
        let Ok(mut pending) = self.pending.lock() else { return };
        if !*pending {
            pending = match self.condvar.wait_timeout(pending, timeout) {
                Ok((pending, _)) => pending,
                Err(_) => return,
            };
        }
        *pending = false;
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

    /// Takes a slot if one is free (only the owning sender thread takes slots).
    fn try_acquire(&self) -> bool {
        if self.in_flight.load(Ordering::Acquire) < self.limit {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            true
        } else {
            false
        }
    }

    /// Frees a slot for an answered request; fails if no request was in flight (an answer nobody asked for).
    pub fn release(&self) -> Result<(), String> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| "an answer to a request that was not in flight".to_owned())?;
        self.wakeup.notify();
        Ok(())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// Something that sends requests under a [`Window`].
pub trait Source: Send + 'static {
    fn window(&self) -> &Window;
    /// Sends one request (its slot is already taken).
    fn send_next(&mut self) -> Result<(), String>;
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

fn run_sender<S: Source>(mut sources: Vec<S>, wakeup: &Wakeup, control: &Control, barrier: &Barrier) -> Vec<S> {
    barrier.wait();
    while !control.sending_stopped() {
        let mut sent = false;
        for source in &mut sources {
            while !control.sending_stopped() && source.window().try_acquire() {
                if let Err(e) = source.send_next() {
                    control.fail(e);
                    return sources;
                }
                sent = true;
            }
        }
        if !sent {
            wakeup.wait(IDLE_WAIT);
        }
    }
    sources
}

//! Single-threaded async queues and signals between the tasks of one shard (a session's reader and
//! writer, the router and the cross-shard forwarders). No locks, no atomics: everything lives on one core.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// An unbounded FIFO with one waiting consumer. Producers must bound what they push (see `Outbound`).
pub struct Queue<T> {
    items: RefCell<VecDeque<T>>,
    waker: Cell<Option<Waker>>,
    closed: Cell<bool>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { items: RefCell::new(VecDeque::new()), waker: Cell::new(None), closed: Cell::new(false) }
    }
}

impl<T> Queue<T> {
    pub fn push(&self, item: T) {
        self.items.borrow_mut().push_back(item);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    /// No more items will be pushed; the consumer drains what is left and stops.
    pub fn close(&self) {
        self.closed.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Waits until there is something to take (`true`), or the queue is closed and empty (`false`).
    pub async fn ready(&self) -> bool {
        poll_fn(|cx| {
            if !self.items.borrow().is_empty() {
                Poll::Ready(true)
            } else if self.closed.get() {
                Poll::Ready(false)
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    /// Takes everything queued, in order.
    pub fn take_all(&self, into: &mut VecDeque<T>) {
        std::mem::swap(&mut *self.items.borrow_mut(), into);
    }
}

/// A one-shot event several tasks can wait for.
#[derive(Default)]
pub struct Signal {
    set: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Signal {
    pub fn set(&self) {
        self.set.set(true);
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.get() {
                Poll::Ready(())
            } else {
                let mut wakers = self.wakers.borrow_mut();
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }
}

/// A re-armable wake-up: every `wait` started before a `notify` completes after it.
#[derive(Default)]
pub struct Notify {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.generation.set(self.generation.get() + 1);
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    pub async fn wait(&self) {
        let start = self.generation.get();
        poll_fn(|cx| {
            if self.generation.get() != start {
                return Poll::Ready(());
            }
            let mut wakers = self.wakers.borrow_mut();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_drains_then_reports_closed() {
        futures_lite::future::block_on(async {
            let q = Queue::default();
            q.push(1);
            q.push(2);
            q.close();
            assert!(q.ready().await);
            let mut got = VecDeque::new();
            q.take_all(&mut got);
            assert_eq!(got, [1, 2]);
            assert!(!q.ready().await);
        });
    }

    #[test]
    fn signal_wakes_waiters() {
        futures_lite::future::block_on(async {
            let s = Signal::default();
            s.set();
            s.wait().await;
        });
    }
}

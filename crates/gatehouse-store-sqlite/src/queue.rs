//! A blocking job queue between async callers and the database threads.
//!
//! Callers push without blocking (a std mutex held for a `push_back`); database threads pop,
//! sleeping on a condition variable when the queue is empty. A push wakes a thread only if
//! one is asleep, so while the threads are busy (the queue is not empty) pushing costs no
//! system call and popping none either: a thread drains the queue before it sleeps.
//! Closing the queue lets the threads finish what is queued and then tells them to stop.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A multi-producer, multi-consumer FIFO of jobs.
pub(crate) struct Queue<J> {
    state: Mutex<State<J>>,
    ready: Condvar,
}

struct State<J> {
    jobs: VecDeque<J>,
    /// Threads waiting in [`Queue::pop`] that no push has woken yet.
    sleeping: usize,
    closed: bool,
}

impl<J> Queue<J> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                sleeping: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// The lock is never held while running anything that could panic, so a poisoned lock
    /// still guards consistent state.
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a job and wakes one sleeping thread, if any. Gives the job back if the queue
    /// is closed.
    pub(crate) fn push(&self, job: J) -> Result<(), J> {
        let mut s = self.lock();
        if s.closed {
            return Err(job);
        }
        s.jobs.push_back(job);
        if s.sleeping > 0 {
            // Counted down here, not by the woken thread, so a burst of pushes wakes as
            // many threads as are asleep and no more.
            s.sleeping -= 1;
            drop(s);
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Moves the next job, waiting for one if needed, and then up to `max - 1` more that are
    /// already queued, into `out`. Returns false (and moves nothing) once the queue is
    /// closed and empty.
    pub(crate) fn pop_into(&self, max: usize, out: &mut Vec<J>) -> bool {
        let mut s = self.lock();
        loop {
            if !s.jobs.is_empty() {
                let n = s.jobs.len().min(max.max(1));
                out.extend(s.jobs.drain(..n));
                return true;
            }
            if s.closed {
                return false;
            }
            s.sleeping += 1;
            s = self.ready.wait(s).unwrap_or_else(PoisonError::into_inner);
            // A push that woke us counted us out; after a spurious wake-up we are counted
            // twice, which only costs a later push one needless notification.
        }
    }

    /// The next job, waiting for one if needed; `None` once the queue is closed and empty.
    pub(crate) fn pop(&self) -> Option<J> {
        let mut one = Vec::with_capacity(1);
        self.pop_into(1, &mut one).then(|| one.pop()).flatten()
    }

    /// Refuses new jobs and wakes every thread; they finish the queued jobs, then stop.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn jobs_come_out_in_order_and_in_batches_of_at_most_max() {
        let q = Queue::new();
        for i in 0..5 {
            q.push(i).unwrap();
        }
        let mut out = Vec::new();
        assert!(q.pop_into(3, &mut out));
        assert_eq!(out, [0, 1, 2]);
        out.clear();
        assert!(q.pop_into(3, &mut out));
        assert_eq!(out, [3, 4]);
    }

    #[test]
    fn closing_drains_the_queue_then_stops_the_threads() {
        let q = Arc::new(Queue::new());
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while let Some(j) = q.pop() {
                        seen.push(j);
                    }
                    seen
                })
            })
            .collect();
        for i in 0..1000 {
            q.push(i).unwrap();
        }
        q.close();
        assert_eq!(q.push(1000), Err(1000), "a closed queue refuses jobs");
        let mut all: Vec<i32> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>(), "every job ran once");
    }
}

//! The sink the pipeline drains: the bounded queue finished records are
//! pushed onto, the queue of records handed back for reuse, and the global
//! slot holding the installed sink (`install_sink`, `uninstall_sink`,
//! `current_sink`).

use super::record::Record;
use super::sampler::Sampler;
use crate::model::KeyValue;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where finished records go: a bounded queue drained by the pipeline's
/// export thread. Installed by `chatobs_runtime::init` (and the test kit).
pub(crate) struct Sink {
    /// Finished records (boxed: the queue moves a pointer, not the record).
    pub queue: ArrayQueue<Box<Record>>,
    /// Records the export thread has read, handed back to the bot threads,
    /// which reuse them for their next spans (box and vectors included) or
    /// free them: the export thread never frees a bot's memory (with glibc's
    /// malloc that takes the bot's arena lock, and the bot then waits on it).
    pub returned: ArrayQueue<Box<Record>>,
    pub dropped: AtomicU64,
    /// Bytes the queued records hold (`Record::approx_bytes`), at most `max_bytes`.
    pub bytes: AtomicUsize,
    pub max_bytes: usize,
    pub sampler: Sampler,
    pub wake_at: usize,
    pub worker: OnceLock<std::thread::Thread>,
    /// A bot thread has woken the export thread since it last went to
    /// sleep (so the others do not unpark it again on every span).
    pub woken: AtomicBool,
    pub closed: AtomicBool,
}

impl Sink {
    pub(crate) fn new(capacity: usize, max_bytes: usize, sampler: Sampler, batch: usize) -> Sink {
        let capacity = capacity.max(1);
        Sink {
            queue: ArrayQueue::new(capacity),
            returned: ArrayQueue::new(capacity.min(RETURNED_MAX)),
            dropped: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
            max_bytes,
            sampler,
            wake_at: batch.clamp(1, capacity),
            worker: OnceLock::new(),
            woken: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Hands a record the export thread has read back to the bot threads
    /// (dropped here when they are not taking them back fast enough).
    pub(crate) fn give_back(&self, rec: Box<Record>) {
        let _ = self.returned.push(rec);
    }

    /// The boxed record of a new span: a record the export thread handed
    /// back, overwritten (its attribute and event vectors cleared, their
    /// room kept), or a new box. In a steady state a span allocates nothing.
    pub(crate) fn record(&self, r: Record) -> Box<Record> {
        Self::record_in(self.returned.pop(), r)
    }

    pub(crate) fn record_in(old: Option<Box<Record>>, mut r: Record) -> Box<Record> {
        let Some(mut old) = old else {
            if r.attrs.capacity() == 0 {
                r.attrs.reserve(8);
            }
            return Box::new(r);
        };
        if r.attrs.capacity() == 0 {
            r.attrs = emptied(&mut old.attrs, 64);
        }
        if r.events.capacity() == 0 {
            r.events = emptied(&mut old.events, 16);
        }
        *old = r;
        old
    }

    /// A returned record for a span being built, with its attribute vector
    /// taken out (emptied) for the builder to fill.
    pub(super) fn spare(&self) -> (Option<Box<Record>>, Vec<KeyValue>) {
        match self.returned.pop() {
            Some(mut r) => {
                let v = emptied(&mut r.attrs, 64);
                (Some(r), v)
            }
            None => (None, Vec::new()),
        }
    }

    /// Frees records the bot threads did not take back (called by the export
    /// thread when they have gone quiet, so nothing waits there for long).
    pub(crate) fn free_returned(&self, at_most: usize) {
        for _ in 0..at_most {
            match self.returned.pop() {
                Some(r) => drop(r),
                None => return,
            }
        }
    }

    pub(super) fn push(&self, rec: Box<Record>) {
        if self.closed.load(Ordering::Relaxed) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The byte budget: a dead or hanging collector fills the queue with
        // spans, and spans differ in size; the count alone does not bound memory.
        let n = rec.approx_bytes();
        let max = self.max_bytes;
        let reserved = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                b.checked_add(n).filter(|t| *t <= max)
            });
        if reserved.is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.queue.push(rec) {
            Ok(()) => {
                // At least a batch waits: wake the export thread, once per
                // sleep. (`len() == wake_at` alone missed the moment when two
                // bots pushed past it together, and the thread then slept its
                // whole delay while the queue filled and dropped.)
                if self.queue.len() >= self.wake_at
                    && !self.woken.load(Ordering::Relaxed)
                    && !self.woken.swap(true, Ordering::AcqRel)
                {
                    if let Some(t) = self.worker.get() {
                        t.unpark();
                    }
                }
            }
            Err(_rec) => {
                self.bytes.fetch_sub(n, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes the next queued record, adding its bytes to `freed`: the caller
    /// gives them back to the budget with [`Sink::release`], once per batch
    /// (one atomic write per batch keeps the counter's cache line from
    /// bouncing between the export thread and the bots on every span).
    pub(crate) fn pop(&self, freed: &mut usize) -> Option<Box<Record>> {
        let r = self.queue.pop()?;
        *freed += r.approx_bytes();
        Some(r)
    }

    /// Gives `bytes` taken by [`Sink::pop`] back to the budget.
    pub(crate) fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

/// `v`'s buffer, emptied, for reuse (a new empty vector when `v` has room
/// for more than `max` items: one unusually large span does not pin memory).
fn emptied<T>(v: &mut Vec<T>, max: usize) -> Vec<T> {
    if v.capacity() > max {
        return Vec::new();
    }
    let mut v = std::mem::take(v);
    v.clear();
    v
}

/// At most this many read records wait to be reused on a bot thread.
const RETURNED_MAX: usize = 1024;

static SINK: AtomicPtr<Sink> = AtomicPtr::new(std::ptr::null_mut());

/// Installs `sink` (leaked: in-flight spans may still hold it) and returns the previous one.
pub(crate) fn install_sink(sink: &'static Sink) -> Option<&'static Sink> {
    let prev = SINK.swap(sink as *const Sink as *mut Sink, Ordering::AcqRel);
    // SAFETY: only leaked &'static Sinks are ever stored.
    unsafe { prev.as_ref() }
}

/// Removes the installed sink (if it is `sink`).
pub(crate) fn uninstall_sink(sink: &'static Sink) {
    let _ = SINK.compare_exchange(
        sink as *const Sink as *mut Sink,
        std::ptr::null_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}

/// The installed sink.
#[inline]
pub(crate) fn current_sink() -> Option<&'static Sink> {
    // SAFETY: only leaked &'static Sinks are ever stored.
    unsafe { SINK.load(Ordering::Acquire).as_ref() }
}

/// Whether a chatobs pipeline is installed.
#[inline]
pub fn is_installed() -> bool {
    !SINK.load(Ordering::Relaxed).is_null()
}

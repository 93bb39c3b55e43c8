//! The sink the pipeline drains: one lane per thread that ends spans (a
//! wait-free single-producer ring of finished records, and one carrying
//! read records back for reuse), the fallback queue for spans ended where a
//! thread has no lane, and the global slot holding the installed sink
//! (`install_sink`, `uninstall_sink`, `current_sink`).
//!
//! # Why a lane per thread
//!
//! With one queue shared by every thread (a `crossbeam` `ArrayQueue`, until
//! 2026-12-01), each span paid two compare-and-swaps on cache lines the
//! export thread was writing at the same time (the queue's tail when pushing,
//! the hand-back queue's head when taking a record back) and a read of the
//! consumer's index to decide whether to wake it: about a third of the bot
//! thread's time for a span (perf, `span_path`). A lane is a pair of
//! [`rtrb`] rings owned by one bot thread and the export thread: the bot
//! writes its ring's tail and reads the export thread's index only when its
//! cached copy says the ring is full, and the export thread reads a lane's
//! tail once per drain, not once per span. rtrb is a small, maintained,
//! wait-free SPSC ring with cached indices (the design of the fastest
//! tracers' per-thread buffers); our only `unsafe` is a prefetch hint.
//!
//! Bounds: each lane holds at most `exporter.queue_size` spans, and the
//! bytes of every queued span together at most `exporter.max_queue_bytes`
//! (reserved by each thread in chunks, so the shared counter is touched
//! about once per 64 KiB, not once per span). What does not fit is dropped
//! and counted; the bot never waits.

use super::record::Record;
use super::sampler::Sampler;
use crate::model::KeyValue;
use crossbeam_queue::ArrayQueue;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Where finished records go, drained by the pipeline's export thread.
/// Installed by `chatobs_runtime::init` (and the test kit).
pub(crate) struct Sink {
    /// The export thread's ends of the lanes.
    lanes: Mutex<Vec<Lane>>,
    /// Spans ended on a thread whose lane is unusable (its thread-local
    /// storage is being torn down, or it belongs to another pipeline).
    overflow: ArrayQueue<Box<Record>>,
    lane_capacity: usize,
    pub dropped: AtomicU64,
    /// Bytes reserved for queued records (`Record::approx_bytes`, plus what
    /// the lanes reserved ahead), at most `max_bytes`.
    pub bytes: AtomicUsize,
    pub max_bytes: usize,
    /// How many bytes a lane reserves at a time.
    chunk: usize,
    pub sampler: Sampler,
    pub wake_at: usize,
    pub worker: OnceLock<std::thread::Thread>,
    /// A bot thread has woken the export thread since it last went to
    /// sleep (so the others do not unpark it again on every span).
    pub woken: AtomicBool,
    pub closed: AtomicBool,
}

/// The export thread's ends of one bot thread's lane.
struct Lane {
    out: rtrb::Consumer<Box<Record>>,
    back: rtrb::Producer<Box<Record>>,
}

/// A bot thread's ends of its lane.
struct Local {
    sink: &'static Sink,
    out: rtrb::Producer<Box<Record>>,
    back: rtrb::Consumer<Box<Record>>,
    /// Bytes reserved in `sink.bytes` and not yet spent.
    credit: usize,
    /// Spans pushed since this thread last considered waking the export thread.
    unsent: usize,
    /// Records of spans dropped here (the lane or the budget full), kept
    /// for this thread's next spans: under overload a dropped span frees
    /// and allocates nothing. (Boxes on purpose: a record travels as its box.)
    #[allow(clippy::vec_box)]
    stash: Vec<Box<Record>>,
}

impl Local {
    /// Keeps a dropped span's record for reuse (at most a few).
    #[inline]
    fn keep(&mut self, r: Box<Record>) {
        if self.stash.len() < STASH_MAX {
            self.stash.push(r);
        }
    }
}

/// Asks the CPU to bring `r`'s cache lines to this core, for writing (a
/// hint: it never faults and changes nothing observable).
#[inline]
fn prefetch_record(r: &Record) {
    prefetch_for_write((r as *const Record).cast(), std::mem::size_of::<Record>());
}

/// Asks the CPU to bring the cache lines of the `len` bytes at `p` to this
/// core, for writing. A hint: a prefetch never faults, on any address, and
/// reads or changes nothing observable.
#[inline]
pub(crate) fn prefetch_for_write(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        let mut off = 0;
        while off < len {
            // SAFETY: a prefetch is a hint: it does not fault on any
            // address and reads nothing.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_ET0>(p.wrapping_add(off).cast());
            }
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// At most this many dropped spans' records are kept per thread.
const STASH_MAX: usize = 8;

impl Drop for Local {
    fn drop(&mut self) {
        if self.credit > 0 {
            self.sink.bytes.fetch_sub(self.credit, Ordering::Relaxed);
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

impl Sink {
    pub(crate) fn new(capacity: usize, max_bytes: usize, sampler: Sampler, batch: usize) -> Sink {
        let capacity = capacity.max(1);
        Sink {
            lanes: Mutex::new(Vec::new()),
            overflow: ArrayQueue::new(capacity),
            lane_capacity: capacity,
            dropped: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
            max_bytes,
            chunk: (max_bytes / 16).clamp(1, 64 * 1024),
            sampler,
            wake_at: batch.clamp(1, capacity),
            worker: OnceLock::new(),
            woken: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `f` on this thread's lane of this sink (made on first use when
    /// `create`; `None` when thread-local storage is gone or busy, or the
    /// lane belongs to another sink and `create` is false).
    #[inline]
    fn with_local<R>(&'static self, create: bool, f: impl FnOnce(&mut Local) -> R) -> Option<R> {
        LOCAL
            .try_with(|cell| {
                let mut slot = cell.try_borrow_mut().ok()?;
                let mine = slot.as_ref().is_some_and(|l| std::ptr::eq(l.sink, self));
                if !mine {
                    if !create {
                        return None;
                    }
                    *slot = Some(self.new_lane());
                }
                slot.as_mut().map(f)
            })
            .ok()
            .flatten()
    }

    #[cold]
    fn new_lane(&'static self) -> Local {
        let (out, out_rx) = rtrb::RingBuffer::new(self.lane_capacity);
        let (back_tx, back) = rtrb::RingBuffer::new(self.lane_capacity.min(RETURNED_MAX));
        self.lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Lane {
                out: out_rx,
                back: back_tx,
            });
        Local {
            sink: self,
            out,
            back,
            credit: 0,
            unsent: 0,
            stash: Vec::new(),
        }
    }

    /// A record the export thread handed back to this thread (emptied, its
    /// vectors' room kept), if one waits.
    #[inline]
    pub(crate) fn take_back(&'static self) -> Option<Box<Record>> {
        self.with_local(true, |l| {
            let r = l.stash.pop().or_else(|| l.back.pop().ok());
            // The record after this one was last touched by the export
            // thread, on the other core: ask for its lines now, so the
            // next span finds them here (perf: the first store to a record
            // fetched from the other core was most of a span's time).
            if let Ok(next) = l.back.peek() {
                prefetch_record(next);
            }
            r
        })
        .flatten()
    }

    /// The boxed record of a new span, from `r`: `old` (a record the
    /// export thread handed back) overwritten, its attribute and event
    /// vectors cleared with their room kept, or a new box. In a steady
    /// state a span allocates nothing.
    #[inline(always)]
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
    pub(super) fn spare(&'static self) -> (Option<Box<Record>>, Vec<KeyValue>) {
        match self.take_back() {
            Some(mut r) => {
                let v = emptied(&mut r.attrs, 64);
                (Some(r), v)
            }
            None => (None, Vec::new()),
        }
    }

    /// Reserves `n` bytes of the budget directly (no lane).
    fn reserve_shared(&self, n: usize) -> bool {
        let max = self.max_bytes;
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                b.checked_add(n).filter(|t| *t <= max)
            })
            .is_ok()
    }

    pub(super) fn push(&'static self, mut rec: Box<Record>) {
        if self.closed.load(Ordering::Relaxed) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The byte budget: a dead or hanging collector fills the queue with
        // spans, and spans differ in size; the count alone does not bound memory.
        let n = rec.approx_bytes();
        rec.queued_bytes = n;
        let mut rec = Some(rec);
        let laned = self.with_local(false, |l| {
            if l.credit < n {
                // Reserve ahead (the shared counter once per chunk), or just
                // this span's bytes when the budget is nearly spent.
                let ahead = n.saturating_add(self.chunk);
                if self.reserve_shared(ahead) {
                    l.credit += ahead;
                } else if self.reserve_shared(n) {
                    l.credit += n;
                } else {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    if let Some(r) = rec.take() {
                        l.keep(r);
                    }
                    return;
                }
            }
            let Some(r) = rec.take() else { return };
            match l.out.push(r) {
                Ok(()) => {
                    l.credit -= n;
                    l.unsent += 1;
                    if l.unsent >= self.wake_at {
                        l.unsent = 0;
                        self.wake();
                    }
                }
                Err(rtrb::PushError::Full(r)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    l.keep(r);
                }
            }
        });
        if laned.is_some() {
            return;
        }
        // No lane of this sink here: the shared fallback queue.
        let Some(rec) = rec else { return };
        if !self.reserve_shared(n) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.overflow.push(rec).is_err() {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else if self.overflow.len() >= self.wake_at {
            self.wake();
        }
    }

    /// At least a batch waits: wakes the export thread, once per sleep.
    #[inline]
    fn wake(&self) {
        if !self.woken.load(Ordering::Relaxed) && !self.woken.swap(true, Ordering::AcqRel) {
            if let Some(t) = self.worker.get() {
                t.unpark();
            }
        }
    }

    /// Spans waiting in all lanes and the fallback queue.
    pub(crate) fn queued(&self) -> usize {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes.iter().map(|l| l.out.slots()).sum::<usize>() + self.overflow.len()
    }

    /// Each lane's capacity (`exporter.queue_size`).
    pub(crate) fn capacity(&self) -> usize {
        self.lane_capacity
    }

    /// Takes up to `max` queued records (lanes in turn, then the fallback
    /// queue), runs `read` on each, and hands lane records back to their
    /// thread for reuse (freed here when the thread is not taking them back
    /// fast enough). Their bytes are added to `freed`: the caller gives them
    /// back to the budget with [`Sink::release`], once per batch (one atomic
    /// write per batch keeps the counter's cache line from bouncing between
    /// the export thread and the bots). Returns how many were taken.
    pub(crate) fn drain(
        &self,
        max: usize,
        freed: &mut usize,
        mut read: impl FnMut(&mut Record),
    ) -> usize {
        let mut taken = 0;
        {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let count = lanes.len();
            // Every lane gets a share of the batch first, so one busy
            // thread cannot starve the others' spans.
            let share = max.checked_div(count).unwrap_or(0).max(1);
            for pass in 0..2 {
                for lane in lanes.iter_mut() {
                    let limit = if pass == 0 { share } else { max };
                    let n = lane.out.slots().min(limit).min(max - taken);
                    // Read as one chunk: the lane's read index is written once
                    // per chunk, not once per span (a bot pushing into a full
                    // lane reads it, and each write cost it a cache miss).
                    let Ok(chunk) = lane.out.read_chunk(n) else {
                        continue;
                    };
                    for mut r in chunk {
                        *freed += r.queued_bytes;
                        read(&mut r);
                        let _ = lane.back.push(r);
                        taken += 1;
                    }
                }
            }
            // Lanes of threads that have exited, once read to the end.
            lanes.retain(|l| !(l.out.is_abandoned() && l.out.is_empty()));
        }
        while taken < max {
            let Some(mut r) = self.overflow.pop() else {
                break;
            };
            *freed += r.queued_bytes;
            read(&mut r);
            taken += 1;
        }
        taken
    }

    /// Gives `bytes` taken by [`Sink::drain`] back to the budget.
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

/// At most this many read records wait to be reused on a bot thread (more
/// are freed by the export thread).
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

//! The strings a bot thread allocates for its spans' attributes are freed
//! on that thread, not on the export thread: the export thread moves a
//! span's values into the span it converts, and the values that span held
//! before ride back to their thread in the record it returns (freed when
//! the record is reused). With glibc's allocator each free of another
//! thread's memory locked that thread's arena: the request thread, finding
//! it locked, paid futex wake-ups (perf of `--bench webhook`, 2026-12-02).
//! A large value (an LLM's output) is the exception: a record takes at most
//! 1 KiB back, so it is freed on the export thread instead of being held
//! until the bot's next span.
//!
//! Observed with a counting global allocator: it counts the frees of blocks
//! of two sizes only the test's attribute values have, by whether the
//! freeing thread is the bot thread.

mod support;

use chatobs_core::SpanBuilder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A size only the small attribute values allocate (a `String` with this
/// room).
const SMALL: usize = 777;
/// A size only the large ones allocate (over the 1 KiB a record takes back).
const LARGE: usize = 4999;

static SMALL_HOME: AtomicU64 = AtomicU64::new(0);
static SMALL_AWAY: AtomicU64 = AtomicU64::new(0);
static LARGE_HOME: AtomicU64 = AtomicU64::new(0);
static LARGE_AWAY: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread is the test's bot thread (no destructor: it can
    /// be read while the thread's other locals are torn down).
    static BOT: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counting reads a thread-local `Cell<bool>` and bumps atomics, which
// allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let home = BOT.try_with(Cell::get).unwrap_or(false);
        let counter = match (layout.size(), home) {
            (SMALL, true) => Some(&SMALL_HOME),
            (SMALL, false) => Some(&SMALL_AWAY),
            (LARGE, true) => Some(&LARGE_HOME),
            (LARGE, false) => Some(&LARGE_AWAY),
            _ => None,
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A message text of exactly `room` bytes of room (and length).
fn text(room: usize) -> String {
    let mut s = String::with_capacity(room);
    while s.len() < room {
        s.push_str(&"Hola, quiero comprar unos tenis talla 42. "[..(room - s.len()).min(42)]);
    }
    assert_eq!(s.capacity(), room);
    s
}

#[test]
fn a_bot_threads_attribute_strings_are_freed_on_the_bot_thread() {
    const SPANS: u64 = 5000;
    let guard = support::pipeline::without_exporter(100);
    // The bot asks this thread (which holds the pipeline's guard) to flush
    // after each turn, and waits for the answer.
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let (answer, answered) = std::sync::mpsc::channel::<bool>();
    let bot = std::thread::spawn(move || {
        BOT.with(|b| b.set(true));
        for i in 0..SPANS {
            let mut b = SpanBuilder::new("agent.sales.flow")
                .attribute("input.value", text(SMALL))
                .attribute("turn", i as i64);
            // Every tenth span also carries a large output.
            if i % 10 == 0 {
                b = b.attribute("output.value", text(LARGE));
            }
            drop(b.start());
            // Turns of 100 spans, each exported before the next: the
            // records come back before the thread needs new ones. (A thread
            // that ends more than 1024 spans faster than they are exported
            // has the extra records freed on the export thread, values and
            // all: a lane hands at most 1024 back.)
            if i % 100 == 99 {
                ask.send(()).expect("ask");
                assert!(answered.recv().expect("answer"), "flush answers");
            }
        }
        // Counted while the thread lives: when it exits, the records its
        // lane still holds (the last turn's, with the values of the turn
        // before) are freed by whichever side lets go of the lane last.
        [&SMALL_HOME, &SMALL_AWAY, &LARGE_HOME, &LARGE_AWAY].map(|c| c.load(Ordering::Relaxed))
    });
    while asked.recv().is_ok() {
        answer
            .send(guard.flush(Duration::from_secs(10)))
            .expect("answer");
    }
    let [small_home, small_away, large_home, large_away] = bot.join().expect("the bot thread");
    assert!(guard.flush(Duration::from_secs(10)), "flush answers");
    let snap = guard.snapshot();
    assert_eq!((snap.exported, snap.dropped), (SPANS, 0), "{snap:?}");

    let (home, away) = (small_home, small_away);
    eprintln!("small: {home} freed on the bot thread, {away} elsewhere; large: {large_home} / {large_away}");
    // The last two turns' values are still in the export thread's spans
    // and in the records the bot has not reused.
    assert!(
        home >= SPANS - 200,
        "only {home} of {SPANS} small values were freed on their thread ({away} elsewhere)"
    );
    assert!(
        away <= 5,
        "{away} small values were freed off their thread ({home} on it)"
    );
    let (home, away) = (large_home, large_away);
    assert!(
        away >= SPANS / 10 - 10 && home == 0,
        "large values: {away} freed by the export thread, {home} sent back (over the 1 KiB a record takes back)"
    );
    drop(guard);
}

//! The span path's wall clock: `SystemTime` read from the CPU's time-stamp
//! counter.
//!
//! A span reads the time twice (start and end). `SystemTime::now()` is a
//! `clock_gettime` call through the vDSO, about 26 ns each on the 2-core
//! reference VM (10% of a `#[chat_span]`'s time, perf, `span_path`).
//! [`quanta`] reads the invariant TSC (`rdtsc`, about 8 ns there) and scales
//! it with a calibration made once; where the TSC is not usable it falls
//! back to the OS monotonic clock by itself. quanta is maintained, used by
//! `metrics` and `moka`, and is the same approach as fastrace's `minstant`.
//!
//! The wall time is `offset + monotonic nanoseconds`, with `offset` read
//! from the system clock when the clock is first used and again by the
//! export thread every cycle ([`resync`]), so NTP adjustments and TSC drift
//! are followed within a cycle (at most `exporter.scheduled_delay_ms`).
//! One atomic load per read: the offset is a single word.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
/// Nanoseconds since the Unix epoch minus the clock's monotonic
/// nanoseconds, wrapping.
static OFFSET: AtomicU64 = AtomicU64::new(0);

#[inline]
fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(|| {
        let c = quanta::Clock::new();
        OFFSET.store(offset_of(&c), Ordering::Relaxed);
        c
    })
}

/// The offset from one system-clock read bracketed by two monotonic reads,
/// paired with the bracket's midpoint. A thread preempted inside the bracket
/// (a busy 2-core machine) would pair the wall time with a monotonic time
/// up to a scheduling quantum away, and every span until the next resync
/// would be off by that much: the narrowest of up to 8 brackets is kept, and
/// the first one under 20 us ends the search.
fn offset_of(c: &quanta::Clock) -> u64 {
    let mut best: Option<(u64, u64)> = None; // (width, offset)
    for _ in 0..8 {
        let m0 = c.delta_as_nanos(0, c.raw());
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let m1 = c.delta_as_nanos(0, c.raw());
        let width = m1.saturating_sub(m0);
        let mid = m0.saturating_add(width / 2);
        let offset = wall.wrapping_sub(mid);
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((width, offset));
        }
        if width < 20_000 {
            break;
        }
    }
    best.map_or(0, |(_, o)| o)
}

/// The current wall-clock time (see the module docs).
#[inline]
pub fn now() -> SystemTime {
    let c = clock();
    let mono = c.delta_as_nanos(0, c.raw());
    UNIX_EPOCH + Duration::from_nanos(OFFSET.load(Ordering::Relaxed).wrapping_add(mono))
}

/// Reads the system clock again (the export thread calls it every cycle;
/// `init` once before the first span, so no span pays the calibration).
pub fn resync() {
    let c = clock();
    OFFSET.store(offset_of(c), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock() {
        resync();
        for _ in 0..1000 {
            let before = SystemTime::now();
            let t = now();
            let after = SystemTime::now();
            // Within 1 ms of the system clock read around it.
            assert!(t + Duration::from_millis(1) >= before, "{t:?} < {before:?}");
            assert!(t <= after + Duration::from_millis(1), "{t:?} > {after:?}");
        }
    }

    #[test]
    fn never_goes_backwards_between_resyncs() {
        let mut last = now();
        for _ in 0..100_000 {
            let t = now();
            assert!(t >= last);
            last = t;
        }
    }
}

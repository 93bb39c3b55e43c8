//! Trace and span identifiers, generated from a per-thread fast random source.

use std::cell::Cell;
use std::fmt;

/// A W3C trace id (16 bytes, never all zero when valid).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

/// A W3C span id (8 bytes, never zero when valid).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl TraceId {
    /// The invalid (all-zero) id.
    pub const INVALID: TraceId = TraceId(0);
    /// Lower-case hex, 32 characters.
    pub fn to_hex(self) -> String {
        let mut s = String::with_capacity(32);
        push_hex(&mut s, self.0, 32);
        s
    }
    /// Parses 32 hex characters.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        if s.len() != 32 {
            return None;
        }
        u128::from_str_radix(s, 16)
            .ok()
            .filter(|v| *v != 0)
            .map(TraceId)
    }
}

impl SpanId {
    /// The invalid (zero) id.
    pub const INVALID: SpanId = SpanId(0);
    /// Lower-case hex, 16 characters.
    pub fn to_hex(self) -> String {
        let mut s = String::with_capacity(16);
        push_hex(&mut s, u128::from(self.0), 16);
        s
    }
    /// Parses 16 hex characters.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16)
            .ok()
            .filter(|v| *v != 0)
            .map(SpanId)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() | 1
}

/// wyrand: fast, statistically good, not cryptographic (ids need uniqueness, not secrecy).
#[inline]
fn next_u64() -> u64 {
    RNG.with(|c| {
        let mut s = c.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        c.set(s);
        let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A new random span id (never zero).
#[inline]
pub fn new_span_id() -> SpanId {
    loop {
        let v = next_u64();
        if v != 0 {
            return SpanId(v);
        }
    }
}

/// A new random trace id (never zero).
#[inline]
pub fn new_trace_id() -> TraceId {
    loop {
        let v = ((next_u64() as u128) << 64) | next_u64() as u128;
        if v != 0 {
            return TraceId(v);
        }
    }
}

/// Appends the low `digits` hex digits of `v`, lower-case and zero-padded
/// (what `{:0digits$x}` writes, without the formatting machinery: ids are
/// written on every log line and exported span).
pub fn push_hex(out: &mut String, v: u128, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = digits.min(32);
    let mut buf = [0u8; 32];
    for (i, b) in buf[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *b = HEX[((v >> shift) & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    out.push_str(std::str::from_utf8(&buf[..digits]).unwrap_or_default());
}

#[cfg(test)]
mod hex_tests {
    use super::*;

    #[test]
    fn push_hex_writes_what_the_formatter_writes() {
        for v in [
            0u128,
            1,
            0xabc,
            u128::from(u64::MAX),
            u128::MAX,
            0x4bf92f3577b34da6a3ce929d0e0e4736,
        ] {
            assert_eq!(TraceId(v).to_hex(), format!("{v:032x}"));
            let s = v as u64;
            assert_eq!(SpanId(s).to_hex(), format!("{s:016x}"));
        }
    }
}

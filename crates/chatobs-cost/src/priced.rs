//! One price per LLM call, when two layers see it.
//!
//! An LLM SDK that emits its own GenAI span (rig's `chat`, bridged from
//! `tracing`) may send its request through an instrumented HTTP client
//! (`ChatobsMiddleware`, `send_traced`), which prices the answer on its own
//! CLIENT span, a child of the SDK's span. Both would add the call to the
//! conversation's total. The HTTP layer, which read the provider's usage
//! itself, notes the parent it priced under ([`note_priced_under`]); when
//! the SDK's span ends, the facade asks ([`take_priced_under`]) and leaves
//! that span unpriced (`gen_ai.usage.priced_by_child = true`).
//!
//! The note lives in a small bounded set (the oldest are forgotten past
//! [`CAPACITY`]; a note is taken once).

use crate::ids::SpanId;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Most notes kept.
pub const CAPACITY: usize = 4096;

static NOTES: Mutex<VecDeque<u64>> = Mutex::new(VecDeque::new());

/// Notes that a call was priced on a child of span `parent`.
pub fn note_priced_under(parent: SpanId) {
    if parent == SpanId::INVALID {
        return;
    }
    let mut n = NOTES.lock().unwrap_or_else(|e| e.into_inner());
    if n.len() >= CAPACITY {
        n.pop_front();
    }
    n.push_back(parent.0);
}

/// Whether a call was priced on a child of `span` (the note is taken).
pub fn take_priced_under(span: SpanId) -> bool {
    let mut n = NOTES.lock().unwrap_or_else(|e| e.into_inner());
    match n.iter().rposition(|s| *s == span.0) {
        Some(i) => {
            n.remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_taken_once_and_bounded() {
        note_priced_under(SpanId(7));
        assert!(take_priced_under(SpanId(7)));
        assert!(!take_priced_under(SpanId(7)));
        note_priced_under(SpanId::INVALID);
        assert!(!take_priced_under(SpanId::INVALID));
        for i in 0..(CAPACITY as u64 + 10) {
            note_priced_under(SpanId(1_000_000 + i));
        }
        assert!(
            !take_priced_under(SpanId(1_000_000)),
            "the oldest were forgotten"
        );
        assert!(take_priced_under(SpanId(1_000_000 + CAPACITY as u64 + 9)));
    }
}

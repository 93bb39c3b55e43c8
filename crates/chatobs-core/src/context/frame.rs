//! The per-thread frame: what is current on this thread (trace, span,
//! sampling flags, session, the recording span's record, the test kit's
//! capture token), as a `Copy` struct of plain values and raw pointers, so
//! entering and leaving a scope is one `Cell` swap.
//!
//! # Safety contract (shared with `crate::span`)
//!
//! A [`Frame`] never owns what its pointers point to; it borrows them from
//! the code that entered it, for exactly as long as that code's
//! [`FrameGuard`] lives:
//!
//! * **Who owns the pointees.** `session` points into the
//!   `Arc<SessionInner>` of a [`ChatSession`] held by the entering scope: the
//!   `&self` of `ChatSession::in_scope` / `Context::in_scope`, the
//!   `Context` or `ChatSession` owned by a pinned `WithContext`, or the
//!   `session` of a span's `Live` state (in `span/live.rs`). `record` points to
//!   the boxed `Record` of that `Live` (a `Box`, so its address is stable);
//!   the span path is the only producer of non-null `record` pointers
//!   (`Live::frame`), and `Context::frame_here` only copies one from the frame
//!   already current for the same span.
//! * **For how long.** A frame is made current with [`FrameGuard::enter`],
//!   which keeps the previous frame and puts it back when the guard drops
//!   (also on unwinding). Every guard is dropped before the owner it borrows
//!   from is released: it lives inside `in_scope`'s closure call or inside one
//!   `poll` of `WithContext`, `Instrumented` or `Spanned`, while the session
//!   or span is borrowed (`&self`, `&mut ChatSpan`) or owned by the future
//!   being polled. Guards nest, so a frame copied from the current one and
//!   entered again (`testing::capture`, a tracing-only span's `Live::frame`)
//!   is restored before the frame it was copied from.
//! * **What readers may do.** [`current_frame`] returns a copy whose pointers
//!   are valid only until the current scope ends: use them on this thread
//!   and do not keep them. [`session_from_ptr`] turns the session pointer
//!   into an owned `ChatSession` (it takes a new reference count, so the
//!   result may outlive the frame). `span::with_current` dereferences
//!   `record` as `&mut Record` for the length of one closure call: while a
//!   span is entered its owner's `&mut` is lent to the scope, so nothing else
//!   touches the record then; a call from inside the closure gets `None` (a thread-local flag), so there is never a second `&mut`.
//! * **The `tracing` bridge** (`crate::bridge`) enters a frame for a
//!   bridged `tracing` span in its `on_enter` callback and restores the
//!   previous one in `on_exit`, keeping the previous frames on a
//!   thread-local stack instead of in a guard. Its `session` points into the
//!   `ChatSession` stored in the span's registry extensions (alive until the
//!   span closes, and a span cannot close while entered); its `record` is
//!   copied from the frame that was current when the span was entered (the
//!   enclosing chat span, still entered). It restores the previous frame only
//!   if its own frame is still the current one: a `tracing` guard held
//!   across an `.await` (exited after the enclosing scope already restored
//!   its frame) never writes a stale frame back. A span exited out of
//!   order hands its saved frame to the span entered right above it only
//!   when that span was entered while its frame was current (plain stack
//!   order); otherwise each keeps the frame it saw.
//! * **Threads.** The frame is thread-local and `Frame` holds raw pointers,
//!   so it is neither `Send` nor `Sync`: frames never cross threads. What
//!   crosses a task, thread or service boundary is an owned
//!   [`Context`](super::Context), turned back into a frame where it runs.

use super::session::{ChatSession, SessionInner};
use std::cell::Cell;
use std::sync::Arc;

pub(crate) const FLAG_SAMPLED: u8 = 1;
pub(crate) const FLAG_REMOTE: u8 = 2;

/// What is current on this thread. Pointers are borrowed from whoever entered
/// the frame and are valid until that scope restores the previous frame.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub trace_id: u128,
    pub span_id: u64,
    pub flags: u8,
    pub session: *const SessionInner,
    pub record: *mut crate::span::Record,
    pub capture: u64,
}

impl Frame {
    pub const EMPTY: Frame = Frame {
        trace_id: 0,
        span_id: 0,
        flags: 0,
        session: std::ptr::null(),
        record: std::ptr::null_mut(),
        capture: 0,
    };
}

thread_local! {
    pub(crate) static CURRENT: Cell<Frame> = const { Cell::new(Frame::EMPTY) };
}

#[inline]
pub(crate) fn current_frame() -> Frame {
    CURRENT.with(|c| c.get())
}

/// Makes `f` current and returns the frame it replaced. For code that
/// cannot hold a [`FrameGuard`] across the scope (the `tracing` bridge, whose
/// enter and exit are two callbacks): it must put the returned frame back
/// itself, under the same rules (see the module docs).
#[inline]
pub(crate) fn replace_frame(f: Frame) -> Frame {
    CURRENT.with(|c| c.replace(f))
}

/// Restores the previous frame when dropped (also on panic).
pub(crate) struct FrameGuard(Frame);

impl FrameGuard {
    #[inline]
    pub(crate) fn enter(f: Frame) -> FrameGuard {
        FrameGuard(CURRENT.with(|c| c.replace(f)))
    }
}

impl Drop for FrameGuard {
    #[inline]
    fn drop(&mut self) {
        let prev = self.0;
        CURRENT.with(|c| c.set(prev));
    }
}

/// # Safety
/// `p` is null or points into a live `Arc<SessionInner>`.
pub(crate) unsafe fn session_from_ptr(p: *const SessionInner) -> Option<ChatSession> {
    if p.is_null() {
        None
    } else {
        Arc::increment_strong_count(p);
        Some(ChatSession(Arc::from_raw(p)))
    }
}

//! Futures that run inside a [`ChatSpan`]: [`Instrumented`] borrows it
//! (`#[chat_span]` on an `async fn`, [`ChatSpan::in_future`]), [`Spanned`]
//! owns it ([`ChatSpan::wrap`]). Both enter the span on every poll.

use super::live::ChatSpan;
use crate::context::FrameGuard;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

pin_project_lite::pin_project! {
    /// A future running inside a borrowed [`ChatSpan`].
    #[doc(hidden)]
    pub struct Instrumented<'a, F> {
        pub(super) span: &'a mut ChatSpan,
        #[pin]
        pub(super) fut: F,
    }
}

struct PanicMark<'a>(&'a Cell<bool>);
impl Drop for PanicMark<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.set(true);
        }
    }
}

impl<F: Future> Future for Instrumented<'_, F> {
    type Output = F::Output;
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(span) = this.span.live.as_deref_mut() else {
            return this.fut.poll(cx);
        };
        if span.is_off() {
            return this.fut.poll(cx);
        }
        let res = {
            let frame = span.frame();
            let _g = FrameGuard::enter(frame);
            let _p = PanicMark(&span.panicked);
            let _t = span.tracing.enter();
            this.fut.poll(cx)
        };
        if res.is_ready() {
            // The future completed: ending the span afterwards (by `end`, or
            // by dropping it) is not a cancellation.
            span.in_future = false;
        }
        res
    }
}

pin_project_lite::pin_project! {
    /// A future that owns its [`ChatSpan`] (from [`ChatSpan::wrap`]).
    pub struct Spanned<F> {
        pub(super) span: ChatSpan,
        #[pin]
        pub(super) fut: F,
    }
}

impl<F: Future> Future for Spanned<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(span) = this.span.live.as_deref_mut() else {
            return this.fut.poll(cx);
        };
        let res = if span.is_off() {
            this.fut.poll(cx)
        } else {
            let frame = span.frame();
            let _g = FrameGuard::enter(frame);
            let _p = PanicMark(&span.panicked);
            let _t = span.tracing.enter();
            this.fut.poll(cx)
        };
        if res.is_ready() {
            // Completed: not cancelled, whatever status the body set.
            if let Some(mut done) = this.span.live.take() {
                done.outcome_set = true;
            }
        }
        res
    }
}

//! Making a context current: the owned [`Context`], a session made current
//! (`ChatSession::current`, `scope`, `in_scope`), the [`WithContext`] future
//! that enters its context on every poll, and the `spawn` functions that
//! carry the current context into tasks and threads.

use super::frame::{
    current_frame, session_from_ptr, Frame, FrameGuard, CURRENT, FLAG_REMOTE, FLAG_SAMPLED,
};
use super::session::ChatSession;
use crate::ids::{SpanId, TraceId};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

impl ChatSession {
    /// The session current on this thread or task, if any.
    pub fn current() -> Option<ChatSession> {
        let f = CURRENT.with(|c| c.get());
        // SAFETY: a non-null frame session pointer is kept alive by the scope that entered the frame.
        unsafe { session_from_ptr(f.session) }
    }

    /// Runs `fut` with this session current: every span and log line inside
    /// carries its id, across `.await` points.
    ///
    /// Only the session is set: the span and everything else current where
    /// the future is polled stay current.
    pub fn scope<F: Future>(&self, fut: F) -> WithContext<F> {
        WithContext {
            fut,
            ctx: Overlay::Session(self.clone()),
        }
    }

    /// Runs `f` with this session current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut frame = current_frame();
        frame.session = Arc::as_ptr(&self.0);
        let _g = FrameGuard::enter(frame);
        f()
    }
}

/// The current span, trace and session, owned, so it can cross a task,
/// thread, queue or service boundary.
#[derive(Clone, Default)]
pub struct Context {
    /// The trace (zero when there is none).
    pub trace_id: TraceId,
    /// The parent span for whatever runs under this context.
    pub span_id: SpanId,
    /// Whether the trace is sampled.
    pub sampled: bool,
    /// Whether the span came from another process.
    pub remote: bool,
    /// The conversation.
    pub session: Option<ChatSession>,
    pub(crate) capture: u64,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("sampled", &self.sampled)
            .field("remote", &self.remote)
            .field("session", &self.session.as_ref().map(|s| s.id()))
            .finish()
    }
}

impl Context {
    /// A context with no trace, only the conversation `session` (what runs
    /// under it starts a new trace in that conversation).
    pub fn for_session(session: ChatSession) -> Context {
        Context {
            session: Some(session),
            ..Context::default()
        }
    }

    /// The context current on this thread or task.
    pub fn current() -> Context {
        let f = current_frame();
        Context {
            trace_id: TraceId(f.trace_id),
            span_id: SpanId(f.span_id),
            sampled: f.flags & FLAG_SAMPLED != 0,
            remote: f.flags & FLAG_REMOTE != 0,
            // SAFETY: see Frame.
            session: unsafe { session_from_ptr(f.session) },
            capture: f.capture,
        }
    }

    /// Whether this context names a span (a trace is in progress).
    pub fn has_span(&self) -> bool {
        self.trace_id.0 != 0 && self.span_id.0 != 0
    }

    pub(crate) fn frame(&self, record: *mut crate::span::Record) -> Frame {
        Frame {
            trace_id: self.trace_id.0,
            span_id: self.span_id.0,
            flags: (self.sampled as u8 * FLAG_SAMPLED) | (self.remote as u8 * FLAG_REMOTE),
            session: self
                .session
                .as_ref()
                .map_or(std::ptr::null(), |s| Arc::as_ptr(&s.0)),
            record,
            capture: self.capture,
        }
    }

    fn frame_here(&self) -> Frame {
        // Keep the live record pointer only if the same span is entered on this thread.
        let cur = current_frame();
        let rec = if cur.span_id == self.span_id.0 && cur.span_id != 0 {
            cur.record
        } else {
            std::ptr::null_mut()
        };
        self.frame(rec)
    }

    /// Runs `f` with this context current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = FrameGuard::enter(self.frame_here());
        f()
    }

    /// Wraps `fut` so this context is current whenever it is polled.
    pub fn wrap<F: Future>(self, fut: F) -> WithContext<F> {
        WithContext {
            fut,
            ctx: Overlay::Full(self),
        }
    }
}

/// What a [`WithContext`] makes current.
enum Overlay {
    /// A whole context, captured earlier (a task started elsewhere).
    Full(Context),
    /// Only the session, over whatever is current where it is polled.
    Session(ChatSession),
}

pin_project_lite::pin_project! {
    /// A future that runs with a [`Context`] current. Made by
    /// [`Context::wrap`], [`ChatSession::scope`] and [`spawn`].
    pub struct WithContext<F> {
        #[pin]
        fut: F,
        ctx: Overlay,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        let frame = match this.ctx {
            Overlay::Full(ctx) => ctx.frame_here(),
            Overlay::Session(s) => {
                let mut f = current_frame();
                f.session = Arc::as_ptr(&s.0);
                f
            }
        };
        let _g = FrameGuard::enter(frame);
        this.fut.poll(cx)
    }
}

/// `tokio::spawn` that carries the current span and session into the task.
#[cfg(feature = "tokio")]
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Context::current().wrap(fut))
}

/// `tokio::task::spawn_blocking` that carries the current span and session.
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    tokio::task::spawn_blocking(move || ctx.in_scope(f))
}

/// `std::thread::spawn` that carries the current span and session.
pub fn spawn_thread<F, R>(f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    std::thread::spawn(move || ctx.in_scope(f))
}

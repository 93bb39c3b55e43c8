//! The live span: [`ChatSpan`] (what `#[chat_span]` and
//! [`SpanBuilder::start`](super::SpanBuilder::start) return), the state
//! behind it ([`Live`]), the call-time values the macro collects
//! ([`Builder`]), and ending: the outcome, a panic, or cancellation.

use super::future::{Instrumented, Spanned};
use super::outcome::{apply_outcome, Outcome};
use super::panic::take_panic_message;
use super::record::{finish, Record};
use super::sink::{current_sink, Sink};
use super::site::{tracing_span, Site};
use crate::context::{
    current_frame, session_from_ptr, ChatSession, Context, Frame, FrameGuard, FLAG_REMOTE,
    FLAG_SAMPLED,
};
use crate::ids::{new_span_id, new_trace_id, SpanId, TraceId};
use crate::model::{Event, KeyValue, OtelKind, Status, Value};
use crate::vocab::{self, SpanKind};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

/// Collects what the macro evaluates at call time.
#[doc(hidden)]
#[derive(Default)]
pub struct Builder {
    step: Option<Cow<'static, str>>,
    session: Option<ChatSession>,
    captures: Vec<KeyValue>,
}

impl Builder {
    /// `step = "literal"`.
    #[inline]
    pub fn step_static(&mut self, step: &'static str) {
        self.step = Some(Cow::Borrowed(step));
    }
    /// `step = <expr>`.
    pub fn step(&mut self, step: &dyn Display) {
        self.step = Some(Cow::Owned(step.to_string()));
    }
    /// `session = <expr>`.
    pub fn session(&mut self, s: &ChatSession) {
        self.session = Some(s.clone());
    }
    /// `fields(key = value)`: an attribute the caller already checked,
    /// redacted and bounded.
    pub fn attribute(&mut self, key: Cow<'static, str>, value: Value) {
        self.captures.push((key, value));
    }
    /// `capture(arg)`: the argument's Debug text, redacted, at most 1024 bytes.
    pub fn capture(&mut self, name: &'static str, value: &dyn Debug) {
        let text = format!("{value:?}");
        let text = crate::redact::redact_free_text(&text);
        let text = crate::redact::truncate(&text, 1024);
        self.captures.push((
            Cow::Owned(format!("{}{name}", vocab::CHAT_ARG_PREFIX)),
            Value::Str(Cow::Owned(text)),
        ));
    }
}

/// A live span. Made by `#[chat_span]` and by [`SpanBuilder::start`];
/// ended when dropped (or by [`ChatSpan::end`] with the call's outcome).
///
/// It is one pointer wide: `None` when nothing is installed (so the
/// nothing-installed path moves and drops nothing), else a heap block with
/// the span's state.
///
/// [`SpanBuilder::start`]: super::SpanBuilder::start
pub struct ChatSpan {
    pub(super) live: Option<Box<Live>>,
}

impl Debug for ChatSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.live {
            Some(l) => l.fmt(f),
            None => f.write_str("ChatSpan(off)"),
        }
    }
}

impl ChatSpan {
    /// A span that records nothing.
    pub const fn none() -> ChatSpan {
        ChatSpan { live: None }
    }

    /// Starts the span of one call of an instrumented function.
    #[doc(hidden)]
    #[inline]
    pub fn start(site: &'static Site, build: impl FnOnce(&mut Builder)) -> ChatSpan {
        let sink = current_sink();
        let tracing_on = site.tracing_enabled();
        if sink.is_none() && !tracing_on {
            return ChatSpan::none();
        }
        let mut b = Builder::default();
        build(&mut b);
        ChatSpan {
            live: Some(Live::start_site(site, sink, tracing_on, b)),
        }
    }

    /// Whether this span is being recorded (a pipeline is installed and the
    /// sampler kept it).
    pub fn is_recording(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.rec.is_some())
    }

    /// The span's context (for propagation); empty when nothing is installed.
    pub fn context(&self) -> Context {
        self.live.as_ref().map(|l| l.context()).unwrap_or_default()
    }

    /// Runs `f` inside this span.
    #[inline]
    pub fn in_scope<R>(&mut self, f: impl FnOnce() -> R) -> R {
        match self.live.as_deref_mut() {
            None => f(),
            Some(l) => l.in_scope(f),
        }
    }

    /// Runs `fut` inside this span (entered on every poll).
    #[inline]
    pub fn in_future<F: Future>(&mut self, fut: F) -> Instrumented<'_, F> {
        if let Some(l) = self.live.as_deref_mut() {
            l.in_future = true;
        }
        Instrumented { span: self, fut }
    }

    /// Makes `fut` own this span: it is entered on every poll and ends when
    /// `fut` completes (or is dropped).
    pub fn wrap<F: Future>(mut self, fut: F) -> Spanned<F> {
        if let Some(l) = self.live.as_deref_mut() {
            l.in_future = true;
        }
        Spanned { span: self, fut }
    }

    /// Ends the span with the outcome of the call.
    #[doc(hidden)]
    #[inline]
    pub fn end(mut self, outcome: Outcome<'_>) {
        if let Some(mut l) = self.live.take() {
            l.end(outcome);
            recycle(l);
        }
    }

    /// Sets an attribute (for integrations; bots use `record!`).
    pub fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(rec) = self.rec_mut() {
            rec.set_attr(key.into(), value.into());
        }
    }

    /// Appends attributes (for integrations: a request's attributes added
    /// once the span is known to record). Unlike
    /// [`set_attribute`](Self::set_attribute), a key already on the span is
    /// not looked for: the caller adds keys the span does not have yet.
    pub fn extend_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        if let Some(rec) = self.rec_mut() {
            rec.attrs.extend(attributes);
        }
    }

    /// Adds an event.
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        if let Some(rec) = self.rec_mut() {
            rec.events.push(Event {
                name: name.into(),
                time: crate::clock::now(),
                attributes,
            });
        }
    }

    /// Marks the span as failed with `error`'s Display text (redacted) and an
    /// `exception` event.
    pub fn set_error(&mut self, error: &dyn Display) {
        if let Some(l) = self.live.as_deref_mut() {
            l.end(Outcome::Err(error, "error"));
        }
    }

    /// Marks the span as successful.
    pub fn set_ok(&mut self) {
        if let Some(l) = self.live.as_deref_mut() {
            l.end(Outcome::Ok);
        }
    }

    /// Renames the span (GenAI spans become `chat {model}`).
    pub fn set_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(rec) = self.rec_mut() {
            rec.name = name.into();
        }
    }

    fn rec_mut(&mut self) -> Option<&mut Record> {
        self.live.as_deref_mut().and_then(|l| l.rec.as_deref_mut())
    }
}

impl Drop for ChatSpan {
    #[inline]
    fn drop(&mut self) {
        if let Some(b) = self.live.take() {
            recycle(b);
        }
    }
}

/// At most this many span blocks wait for reuse on a thread.
const LIVES_MAX: usize = 16;

thread_local! {
    /// Blocks of ended spans, for this thread's next spans: a span's block
    /// is taken and given back on the same thread, so a steady state
    /// allocates nothing for it (nesting deeper than [`LIVES_MAX`] allocates).
    // Boxes on purpose: a `ChatSpan` is the box itself, handed out as is.
    #[allow(clippy::vec_box)]
    static LIVES: std::cell::RefCell<Vec<Box<Live>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A block for a new span (reused when this thread has one).
#[inline]
pub(super) fn new_live() -> Box<Live> {
    LIVES
        .try_with(|l| l.try_borrow_mut().ok().and_then(|mut v| v.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(Live::off()))
}

/// Ends the span in `b` (if not yet ended) and keeps the block for reuse.
#[inline(never)]
fn recycle(mut b: Box<Live>) {
    b.close();
    // Resets it (drops the `tracing` span and the session here).
    *b = Live::off();
    let _ = LIVES.try_with(|l| {
        if let Ok(mut v) = l.try_borrow_mut() {
            if v.len() < LIVES_MAX {
                v.push(b);
            }
        }
    });
}

/// The state of a started span.
pub(crate) struct Live {
    pub(super) rec: Option<Box<Record>>,
    pub(super) trace_id: u128,
    pub(super) span_id: u64,
    flags: u8,
    capture: u64,
    pub(super) session: Option<ChatSession>,
    pub(super) tracing: tracing::Span,
    pub(super) outcome_set: bool,
    /// Driven by a future (`in_future`, `wrap`): only then does ending
    /// without an outcome mean the call was cancelled (the future dropped).
    pub(super) in_future: bool,
    pub(super) panicked: Cell<bool>,
}

impl Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSpan")
            .field("trace_id", &TraceId(self.trace_id))
            .field("span_id", &SpanId(self.span_id))
            .field("recording", &self.rec.is_some())
            .finish()
    }
}

impl Live {
    #[inline]
    pub(super) const fn off() -> Live {
        Live {
            rec: None,
            trace_id: 0,
            span_id: 0,
            flags: 0,
            capture: 0,
            session: None,
            tracing: tracing::Span::none(),
            outcome_set: false,
            in_future: false,
            panicked: Cell::new(false),
        }
    }

    #[inline(never)]
    fn start_site(
        site: &'static Site,
        sink: Option<&'static Sink>,
        tracing_on: bool,
        b: Builder,
    ) -> Box<Live> {
        let Builder {
            step,
            session,
            captures,
        } = b;
        let mut span = new_live();
        let parent = current_frame();
        // SAFETY: the frame's session pointer is alive while the frame is entered.
        let session = session.or_else(|| unsafe { session_from_ptr(parent.session) });
        if tracing_on {
            span.tracing = tracing_span(site, step.as_deref(), session.as_ref());
        }
        if let Some(sink) = sink {
            let ids = span.init_ids(sink, &parent);
            if ids {
                // A record handed back (or a new one), written field by
                // field in place: building a `Record` and moving it in cost a
                // 336-byte copy per span.
                let mut rec = sink
                    .take_back()
                    .unwrap_or_else(|| Box::new(Record::blank(sink)));
                let r = &mut *rec;
                r.name = Cow::Borrowed(site.name);
                r.otel_kind = if matches!(site.kind, Some(SpanKind::Llm)) {
                    OtelKind::Client
                } else {
                    OtelKind::Internal
                };
                r.trace_id = span.trace_id;
                r.span_id = span.span_id;
                r.parent_span_id = parent.span_id;
                r.parent_remote = parent.flags & FLAG_REMOTE != 0;
                r.start = crate::clock::now();
                r.end = SystemTime::UNIX_EPOCH;
                r.role = site.role;
                r.chat_kind = site.kind;
                r.category = site.category;
                r.tags = site.tags;
                r.model = site.model;
                r.provider = site.provider;
                r.step = step;
                r.session = None;
                r.at_end = None;
                r.status = Status::Unset;
                r.capture = parent.capture;
                r.sink = sink;
                r.reset_lists(captures);
                span.rec = Some(rec);
            }
        }
        span.session = session;
        span
    }

    /// Fills ids from the parent frame; returns whether the span is sampled.
    #[inline]
    pub(super) fn init_ids(&mut self, sink: &Sink, parent: &Frame) -> bool {
        let trace_id = if parent.trace_id != 0 {
            parent.trace_id
        } else {
            new_trace_id().0
        };
        let sampled = sink.sampler.decide(parent, trace_id);
        self.trace_id = trace_id;
        self.span_id = new_span_id().0;
        self.flags = sampled as u8 * FLAG_SAMPLED;
        self.capture = parent.capture;
        sampled
    }

    fn context(&self) -> Context {
        Context {
            trace_id: TraceId(self.trace_id),
            span_id: SpanId(self.span_id),
            sampled: self.flags & FLAG_SAMPLED != 0,
            remote: false,
            session: self.session.clone(),
            capture: self.capture,
        }
    }

    #[inline]
    pub(super) fn is_off(&self) -> bool {
        self.trace_id == 0 && self.tracing.is_none()
    }

    #[inline]
    pub(super) fn frame(&mut self) -> Frame {
        if self.trace_id == 0 {
            // tracing-only: keep whatever chatobs context is current.
            return current_frame();
        }
        Frame {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags,
            session: self
                .session
                .as_ref()
                .map_or(std::ptr::null(), |s| Arc::as_ptr(&s.0)),
            record: self
                .rec
                .as_mut()
                .map_or(std::ptr::null_mut(), |r| &mut **r as *mut Record),
            capture: self.capture,
        }
    }

    #[inline]
    fn in_scope<R>(&mut self, f: impl FnOnce() -> R) -> R {
        if self.is_off() {
            return f();
        }
        let _g = FrameGuard::enter(self.frame());
        let _t = self.tracing.enter();
        f()
    }

    #[inline]
    fn end(&mut self, outcome: Outcome<'_>) {
        if let Some(rec) = self.rec.as_mut() {
            apply_outcome(rec, outcome);
            self.outcome_set = true;
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.close();
    }
}

impl Live {
    /// Ends the span: its outcome (a panic, cancellation), the end time,
    /// and the record to the sink. Nothing when already closed.
    #[inline]
    fn close(&mut self) {
        let Some(mut rec) = self.rec.take() else {
            return;
        };
        if !self.outcome_set {
            if std::thread::panicking() || self.panicked.get() {
                let msg = crate::redact::truncate(
                    &crate::redact::redact_free_text(
                        &take_panic_message().unwrap_or_else(|| "panicked".into()),
                    ),
                    1024,
                );
                apply_outcome(
                    &mut rec,
                    Outcome::Err(&format_args!("panicked: {msg}"), "panic"),
                );
            } else if rec.status == Status::Unset && self.in_future {
                rec.attrs
                    .push((Cow::Borrowed(vocab::CHAT_CANCELLED), Value::Bool(true)));
            }
        }
        finish(rec, self.session.take());
    }
}

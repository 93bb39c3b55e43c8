//! A test kit for bot authors: capture the spans a block of code produced
//! and assert on them.
//!
//! ```
//! use chatobs_runtime::{chat_span, testing, vocab};
//!
//! #[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
//! fn predict(text: &str) -> &'static str { if text.contains("buy") { "sales" } else { "pqr" } }
//!
//! let (intent, spans) = testing::capture(|| predict("I want to buy"));
//! assert_eq!(intent, "sales");
//! let span = spans.one("classifier.predict");
//! assert_eq!(span.attr_str(vocab::AGENT_ROLE), Some("classifier"));
//! assert_eq!(span.attr_str(vocab::OPENINFERENCE_SPAN_KIND), Some("CHAIN"));
//! ```
//!
//! Capturing works without `chatobs_runtime::init` (a private sink is installed the
//! first time), in parallel tests (each capture sees only the spans started
//! under it, including in tasks started with `spawn`), and with a
//! real pipeline installed (captured spans are then not exported).

use crate::context::{current_frame, FrameGuard};
use crate::ids::SpanId;
use crate::model::FinishedSpan;
use crate::span::{self, Sampler, CAPTURED};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The spans a capture collected, in the order they ended.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// Every span.
    pub spans: Vec<FinishedSpan>,
}

impl Captured {
    /// The spans called `name`.
    pub fn named(&self, name: &str) -> Vec<&FinishedSpan> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }
    /// The only span called `name`; panics (this is a test helper) with the
    /// names that exist when there is not exactly one.
    #[track_caller]
    #[allow(clippy::panic)] // a test assertion: failing loudly is the point
    pub fn one(&self, name: &str) -> &FinishedSpan {
        let found = self.named(name);
        match found.as_slice() {
            [one] => one,
            _ => panic!(
                "expected exactly one span named {name:?}, found {}; spans: {:?}",
                found.len(),
                self.spans
                    .iter()
                    .map(|s| s.name.as_ref())
                    .collect::<Vec<_>>()
            ),
        }
    }
    /// The children of `parent`.
    pub fn children_of(&self, parent: &FinishedSpan) -> Vec<&FinishedSpan> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
            .collect()
    }
    /// The parent of `span`, if it was captured.
    pub fn parent_of(&self, span: &FinishedSpan) -> Option<&FinishedSpan> {
        if span.parent_span_id == SpanId::INVALID {
            return None;
        }
        self.spans.iter().find(|s| s.span_id == span.parent_span_id)
    }
    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

fn ensure_sink() {
    span::install_panic_hook();
    static TEST_SINK: OnceLock<&'static span::Sink> = OnceLock::new();
    if span::current_sink().is_none() {
        let sink = *TEST_SINK.get_or_init(|| {
            Box::leak(Box::new(span::Sink::new(
                1,
                usize::MAX,
                Sampler::AlwaysOn,
                1,
            )))
        });
        // Only install if still nothing is there (a real init wins).
        let prev = span::install_sink(sink);
        if let Some(p) = prev {
            if !std::ptr::eq(p, sink) {
                span::install_sink(p);
            }
        }
    }
}

fn begin() -> u64 {
    ensure_sink();
    let token = NEXT.fetch_add(1, Ordering::Relaxed);
    CAPTURED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .insert(token, Vec::new());
    token
}

fn end(token: u64) -> Captured {
    let spans = CAPTURED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
        .and_then(|m| m.remove(&token))
        .unwrap_or_default();
    Captured { spans }
}

struct EndOnDrop(u64);
impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            end(self.0);
        }
    }
}

/// Runs `f` and returns what it returned and the spans it produced.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Captured) {
    let token = begin();
    let guard = EndOnDrop(token);
    let mut frame = current_frame();
    frame.capture = token;
    let r = {
        let _g = FrameGuard::enter(frame);
        f()
    };
    std::mem::forget(guard);
    (r, end(token))
}

/// Runs `fut` and returns its output and the spans it produced (including
/// spans of tasks it started with `spawn`, if they ended before `fut` did).
pub async fn capture_async<F: Future>(fut: F) -> (F::Output, Captured) {
    let token = begin();
    let guard = EndOnDrop(token);
    let mut ctx = crate::Context::current();
    ctx.capture = token;
    let r = ctx.wrap(fut).await;
    std::mem::forget(guard);
    (r, end(token))
}

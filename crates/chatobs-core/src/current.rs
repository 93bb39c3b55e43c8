//! The span running on this thread, for code that is not its owner.
//!
//! Cost recording, the integrations and your own helpers add to the chat span
//! the caller is in without holding it: an attribute, an event, a better
//! name. Every function returns `None`/`false` when no span is recording on
//! this thread (outside any span, or the span was not sampled), and costs one
//! thread-local read then.
//!
//! ```
//! use chatobs_runtime::{current, testing, SpanBuilder, Value};
//! let ((), spans) = testing::capture(|| {
//!     let mut span = SpanBuilder::new("lookup").start();
//!     span.in_scope(|| {
//!         assert!(current::set_attr("lead.temperature", Value::from(0.8)));
//!         assert!(current::add_event("cache.miss", Vec::new()));
//!         // Re-entering from inside `with` gets nothing, never a second borrow.
//!         current::with(|_outer| assert!(!current::set_attr("nested", Value::from(1_i64))));
//!     });
//!     drop(span); // ends it
//! });
//! assert_eq!(spans.one("lookup").attr("lead.temperature"), Some(&Value::from(0.8)));
//! assert!(!current::set_attr("outside", Value::from(1_i64)));
//! ```

use crate::ids::{SpanId, TraceId};
use crate::model::{Event, KeyValue, OtelKind, Value};
use crate::span::{with_current, Record};
use crate::vocab::{Role, SpanKind};
use std::borrow::Cow;

/// The recording span of this thread, borrowed for the length of a [`with`] call.
pub struct CurrentSpan<'a>(&'a mut Record);

impl std::fmt::Debug for CurrentSpan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentSpan")
            .field("name", &self.0.name)
            .field("span_id", &SpanId(self.0.span_id))
            .finish()
    }
}

impl CurrentSpan<'_> {
    /// The span's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Its agent role (`#[chat_span(role = ...)]` or `record!(role = ...)`).
    pub fn role(&self) -> Option<Role> {
        self.0.role
    }
    /// Its OpenInference kind (`#[chat_span(kind = ...)]`).
    pub fn chat_kind(&self) -> Option<SpanKind> {
        self.0.chat_kind
    }
    /// The model it declared (`#[chat_span(model = ...)]`).
    pub fn model(&self) -> Option<&'static str> {
        self.0.model
    }
    /// The provider it declared (`#[chat_span(provider = ...)]`).
    pub fn provider(&self) -> Option<&'static str> {
        self.0.provider
    }
    /// Its trace and span ids.
    pub fn ids(&self) -> (TraceId, SpanId) {
        (TraceId(self.0.trace_id), SpanId(self.0.span_id))
    }
    /// Sets an attribute (replacing one of the same key).
    pub fn set_attr(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.0.set_attr(key.into(), value.into());
    }
    /// The value of attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.0
            .attrs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    /// Whether the span has an attribute `key`.
    pub fn has_attr(&self, key: &str) -> bool {
        self.0.attrs.iter().any(|(k, _)| k == key)
    }
    /// How many of its attributes are of the application's own keys (not
    /// in chatobs' namespaces: [`crate::vocab::custom::check_key`]).
    pub fn custom_count(&self) -> usize {
        self.0
            .attrs
            .iter()
            .filter(|(k, _)| crate::vocab::custom::check_key(k).is_none())
            .count()
    }
    /// Renames the span.
    pub fn set_name(&mut self, name: impl Into<Cow<'static, str>>) {
        self.0.name = name.into();
    }
    /// Sets its OpenTelemetry kind (CLIENT for a call out, ...).
    pub fn set_otel_kind(&mut self, kind: OtelKind) {
        self.0.otel_kind = kind;
    }
    /// Adds an event, stamped now.
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        self.0.events.push(Event {
            name: name.into(),
            time: crate::clock::now(),
            attributes,
        });
    }
}

/// Runs `f` on the span recording on this thread, if any.
pub fn with<R>(f: impl FnOnce(&mut CurrentSpan<'_>) -> R) -> Option<R> {
    with_current(|r| f(&mut CurrentSpan(r)))
}

/// Sets an attribute on the current span. Returns false when no span is recording.
pub fn set_attr(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> bool {
    with(|s| s.set_attr(key, value)).is_some()
}

/// Adds an event to the current span. Returns false when no span is recording.
pub fn add_event(name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) -> bool {
    with(|s| s.add_event(name, attributes)).is_some()
}

/// Renames the current span. Returns false when no span is recording.
pub fn rename(name: impl Into<Cow<'static, str>>) -> bool {
    with(|s| s.set_name(name)).is_some()
}

/// Sets the OpenTelemetry kind of the current span. Returns false when no span is recording.
pub fn set_otel_kind(kind: OtelKind) -> bool {
    with(|s| s.set_otel_kind(kind)).is_some()
}

/// The trace and span ids current on this thread (recorded or not: a span
/// that was not sampled still has ids, and a remote parent entered with
/// `Context::in_scope` too). `None` outside any span.
pub fn ids() -> Option<(TraceId, SpanId)> {
    let f = crate::context::current_frame();
    (f.span_id != 0).then_some((TraceId(f.trace_id), SpanId(f.span_id)))
}

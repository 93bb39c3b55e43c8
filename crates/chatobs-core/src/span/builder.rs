//! Manual spans: [`SpanBuilder`], for integrations and code that cannot
//! take an attribute.

use super::live::ChatSpan;
use super::record::Record;
use super::sink::{current_sink, Sink};
use crate::context::{current_frame, session_from_ptr, ChatSession, Context, FLAG_REMOTE};
use crate::ids::{SpanId, TraceId};
use crate::model::{KeyValue, Link, OtelKind, Status, Value};
use crate::vocab::{Role, SpanKind, TemplateCategory};
use std::borrow::Cow;
use std::fmt::Debug;
use std::time::SystemTime;

/// Starts a span by hand (integrations, or code that cannot take an attribute).
///
/// ```
/// use chatobs_runtime::{SpanBuilder, Role};
/// let mut span = SpanBuilder::new("agent.sales.flow").role(Role::SALES).tags(&["checkout"]).start();
/// span.in_scope(|| tracing::info!("inside the span"));
/// span.set_ok();
/// drop(span); // ends it
/// ```
#[derive(Debug)]
pub struct SpanBuilder {
    name: Cow<'static, str>,
    kind: OtelKind,
    role: Option<Role>,
    chat_kind: Option<SpanKind>,
    category: Option<TemplateCategory>,
    tags: &'static [&'static str],
    step: Option<Cow<'static, str>>,
    parent: Option<Context>,
    session: Option<ChatSession>,
    attrs: Vec<KeyValue>,
    links: Vec<Link>,
    start: Option<SystemTime>,
    spare: Spare,
}

/// A record handed back by the export thread, kept by a [`SpanBuilder`] for
/// its span (so building one allocates nothing in a steady state).
struct Spare(Option<Box<Record>>);

impl Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Spare")
    }
}

impl SpanBuilder {
    /// A span called `name`.
    pub fn new(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        let (spare, attrs) = current_sink().map_or((None, Vec::new()), Sink::spare);
        SpanBuilder {
            name: name.into(),
            kind: OtelKind::Internal,
            role: None,
            chat_kind: None,
            category: None,
            tags: &[],
            step: None,
            parent: None,
            session: None,
            attrs,
            links: Vec::new(),
            start: None,
            spare: Spare(spare),
        }
    }
    /// OpenTelemetry span kind.
    pub fn kind(mut self, kind: OtelKind) -> Self {
        self.kind = kind;
        self
    }
    /// Agent role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }
    /// OpenInference span kind.
    pub fn span_kind(mut self, kind: SpanKind) -> Self {
        self.chat_kind = Some(kind);
        self
    }
    /// WhatsApp template category.
    pub fn template_category(mut self, c: TemplateCategory) -> Self {
        self.category = Some(c);
        self
    }
    /// Tags.
    pub fn tags(mut self, tags: &'static [&'static str]) -> Self {
        self.tags = tags;
        self
    }
    /// Conversation step.
    pub fn step(mut self, step: impl Into<Cow<'static, str>>) -> Self {
        self.step = Some(step.into());
        self
    }
    /// Parent context (for example extracted from `traceparent`); the
    /// default is the current context.
    pub fn parent(mut self, ctx: Context) -> Self {
        self.parent = Some(ctx);
        self
    }
    /// The conversation (default: the parent's, or the current one).
    pub fn session(mut self, s: ChatSession) -> Self {
        self.session = Some(s);
        self
    }
    /// An attribute.
    pub fn attribute(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.attrs.push((key.into(), value.into()));
        self
    }
    /// Several attributes.
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attrs.extend(attributes);
        self
    }
    /// A link to another span.
    pub fn link(mut self, trace_id: TraceId, span_id: SpanId, attributes: Vec<KeyValue>) -> Self {
        self.links.push(Link {
            trace_id,
            span_id,
            attributes,
        });
        self
    }
    /// When the span began, if before [`start`](Self::start) is called (a
    /// turn that began when its request arrived). Default: now.
    pub fn start_time(mut self, at: SystemTime) -> Self {
        self.start = Some(at);
        self
    }
    /// Starts the span.
    pub fn start(self) -> ChatSpan {
        let Some(sink) = current_sink() else {
            return ChatSpan::none();
        };
        let parent = match &self.parent {
            Some(ctx) => {
                let mut f = ctx.frame(std::ptr::null_mut());
                if ctx.capture == 0 {
                    f.capture = current_frame().capture;
                }
                f
            }
            None => current_frame(),
        };
        let mut span = super::live::new_live();
        // SAFETY: frame pointers are alive while the frame is entered / ctx is borrowed.
        let session = self
            .session
            .or_else(|| self.parent.as_ref().and_then(|c| c.session.clone()))
            .or_else(|| unsafe { session_from_ptr(current_frame().session) });
        if span.init_ids(sink, &parent) {
            span.rec = Some(Sink::record_in(
                self.spare.0,
                Record {
                    name: self.name,
                    otel_kind: self.kind,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: parent.span_id,
                    parent_remote: parent.flags & FLAG_REMOTE != 0,
                    start: self.start.unwrap_or_else(crate::clock::now),
                    end: SystemTime::UNIX_EPOCH,
                    role: self.role,
                    chat_kind: self.chat_kind,
                    category: self.category,
                    tags: self.tags,
                    extra_tags: Vec::new(),
                    model: None,
                    provider: None,
                    step: self.step,
                    session: None,
                    at_end: None,
                    status: Status::Unset,
                    attrs: self.attrs,
                    events: Vec::new(),
                    links: self.links,
                    capture: parent.capture,
                    queued_bytes: 0,
                    sink,
                },
            ));
        }
        span.session = session;
        ChatSpan { live: Some(span) }
    }
}

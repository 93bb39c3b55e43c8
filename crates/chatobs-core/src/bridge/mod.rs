//! The `tracing` bridge: every `tracing` span of the application and its
//! libraries (`#[tracing::instrument]`, `info_span!`, tower-http, sqlx, LLM
//! SDKs, ...) exported through chatobs' own pipeline, in the same traces as
//! the chat spans around it.
//!
//! [`layer`] is a `tracing_subscriber` layer (with its per-layer filter,
//! [`SpanFilter`]). `chatobs_runtime::init` installs it in the global
//! subscriber it sets up (next to the JSON log layer), so it is on by
//! default; `[tracing] spans` turns it down by level and target
//! (`info,sqlx=warn,hyper=off`), `"off"` leaves it out.
//!
//! # What a bridged span carries
//!
//! * **Same trace as the chat spans.** A `tracing` span started inside a
//!   chat span is its child (same trace id, the chat span as parent); while a
//!   bridged span is entered it is chatobs' current span, so a
//!   `#[chat_span]` function (or a [`SpanBuilder`](crate::SpanBuilder) span)
//!   running inside it is its child, log lines inside it carry its ids, and
//!   [`Context::current`](crate::Context::current) propagates it. An explicit
//!   `parent:` is followed; `parent: None` starts a new trace. The head
//!   sampler decides as for chat spans (a child follows its parent).
//! * **The conversation**: `chat.session_id`, `session.id` and
//!   `gen_ai.conversation.id` when a session is current where the span starts.
//! * **Fields as typed attributes** (see [`visit`](self) rules: integers stay
//!   integers, floats floats, booleans booleans, `%`/`?` values strings);
//!   `Span::record` after creation replaces or adds them. Every value is
//!   redacted as chat span values are.
//! * **Events inside the span** become span events: the name is the message,
//!   the fields are attributes (plus `level` and `target`). An event at ERROR
//!   level, or with a field named `error`, becomes an `exception` event with
//!   `exception.message` and sets the span's status to Error with that
//!   message (`#[instrument(err)]` works this way). A span field named
//!   `error` sets the status too.
//! * **tracing-opentelemetry's conventions**: the span's name is the
//!   `tracing` name, unless `otel.name` gives one; the kind is INTERNAL unless
//!   `otel.kind` says `server`, `client`, `producer` or `consumer`;
//!   `otel.status_code` (`ok`, `error`, `unset`) and `otel.status_description`
//!   set the status last (they win over error events).
//! * **Bounded**: at most `[tracing] max_attributes` attributes per span and
//!   per event, `max_events` events (and as many links) per span, string
//!   values cut at [`visit::MAX_VALUE_BYTES`]; what is dropped is counted
//!   ([`stats`]). Finished spans go through the same bounded, never-blocking
//!   queue as chat spans (dropped and counted when full).
//!
//! # Cost
//!
//! The record is built in the span's registry extensions as fields arrive
//! and handed to the pipeline when the span closes: one record taken from
//! the pool the export thread hands back, one extension box, one string per
//! string field. No global lock: the filter is decided once per callsite,
//! the redacted-field set once per callsite and thread, the redaction lists
//! are read with one atomic load. With no pipeline installed the layer
//! builds nothing (one atomic load when a span starts; enter, exit and close
//! find no state in the span and return). The chat span path is untouched:
//! it reads chatobs' per-thread frame, which the layer keeps up to date on
//! enter and exit, and `#[chat_span]` callsites are declined by the filter
//! (so installing the bridge does not make chat spans pay the `tracing`
//! registry).
//!
//! # With your own subscriber, and with tracing-opentelemetry
//!
//! `init` installs a global subscriber only when the application has none.
//! If you install your own, add [`layer`] to your registry (it carries its
//! own per-layer filter, so it neither hides spans from your other layers
//! nor makes them see more):
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::registry()
//!     // .with(tracing_subscriber::fmt::layer())   // your layers
//!     .with(chatobs_runtime::logs::layer())          // JSON log lines with chat context (optional)
//!     .with(chatobs_runtime::tracing_layer());      // your tracing spans, exported by chatobs
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! // then: let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
//! ```
//!
//! tracing-opentelemetry's layer can sit in the same registry: each layer
//! then exports every `tracing` span on its own, with its own ids, so the
//! two copies are not in the same traces and chat spans appear only in
//! chatobs'. Use one: chatobs' bridge keeps chat spans and `tracing` spans
//! in one trace, redacts, and costs a fraction of tracing-opentelemetry per
//! span; keep tracing-opentelemetry only to feed an OpenTelemetry SDK
//! pipeline you already run, and then turn chatobs' bridge off
//! (`[tracing] spans = "off"`).

mod filter;
mod visit;

pub use filter::SpanFilter;
pub use visit::MAX_VALUE_BYTES;

use crate::config::TracingConfig;
use crate::context::{
    current_frame, replace_frame, session_from_ptr, ChatSession, Frame, FLAG_REMOTE, FLAG_SAMPLED,
};
use crate::ids::{new_span_id, new_trace_id};
use crate::model::{Event, Link, Status, Value};
use crate::span::{current_sink, finish, Record};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tracing::span::{Attributes, Id, Record as Values};
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use visit::{EventFields, OtelStatus, SpanFields};

static MAX_ATTRIBUTES: AtomicUsize = AtomicUsize::new(128);
static MAX_EVENTS: AtomicUsize = AtomicUsize::new(128);
static ATTRIBUTES_DROPPED: AtomicU64 = AtomicU64::new(0);
static EVENTS_DROPPED: AtomicU64 = AtomicU64::new(0);
static LINKS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// `(max attributes, max events)`.
#[inline]
fn limits() -> (usize, usize) {
    (
        MAX_ATTRIBUTES.load(Ordering::Relaxed),
        MAX_EVENTS.load(Ordering::Relaxed),
    )
}

fn count_dropped_attribute() {
    ATTRIBUTES_DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// What the bridge dropped to keep spans bounded (since the process started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Attributes beyond `[tracing] max_attributes` on a span or a span event.
    pub attributes_dropped: u64,
    /// Events beyond `[tracing] max_events` on a span.
    pub events_dropped: u64,
    /// `follows_from` links beyond `[tracing] max_events` on a span.
    pub links_dropped: u64,
}

/// The bridge's drop counters. (Spans dropped because the export queue was
/// full are counted with the chat spans, in the pipeline's snapshot.)
pub fn stats() -> BridgeStats {
    BridgeStats {
        attributes_dropped: ATTRIBUTES_DROPPED.load(Ordering::Relaxed),
        events_dropped: EVENTS_DROPPED.load(Ordering::Relaxed),
        links_dropped: LINKS_DROPPED.load(Ordering::Relaxed),
    }
}

/// Applies `[tracing]`: the filter [`SpanFilter::configured`] follows, and
/// the per-span bounds. `chatobs_runtime::init` calls it; an error names the
/// wrong key.
pub fn configure(cfg: &TracingConfig) -> Result<(), crate::Error> {
    let d = filter::parse_directives(&cfg.spans)
        .map_err(|r| crate::Error::config(None, "tracing.spans", r))?;
    filter::set_configured(d);
    MAX_ATTRIBUTES.store(cfg.max_attributes.max(1), Ordering::Relaxed);
    MAX_EVENTS.store(cfg.max_events, Ordering::Relaxed);
    // Callsites already seen keep their cached interest until told otherwise.
    tracing_core::callsite::rebuild_interest_cache();
    Ok(())
}

/// Whether `cfg` turns the bridge off (`spans = "off"`).
pub fn is_off(cfg: &TracingConfig) -> bool {
    filter::parse_directives(&cfg.spans).is_ok_and(|d| d.is_off())
}

/// The bridge layer, without its filter (see [`layer`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingBridge {
    _private: (),
}

/// The bridge layer with its per-layer filter, in a registry `S`.
pub type BridgeLayer<S> = Filtered<TracingBridge, SpanFilter, S>;

/// The bridge: add it to your `tracing_subscriber::registry()` when you
/// install your own global subscriber (`init` installs it otherwise). Its
/// filter follows `[tracing] spans` as `init` set it (`info` until then).
pub fn layer<S>() -> BridgeLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    layer_with(SpanFilter::configured())
}

/// The bridge with a filter of its own (`SpanFilter::parse("info,sqlx=warn")`).
pub fn layer_with<S>(filter: SpanFilter) -> BridgeLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    TracingBridge::default().with_filter(filter)
}

/// The state of one bridged span, kept in its registry extensions.
struct Bridged {
    trace_id: u128,
    span_id: u64,
    flags: u8,
    capture: u64,
    session: Option<ChatSession>,
    /// `None` when the sampler did not keep the span (its ids still propagate).
    rec: Option<Box<Record>>,
    /// The redacted fields of its callsite.
    mask: u64,
    otel_status: Option<OtelStatus>,
    otel_description: Option<String>,
}

impl Bridged {
    /// The frame that makes this span current, with `record` as the record
    /// that `current::*` reaches (its session, else the current one).
    fn frame(&self, record: *mut Record) -> Frame {
        let cur = current_frame();
        Frame {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags,
            session: self
                .session
                .as_ref()
                .map_or(cur.session, |s| Arc::as_ptr(&s.0)),
            record,
            capture: self.capture,
        }
    }
}

/// Where a new span hangs: the parent's ids, sampling flags, conversation
/// and test-kit capture token.
struct Parent {
    trace_id: u128,
    span_id: u64,
    flags: u8,
    capture: u64,
    session: Option<ChatSession>,
}

impl Parent {
    fn from_frame(f: &Frame) -> Parent {
        Parent {
            trace_id: f.trace_id,
            span_id: f.span_id,
            flags: f.flags,
            capture: f.capture,
            // SAFETY: the current frame's session pointer is alive while it is entered.
            session: unsafe { session_from_ptr(f.session) },
        }
    }
}

/// The nearest bridged span at or above `span`.
fn bridged_ancestor<S>(span: SpanRef<'_, S>) -> Option<Parent>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span.scope().find_map(|s| {
        s.extensions().get::<Bridged>().map(|b| Parent {
            trace_id: b.trace_id,
            span_id: b.span_id,
            flags: b.flags,
            capture: b.capture,
            session: b.session.clone(),
        })
    })
}

thread_local! {
    /// The frames bridged spans replaced when entered on this thread:
    /// `(tracing span id, its chatobs span id, frame to restore)`, innermost
    /// last. Exit finds its entry here, without looking the span up in the registry.
    static ENTERED: RefCell<Vec<(u64, u64, Frame)>> = const { RefCell::new(Vec::new()) };
}

impl<S> Layer<S> for TracingBridge
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(sink) = current_sink() else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let cur = current_frame();
        let parent = if attrs.is_root() {
            Parent {
                trace_id: 0,
                span_id: 0,
                flags: 0,
                ..Parent::from_frame(&cur)
            }
        } else if let Some(pid) = attrs.parent() {
            ctx.span(pid)
                .and_then(bridged_ancestor)
                .unwrap_or_else(|| Parent::from_frame(&cur))
        } else {
            Parent::from_frame(&cur)
        };
        let trace_id = if parent.trace_id != 0 {
            parent.trace_id
        } else {
            new_trace_id().0
        };
        let parent_frame = Frame {
            trace_id: parent.trace_id,
            span_id: parent.span_id,
            flags: parent.flags,
            session: std::ptr::null(),
            record: std::ptr::null_mut(),
            capture: parent.capture,
        };
        let sampled = sink.sampler.decide(&parent_frame, trace_id);
        let meta = attrs.metadata();
        let mut b = Bridged {
            trace_id,
            span_id: new_span_id().0,
            flags: sampled as u8 * FLAG_SAMPLED,
            capture: parent.capture,
            session: parent.session,
            rec: None,
            mask: 0,
            otel_status: None,
            otel_description: None,
        };
        if sampled {
            b.mask = visit::redacted_mask(meta);
            let mut old = sink.take_back();
            if let Some(o) = old.as_deref_mut() {
                visit::harvest(o);
            }
            let mut rec = crate::span::Sink::record_in(
                old,
                Record {
                    name: Cow::Borrowed(meta.name()),
                    trace_id,
                    span_id: b.span_id,
                    parent_span_id: parent.span_id,
                    parent_remote: parent.flags & FLAG_REMOTE != 0,
                    start: crate::clock::now(),
                    capture: parent.capture,
                    ..Record::empty(sink)
                },
            );
            attrs.record(&mut SpanFields {
                rec: &mut rec,
                mask: b.mask,
                create: true,
                otel_status: &mut b.otel_status,
                otel_description: &mut b.otel_description,
            });
            b.rec = Some(rec);
        }
        span.extensions_mut().insert(b);
    }

    fn on_record(&self, id: &Id, values: &Values<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(b) = ext.get_mut::<Bridged>() else {
            return;
        };
        let Some(rec) = b.rec.as_deref_mut() else {
            return;
        };
        values.record(&mut SpanFields {
            rec,
            mask: b.mask,
            create: false,
            otel_status: &mut b.otel_status,
            otel_description: &mut b.otel_description,
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(other) = ctx.span(follows).and_then(bridged_ancestor) else {
            return;
        };
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(rec) = ext.get_mut::<Bridged>().and_then(|b| b.rec.as_deref_mut()) else {
            return;
        };
        if rec.links.len() >= limits().1 {
            LINKS_DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        rec.links.push(Link {
            trace_id: crate::TraceId(other.trace_id),
            span_id: crate::SpanId(other.span_id),
            attributes: Vec::new(),
        });
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(b) = ext.get_mut::<Bridged>() else {
            return;
        };
        // An event inside a chat span that runs inside this span belongs to
        // the chat span, not here.
        if event.is_contextual() && current_frame().span_id != b.span_id {
            return;
        }
        let Some(rec) = b.rec.as_deref_mut() else {
            return;
        };
        let meta = event.metadata();
        let mut f = EventFields::new(visit::redacted_mask(meta));
        event.record(&mut f);
        let is_error = *meta.level() == Level::ERROR || f.error.is_some();
        let mut attributes = f.attrs;
        let name: Cow<'static, str> = if is_error {
            let msg = match (f.message.filter(|m| !m.is_empty()), f.error) {
                (Some(m), Some(e)) => format!("{m}: {e}"),
                (Some(m), None) => m,
                (None, Some(e)) => e,
                (None, None) => meta.name().to_owned(),
            };
            let msg = crate::redact::truncate(&msg, 1024);
            rec.status = Status::Error(Cow::Owned(msg.clone()));
            attributes.insert(
                0,
                (
                    Cow::Borrowed(crate::vocab::EXCEPTION_MESSAGE),
                    Value::Str(Cow::Owned(msg)),
                ),
            );
            Cow::Borrowed(crate::vocab::EXCEPTION_EVENT)
        } else {
            match f.message {
                Some(m) if !m.is_empty() => Cow::Owned(m),
                _ => Cow::Borrowed(meta.name()),
            }
        };
        for (k, v) in [("level", meta.level().as_str()), ("target", meta.target())] {
            visit::put_capped(
                &mut attributes,
                Cow::Borrowed(k),
                Value::Str(Cow::Borrowed(v)),
                false,
            );
        }
        if rec.events.len() >= limits().1 {
            EVENTS_DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        rec.events.push(Event {
            name,
            time: crate::clock::now(),
            attributes,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let ext = span.extensions();
        let Some(b) = ext.get::<Bridged>() else {
            return;
        };
        // `current::set_attr`, `record!` and cost recording keep reaching
        // the chat span the caller is in (the record is the enclosing one's).
        let frame = b.frame(current_frame().record);
        drop(ext);
        let _ = ENTERED.try_with(|e| {
            if let Ok(mut e) = e.try_borrow_mut() {
                e.push((id.into_u64(), frame.span_id, replace_frame(frame)));
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let key = id.into_u64();
        let _ = ENTERED.try_with(|e| {
            let Ok(mut e) = e.try_borrow_mut() else {
                return;
            };
            let Some(i) = e.iter().rposition(|(k, _, _)| *k == key) else {
                return;
            };
            let (_, span_id, prev) = e.remove(i);
            if i < e.len() {
                // Exited out of order: the span entered right after it (while
                // its frame was current) now restores what this one replaced.
                if e[i].2.span_id == span_id {
                    e[i].2 = prev;
                }
            } else if current_frame().span_id == span_id {
                // Put the previous frame back only if ours is still current (a
                // guard held across `.await` exits after the enclosing scope
                // restored its own frame: nothing stale is written back).
                replace_frame(prev);
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(mut b) = span.extensions_mut().remove::<Bridged>() else {
            return;
        };
        let Some(mut rec) = b.rec.take() else {
            return;
        };
        match b.otel_status {
            Some(OtelStatus::Ok) => rec.status = Status::Ok,
            Some(OtelStatus::Unset) => rec.status = Status::Unset,
            Some(OtelStatus::Error) => {
                let msg = match (b.otel_description.take(), &rec.status) {
                    (Some(d), _) => d,
                    (None, Status::Error(m)) => m.to_string(),
                    (None, _) => String::new(),
                };
                rec.status = Status::Error(Cow::Owned(msg));
            }
            None => {}
        }
        if let Some(hook) = GENAI_HOOK.get() {
            if rec
                .attrs
                .iter()
                .any(|(k, _)| k.starts_with(GEN_AI_USAGE_PREFIX))
            {
                // The span being closed is the current one while the hook
                // runs: what it records (cost attributes, the conversation's
                // total) lands on this span and its conversation.
                let prev = replace_frame(b.frame(&mut *rec as *mut Record));
                hook();
                replace_frame(prev);
            }
        }
        finish(rec, b.session.take());
    }
}

const GEN_AI_USAGE_PREFIX: &str = "gen_ai.usage.";

/// What runs when a bridged span carrying GenAI usage ends
/// (`gen_ai.usage.*` fields: an LLM SDK's span, such as rig's `chat`).
pub type GenAiHook = fn();
static GENAI_HOOK: std::sync::OnceLock<GenAiHook> = std::sync::OnceLock::new();

/// Sets the hook run, with the ending span as the current one
/// ([`crate::current`]), when a bridged span with `gen_ai.usage.*` fields
/// ends. The facade prices the call there, so a GenAI span from another
/// crate gets the cost attributes, the conversation total, the metrics and
/// the budget checks of chatobs' own LLM spans. Set once; later calls are ignored.
pub fn on_genai_close(hook: GenAiHook) {
    let _ = GENAI_HOOK.set(hook);
}

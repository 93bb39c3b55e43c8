//! Context across boundaries that are not HTTP: message queues, bot
//! handoffs and domain events on a bus.
//!
//! * Message queues: [`inject_map`] / [`extract_map`] write and read W3C
//!   `traceparent` and `baggage` (with the session id) in a message's string
//!   headers (Kafka, NATS, SQS attributes, Redis streams), within the W3C
//!   limits; malformed or oversized values are ignored. [`consume`] starts
//!   the CONSUMER span that continues the producer's trace and session.
//! * Bot handoffs: [`handoff`] records a `handoff.{from}_to_{to}` span with
//!   `chat.handoff.from|to|reason|confidence`; run the receiving bot inside
//!   it (or send its [`chatobs_core::ChatSpan::context`] along) and its spans join
//!   the same trace and conversation.
//! * Domain events: [`EventMetadata`] (serde) carries trace id, span id,
//!   correlation id (the session) and causation id (the event that caused
//!   this one), filled from the current context.
//!
//! Personal data: a carrier's other headers are never read or exported; only
//! the W3C `traceparent` and the baggage's `chat.session_id` (an exported id,
//! validated) are taken, and a session id that is in fact a phone number, a
//! wamid or a business-scoped user id is replaced by its keyed hash. A handoff reason is free text: phone numbers and
//! e-mail addresses in it are redacted and a wamid is written as its keyed
//! hash ([`crate::whatsapp::scrub_message_ids`]).
//!
//! ```
//! use chatobs_runtime::integrations::propagation::{self, EventMetadata};
//! use chatobs_runtime::{testing, ChatSession, Role, SpanBuilder};
//! use std::collections::HashMap;
//!
//! let session = ChatSession::from_exported_id("cs_doc_queue").unwrap();
//! let ((), spans) = testing::capture(|| session.in_scope(|| {
//!     // Producer: put the context into the message's headers.
//!     let mut headers = HashMap::new();
//!     let mut produce = SpanBuilder::new("orders.publish").start();
//!     produce.in_scope(|| propagation::inject_map(&mut headers));
//!     let created = produce.in_scope(|| EventMetadata::current());
//!     drop(produce);
//!
//!     // Consumer (another task or service): continue the trace and session.
//!     let mut consume = propagation::consume("orders.process", &headers);
//!     consume.in_scope(|| {
//!         let shipped = EventMetadata::current().caused_by(&created);
//!         assert_eq!(shipped.correlation_id.as_deref(), Some("cs_doc_queue"));
//!         assert_eq!(shipped.causation_id, Some(created.event_id.clone()));
//!         // Lead bot hands over to the buyer bot; the buyer's spans continue the trace.
//!         let mut h = propagation::handoff(Role::SALES, Role::SUPPORT, "buyer_intent", 0.85);
//!         h.in_scope(|| drop(SpanBuilder::new("support.answer").start()));
//!     });
//! }));
//! let publish = spans.one("orders.publish");
//! let process = spans.one("orders.process");
//! assert_eq!(process.trace_id, publish.trace_id);
//! assert_eq!(process.parent_span_id, publish.span_id);
//! let h = spans.one("handoff.sales_to_support");
//! assert_eq!(spans.one("support.answer").parent_span_id, h.span_id);
//! assert!(spans.spans.iter().all(|s| s.session_id() == Some("cs_doc_queue")));
//! ```

use crate::context::{ChatSession, Context};
use crate::model::OtelKind;
use crate::span::{ChatSpan, SpanBuilder};
use crate::vocab::{self, Role};
use std::borrow::Cow;
use std::collections::HashMap;

/// Writes the current context (`traceparent`, `baggage` with the session
/// id) into a message's string headers.
pub fn inject_map(headers: &mut HashMap<String, String>) {
    Context::current().inject_map(headers);
}

/// Reads a context from a message's string headers (malformed or oversized
/// values are ignored: the result then has no parent or no session). A
/// session id that is a phone number, a wamid or a business-scoped user id
/// (`573001234567`, `wa:573001234567`, `US.13491208655302741918`) is taken
/// as its keyed hash instead ([`ChatSession::new`]).
pub fn extract_map(headers: &HashMap<String, String>) -> Context {
    without_personal_session(Context::extract_map(headers))
}

/// Whether a propagated session id is personal data rather than an exported
/// id: a wamid, or digits (7 or more) after at most a short prefix of letters
/// and separators (a phone number, `wa:` + a number, a business-scoped user id).
pub(crate) fn looks_personal(id: &str) -> bool {
    if id.len() >= 6 && id.as_bytes()[..6].eq_ignore_ascii_case(b"wamid.") {
        return true;
    }
    let digits = id.bytes().rev().take_while(u8::is_ascii_digit).count();
    let prefix = &id[..id.len() - digits];
    digits >= 7
        && prefix.len() <= 8
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || matches!(b, b':' | b'.' | b'_' | b'-'))
}

/// `ctx` with a personal session id (see [`looks_personal`]) replaced by its
/// keyed hash, so the number never reaches a span; every service sharing
/// `CHATOBS_SESSION_KEY` derives the same replacement.
pub(crate) fn without_personal_session(mut ctx: Context) -> Context {
    if let Some(s) = &ctx.session {
        if looks_personal(s.id()) {
            ctx.session = Some(ChatSession::new(s.id()));
        }
    }
    ctx
}

/// Starts a CONSUMER span for a message whose headers carry a context: the
/// span continues the producer's trace and conversation.
pub fn consume(name: impl Into<Cow<'static, str>>, headers: &HashMap<String, String>) -> ChatSpan {
    let ctx = extract_map(headers);
    let mut b = SpanBuilder::new(name).kind(OtelKind::Consumer);
    if ctx.session.is_none() {
        if let Some(s) = ChatSession::current() {
            b = b.session(s);
        }
    }
    if ctx.has_span() || ctx.session.is_some() {
        b = b.parent(ctx);
    }
    b.start()
}

/// Records a handoff from one bot (role) to another: a span
/// `handoff.{from}_to_{to}` (role `handoff`) with the reason and the
/// confidence (clamped to 0..=1). Run the receiving bot inside it.
pub fn handoff(from: Role, to: Role, reason: impl Into<String>, confidence: f64) -> ChatSpan {
    let reason = crate::redact::truncate(
        &crate::whatsapp::redacted(&reason.into(), |t| crate::redact::text(t).into_owned()),
        128,
    );
    let confidence = if confidence.is_finite() {
        confidence.clamp(0.0, 1.0)
    } else {
        0.0
    };
    SpanBuilder::new(format!("handoff.{from}_to_{to}"))
        .role(Role::HANDOFF)
        .attribute(vocab::HANDOFF_FROM, from.as_str())
        .attribute(vocab::HANDOFF_TO, to.as_str())
        .attribute(vocab::HANDOFF_REASON, reason)
        .attribute(vocab::HANDOFF_CONFIDENCE, confidence)
        .start()
}

/// Metadata of a domain event put on a bus: where it came from in the trace,
/// which conversation it belongs to and which event caused it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventMetadata {
    /// This event's id (16 hex digits, random).
    pub event_id: String,
    /// The trace (32 hex digits), when a span was current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The span that emitted the event (16 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The business flow: the conversation's session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The event that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// RFC 3339 time the metadata was made.
    pub occurred_at: String,
}

impl EventMetadata {
    /// Filled from the current span and session.
    pub fn current() -> EventMetadata {
        EventMetadata::from_context(&Context::current())
    }

    /// Filled from `ctx`.
    pub fn from_context(ctx: &Context) -> EventMetadata {
        let has = ctx.has_span();
        EventMetadata {
            event_id: crate::ids::new_span_id().to_hex(),
            trace_id: has.then(|| ctx.trace_id.to_hex()),
            span_id: has.then(|| ctx.span_id.to_hex()),
            correlation_id: ctx.session.as_ref().map(|s| s.id().to_owned()),
            causation_id: None,
            occurred_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }

    /// Marks `cause` as the event that caused this one (and takes its
    /// correlation id when this one has none).
    pub fn caused_by(mut self, cause: &EventMetadata) -> EventMetadata {
        self.causation_id = Some(cause.event_id.clone());
        if self.correlation_id.is_none() {
            self.correlation_id = cause.correlation_id.clone();
        }
        self
    }

    /// The context to continue from when handling the event: its span as a
    /// remote parent and its conversation. Invalid ids are ignored.
    pub fn context(&self) -> Context {
        let mut ctx = Context::default();
        if let (Some(t), Some(s)) = (
            self.trace_id
                .as_deref()
                .and_then(crate::ids::TraceId::from_hex),
            self.span_id
                .as_deref()
                .and_then(crate::ids::SpanId::from_hex),
        ) {
            ctx.trace_id = t;
            ctx.span_id = s;
            ctx.sampled = true;
            ctx.remote = true;
        }
        ctx.session = self
            .correlation_id
            .as_deref()
            .and_then(|id| ChatSession::from_exported_id(id).ok());
        without_personal_session(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_json() {
        let s = ChatSession::from_exported_id("cs_meta").unwrap();
        let ((), _spans) = crate::testing::capture(|| {
            s.in_scope(|| {
                let mut span = SpanBuilder::new("emit").start();
                let expected = span.context().span_id;
                span.in_scope(|| {
                    let m = EventMetadata::current();
                    let json = serde_json::to_string(&m).unwrap();
                    let back: EventMetadata = serde_json::from_str(&json).unwrap();
                    assert_eq!(back, m);
                    let ctx = back.context();
                    assert_eq!(ctx.span_id, expected);
                    assert_eq!(ctx.session.unwrap().id(), "cs_meta");
                });
            })
        });
    }

    #[test]
    fn personal_session_ids_are_hashed() {
        for id in [
            "573001234567",
            "wa:573001234567",
            "US.13491208655302741918",
            "US.ENT.11815799212886844830",
            "wamid.HBgMNTczMDAxMjM0NTY3FQIAEhgUM0VCMEI4QjU5RjM3RkQ1QjYzOTMA",
        ] {
            let mut h = HashMap::new();
            h.insert("baggage".into(), format!("chat.session_id={id}"));
            let s = extract_map(&h).session.unwrap();
            assert_eq!(s.id(), ChatSession::new(id).id(), "{id}");
            assert!(!s.id().contains(id));
        }
        for id in [
            "cs_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "cs_doc_queue",
            "order-42",
            "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
        ] {
            let mut h = HashMap::new();
            h.insert("baggage".into(), format!("chat.session_id={id}"));
            assert_eq!(extract_map(&h).session.unwrap().id(), id);
        }
    }

    #[test]
    fn oversized_or_malformed_headers_are_ignored() {
        let mut h = HashMap::new();
        h.insert("traceparent".into(), "00-zz-11-01".into());
        h.insert(
            "baggage".into(),
            format!("chat.session_id=cs_x,{}", "k=v,".repeat(3000)),
        );
        let ctx = extract_map(&h);
        assert!(!ctx.has_span());
        assert!(ctx.session.is_none());
    }
}

//! Checked chat events: what `chat_event!` expands to.
//!
//! `chat_event!(message.delivered, channel = "whatsapp", content = &text)`
//! records one event of the closed helpdesk vocabulary
//! ([`crate::vocab::events`]) three ways:
//!
//! - an event on the span recording on this thread, named after the event,
//!   with `chat.event.name` and the fields as attributes (text fields scanned
//!   for phone numbers and e-mail addresses, at most 256 bytes; a `content`
//!   field as `content.length`, its length in characters);
//! - one `INFO` log line, target `chatobs::event`, whose message is the
//!   event's name, with the fields `chat.event.name` and `chat.event.fields`
//!   (`channel="whatsapp" content.length=42`);
//! - with the `metrics` feature, the counter `chatobs_chat_events_total{event}`.
//!
//! An unknown event, an unknown field or a value of the wrong type does not
//! compile. A message's text is never written anywhere: only its length.
//!
//! ```
//! use chatobs_runtime::{chat_event, chat_span, vocab, Value};
//! # #[cfg(feature = "testing")]
//! use chatobs_runtime::testing;
//!
//! #[chat_span(name = "agent.support.reply", role = "support")]
//! fn reply(text: &str) {
//!     chat_event!(message.received, channel = "whatsapp", message_type = "text", content = text);
//!     chat_event!(conversation.assigned, conversation_id = "tk-1042", agent = "support_bot");
//! }
//!
//! # #[cfg(feature = "testing")] {
//! let ((), spans) = testing::capture(|| reply("Hola, mi número es +57 300 123 4567"));
//! let span = spans.one("agent.support.reply");
//! let ev = span.event("message.received").unwrap();
//! assert_eq!(ev.attr(vocab::CHAT_EVENT_NAME), Some(&Value::from("message.received")));
//! assert_eq!(ev.attr("channel"), Some(&Value::from("whatsapp")));
//! assert_eq!(ev.attr("content.length"), Some(&Value::from(35_i64))); // the text is not there
//! assert!(ev.attr("content").is_none());
//! let ev = span.event("conversation.assigned").unwrap();
//! assert_eq!(ev.attr("agent"), Some(&Value::from("support_bot")));
//! # }
//! ```
//!
//! Outside a recording span, with no `tracing` subscriber taking the line and
//! metrics off, a `chat_event!` costs a thread-local read and two atomic
//! loads, and its values are not evaluated (as with `tracing`'s macros).

use crate::vocab::events::ChatEvent;
use crate::vocab::CHAT_EVENT_NAME;
use chatobs_core::model::{KeyValue, Value};
use chatobs_core::{current, redact};
use std::borrow::Cow;
use std::fmt;

/// The log target of the event lines.
const TARGET: &str = "chatobs::event";
/// At most this many bytes of a text value are written.
const MAX_TEXT: usize = 256;

/// Counts `event` and, when something records it (a span recording on this
/// thread, or a `tracing` subscriber taking the line), returns the recorder
/// the macro passes the values to.
#[doc(hidden)]
#[inline]
pub fn chat_event(event: &'static ChatEvent) -> Option<Recorder> {
    #[cfg(feature = "metrics")]
    chatobs_metrics::observe_chat_event(event.name);
    let span = current::with(|_| ()).is_some();
    let log = tracing::event_enabled!(target: TARGET, tracing::Level::INFO);
    (span || log).then_some(Recorder { event, span, log })
}

/// Takes the values of one `chat_event!` (typed: a value of the wrong type
/// does not compile) and records them.
#[doc(hidden)]
#[derive(Debug)]
pub struct Recorder {
    event: &'static ChatEvent,
    span: bool,
    log: bool,
}

/// One value, by the index of its field in the event's vocabulary entry.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    index: usize,
    value: FieldValue<'a>,
}

#[derive(Clone, Copy, Debug)]
enum FieldValue<'a> {
    Str(&'a str),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// Text a `chat_event!` text (or `content`) field takes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not text: this `chat_event!` field takes a `&str`, `String` or `Cow<str>`",
    label = "expected text (`str`), found `{Self}`",
    note = "text fields of chat events are identifiers and short codes; format other values first (`&x.to_string()`)"
)]
pub trait EventStr {
    /// The text.
    fn event_str(&self) -> &str;
}

/// An integer a `chat_event!` `i64` field takes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an integer that fits `i64`: this `chat_event!` field takes an `i64`",
    label = "expected an integer (`i64`), found `{Self}`",
    note = "accepted: i8, i16, i32, i64, u8, u16, u32"
)]
pub trait EventI64 {
    /// The value.
    fn event_i64(&self) -> i64;
}

/// A number a `chat_event!` `f64` field takes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a number: this `chat_event!` field takes an `f64`",
    label = "expected a number (`f64`), found `{Self}`",
    note = "accepted: f64, f32, and integers up to 32 bits (for a `Duration`, `d.as_secs_f64() * 1000.0`)"
)]
pub trait EventF64 {
    /// The value.
    fn event_f64(&self) -> f64;
}

/// A boolean a `chat_event!` `bool` field takes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `bool`: this `chat_event!` field takes `true` or `false`",
    label = "expected `bool`, found `{Self}`"
)]
pub trait EventBool {
    /// The value.
    fn event_bool(&self) -> bool;
}

impl EventStr for str {
    fn event_str(&self) -> &str {
        self
    }
}
impl EventStr for String {
    fn event_str(&self) -> &str {
        self
    }
}
impl EventStr for Cow<'_, str> {
    fn event_str(&self) -> &str {
        self
    }
}
impl EventStr for Box<str> {
    fn event_str(&self) -> &str {
        self
    }
}
impl EventStr for std::sync::Arc<str> {
    fn event_str(&self) -> &str {
        self
    }
}
impl EventStr for std::rc::Rc<str> {
    fn event_str(&self) -> &str {
        self
    }
}
impl<T: EventStr + ?Sized> EventStr for &T {
    fn event_str(&self) -> &str {
        (**self).event_str()
    }
}
impl<T: EventStr + ?Sized> EventStr for &mut T {
    fn event_str(&self) -> &str {
        (**self).event_str()
    }
}

macro_rules! numbers {
    ($tr:ident, $m:ident, $out:ty: $($t:ty),*) => {
        $(impl $tr for $t {
            fn $m(&self) -> $out {
                <$out>::from(*self)
            }
        })*
        impl<T: $tr + ?Sized> $tr for &T {
            fn $m(&self) -> $out {
                (**self).$m()
            }
        }
    };
}
numbers!(EventI64, event_i64, i64: i8, i16, i32, i64, u8, u16, u32);
numbers!(EventF64, event_f64, f64: f32, f64, i8, i16, i32, u8, u16, u32);

impl EventBool for bool {
    fn event_bool(&self) -> bool {
        *self
    }
}
impl<T: EventBool + ?Sized> EventBool for &T {
    fn event_bool(&self) -> bool {
        (**self).event_bool()
    }
}

impl Recorder {
    /// A text field.
    #[inline]
    pub fn str_field<'a, T: EventStr + ?Sized>(&self, index: usize, value: &'a T) -> Field<'a> {
        Field {
            index,
            value: FieldValue::Str(value.event_str()),
        }
    }
    /// An integer field.
    #[inline]
    pub fn i64_field<T: EventI64 + ?Sized>(&self, index: usize, value: &T) -> Field<'static> {
        Field {
            index,
            value: FieldValue::I64(value.event_i64()),
        }
    }
    /// A number field.
    #[inline]
    pub fn f64_field<T: EventF64 + ?Sized>(&self, index: usize, value: &T) -> Field<'static> {
        Field {
            index,
            value: FieldValue::F64(value.event_f64()),
        }
    }
    /// A boolean field.
    #[inline]
    pub fn bool_field<T: EventBool + ?Sized>(&self, index: usize, value: &T) -> Field<'static> {
        Field {
            index,
            value: FieldValue::Bool(value.event_bool()),
        }
    }
    /// Message text: only its length in characters is kept.
    #[inline]
    pub fn content_field<T: EventStr + ?Sized>(&self, index: usize, value: &T) -> Field<'static> {
        let n = value.event_str().chars().count();
        Field {
            index,
            value: FieldValue::I64(i64::try_from(n).unwrap_or(i64::MAX)),
        }
    }

    /// Records the event with these values on the current span and as a log line.
    pub fn record(&self, fields: &[Field<'_>]) {
        let ev = self.event;
        if self.span {
            let mut attrs: Vec<KeyValue> = Vec::with_capacity(fields.len() + 1);
            attrs.push((Cow::Borrowed(CHAT_EVENT_NAME), Value::from(ev.name)));
            for (key, value) in Values::new(ev, fields) {
                let value = match value {
                    FieldValue::Str(s) => Value::from(exportable(key, s)),
                    FieldValue::I64(v) => Value::from(v),
                    FieldValue::F64(v) => Value::from(v),
                    FieldValue::Bool(v) => Value::from(v),
                };
                attrs.push((Cow::Borrowed(key), value));
            }
            current::add_event(ev.name, attrs);
        }
        if self.log {
            tracing::info!(
                target: TARGET,
                { chat.event.name = ev.name, chat.event.fields = %LogFields(Values::new(ev, fields)) },
                "{}",
                ev.name
            );
        }
    }
}

/// The values with their exported keys (a value whose index is not a field
/// of the event, which the macro never generates, is skipped).
#[derive(Clone)]
struct Values<'f, 'a> {
    event: &'static ChatEvent,
    fields: std::slice::Iter<'f, Field<'a>>,
}

impl<'f, 'a> Values<'f, 'a> {
    fn new(event: &'static ChatEvent, fields: &'f [Field<'a>]) -> Self {
        Values {
            event,
            fields: fields.iter(),
        }
    }
}

impl<'a> Iterator for Values<'_, 'a> {
    type Item = (&'static str, FieldValue<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        for f in self.fields.by_ref() {
            if let Some(def) = self.event.fields.get(f.index) {
                return Some((def.key, f.value));
            }
        }
        None
    }
}

/// A text value as it may be exported: redacted by name and by content, bounded.
fn exportable(key: &str, s: &str) -> String {
    if redact::is_redacted_field(key) {
        return redact::REDACTED.to_owned();
    }
    redact::truncate(&redact::text(s), MAX_TEXT)
}

/// `channel="whatsapp" content.length=42`, for the log line.
struct LogFields<'f, 'a>(Values<'f, 'a>);

impl fmt::Display for LogFields<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.clone().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match value {
                FieldValue::Str(s) => write!(f, "{key}={:?}", exportable(key, s))?,
                FieldValue::I64(v) => write!(f, "{key}={v}")?,
                FieldValue::F64(v) => write!(f, "{key}={v}")?,
                FieldValue::Bool(v) => write!(f, "{key}={v}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::events;

    #[test]
    fn the_log_fields_are_redacted_bounded_and_skip_stray_indices() {
        let r = Recorder {
            event: &events::MESSAGE_FAILED,
            span: false,
            log: false,
        };
        let long = "x".repeat(1000);
        let fields = [
            r.str_field(0, &"whatsapp"),
            r.content_field(2, &"¿Dónde está mi pedido? Llámame al 3001234567"),
            r.i64_field(3, &131026_i32),
            r.str_field(1, long.as_str()),
            r.str_field(9, &"never"),
        ];
        let text = LogFields(Values::new(r.event, &fields)).to_string();
        assert!(
            text.starts_with(
                r#"channel="whatsapp" content.length=44 error_code=131026 message_type="xxx"#
            ),
            "{text}"
        );
        assert!(text.len() < 400, "{text}");
        assert!(!text.contains("never") && !text.contains("3001234567"));
        let phone = [r.str_field(1, &"llamar al +57 300 123 4567")];
        let text = LogFields(Values::new(r.event, &phone)).to_string();
        assert_eq!(text, r#"message_type="llamar al [REDACTED]""#);
    }

    #[test]
    fn numbers_convert_losslessly() {
        let r = Recorder {
            event: &events::INTEGRATION_SUCCESS,
            span: false,
            log: false,
        };
        let fields = [
            r.f64_field(2, &12_u32),
            r.f64_field(2, &0.5_f32),
            r.i64_field(3, &&200_u16),
        ];
        let text = LogFields(Values::new(r.event, &fields)).to_string();
        assert_eq!(text, "duration_ms=12 duration_ms=0.5 status_code=200");
    }
}

//! The data of a finished span, as every exporter and the test kit see it.

use crate::ids::{SpanId, TraceId};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::time::SystemTime;

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Str(Cow<'static, str>),
    /// An integer.
    I64(i64),
    /// A float (never used for money).
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// An exact decimal (money). The JSONL file and the test kit keep it
    /// exact; OTLP carries it as a double because backends sum numbers.
    Decimal(Decimal),
    /// An array of strings (tags).
    StrArray(Vec<Cow<'static, str>>),
    /// An array of integers.
    I64Array(Vec<i64>),
    /// An array of floats.
    F64Array(Vec<f64>),
    /// An array of booleans.
    BoolArray(Vec<bool>),
}

impl Value {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }
    /// The decimal, if this is one.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Decimal(v) => Some(*v),
            _ => None,
        }
    }
    /// The float, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }
    /// The strings, if this is a string array.
    pub fn as_str_array(&self) -> Option<Vec<&str>> {
        match self {
            Value::StrArray(v) => Some(v.iter().map(|s| s.as_ref()).collect()),
            _ => None,
        }
    }
    /// JSON form (decimals as exact strings).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::I64(v) => (*v).into(),
            Value::F64(v) => {
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Bool(v) => (*v).into(),
            Value::Decimal(d) => serde_json::Value::String(d.normalize().to_string()),
            Value::StrArray(v) => v
                .iter()
                .map(|s| serde_json::Value::String(s.to_string()))
                .collect(),
            Value::I64Array(v) => v.iter().map(|x| serde_json::Value::from(*x)).collect(),
            Value::F64Array(v) => v
                .iter()
                .map(|x| {
                    serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into)
                })
                .collect(),
            Value::BoolArray(v) => v.iter().map(|x| serde_json::Value::from(*x)).collect(),
        }
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}
impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value::Str(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::I64(v as i64)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<Decimal> for Value {
    fn from(v: Decimal) -> Self {
        Value::Decimal(v)
    }
}

/// A key and its value.
pub type KeyValue = (Cow<'static, str>, Value);

/// Span status.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// Not set (the function did not return a `Result`, or was cancelled).
    #[default]
    Unset,
    /// Returned `Ok`.
    Ok,
    /// Returned `Err` or panicked; the message is the error's Display, redacted.
    Error(Cow<'static, str>),
}

/// OpenTelemetry span kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OtelKind {
    /// In-process work (chat spans).
    #[default]
    Internal,
    /// Handles a request (webhook).
    Server,
    /// Makes a request (LLM call, WhatsApp send).
    Client,
    /// Sends to a broker.
    Producer,
    /// Receives from a broker.
    Consumer,
}

impl OtelKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            OtelKind::Internal => "internal",
            OtelKind::Server => "server",
            OtelKind::Client => "client",
            OtelKind::Producer => "producer",
            OtelKind::Consumer => "consumer",
        }
    }
    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<OtelKind> {
        Some(match s {
            "internal" => OtelKind::Internal,
            "server" => OtelKind::Server,
            "client" => OtelKind::Client,
            "producer" => OtelKind::Producer,
            "consumer" => OtelKind::Consumer,
            _ => return None,
        })
    }
}

/// A span event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Event name (from [`crate::vocab`]).
    pub name: Cow<'static, str>,
    /// When it happened.
    pub time: SystemTime,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
}

/// A link to another span.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// Linked trace.
    pub trace_id: TraceId,
    /// Linked span.
    pub span_id: SpanId,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
}

/// A finished span with every attribute spelled out.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedSpan {
    /// Span name.
    pub name: Cow<'static, str>,
    /// Span kind.
    pub kind: OtelKind,
    /// Trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// Parent (`SpanId::INVALID` for a root).
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_remote: bool,
    /// Start.
    pub start: SystemTime,
    /// End.
    pub end: SystemTime,
    /// Status.
    pub status: Status,
    /// Attributes, in the order they were set.
    pub attributes: Vec<KeyValue>,
    /// Events.
    pub events: Vec<Event>,
    /// Links.
    pub links: Vec<Link>,
}

impl FinishedSpan {
    /// A span with nothing in it, for a record to be converted into.
    pub(crate) fn empty() -> FinishedSpan {
        FinishedSpan {
            name: Cow::Borrowed(""),
            kind: OtelKind::Internal,
            trace_id: TraceId(0),
            span_id: SpanId(0),
            parent_span_id: SpanId(0),
            parent_remote: false,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            status: Status::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    /// The value of attribute `key` (the last one set wins).
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    /// The string value of attribute `key`.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
    /// The session id, if the span belongs to a conversation.
    pub fn session_id(&self) -> Option<&str> {
        self.attr_str(crate::vocab::CHAT_SESSION_ID)
    }
    /// Duration (zero if the clock went backwards).
    pub fn duration(&self) -> std::time::Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }
    /// The first event called `name`.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }
}

impl Event {
    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// The `f64` nearest to `d`, for backends and metrics that take floats.
///
/// `rust_decimal`'s `to_f64` divides a 128-bit integer on every call (0.2 us
/// of a webhook request's cost metrics; its spans carry a dozen decimals for
/// the OTLP encoder). Here a
/// mantissa below 2^53 with at most 22 decimals (every price and total
/// chatobs keeps) is exact as an `f64`, so is the power of ten, and one
/// IEEE division rounds the quotient once: the nearest `f64`, which is what
/// parsing the decimal's text gives. Other values (rare) are parsed from
/// their text, for the same nearest `f64` (`to_f64` can miss it by one step).
pub fn decimal_to_f64(d: Decimal) -> f64 {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let m = d.mantissa();
    match POW10.get(d.scale() as usize) {
        Some(p) if m.unsigned_abs() < 1 << 53 => m as f64 / p,
        _ => d.to_string().parse().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast conversion is the nearest `f64`: what parsing the
        /// decimal's text gives, for any mantissa and scale.
        #[test]
        fn decimal_to_f64_is_the_nearest_float(
            wide in -((1i128 << 96) - 1)..(1i128 << 96),
            small in -(1i128 << 53)..(1i128 << 53),
            scale in 0u32..=28,
            pick in any::<bool>(),
        ) {
            // Any mantissa a decimal holds (96 bits), or one of the fast path's.
            let d = Decimal::from_i128_with_scale(if pick { small } else { wide }, scale);
            let want: f64 = d.to_string().parse().expect("a decimal's text parses");
            prop_assert_eq!(decimal_to_f64(d), want, "{}", d);
        }
    }

    #[test]
    fn decimal_to_f64_of_prices() {
        assert_eq!(decimal_to_f64(Decimal::new(125, 5)), 0.00125);
        assert_eq!(decimal_to_f64(Decimal::new(-2625, 5)), -0.02625);
        assert_eq!(decimal_to_f64(Decimal::MAX), 7.922816251426434e28);
        assert_eq!(decimal_to_f64(Decimal::ZERO), 0.0);
    }
}

//! Conversation waterfall: spans grouped by session and trace, drawn as a tree
//! with durations, role, step and cost columns.
//!
//! A span file is outside input: it may be truncated by a crash, written by
//! two processes at once, edited by hand or hostile. Everything here
//! therefore never panics, never recurses, and stays O(n log n) in the
//! number of spans:
//!
//! - Reading is tolerant ([`read_jsonl_from`], [`read_jsonl_lossy`]): a line
//!   that is not a span is skipped and counted; the first bad line's number
//!   and reason are kept for one summary line ([`SpanFile::summary`]), never
//!   its content, which may hold personal data. Lines longer than
//!   [`MAX_LINE_BYTES`] are skipped without being held in memory; invalid
//!   UTF-8 is replaced (U+FFFD) line by line and counted. [`read_jsonl`] is
//!   the strict form: the first bad line is an error.
//! - Drawing ([`write_waterfall`]) indexes spans by id once, detects parent
//!   cycles (a span that is its own parent, `A → B → A`) and draws the spans
//!   in them as roots marked `↻`, walks each tree with an explicit stack, and
//!   writes line by line (the output is never held whole in memory).

use crate::model::{FinishedSpan, Status, Value};
use crate::vocab;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead};
use std::time::{Duration, SystemTime};

/// The longest line [`read_jsonl_from`] parses (16 MiB); longer ones are
/// skipped as bad lines, without being held in memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Reads spans written by the file exporter. Bad lines are reported with their number.
///
/// Strict: the first line that is not a span is an error (its number and
/// the reason, never its content). [`read_jsonl_lossy`] skips bad lines.
pub fn read_jsonl(text: &str) -> Result<Vec<FinishedSpan>, crate::Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            parse_span_line(line)
                .map_err(|e| crate::Error::InvalidInput(format!("line {}: {e}", i + 1)))?,
        );
    }
    Ok(out)
}

/// What a tolerant read of a span file found: the spans, and what was skipped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SpanFile {
    /// The spans of every good line, in file order.
    pub spans: Vec<FinishedSpan>,
    /// Lines that were not blank (good and bad).
    pub lines: usize,
    /// Lines skipped: not JSON, not a span, or longer than [`MAX_LINE_BYTES`].
    pub skipped: usize,
    /// The first skipped line.
    pub first_bad: Option<BadLine>,
    /// Lines with bytes that are not UTF-8, read with U+FFFD in their place
    /// (their spans are kept when the rest of the line is good).
    pub invalid_utf8: usize,
}

/// A skipped line: its 1-based number and why, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// Why it was skipped (never the line's content).
    pub reason: String,
}

impl SpanFile {
    /// One line for standard error when lines were skipped:
    /// `skipped 3 of 1000 lines of spans.jsonl (first bad line 17: not JSON: …)`.
    /// `None` when every line was read.
    pub fn summary(&self, name: &str) -> Option<String> {
        if self.skipped == 0 {
            return None;
        }
        let first = self
            .first_bad
            .as_ref()
            .map(|b| format!(" (first bad line {}: {})", b.line, b.reason))
            .unwrap_or_default();
        Some(format!(
            "skipped {} of {} lines of {name}{first}",
            self.skipped, self.lines
        ))
    }

    fn bad(&mut self, line: usize, reason: impl FnOnce() -> String) {
        self.skipped += 1;
        if self.first_bad.is_none() {
            self.first_bad = Some(BadLine {
                line,
                reason: reason(),
            });
        }
    }

    fn push_line(&mut self, number: usize, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let (text, repaired) = match std::str::from_utf8(bytes) {
            Ok(t) => (Cow::Borrowed(t), false),
            Err(_) => (String::from_utf8_lossy(bytes), true),
        };
        if text.trim().is_empty() {
            return;
        }
        self.lines += 1;
        if repaired {
            self.invalid_utf8 += 1;
        }
        match parse_span_line(&text) {
            Ok(s) => self.spans.push(s),
            Err(reason) => self.bad(number, || reason),
        }
    }

    fn push_too_long(&mut self, number: usize) {
        self.lines += 1;
        self.bad(number, || format!("longer than {MAX_LINE_BYTES} bytes"));
    }
}

/// Reads a span file tolerantly from bytes (see [`read_jsonl_from`]).
pub fn read_jsonl_lossy(bytes: &[u8]) -> SpanFile {
    // Reading from a slice cannot fail.
    read_jsonl_from(bytes).unwrap_or_default()
}

/// Reads a span file tolerantly, line by line: blank lines are ignored, a
/// line that is not a span is skipped and counted ([`SpanFile::skipped`],
/// [`SpanFile::first_bad`]), invalid UTF-8 is replaced per line, and a line
/// longer than [`MAX_LINE_BYTES`] is skipped without being buffered. Only
/// the reader's own errors are returned.
pub fn read_jsonl_from<R: BufRead>(mut reader: R) -> io::Result<SpanFile> {
    let mut file = SpanFile::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut too_long = false;
    let mut number = 0usize;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            // The last line, without a newline.
            if too_long {
                number += 1;
                file.push_too_long(number);
            } else if !buf.is_empty() {
                number += 1;
                file.push_line(number, &buf);
            }
            return Ok(file);
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                number += 1;
                if too_long || buf.len().saturating_add(i) > MAX_LINE_BYTES {
                    file.push_too_long(number);
                } else if buf.is_empty() {
                    file.push_line(number, &chunk[..i]);
                } else {
                    buf.extend_from_slice(&chunk[..i]);
                    file.push_line(number, &buf);
                }
                buf.clear();
                too_long = false;
                reader.consume(i + 1);
            }
            None => {
                let n = chunk.len();
                if !too_long {
                    if buf.len().saturating_add(n) > MAX_LINE_BYTES {
                        too_long = true;
                        buf = Vec::new();
                    } else {
                        buf.extend_from_slice(chunk);
                    }
                }
                reader.consume(n);
            }
        }
    }
}

/// Parses one line of a span file (the file exporter's JSON object).
///
/// The error says why, never quoting the line: `not JSON: …` (serde_json's
/// syntax message and column), `missing field `name``, `bad `trace_id``.
///
/// Lenient where the report loses nothing: an unknown `kind` is `internal`,
/// a `parent_span_id` that is not a string is no parent, attributes of
/// other types (null, objects) are left out, unknown fields are ignored.
/// The line is read in one pass, without building a JSON tree.
pub fn parse_span_line(line: &str) -> Result<FinishedSpan, String> {
    let parsed: de::Line<'_> = serde_json::from_str(line).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            // Fixed messages with a line and column, never the input.
            Category::Syntax | Category::Eof => format!("not JSON: {e}"),
            Category::Data | Category::Io => "not JSON".to_owned(),
        }
    })?;
    match parsed {
        de::Line::NotObject => Err("not a JSON object".into()),
        de::Line::Object(fields) => fields.into_span(),
    }
}

/// The streaming reader of one span line: each field read into what the
/// report keeps, anything else consumed unseen (serde_json's recursion
/// limit still applies, so nesting cannot overflow the stack).
mod de {
    use super::{is_money_key, Cow, Decimal, FinishedSpan, Status, SystemTime, Value};
    use crate::ids::{SpanId, TraceId};
    use crate::model::{Event, KeyValue, OtelKind};
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;
    use std::time::Duration;

    /// Attribute keys of the vocabulary, kept without an allocation per span.
    const KNOWN_KEYS: &[&str] = &[
        crate::vocab::CHAT_SESSION_ID,
        crate::vocab::CHAT_SERVICE_NAME,
        crate::vocab::AGENT_ROLE,
        crate::vocab::CONVERSATION_STEP,
        crate::vocab::GEN_AI_OPERATION_NAME,
        crate::vocab::GEN_AI_PROVIDER_NAME,
        crate::vocab::GEN_AI_REQUEST_MODEL,
        crate::vocab::GEN_AI_RESPONSE_MODEL,
        crate::vocab::GEN_AI_USAGE_INPUT_TOKENS,
        crate::vocab::GEN_AI_USAGE_OUTPUT_TOKENS,
        crate::vocab::GEN_AI_USAGE_PRICE_USD,
        crate::vocab::MESSAGING_WHATSAPP_PRICE_USD,
        crate::vocab::MESSAGING_WHATSAPP_CATEGORY,
        crate::vocab::CHAT_SESSION_COST_USD,
    ];

    fn key(k: Cow<'_, str>) -> Cow<'static, str> {
        match KNOWN_KEYS.iter().find(|c| **c == k) {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(k.into_owned()),
        }
    }

    /// Consumes a sequence or map without keeping it.
    fn drain_seq<'de, A: SeqAccess<'de>>(mut a: A) -> Result<(), A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn drain_map<'de, A: MapAccess<'de>>(mut a: A) -> Result<(), A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    /// A string, borrowed from the line when it has no escapes.
    struct Text<'de>(Cow<'de, str>);

    impl<'de> Deserialize<'de> for Text<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Text<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// Any JSON value, as far as the report reads it.
    pub(super) enum Any<'de> {
        Str(Cow<'de, str>),
        U64(u64),
        I64(i64),
        F64(f64),
        Bool(bool),
        /// Array items: strings, numbers and booleans as text, `""` for anything else.
        Strs(Vec<Cow<'static, str>>),
        /// Null or an object.
        Other,
    }

    impl<'de> Any<'de> {
        fn as_str(&self) -> Option<&str> {
            match self {
                Any::Str(s) => Some(s),
                _ => None,
            }
        }
        fn as_u64(&self) -> Option<u64> {
            match self {
                Any::U64(v) => Some(*v),
                _ => None,
            }
        }
    }

    impl<'de> Deserialize<'de> for Any<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Any<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Any<'de>, E> {
                    Ok(Any::Str(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Any<'de>, E> {
                    Ok(Any::Str(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Any<'de>, E> {
                    Ok(Any::Str(Cow::Owned(v)))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Any<'de>, E> {
                    Ok(Any::U64(v))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Any<'de>, E> {
                    Ok(match u64::try_from(v) {
                        Ok(u) => Any::U64(u),
                        Err(_) => Any::I64(v),
                    })
                }
                fn visit_f64<E>(self, v: f64) -> Result<Any<'de>, E> {
                    Ok(Any::F64(v))
                }
                fn visit_bool<E>(self, v: bool) -> Result<Any<'de>, E> {
                    Ok(Any::Bool(v))
                }
                fn visit_unit<E>(self) -> Result<Any<'de>, E> {
                    Ok(Any::Other)
                }
                fn visit_none<E>(self) -> Result<Any<'de>, E> {
                    Ok(Any::Other)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Any<'de>, A::Error> {
                    let mut out = Vec::new();
                    while let Some(item) = a.next_element::<Item>()? {
                        out.push(Cow::Owned(item.0.unwrap_or_default()));
                    }
                    Ok(Any::Strs(out))
                }
                fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Any<'de>, A::Error> {
                    drain_map(a)?;
                    Ok(Any::Other)
                }
            }
            d.deserialize_any(V)
        }
    }

    /// An array item: a string, or `None` for anything else (consumed).
    struct Item(Option<String>);

    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Item;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_str<E>(self, v: &str) -> Result<Item, E> {
                    Ok(Item(Some(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Item, E> {
                    Ok(Item(Some(v)))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Item, E> {
                    Ok(Item(Some(v.to_string())))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
                    Ok(Item(Some(v.to_string())))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
                    // As the JSON tree writes it (`-0.0`, `1e21`).
                    Ok(Item(Some(
                        serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string()),
                    )))
                }
                fn visit_bool<E>(self, v: bool) -> Result<Item, E> {
                    Ok(Item(Some(v.to_string())))
                }
                fn visit_unit<E>(self) -> Result<Item, E> {
                    Ok(Item(None))
                }
                fn visit_none<E>(self) -> Result<Item, E> {
                    Ok(Item(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Item, A::Error> {
                    drain_seq(a)?;
                    Ok(Item(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Item, A::Error> {
                    drain_map(a)?;
                    Ok(Item(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// Defines a field type read with `deserialize_any`: `$map` reads an
    /// object, anything else is consumed and gives `Default`.
    macro_rules! object_or_default {
        ($name:ident, $expect:literal, |$a:ident| $map:block) => {
            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    struct V;
                    impl<'de> Visitor<'de> for V {
                        type Value = $name;
                        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                            f.write_str($expect)
                        }
                        fn visit_map<A: MapAccess<'de>>(
                            self,
                            mut $a: A,
                        ) -> Result<$name, A::Error> {
                            $map
                        }
                        fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<$name, A::Error> {
                            drain_seq(a)?;
                            Ok($name::default())
                        }
                        fn visit_str<E>(self, _: &str) -> Result<$name, E> {
                            Ok($name::default())
                        }
                        fn visit_u64<E>(self, _: u64) -> Result<$name, E> {
                            Ok($name::default())
                        }
                        fn visit_i64<E>(self, _: i64) -> Result<$name, E> {
                            Ok($name::default())
                        }
                        fn visit_f64<E>(self, _: f64) -> Result<$name, E> {
                            Ok($name::default())
                        }
                        fn visit_bool<E>(self, _: bool) -> Result<$name, E> {
                            Ok($name::default())
                        }
                        fn visit_unit<E>(self) -> Result<$name, E> {
                            Ok($name::default())
                        }
                        fn visit_none<E>(self) -> Result<$name, E> {
                            Ok($name::default())
                        }
                    }
                    d.deserialize_any(V)
                }
            }
        };
    }

    /// `attributes`: an object (a key set twice keeps its first place and
    /// its last value, null and object values are left out), else none.
    #[derive(Default)]
    pub(super) struct Attrs(pub(super) Vec<KeyValue>);

    object_or_default!(Attrs, "an object of attributes", |a| {
        let mut all: Vec<(Cow<'static, str>, Option<Value>)> = Vec::new();
        while let Some(k) = a.next_key::<Text>()? {
            let k = key(k.0);
            let v = match a.next_value::<Any>()? {
                Any::Str(s) => Some(match is_money_key(&k).then(|| s.parse::<Decimal>()) {
                    Some(Ok(d)) => Value::Decimal(d),
                    _ => Value::Str(Cow::Owned(s.into_owned())),
                }),
                Any::Bool(b) => Some(Value::Bool(b)),
                Any::U64(u) => Some(match i64::try_from(u) {
                    Ok(i) => Value::I64(i),
                    Err(_) => Value::F64(u as f64),
                }),
                Any::I64(i) => Some(Value::I64(i)),
                Any::F64(f) => Some(Value::F64(f)),
                Any::Strs(v) => Some(Value::StrArray(v)),
                Any::Other => None,
            };
            all.push((k, v));
        }
        Ok(Attrs(dedup(all)))
    });

    /// A key set twice keeps its first place and its last value (as a JSON
    /// object does); `None` values are left out. Linear for the usual
    /// handful of attributes, hashed for many.
    fn dedup(all: Vec<(Cow<'static, str>, Option<Value>)>) -> Vec<KeyValue> {
        let mut out: Vec<(Cow<'static, str>, Option<Value>)> = Vec::with_capacity(all.len());
        if all.len() <= 16 {
            for (k, v) in all {
                match out.iter_mut().find(|(o, _)| *o == k) {
                    Some(e) => e.1 = v,
                    None => out.push((k, v)),
                }
            }
        } else {
            let mut at: std::collections::HashMap<Cow<'static, str>, usize> =
                std::collections::HashMap::with_capacity(all.len());
            for (k, v) in all {
                match at.get(&k) {
                    Some(&i) => out[i].1 = v,
                    None => {
                        at.insert(k.clone(), out.len());
                        out.push((k, v));
                    }
                }
            }
        }
        out.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    /// `status`: its `code` and `message`.
    #[derive(Default)]
    pub(super) struct StatusField {
        code: Option<String>,
        message: Option<String>,
    }

    object_or_default!(StatusField, "a status object", |a| {
        let mut s = StatusField::default();
        while let Some(k) = a.next_key::<Text>()? {
            let v = a.next_value::<Any>()?;
            let text = v.as_str().map(str::to_owned);
            match &*k.0 {
                "code" => s.code = text,
                "message" => s.message = text,
                _ => {}
            }
        }
        Ok(s)
    });

    impl StatusField {
        fn status(self) -> Status {
            match self.code.as_deref() {
                Some("ok") => Status::Ok,
                Some("error") => Status::Error(Cow::Owned(self.message.unwrap_or_default())),
                _ => Status::Unset,
            }
        }
    }

    fn at(ns: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)
    }

    /// One event; anything but an object is an event without name or time.
    #[derive(Default)]
    struct EventField {
        name: Option<String>,
        time: Option<u64>,
        attributes: Attrs,
    }

    object_or_default!(EventField, "an event object", |a| {
        let mut e = EventField::default();
        while let Some(k) = a.next_key::<Text>()? {
            match &*k.0 {
                "attributes" => e.attributes = a.next_value()?,
                "name" => e.name = a.next_value::<Any>()?.as_str().map(str::to_owned),
                "time_unix_nano" => e.time = a.next_value::<Any>()?.as_u64(),
                _ => {
                    a.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(e)
    });

    /// `events`: an array, else none.
    #[derive(Default)]
    pub(super) struct Events(Vec<Event>);

    impl<'de> Deserialize<'de> for Events {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Events;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an array of events")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Events, A::Error> {
                    let mut out = Vec::new();
                    while let Some(e) = a.next_element::<EventField>()? {
                        out.push(Event {
                            name: Cow::Owned(e.name.unwrap_or_default()),
                            time: at(e.time.unwrap_or(0)),
                            attributes: e.attributes.0,
                        });
                    }
                    Ok(Events(out))
                }
                fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Events, A::Error> {
                    drain_map(a)?;
                    Ok(Events::default())
                }
                fn visit_str<E>(self, _: &str) -> Result<Events, E> {
                    Ok(Events::default())
                }
                fn visit_u64<E>(self, _: u64) -> Result<Events, E> {
                    Ok(Events::default())
                }
                fn visit_i64<E>(self, _: i64) -> Result<Events, E> {
                    Ok(Events::default())
                }
                fn visit_f64<E>(self, _: f64) -> Result<Events, E> {
                    Ok(Events::default())
                }
                fn visit_bool<E>(self, _: bool) -> Result<Events, E> {
                    Ok(Events::default())
                }
                fn visit_unit<E>(self) -> Result<Events, E> {
                    Ok(Events::default())
                }
                fn visit_none<E>(self) -> Result<Events, E> {
                    Ok(Events::default())
                }
            }
            d.deserialize_any(V)
        }
    }

    /// The fields of a span line (`None`: absent; a key set twice: the last).
    #[derive(Default)]
    pub(super) struct Fields<'de> {
        name: Option<Any<'de>>,
        kind: Option<Any<'de>>,
        trace_id: Option<Any<'de>>,
        span_id: Option<Any<'de>>,
        parent_span_id: Option<Any<'de>>,
        parent_remote: Option<Any<'de>>,
        start: Option<Any<'de>>,
        end: Option<Any<'de>>,
        status: StatusField,
        attributes: Attrs,
        events: Events,
    }

    /// A line: an object's fields, or something else.
    pub(super) enum Line<'de> {
        Object(Box<Fields<'de>>),
        NotObject,
    }

    impl<'de> Deserialize<'de> for Line<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Line<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a span object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Line<'de>, A::Error> {
                    let mut f = Fields::default();
                    while let Some(k) = a.next_key::<Text>()? {
                        match &*k.0 {
                            "name" => f.name = Some(a.next_value()?),
                            "kind" => f.kind = Some(a.next_value()?),
                            "trace_id" => f.trace_id = Some(a.next_value()?),
                            "span_id" => f.span_id = Some(a.next_value()?),
                            "parent_span_id" => f.parent_span_id = Some(a.next_value()?),
                            "parent_remote" => f.parent_remote = Some(a.next_value()?),
                            "start_unix_nano" => f.start = Some(a.next_value()?),
                            "end_unix_nano" => f.end = Some(a.next_value()?),
                            "status" => f.status = a.next_value()?,
                            "attributes" => f.attributes = a.next_value()?,
                            "events" => f.events = a.next_value()?,
                            _ => {
                                a.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                    Ok(Line::Object(Box::new(f)))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Line<'de>, A::Error> {
                    drain_seq(a)?;
                    Ok(Line::NotObject)
                }
                fn visit_str<E>(self, _: &str) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
                fn visit_u64<E>(self, _: u64) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
                fn visit_i64<E>(self, _: i64) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
                fn visit_f64<E>(self, _: f64) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
                fn visit_bool<E>(self, _: bool) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
                fn visit_unit<E>(self) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
                fn visit_none<E>(self) -> Result<Line<'de>, E> {
                    Ok(Line::NotObject)
                }
            }
            d.deserialize_any(V)
        }
    }

    fn text<'a>(v: &'a Option<Any<'_>>, k: &str) -> Result<&'a str, String> {
        match v {
            None => Err(format!("missing field `{k}`")),
            Some(x) => x
                .as_str()
                .ok_or_else(|| format!("field `{k}` is not a string")),
        }
    }

    fn nanos(v: &Option<Any<'_>>, k: &str) -> Result<u64, String> {
        match v {
            None => Err(format!("missing field `{k}`")),
            Some(x) => x
                .as_u64()
                .ok_or_else(|| format!("field `{k}` is not an integer between 0 and 2^64-1")),
        }
    }

    impl Fields<'_> {
        /// The span, or the first missing or bad field (in the file's
        /// column order: name, ids, times).
        pub(super) fn into_span(self) -> Result<FinishedSpan, String> {
            let name = text(&self.name, "name")?.to_owned();
            let trace_id = TraceId::from_hex(text(&self.trace_id, "trace_id")?)
                .ok_or("bad `trace_id` (32 hex digits, not all zero)")?;
            let span_id = SpanId::from_hex(text(&self.span_id, "span_id")?)
                .ok_or("bad `span_id` (16 hex digits, not all zero)")?;
            let parent = self
                .parent_span_id
                .as_ref()
                .and_then(Any::as_str)
                .unwrap_or("");
            let parent_span_id = if parent.is_empty() {
                SpanId::INVALID
            } else {
                SpanId::from_hex(parent).ok_or("bad `parent_span_id` (16 hex digits, or empty)")?
            };
            let start = nanos(&self.start, "start_unix_nano")?;
            let end = nanos(&self.end, "end_unix_nano")?;
            Ok(FinishedSpan {
                name: Cow::Owned(name),
                kind: self
                    .kind
                    .as_ref()
                    .and_then(Any::as_str)
                    .and_then(OtelKind::parse)
                    .unwrap_or_default(),
                trace_id,
                span_id,
                parent_span_id,
                parent_remote: matches!(self.parent_remote, Some(Any::Bool(true))),
                start: at(start),
                end: at(end),
                status: self.status.status(),
                attributes: self.attributes.0,
                events: self.events.0,
                links: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
/// The first reader (a `serde_json::Value` per line), kept as the reference
/// the streaming reader is checked against.
fn parse_span_line_reference(line: &str) -> Result<FinishedSpan, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof => format!("not JSON: {e}"),
            Category::Data | Category::Io => "not JSON".to_owned(),
        }
    })?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    span_from_json(&v)
}

#[cfg(test)]
fn span_from_json(v: &serde_json::Value) -> Result<FinishedSpan, String> {
    use crate::ids::{SpanId, TraceId};
    let s = |k: &str| match v.get(k) {
        None => Err(format!("missing field `{k}`")),
        Some(x) => x
            .as_str()
            .ok_or_else(|| format!("field `{k}` is not a string")),
    };
    let n = |k: &str| match v.get(k) {
        None => Err(format!("missing field `{k}`")),
        Some(x) => x
            .as_u64()
            .ok_or_else(|| format!("field `{k}` is not an integer between 0 and 2^64-1")),
    };
    let t = |ns: u64| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
    let attrs = |o: Option<&serde_json::Value>| -> Vec<crate::model::KeyValue> {
        let mut out = Vec::new();
        if let Some(m) = o.and_then(|x| x.as_object()) {
            for (k, val) in m {
                let value = match val {
                    serde_json::Value::String(s) => match s.parse::<Decimal>() {
                        Ok(d) if is_money_key(k) => Value::Decimal(d),
                        _ => Value::Str(s.clone().into()),
                    },
                    serde_json::Value::Bool(b) => Value::Bool(*b),
                    serde_json::Value::Number(num) => num
                        .as_i64()
                        .map(Value::I64)
                        .unwrap_or(Value::F64(num.as_f64().unwrap_or(0.0))),
                    serde_json::Value::Array(a) => Value::StrArray(
                        a.iter()
                            .map(|x| match x {
                                serde_json::Value::String(s) => s.clone().into(),
                                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                                    x.to_string().into()
                                }
                                _ => Cow::Borrowed(""),
                            })
                            .collect(),
                    ),
                    _ => continue,
                };
                out.push((k.clone().into(), value));
            }
        }
        out
    };
    let status = match v
        .get("status")
        .and_then(|s| s.get("code"))
        .and_then(|c| c.as_str())
    {
        Some("ok") => Status::Ok,
        Some("error") => Status::Error(
            v.get("status")
                .and_then(|s| s.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_owned()
                .into(),
        ),
        _ => Status::Unset,
    };
    let parent = s("parent_span_id").unwrap_or("");
    Ok(FinishedSpan {
        name: s("name")?.to_owned().into(),
        kind: crate::model::OtelKind::parse(s("kind").unwrap_or("internal")).unwrap_or_default(),
        trace_id: TraceId::from_hex(s("trace_id")?)
            .ok_or("bad `trace_id` (32 hex digits, not all zero)")?,
        span_id: SpanId::from_hex(s("span_id")?)
            .ok_or("bad `span_id` (16 hex digits, not all zero)")?,
        parent_span_id: if parent.is_empty() {
            SpanId::INVALID
        } else {
            SpanId::from_hex(parent).ok_or("bad `parent_span_id` (16 hex digits, or empty)")?
        },
        parent_remote: v
            .get("parent_remote")
            .and_then(|x| x.as_bool())
            .unwrap_or(false),
        start: t(n("start_unix_nano")?),
        end: t(n("end_unix_nano")?),
        status,
        attributes: attrs(v.get("attributes")),
        events: v
            .get("events")
            .and_then(|e| e.as_array())
            .map(|a| {
                a.iter()
                    .map(|e| crate::model::Event {
                        name: e
                            .get("name")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_owned()
                            .into(),
                        time: t(e
                            .get("time_unix_nano")
                            .and_then(|x| x.as_u64())
                            .unwrap_or(0)),
                        attributes: attrs(e.get("attributes")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        links: Vec::new(),
    })
}

fn is_money_key(k: &str) -> bool {
    k.contains("price") || k.contains("cost")
}

fn money(s: &FinishedSpan, key: &str) -> Option<Decimal> {
    match s.attr(key)? {
        Value::Decimal(d) => Some(*d),
        Value::F64(f) => Decimal::try_from(*f).ok(),
        Value::Str(v) => v.parse().ok(),
        _ => None,
    }
}

/// A sum of money, or `None` once it overflowed.
type Sum = Option<Decimal>;

fn add(a: Sum, b: Decimal) -> Sum {
    a.and_then(|a| a.checked_add(b))
}

fn show(d: Sum) -> String {
    d.map(|d| d.normalize().to_string())
        .unwrap_or_else(|| "overflow".into())
}

/// Renders one waterfall per session (spans without a session are grouped
/// per trace). `only_session` limits the output to one session id.
///
/// Columns: the span tree, start offset and duration (ms), the service
/// (`chat.service.name` of the span or its nearest ancestor), role, step,
/// the span's own cost (LLM + WhatsApp), and a timeline bar.
///
/// The whole report in memory: [`write_waterfall`] streams it instead.
pub fn waterfall(spans: &[FinishedSpan], only_session: Option<&str>) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_waterfall(&mut out, spans, only_session);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the report of [`waterfall`] to `out` line by line, and returns the
/// number of conversations written (0 when `only_session` matched none).
///
/// Every span appears exactly once. A span whose parent is not in the file
/// is a root; spans in a parent cycle (a span that is its own parent,
/// `A → B → A`) are drawn as roots marked `↻`, with the spans below them
/// underneath, and counted in the conversation's header (`parent-cycles=`).
/// When several spans share an id, the earliest is the parent of its
/// children. Trees deeper than 8 levels show the depth (`↳12`) instead of
/// indenting further.
pub fn write_waterfall<W: io::Write + ?Sized>(
    out: &mut W,
    spans: &[FinishedSpan],
    only_session: Option<&str>,
) -> io::Result<usize> {
    // Session of a trace: any span of the trace that has one.
    let mut trace_session: HashMap<u128, &str> = HashMap::new();
    for s in spans {
        if let Some(id) = s.session_id() {
            trace_session.entry(s.trace_id.0).or_insert(id);
        }
    }
    // One group per session (or per trace without a session); each trace's
    // key is computed once.
    const SKIP: usize = usize::MAX;
    let mut trace_group: HashMap<u128, usize> = HashMap::new();
    let mut key_group: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let g = *trace_group.entry(s.trace_id.0).or_insert_with(|| {
            let key = match trace_session.get(&s.trace_id.0) {
                Some(id) => (*id).to_owned(),
                None => format!("trace {}", s.trace_id),
            };
            if only_session.is_some_and(|o| o != key) {
                return SKIP;
            }
            *key_group.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            })
        });
        if g != SKIP {
            groups[g].1.push(i);
        }
    }
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut line = String::new();
    for (session, members) in &groups {
        let group: Vec<&FinishedSpan> = members.iter().map(|&i| &spans[i]).collect();
        draw_group(out, &mut line, session, group)?;
    }
    Ok(groups.len())
}

const NONE: usize = usize::MAX;
const WIDTH: usize = 24;
const MAX_INDENT: usize = 8;

fn draw_group<W: io::Write + ?Sized>(
    out: &mut W,
    line: &mut String,
    session: &str,
    mut group: Vec<&FinishedSpan>,
) -> io::Result<()> {
    group.sort_by_key(|s| s.start);
    let n = group.len();
    let t0 = group
        .first()
        .map(|s| s.start)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let t1 = group.iter().map(|s| s.end).max().unwrap_or(t0);
    let total = t1.duration_since(t0).unwrap_or_default();
    let mut llm: Sum = Some(Decimal::ZERO);
    let mut wa: Sum = Some(Decimal::ZERO);
    // An LLM judge's calls are the evaluations' cost, kept apart as in the
    // conversation's totals (`chat.session.cost.evaluation_usd`).
    let mut evals: Sum = Some(Decimal::ZERO);
    let mut judged = false;
    for s in &group {
        if let Some(d) = money(s, vocab::GEN_AI_USAGE_PRICE_USD) {
            if s.attr_str(vocab::AGENT_ROLE) == Some(vocab::Role::EVALUATOR.as_str()) {
                evals = add(evals, d);
                judged = true;
            } else {
                llm = add(llm, d);
            }
        }
        if let Some(d) = money(s, vocab::MESSAGING_WHATSAPP_PRICE_USD) {
            wa = add(wa, d);
        }
    }
    let both = llm.and_then(|l| wa.and_then(|w| l.checked_add(w)));

    // Parent of each span (position in `group`), by (trace, span id): the
    // earliest span of an id is the parent of its children.
    let mut index: HashMap<(u128, u64), usize> = HashMap::with_capacity(n);
    for (i, s) in group.iter().enumerate() {
        index.entry((s.trace_id.0, s.span_id.0)).or_insert(i);
    }
    let mut parent: Vec<usize> = group
        .iter()
        .map(|s| {
            if s.parent_span_id == crate::ids::SpanId::INVALID {
                NONE
            } else {
                index
                    .get(&(s.trace_id.0, s.parent_span_id.0))
                    .copied()
                    .unwrap_or(NONE)
            }
        })
        .collect();
    drop(index);

    // Parent cycles: each span has at most one parent, so following parents
    // from any span either ends at a root or enters exactly one cycle. Each
    // span is walked once (0 = unseen, 1 = on the current walk, 2 = done).
    let mut state = vec![0u8; n];
    let mut cyclic = vec![false; n];
    let mut walk: Vec<usize> = Vec::new();
    for start in 0..n {
        let mut u = start;
        while u != NONE && state[u] == 0 {
            state[u] = 1;
            walk.push(u);
            u = parent[u];
        }
        if u != NONE && state[u] == 1 {
            // `u` is on this walk: the cycle is u → parent[u] → … → u.
            let mut v = u;
            loop {
                cyclic[v] = true;
                v = parent[v];
                if v == u {
                    break;
                }
            }
        }
        for v in walk.drain(..) {
            state[v] = 2;
        }
    }
    drop(state);
    let mut cycles = 0usize;
    for (i, c) in cyclic.iter().enumerate() {
        if *c {
            parent[i] = NONE;
            cycles += 1;
        }
    }

    // Children by parent, in start order (compressed rows: no Vec per span).
    let mut offsets = vec![0usize; n + 1];
    for &p in &parent {
        if p != NONE {
            offsets[p + 1] += 1;
        }
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut children = vec![0usize; offsets[n]];
    for (i, &p) in parent.iter().enumerate() {
        if p != NONE {
            children[fill[p]] = i;
            fill[p] += 1;
        }
    }
    drop(fill);

    line.clear();
    let _ = write!(
        line,
        "conversation {session}  spans={}  wall={:.1} ms  llm=${}  whatsapp=${}  total=${}",
        n,
        total.as_secs_f64() * 1e3,
        show(llm),
        show(wa),
        show(both)
    );
    if judged {
        let _ = write!(line, "  evaluations=${}", show(evals));
    }
    if cycles > 0 {
        let _ = write!(line, "  parent-cycles={cycles}");
    }
    line.push('\n');
    let _ = writeln!(
        line,
        "  {:<40} {:>9} {:>9}  {:<8} {:<12} {:<14} {:>12}  timeline",
        "span", "start ms", "dur ms", "service", "role", "step", "cost $"
    );
    out.write_all(line.as_bytes())?;

    // Depth-first, with an explicit stack: (span, depth, inherited service).
    let mut stack: Vec<(usize, usize, Option<&str>)> = Vec::new();
    let mut label = String::new();
    for (root, &p) in parent.iter().enumerate() {
        if p != NONE {
            continue;
        }
        stack.push((root, 0, None));
        while let Some((i, depth, inherited)) = stack.pop() {
            let s = group[i];
            let service = s.attr_str(vocab::CHAT_SERVICE_NAME).or(inherited);
            line.clear();
            row(line, &mut label, s, depth, cyclic[i], service, (t0, total));
            out.write_all(line.as_bytes())?;
            for &k in children[offsets[i]..offsets[i + 1]].iter().rev() {
                stack.push((k, depth + 1, service));
            }
        }
    }
    out.write_all(b"\n")
}

fn row(
    line: &mut String,
    label: &mut String,
    s: &FinishedSpan,
    depth: usize,
    cyclic: bool,
    service: Option<&str>,
    (t0, total): (SystemTime, Duration),
) {
    let start = s.start.duration_since(t0).unwrap_or_default();
    let dur = s.duration();
    let scale = |d: Duration| {
        if total.is_zero() {
            0
        } else {
            ((d.as_secs_f64() / total.as_secs_f64()) * WIDTH as f64).round() as usize
        }
    };
    let off = scale(start).min(WIDTH - 1);
    let len = scale(dur).clamp(1, WIDTH - off);
    // The tree column: indentation, the name cut to fit, then the marks
    // (always shown).
    label.clear();
    if depth <= MAX_INDENT {
        push_n(label, "  ", depth);
    } else {
        push_n(label, "  ", MAX_INDENT);
        let _ = write!(label, "↳{depth} ");
    }
    let marks = match (cyclic, matches!(s.status, Status::Error(_))) {
        (false, false) => "",
        (true, false) => " ↻",
        (false, true) => " ✗",
        (true, true) => " ↻ ✗",
    };
    let room = 40usize.saturating_sub(label.chars().count() + marks.chars().count());
    cell(label, &s.name, room.max(1), false);
    label.push_str(marks);
    line.push_str("  ");
    cell(line, label, 40, true);
    let _ = write!(
        line,
        " {:>9.2} {:>9.2}  ",
        start.as_secs_f64() * 1e3,
        dur.as_secs_f64() * 1e3
    );
    cell(line, service.unwrap_or("-"), 8, true);
    line.push(' ');
    cell(line, s.attr_str(vocab::AGENT_ROLE).unwrap_or("-"), 12, true);
    line.push(' ');
    cell(
        line,
        s.attr_str(vocab::CONVERSATION_STEP).unwrap_or("-"),
        14,
        true,
    );
    line.push(' ');
    match (
        money(s, vocab::GEN_AI_USAGE_PRICE_USD),
        money(s, vocab::MESSAGING_WHATSAPP_PRICE_USD),
    ) {
        (None, None) => push_n(line, " ", 12),
        (Some(a), None) | (None, Some(a)) => {
            let _ = write!(line, "{:>12}", show(Some(a)));
        }
        (Some(a), Some(b)) => {
            let _ = write!(line, "{:>12}", show(a.checked_add(b)));
        }
    }
    line.push_str("  |");
    push_n(line, " ", off);
    push_n(line, "█", len);
    push_n(line, " ", WIDTH - off - len);
    line.push_str("|\n");
}

fn push_n(out: &mut String, s: &str, n: usize) {
    for _ in 0..n {
        out.push_str(s);
    }
}

/// Writes `s` cut to `n` characters (the last one `…` when cut), and with
/// `pad`, spaces after it up to `n` characters.
fn cell(out: &mut String, s: &str, n: usize, pad: bool) {
    let shown = match s.char_indices().nth(n) {
        None => {
            out.push_str(s);
            s.chars().count()
        }
        Some(_) => {
            let cut = s
                .char_indices()
                .nth(n.saturating_sub(1))
                .map_or(0, |(i, _)| i);
            out.push_str(&s[..cut]);
            out.push('…');
            n
        }
    };
    if pad {
        push_n(out, " ", n.saturating_sub(shown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CORPUS: &str = include_str!("../tests/corpus/spans.jsonl");

    fn same(line: &str) -> Result<(), TestCaseError> {
        let new = parse_span_line(line);
        let old = parse_span_line_reference(line);
        match (&new, &old) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", line),
            (Err(a), Err(b)) => prop_assert_eq!(a, b, "{}", line),
            // The streaming reader skips unknown fields without checking
            // their strings (a lone surrogate there is not an error).
            (Ok(_), Err(b)) if b.starts_with("not JSON") => {}
            _ => prop_assert!(false, "{line}: {new:?} / {old:?}"),
        }
        Ok(())
    }

    #[test]
    fn the_corpus_reads_as_with_a_json_tree() {
        for l in CORPUS.lines() {
            same(l).unwrap();
        }
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as J;
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            any::<u64>().prop_map(J::from),
            any::<f64>().prop_map(J::from),
            ".{0,8}".prop_map(J::String),
            "[0-9a-f]{16}|[0-9a-f]{32}|[0-9.]{1,6}|ok|error|server".prop_map(J::String),
        ];
        leaf.prop_recursive(3, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(J::Array),
                prop::collection::vec(
                    (
                        "name|code|message|time_unix_nano|attributes|price|cost|k[a-c]",
                        inner
                    ),
                    0..5
                )
                .prop_map(|kv| J::Object(kv.into_iter().collect())),
            ]
        })
    }

    const FIELDS: &str = "name|kind|trace_id|span_id|parent_span_id|parent_remote|start_unix_nano|end_unix_nano|status|attributes|events|links|x";

    proptest! {
        /// Objects with the span's fields, each of any type, some twice.
        #[test]
        fn streaming_reads_as_a_json_tree(
            fields in prop::collection::vec((FIELDS, json()), 0..14),
            base in prop::sample::select(CORPUS.lines().take(2).collect::<Vec<_>>()),
        ) {
            let mut text = base.trim_end_matches('}').to_owned();
            for (k, v) in &fields {
                text.push_str(&format!(",{:?}:{}", k, v));
            }
            text.push('}');
            same(&text)?;
            let mut alone = String::from("{");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    alone.push(',');
                }
                alone.push_str(&format!("{:?}:{}", k, v));
            }
            alone.push('}');
            same(&alone)?;
        }
    }
}

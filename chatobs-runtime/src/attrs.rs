//! Your own typed attributes and events on chat spans: a lead's temperature,
//! an intent's confidence, a user id.
//!
//! Three ways in, all checked where they can be:
//! - `#[chat_span(fields(lead.temperature = score, intent.confidence = p))]`:
//!   evaluated when the function is called; the keys are checked at compile
//!   time (syntax, no duplicate, not one of chatobs' own namespaces) and each
//!   value's type at its expression;
//! - `record!(lead.temperature = 0.8)` in the body: the same key check at
//!   compile time, on the span recording on this thread;
//! - [`set`] and [`event`] here, for keys known only at run time: the key is
//!   checked when called (a rejected key is counted and logged once).
//!
//! Values keep their type: `&str`/`String` are strings, `bool` a boolean,
//! integers (`i8`..`i64`, `u8`..`u64`, `usize`) 64-bit integers (`u64`
//! above `i64::MAX` saturates), `f32`/`f64` floats, and slices, arrays and
//! `Vec`s of those are arrays. Strings pass through chatobs' redaction
//! (phone numbers, e-mail addresses, card numbers, secrets become
//! placeholders) and are cut at [`MAX_STRING_BYTES`] (a `…` marks the cut);
//! arrays keep at most
//! [`MAX_ARRAY_LEN`] items; a span keeps at most [`MAX_CUSTOM_PER_SPAN`] of
//! your attributes. What is cut or refused is counted ([`dropped`]) and
//! logged once.
//!

//! Example (it needs the `testing` feature, on by default):
#![cfg_attr(
    feature = "testing",
    doc = r#"
```
use chatobs_runtime::{attrs, chat_span, record, testing, Value};

#[chat_span(role = "sales", fields(lead.temperature = score, lead.source = "ads"))]
fn qualify(score: f64) -> bool {
    record!(intent.confidence = 0.92);
    attrs::event("lead.scored", &[("score", &score), ("hot", &(score > 0.7))]);
    score > 0.7
}

let (_, spans) = testing::capture(|| qualify(0.8));
let s = spans.one("qualify");
assert_eq!(s.attr("lead.temperature"), Some(&Value::F64(0.8)));
assert_eq!(s.attr_str("lead.source"), Some("ads"));
assert_eq!(s.attr("intent.confidence"), Some(&Value::F64(0.92)));
assert_eq!(s.events[0].name, "lead.scored");
```
"#
)]

use crate::model::{KeyValue, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Longest string value kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_STRING_BYTES: usize = 4096;
/// Most items kept in an array value.
pub const MAX_ARRAY_LEN: usize = 128;
/// Most of your own attributes on one span (set through this module, `fields`
/// or `record!`); chatobs' own attributes do not count.
pub const MAX_CUSTOM_PER_SPAN: usize = 64;
/// Most attributes on one event made by [`event`].
pub const MAX_EVENT_ATTRIBUTES: usize = 32;

static DROPPED: AtomicU64 = AtomicU64::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);

/// Values cut, and attributes or events refused (bad key, over a limit),
/// since the process started.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn drop_one(what: &dyn std::fmt::Display) {
    DROPPED.fetch_add(1, Ordering::Relaxed);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "chatobs",
            "chatobs: {what} (logged once; every such case is counted in chatobs_runtime::attrs::dropped())"
        );
    }
}

/// A value an attribute can take. Implemented for strings, `bool`,
/// integers, floats, and slices, arrays and `Vec`s of those.
pub trait AttrValue {
    /// The value, before redaction and bounds.
    fn to_value(&self) -> Value;
}

impl<T: AttrValue + ?Sized> AttrValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl AttrValue for str {
    fn to_value(&self) -> Value {
        Value::Str(Cow::Owned(self.to_owned()))
    }
}
impl AttrValue for String {
    fn to_value(&self) -> Value {
        self.as_str().to_value()
    }
}
impl AttrValue for Cow<'_, str> {
    fn to_value(&self) -> Value {
        self.as_ref().to_value()
    }
}
impl AttrValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl AttrValue for $t {
            fn to_value(&self) -> Value {
                Value::I64(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl AttrValue for f64 {
    fn to_value(&self) -> Value {
        Value::F64(*self)
    }
}
impl AttrValue for f32 {
    fn to_value(&self) -> Value {
        Value::F64(f64::from(*self))
    }
}

/// An element of an array value.
pub trait AttrElement {
    /// Collects a slice of elements into one array value.
    fn array(items: &[Self]) -> Value
    where
        Self: Sized;
}

impl AttrElement for &str {
    fn array(items: &[Self]) -> Value {
        Value::StrArray(items.iter().map(|s| Cow::Owned((*s).to_owned())).collect())
    }
}
impl AttrElement for String {
    fn array(items: &[Self]) -> Value {
        Value::StrArray(items.iter().map(|s| Cow::Owned(s.clone())).collect())
    }
}
impl AttrElement for bool {
    fn array(items: &[Self]) -> Value {
        Value::BoolArray(items.to_vec())
    }
}
impl AttrElement for f64 {
    fn array(items: &[Self]) -> Value {
        Value::F64Array(items.to_vec())
    }
}
impl AttrElement for f32 {
    fn array(items: &[Self]) -> Value {
        Value::F64Array(items.iter().map(|x| f64::from(*x)).collect())
    }
}
macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl AttrElement for $t {
            fn array(items: &[Self]) -> Value {
                Value::I64Array(items.iter().map(|x| i64::try_from(*x).unwrap_or(i64::MAX)).collect())
            }
        }
    )*};
}
int_elem!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl<T: AttrElement> AttrValue for [T] {
    fn to_value(&self) -> Value {
        T::array(self)
    }
}
impl<T: AttrElement, const N: usize> AttrValue for [T; N] {
    fn to_value(&self) -> Value {
        self[..].to_value()
    }
}
impl<T: AttrElement> AttrValue for Vec<T> {
    fn to_value(&self) -> Value {
        self[..].to_value()
    }
}

/// `v`, redacted and bounded (what every way in applies); `len_hint` is
/// the array's length before it was cut.
fn bounded(key: &str, v: Value, len_hint: Option<usize>) -> Value {
    if len_hint.is_some_and(|n| n > MAX_ARRAY_LEN) {
        drop_one(&format_args!(
            "attribute `{key}`: an array of more than {MAX_ARRAY_LEN} items was cut"
        ));
    }
    let v = match v {
        Value::StrArray(mut a) => {
            a.truncate(MAX_ARRAY_LEN);
            Value::StrArray(a)
        }
        Value::I64Array(mut a) => {
            a.truncate(MAX_ARRAY_LEN);
            Value::I64Array(a)
        }
        Value::F64Array(mut a) => {
            a.truncate(MAX_ARRAY_LEN);
            Value::F64Array(a)
        }
        Value::BoolArray(mut a) => {
            a.truncate(MAX_ARRAY_LEN);
            Value::BoolArray(a)
        }
        other => other,
    };
    match v {
        Value::Str(s) => Value::Str(Cow::Owned(text(key, &s))),
        Value::StrArray(a) => Value::StrArray(
            a.iter()
                .map(|s| Cow::Owned(text(key, s)))
                .collect::<Vec<_>>(),
        ),
        other => other,
    }
}

fn text(key: &str, s: &str) -> String {
    let r = chatobs_core::redact::redact_free_text(s);
    if r.len() > MAX_STRING_BYTES {
        drop_one(&format_args!(
            "attribute `{key}`: a string longer than {MAX_STRING_BYTES} bytes was cut"
        ));
    }
    chatobs_core::redact::truncate(&r, MAX_STRING_BYTES)
}

fn array_len(v: &Value) -> Option<usize> {
    match v {
        Value::StrArray(a) => Some(a.len()),
        Value::I64Array(a) => Some(a.len()),
        Value::F64Array(a) => Some(a.len()),
        Value::BoolArray(a) => Some(a.len()),
        _ => None,
    }
}

/// Sets your attribute `key` on the span recording on this thread
/// (replacing one of the same key). Returns false when nothing is recording,
/// or when the key is refused (not a key, or one of chatobs' own: see
/// `chatobs_runtime::vocab::custom`) or the span already has
/// [`MAX_CUSTOM_PER_SPAN`] of your attributes; a refusal is counted and
/// logged once.
pub fn set(key: &str, value: impl AttrValue) -> bool {
    if let Some(why) = chatobs_vocab::custom::check_key(key) {
        drop_one(&format_args!("attribute refused: {why}"));
        return false;
    }
    set_checked(Cow::Owned(key.to_owned()), &value)
}

/// Sets an attribute whose key was checked at compile time (`record!`).
#[doc(hidden)]
pub fn set_checked(key: Cow<'static, str>, value: &dyn AttrValue) -> bool {
    // `record!` refused chatobs' namespaces at compile time; the rest of the
    // key's syntax (lowercase, no empty segment) is checked here.
    if let Some(why) = chatobs_vocab::custom::check_key(&key) {
        drop_one(&format_args!("attribute refused: {why}"));
        return false;
    }
    let v = value.to_value();
    let len = array_len(&v);
    crate::current::with(|s| {
        if !s.has_attr(&key) && s.custom_count() >= MAX_CUSTOM_PER_SPAN {
            drop_one(&format_args!(
                "attribute `{key}` refused: a span keeps at most {MAX_CUSTOM_PER_SPAN} of your own attributes"
            ));
            return false;
        }
        let v = bounded(&key, v, len);
        s.set_attr(key, v);
        true
    })
    .unwrap_or(false)
}

/// Adds an event named `name` to the span recording on this thread, with
/// your attributes (each key checked as in [`set`]; a refused one is left
/// out and counted). Returns false when nothing is recording or the name is
/// not a key.
pub fn event(name: &str, attributes: &[(&str, &dyn AttrValue)]) -> bool {
    if let Some(why) = chatobs_vocab::custom::check_key(name) {
        drop_one(&format_args!("event refused: {why}"));
        return false;
    }
    let mut kvs: Vec<KeyValue> = Vec::with_capacity(attributes.len().min(MAX_EVENT_ATTRIBUTES));
    for (k, v) in attributes {
        if kvs.len() >= MAX_EVENT_ATTRIBUTES {
            drop_one(&format_args!(
                "event `{name}`: more than {MAX_EVENT_ATTRIBUTES} attributes, the rest were left out"
            ));
            break;
        }
        if let Some(why) = chatobs_vocab::custom::check_key(k) {
            drop_one(&format_args!("event `{name}`: attribute refused: {why}"));
            continue;
        }
        let value = v.to_value();
        let len = array_len(&value);
        kvs.push((Cow::Owned((*k).to_owned()), bounded(k, value, len)));
    }
    crate::current::add_event(Cow::Owned(name.to_owned()), kvs)
}

/// A value already built.
impl AttrValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

/// `fields(key = expr)` of `#[chat_span]`: the key was checked at compile time.
#[doc(hidden)]
pub fn field(b: &mut crate::__private::Builder, key: &'static str, value: &dyn AttrValue) {
    let v = value.to_value();
    let len = array_len(&v);
    b.attribute(Cow::Borrowed(key), bounded(key, v, len));
}

//! Fields of bridged spans and events as typed, redacted attributes.
//!
//! Integers stay integers (a `u64` or 128-bit value beyond `i64` becomes its
//! decimal string, as OpenTelemetry has no unsigned type), floats floats,
//! booleans booleans; strings, `Display` (`%x`) and `Debug` (`?x`) values
//! become strings. Every value passes through chatobs' redaction: a field
//! named in `redaction.fields` (by its last dotted segment) is exported as
//! `[REDACTED]` whatever its type, and strings are scanned for phone numbers
//! and e-mail addresses (`redaction.scan_free_text`), then cut to
//! [`MAX_VALUE_BYTES`].

use super::{count_dropped_attribute, limits};
use crate::model::{KeyValue, OtelKind, Status, Value};
use crate::redact;
use crate::span::Record;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{Debug, Write as _};
use tracing::field::{Field, Visit};
use tracing::Metadata;

/// The longest string value kept (bytes; longer ones are cut on a character
/// boundary and end with `…`).
pub const MAX_VALUE_BYTES: usize = 4096;

/// Field names with a meaning of their own (tracing-opentelemetry's conventions).
pub(crate) const OTEL_NAME: &str = "otel.name";
pub(crate) const OTEL_KIND: &str = "otel.kind";
pub(crate) const OTEL_STATUS_CODE: &str = "otel.status_code";
pub(crate) const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
/// A field called `error` marks its span (or its event's span) as failed.
pub(crate) const ERROR_FIELD: &str = "error";
const MESSAGE: &str = "message";

// ---- which fields are redacted, per callsite ------------------------------------------

/// Bit `i` set: field `i` of the callsite is named in `redaction.fields`.
/// Worked out once per callsite and thread (and again when the redaction
/// lists change), so a span pays a hash lookup, not a walk over the lists.
pub(crate) fn redacted_mask(meta: &'static Metadata<'static>) -> u64 {
    struct Cache {
        version: usize,
        masks: HashMap<usize, u64, std::hash::BuildHasherDefault<PtrHasher>>,
    }
    thread_local! {
        static CACHE: RefCell<Cache> = RefCell::new(Cache { version: 0, masks: HashMap::default() });
    }
    let compute = || {
        let mut m = 0u64;
        for (i, f) in meta.fields().iter().enumerate().take(64) {
            if redact::is_redacted_field(f.name()) {
                m |= 1 << i;
            }
        }
        m
    };
    let version = redact::lists_version();
    CACHE
        .try_with(|c| {
            let Ok(mut c) = c.try_borrow_mut() else {
                return compute();
            };
            if c.version != version {
                c.masks.clear();
                c.version = version;
            }
            *c.masks
                .entry(meta as *const Metadata<'static> as usize)
                .or_insert_with(compute)
        })
        .unwrap_or_else(|_| compute())
}

/// Hashes a pointer (already unique) with one multiplication, and short
/// strings a word at a time.
#[derive(Default)]
struct PtrHasher(u64);
impl std::hash::Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Eight bytes at a time (short interned strings), the rest one by one.
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(31);
        }
        for b in chunks.remainder() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

#[inline]
fn is_redacted(mask: u64, field: &Field) -> bool {
    match field.index() {
        i @ 0..=63 => mask & (1 << i) != 0,
        _ => redact::is_redacted_field(field.name()),
    }
}

// ---- string buffers --------------------------------------------------------------------

/// Spare string buffers of this thread: the owned strings of records the
/// export thread handed back, emptied, for the string values of the next
/// bridged spans (a string field then costs a copy, not a malloc here and a
/// free when the record is reused). At most [`SPARE_STRINGS`] buffers of at
/// most [`SPARE_BYTES`] bytes each are kept.
const SPARE_STRINGS: usize = 64;
const SPARE_BYTES: usize = 256;

thread_local! {
    static SPARE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the owned strings of a record about to be reused as spare buffers
/// (emptying its attributes and events; their vectors keep their room).
pub(crate) fn harvest(rec: &mut Record) {
    let _ = SPARE.try_with(|p| {
        let Ok(mut p) = p.try_borrow_mut() else {
            return;
        };
        let mut keep = |c: Cow<'static, str>| {
            if let Cow::Owned(s) = c {
                if p.len() < SPARE_STRINGS && s.capacity() <= SPARE_BYTES {
                    p.push(s);
                }
            }
        };
        for (k, v) in rec.attrs.drain(..) {
            keep(k);
            if let Value::Str(s) = v {
                keep(s);
            }
        }
        for e in rec.events.drain(..) {
            keep(e.name);
            for (k, v) in e.attributes {
                keep(k);
                if let Value::Str(s) = v {
                    keep(s);
                }
            }
        }
    });
}

/// An empty string, from the spare buffers when there is one.
fn spare_string() -> String {
    SPARE
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten()
        .map(|mut s| {
            s.clear();
            s
        })
        .unwrap_or_else(|| String::with_capacity(32))
}

/// Gives a buffer back to this thread's spares.
fn give_back(s: String) {
    let _ = SPARE.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < SPARE_STRINGS && s.capacity() <= SPARE_BYTES {
                p.push(s);
            }
        }
    });
}

/// `value` copied into a spare buffer.
fn owned(value: &str) -> String {
    let mut s = spare_string();
    s.push_str(value);
    s
}

// ---- short values seen again and again -----------------------------------------------------

/// Short string values that recur (a role, a step, a model name, a route)
/// are kept once for the process, so a span that records one again costs a
/// hash lookup: no copy, no redaction scan, nothing for the export thread to
/// free. Only values the redaction leaves unchanged are kept (a value with a
/// phone number or an e-mail in it is never stored), at most
/// [`INTERN_MAX_LEN`] bytes each, [`INTERN_BUDGET_BYTES`] for the process
/// (then values are copied as before); each thread looks them up in its own
/// table of at most [`INTERN_PER_THREAD`], cleared when the redaction lists change.
pub(crate) const INTERN_MAX_LEN: usize = 48;
pub(crate) const INTERN_BUDGET_BYTES: usize = 1 << 20;
pub(crate) const INTERN_PER_THREAD: usize = 2048;
static INTERN_USED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Interned {
    version: usize,
    table: HashMap<&'static str, (), std::hash::BuildHasherDefault<PtrHasher>>,
}

thread_local! {
    static INTERNED: RefCell<Interned> = RefCell::new(Interned { version: 0, table: HashMap::default() });
}

/// `value`, cleaned, as a string kept for the process, when it is short and
/// clean (see above); `None`: copy it.
fn interned(value: &str) -> Option<&'static str> {
    use std::sync::atomic::Ordering;
    if value.len() > INTERN_MAX_LEN {
        return None;
    }
    let version = redact::lists_version();
    INTERNED
        .try_with(|t| {
            let mut t = t.try_borrow_mut().ok()?;
            if t.version != version {
                t.table.clear();
                t.version = version;
            }
            if let Some((k, ())) = t.table.get_key_value(value) {
                return Some(*k);
            }
            if t.table.len() >= INTERN_PER_THREAD
                || !matches!(redact::text(value), Cow::Borrowed(_))
            {
                return None;
            }
            let used = INTERN_USED.fetch_add(value.len(), Ordering::Relaxed);
            if used.saturating_add(value.len()) > INTERN_BUDGET_BYTES {
                INTERN_USED.fetch_sub(value.len(), Ordering::Relaxed);
                return None;
            }
            let kept: &'static str = Box::leak(value.to_owned().into_boxed_str());
            t.table.insert(kept, ());
            Some(kept)
        })
        .ok()
        .flatten()
}

/// A string value as it may be exported: kept once when short and clean,
/// else copied, scanned and cut ([`clean`]).
fn text_value(value: &str) -> Value {
    match interned(value) {
        Some(s) => Value::Str(Cow::Borrowed(s)),
        None => Value::Str(Cow::Owned(clean(owned(value)))),
    }
}

/// [`text_value`] of text already formatted into a buffer of this thread.
fn formatted_value(text: String) -> Value {
    match interned(&text) {
        Some(s) => {
            give_back(text);
            Value::Str(Cow::Borrowed(s))
        }
        None => Value::Str(Cow::Owned(clean(text))),
    }
}

// ---- values ----------------------------------------------------------------------------

/// A string as it may be exported: scanned and cut, reusing `s` when nothing changes.
pub(crate) fn clean(mut s: String) -> String {
    if let Cow::Owned(r) = redact::text(&s) {
        s = r;
    }
    if s.len() > MAX_VALUE_BYTES {
        let mut end = MAX_VALUE_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

fn debug_string(v: &dyn Debug) -> String {
    let mut s = spare_string();
    let _ = write!(s, "{v:?}");
    s
}

fn u64_value(v: u64) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::I64(i),
        Err(_) => Value::Str(Cow::Owned(v.to_string())),
    }
}

fn error_string(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    let mut depth = 0;
    while let Some(cause) = src {
        if depth == 8 || s.len() > MAX_VALUE_BYTES {
            break;
        }
        let _ = write!(s, ": {cause}");
        src = cause.source();
        depth += 1;
    }
    s
}

/// The text of a value, for a status message.
fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => match other.to_json() {
            serde_json::Value::String(s) => s,
            j => j.to_string(),
        },
    }
}

// ---- span fields -----------------------------------------------------------------------

/// What `otel.status_code` said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OtelStatus {
    Unset,
    Ok,
    Error,
}

/// The fields of a span (at creation, `create = true`, each field once, or
/// later through `Span::record`) written into its record.
pub(crate) struct SpanFields<'a> {
    pub rec: &'a mut Record,
    pub mask: u64,
    pub create: bool,
    pub otel_status: &'a mut Option<OtelStatus>,
    pub otel_description: &'a mut Option<String>,
}

impl SpanFields<'_> {
    /// Handles the `otel.*` fields; true when `name` was one.
    fn special(&mut self, name: &str, text: &dyn Fn() -> String) -> bool {
        if !name.starts_with("otel.") {
            return false;
        }
        match name {
            OTEL_NAME => {
                let n = clean(text());
                if !n.is_empty() {
                    self.rec.name = Cow::Owned(n);
                }
            }
            OTEL_KIND => {
                if let Some(k) = OtelKind::parse(&text().to_ascii_lowercase()) {
                    self.rec.otel_kind = k;
                }
            }
            OTEL_STATUS_CODE => {
                let t = text().to_ascii_lowercase();
                *self.otel_status = Some(if t.starts_with("error") {
                    OtelStatus::Error
                } else if t == "ok" {
                    OtelStatus::Ok
                } else {
                    OtelStatus::Unset
                });
            }
            OTEL_STATUS_DESCRIPTION => {
                *self.otel_description = Some(redact::truncate(&redact::text(&text()), 1024));
            }
            _ => return false,
        }
        true
    }

    fn put(&mut self, field: &Field, make: impl FnOnce() -> Value) {
        let value = if is_redacted(self.mask, field) {
            Value::Str(Cow::Borrowed(redact::REDACTED))
        } else {
            make()
        };
        let key = field.name();
        if key == ERROR_FIELD {
            let msg = redact::truncate(&value_text(&value), 1024);
            self.rec.status = Status::Error(Cow::Owned(msg));
        }
        put_capped(&mut self.rec.attrs, Cow::Borrowed(key), value, !self.create);
    }
}

/// Adds `key = value` (replacing the value of the same key when `replace`),
/// or counts it as dropped when the span is full.
pub(crate) fn put_capped(
    attrs: &mut Vec<KeyValue>,
    key: Cow<'static, str>,
    value: Value,
    replace: bool,
) {
    if replace {
        if let Some(slot) = attrs.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
            return;
        }
    }
    if attrs.len() < limits().0 {
        attrs.push((key, value));
    } else {
        count_dropped_attribute();
    }
}

impl Visit for SpanFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.special(field.name(), &|| value.to_string()) {
            self.put(field, || Value::F64(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.special(field.name(), &|| value.to_string()) {
            self.put(field, || Value::I64(value));
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.special(field.name(), &|| value.to_string()) {
            self.put(field, || u64_value(value));
        }
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        if !self.special(field.name(), &|| value.to_string()) {
            self.put(field, || match i64::try_from(value) {
                Ok(i) => Value::I64(i),
                Err(_) => Value::Str(Cow::Owned(value.to_string())),
            });
        }
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        if !self.special(field.name(), &|| value.to_string()) {
            self.put(field, || match i64::try_from(value) {
                Ok(i) => Value::I64(i),
                Err(_) => Value::Str(Cow::Owned(value.to_string())),
            });
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.special(field.name(), &|| value.to_string()) {
            self.put(field, || Value::Bool(value));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special(field.name(), &|| value.to_owned()) {
            self.put(field, || text_value(value));
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.special(field.name(), &|| error_string(value)) {
            self.put(field, || Value::Str(Cow::Owned(clean(error_string(value)))));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if !self.special(field.name(), &|| debug_string(value)) {
            self.put(field, || formatted_value(debug_string(value)));
        }
    }
}

// ---- event fields ----------------------------------------------------------------------

/// The fields of an event inside a bridged span.
pub(crate) struct EventFields {
    pub mask: u64,
    pub message: Option<String>,
    pub error: Option<String>,
    pub attrs: Vec<KeyValue>,
}

impl EventFields {
    pub(crate) fn new(mask: u64) -> EventFields {
        EventFields {
            mask,
            message: None,
            error: None,
            attrs: Vec::new(),
        }
    }

    /// The message (the event's text, scanned like a log line's message),
    /// and the `error` field, are kept apart; the rest are attributes.
    fn put(&mut self, field: &Field, make: impl FnOnce() -> Value, text: impl FnOnce() -> String) {
        let key = field.name();
        if key == MESSAGE {
            self.message = Some(clean(text()));
            return;
        }
        if is_redacted(self.mask, field) {
            if key == ERROR_FIELD {
                self.error = Some(redact::REDACTED.to_owned());
            }
            put_capped(
                &mut self.attrs,
                Cow::Borrowed(key),
                Value::Str(Cow::Borrowed(redact::REDACTED)),
                false,
            );
            return;
        }
        if key == ERROR_FIELD {
            self.error = Some(redact::truncate(&clean(text()), 1024));
            return;
        }
        put_capped(&mut self.attrs, Cow::Borrowed(key), make(), false);
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, || Value::F64(value), || value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, || Value::I64(value), || value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, || u64_value(value), || value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, || Value::Bool(value), || value.to_string());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(
            field,
            || Value::Str(Cow::Owned(clean(owned(value)))),
            || owned(value),
        );
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(
            field,
            || Value::Str(Cow::Owned(clean(error_string(value)))),
            || error_string(value),
        );
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.put(
            field,
            || Value::Str(Cow::Owned(clean(debug_string(value)))),
            || debug_string(value),
        );
    }
}

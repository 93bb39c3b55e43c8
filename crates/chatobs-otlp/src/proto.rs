//! OTLP/HTTP protobuf written straight from chatobs' finished spans.
//!
//! For `http/protobuf` the trace exporter encodes each batch as an
//! `ExportTraceServiceRequest` itself, in one buffer, without building the
//! SDK's `SpanData` and then the generated protobuf structs from it (two
//! copies of every key and value, a dozen allocations per span). The bytes
//! decode to what `opentelemetry-proto`'s conversion of the same spans gives
//! (`tests/proto_encoder.rs` compares them on hostile spans). gRPC goes
//! through `opentelemetry-otlp` as before.
//!
//! Message and field numbers: `opentelemetry/proto/trace/v1/trace.proto`,
//! `common/v1/common.proto`, `resource/v1/resource.proto` and
//! `collector/trace/v1/trace_service.proto` (OTLP 1.x).

use crate::backends::SpanExtras;
use chatobs_core::model::{FinishedSpan, KeyValue, OtelKind, Status, Value};
use opentelemetry::Value as OValue;
use std::time::SystemTime;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// `SpanFlags`: the W3C sampled bit, and whether the parent's remoteness is known / true.
const SAMPLED: u32 = 0x01;
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

#[inline]
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
}

#[inline]
fn put_tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from((field << 3) | wire));
}

/// The size of a length-delimited field holding `len` bytes.
#[inline]
fn field_len(field: u32, len: usize) -> usize {
    tag_len(field) + varint_len(len as u64) + len
}

#[inline]
fn put_len(out: &mut Vec<u8>, field: u32, len: usize) {
    put_tag(out, field, LEN);
    put_varint(out, len as u64);
}

#[inline]
fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_len(out, field, b.len());
    out.extend_from_slice(b);
}

/// Writes field `field` as a message `body` writes, its length patched in
/// afterwards: a span is encoded in one pass, not measured first and then
/// written (measuring read every attribute of a span a second time, and
/// on the exporters' thread the first read of a span is a cache miss).
/// Two bytes are kept for the length, a span's usual size (128 B to 16
/// KiB); a body shorter or longer is moved by the difference.
fn put_patched(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    put_tag(out, field, LEN);
    let at = out.len();
    out.extend_from_slice(&[0x80, 0x00]);
    body(out);
    let len = out.len().saturating_sub(at).saturating_sub(2);
    if (128..16_384).contains(&len) {
        if let Some(slot) = out.get_mut(at..at + 2) {
            slot.copy_from_slice(&[(len as u8) | 0x80, (len >> 7) as u8]);
        }
    } else {
        let mut v = Vec::with_capacity(10);
        put_varint(&mut v, len as u64);
        out.splice(at..at + 2, v);
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// ---- AnyValue / KeyValue ---------------------------------------------------------------------

/// The scalar forms an `AnyValue` takes here.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    I64(i64),
    F64(f64),
}

impl Scalar<'_> {
    /// The size of the `AnyValue` message holding it.
    fn len(&self) -> usize {
        match self {
            Scalar::Str(s) => field_len(1, s.len()),
            Scalar::Bool(_) => 2,
            Scalar::I64(i) => 1 + varint_len(*i as u64),
            Scalar::F64(_) => 9,
        }
    }
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Scalar::Str(s) => put_bytes(out, 1, s.as_bytes()),
            Scalar::Bool(b) => {
                put_tag(out, 2, VARINT);
                out.push(u8::from(*b));
            }
            Scalar::I64(i) => {
                put_tag(out, 3, VARINT);
                put_varint(out, *i as u64);
            }
            Scalar::F64(f) => {
                put_tag(out, 4, FIXED64);
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
    }
}

/// A value as chatobs keeps it, or as the SDK's resource keeps it.
trait AnyValue {
    /// The size of the `AnyValue` message.
    fn len(&self) -> usize;
    fn put(&self, out: &mut Vec<u8>);
}

/// `ArrayValue { repeated AnyValue values = 1 }` inside `AnyValue.array_value = 5`.
fn array_len<'a>(items: impl Iterator<Item = Scalar<'a>>) -> usize {
    let inner: usize = items.map(|s| field_len(1, s.len())).sum();
    field_len(5, inner)
}

fn put_array<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = Scalar<'a>> + Clone) {
    let inner: usize = items.clone().map(|s| field_len(1, s.len())).sum();
    put_len(out, 5, inner);
    for s in items {
        put_len(out, 1, s.len());
        s.put(out);
    }
}

impl AnyValue for Value {
    fn len(&self) -> usize {
        match self {
            Value::Str(s) => Scalar::Str(s).len(),
            Value::I64(i) => Scalar::I64(*i).len(),
            Value::F64(_) | Value::Decimal(_) => 9,
            Value::Bool(_) => 2,
            Value::StrArray(a) => array_len(a.iter().map(|s| Scalar::Str(s))),
            Value::I64Array(a) => array_len(a.iter().map(|i| Scalar::I64(*i))),
            Value::F64Array(a) => array_len(a.iter().map(|f| Scalar::F64(*f))),
            Value::BoolArray(a) => array_len(a.iter().map(|b| Scalar::Bool(*b))),
        }
    }
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => Scalar::Str(s).put(out),
            Value::I64(i) => Scalar::I64(*i).put(out),
            Value::F64(f) => Scalar::F64(*f).put(out),
            // OTLP has no decimal: backends sum numbers (the file keeps it exact).
            Value::Decimal(d) => Scalar::F64(chatobs_core::model::decimal_to_f64(*d)).put(out),
            Value::Bool(b) => Scalar::Bool(*b).put(out),
            Value::StrArray(a) => put_array(out, a.iter().map(|s| Scalar::Str(s))),
            Value::I64Array(a) => put_array(out, a.iter().map(|i| Scalar::I64(*i))),
            Value::F64Array(a) => put_array(out, a.iter().map(|f| Scalar::F64(*f))),
            Value::BoolArray(a) => put_array(out, a.iter().map(|b| Scalar::Bool(*b))),
        }
    }
}

fn o_scalars(a: &opentelemetry::Array) -> Vec<Scalar<'_>> {
    match a {
        opentelemetry::Array::Bool(v) => v.iter().map(|b| Scalar::Bool(*b)).collect(),
        opentelemetry::Array::I64(v) => v.iter().map(|i| Scalar::I64(*i)).collect(),
        opentelemetry::Array::F64(v) => v.iter().map(|f| Scalar::F64(*f)).collect(),
        opentelemetry::Array::String(v) => v.iter().map(|s| Scalar::Str(s.as_str())).collect(),
        _ => Vec::new(),
    }
}

impl AnyValue for OValue {
    fn len(&self) -> usize {
        match self {
            OValue::Bool(_) => 2,
            OValue::I64(i) => Scalar::I64(*i).len(),
            OValue::F64(_) => 9,
            OValue::String(s) => Scalar::Str(s.as_str()).len(),
            OValue::Array(a) => array_len(o_scalars(a).iter().copied()),
            _ => 0,
        }
    }
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            OValue::Bool(b) => Scalar::Bool(*b).put(out),
            OValue::I64(i) => Scalar::I64(*i).put(out),
            OValue::F64(f) => Scalar::F64(*f).put(out),
            OValue::String(s) => Scalar::Str(s.as_str()).put(out),
            OValue::Array(a) => put_array(out, o_scalars(a).iter().copied()),
            _ => {}
        }
    }
}

/// `KeyValue { string key = 1; AnyValue value = 2 }`.
fn kv_len<V: AnyValue + ?Sized>(key: &str, v: &V) -> usize {
    let k = if key.is_empty() {
        0
    } else {
        field_len(1, key.len())
    };
    k + field_len(2, v.len())
}

#[inline]
fn put_kv<V: AnyValue + ?Sized>(out: &mut Vec<u8>, field: u32, key: &str, v: &V) {
    // The value's size once (it is the costly part of `kv_len`).
    let vl = v.len();
    let k = if key.is_empty() {
        0
    } else {
        field_len(1, key.len())
    };
    put_len(out, field, k + field_len(2, vl));
    if !key.is_empty() {
        put_bytes(out, 1, key.as_bytes());
    }
    put_len(out, 2, vl);
    v.put(out);
}

fn attrs_len(field: u32, attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .map(|(k, v)| field_len(field, kv_len(k, v)))
        .sum()
}

fn put_attrs(out: &mut Vec<u8>, field: u32, attrs: &[KeyValue]) {
    for (k, v) in attrs {
        put_kv(out, field, k, v);
    }
}

// ---- Span ------------------------------------------------------------------------------------

/// What a preset adds to one span (renamed keys, added string attributes).
struct Extra {
    renamed: Vec<(usize, String)>,
    added: Vec<(&'static str, OValue)>,
}

fn key_of<'a>(i: usize, k: &'a str, extra: &'a Extra) -> &'a str {
    extra
        .renamed
        .iter()
        .find(|(j, _)| *j == i)
        .map_or(k, |(_, r)| r.as_str())
}

fn put_span_attrs(out: &mut Vec<u8>, s: &FinishedSpan, extra: &Extra) {
    if extra.renamed.is_empty() && extra.added.is_empty() {
        return put_attrs(out, 9, &s.attributes);
    }
    for (i, (k, v)) in s.attributes.iter().enumerate() {
        put_kv(out, 9, key_of(i, k, extra), v);
    }
    for (k, v) in &extra.added {
        put_kv(out, 9, k, v);
    }
}

fn kind(k: OtelKind) -> u64 {
    match k {
        OtelKind::Internal => 1,
        OtelKind::Server => 2,
        OtelKind::Client => 3,
        OtelKind::Producer => 4,
        OtelKind::Consumer => 5,
    }
}

/// `Status { string message = 2; StatusCode code = 3 }`.
fn status_parts(s: &Status) -> (&str, u64) {
    match s {
        Status::Unset => ("", 0),
        Status::Ok => ("", 1),
        Status::Error(m) => (m, 2),
    }
}

fn status_len(s: &Status) -> usize {
    let (m, code) = status_parts(s);
    (if m.is_empty() {
        0
    } else {
        field_len(2, m.len())
    }) + if code == 0 { 0 } else { 1 + varint_len(code) }
}

fn event_len(e: &chatobs_core::model::Event) -> usize {
    9 + (if e.name.is_empty() {
        0
    } else {
        field_len(2, e.name.len())
    }) + attrs_len(3, &e.attributes)
}

fn link_len(l: &chatobs_core::model::Link) -> usize {
    field_len(1, 16) + field_len(2, 8) + attrs_len(4, &l.attributes) + 5
}

fn put_span(out: &mut Vec<u8>, s: &FinishedSpan, extra: &Extra) {
    put_bytes(out, 1, &s.trace_id.0.to_be_bytes());
    put_bytes(out, 2, &s.span_id.0.to_be_bytes());
    if s.parent_span_id.0 != 0 {
        put_bytes(out, 4, &s.parent_span_id.0.to_be_bytes());
    }
    if !s.name.is_empty() {
        put_bytes(out, 5, s.name.as_bytes());
    }
    put_tag(out, 6, VARINT);
    put_varint(out, kind(s.kind));
    put_tag(out, 7, FIXED64);
    out.extend_from_slice(&nanos(s.start).to_le_bytes());
    put_tag(out, 8, FIXED64);
    out.extend_from_slice(&nanos(s.end).to_le_bytes());
    put_span_attrs(out, s, extra);
    for e in &s.events {
        put_len(out, 11, event_len(e));
        put_tag(out, 1, FIXED64);
        out.extend_from_slice(&nanos(e.time).to_le_bytes());
        if !e.name.is_empty() {
            put_bytes(out, 2, e.name.as_bytes());
        }
        put_attrs(out, 3, &e.attributes);
    }
    for l in &s.links {
        put_len(out, 13, link_len(l));
        put_bytes(out, 1, &l.trace_id.0.to_be_bytes());
        put_bytes(out, 2, &l.span_id.0.to_be_bytes());
        put_attrs(out, 4, &l.attributes);
        put_tag(out, 6, FIXED32);
        out.extend_from_slice(&(SAMPLED | HAS_IS_REMOTE | IS_REMOTE).to_le_bytes());
    }
    put_len(out, 15, status_len(&s.status));
    let (m, code) = status_parts(&s.status);
    if !m.is_empty() {
        put_bytes(out, 2, m.as_bytes());
    }
    if code != 0 {
        put_tag(out, 3, VARINT);
        put_varint(out, code);
    }
    put_tag(out, 16, FIXED32);
    let flags = SAMPLED | HAS_IS_REMOTE | if s.parent_remote { IS_REMOTE } else { 0 };
    out.extend_from_slice(&flags.to_le_bytes());
}

// ---- the request ------------------------------------------------------------------------------

/// Encodes batches of spans as `ExportTraceServiceRequest`s: one resource,
/// one instrumentation scope.
#[derive(Clone)]
pub struct TraceEncoder {
    /// `ResourceSpans.resource`, encoded once.
    resource: Vec<u8>,
    /// `ScopeSpans.scope`, encoded once.
    scope: Vec<u8>,
    extras: SpanExtras,
    /// The header of the request being written.
    header: Vec<u8>,
    /// [`TraceEncoder::encode`]'s buffer.
    buf: Vec<u8>,
}

impl std::fmt::Debug for TraceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceEncoder").finish()
    }
}

impl TraceEncoder {
    /// The encoder of the trace exporter `target` describes: its resource
    /// ([`crate::traces::resource_for`]), chatobs' scope, what its preset adds.
    pub fn for_target(target: &crate::config::OtlpTarget) -> TraceEncoder {
        TraceEncoder::new(
            &crate::traces::resource_for(target),
            chatobs_core::vocab::SCOPE_NAME,
            env!("CARGO_PKG_VERSION"),
            SpanExtras::for_target(target),
        )
    }

    /// An encoder for spans of `resource`, from the scope `name` / `version`,
    /// with what `extras` adds per span.
    pub(crate) fn new(
        resource: &opentelemetry_sdk::Resource,
        name: &str,
        version: &str,
        extras: SpanExtras,
    ) -> TraceEncoder {
        let mut r = Vec::new();
        for (k, v) in resource.iter() {
            put_kv(&mut r, 1, k.as_str(), v);
        }
        let mut scope = Vec::new();
        if !name.is_empty() {
            put_bytes(&mut scope, 1, name.as_bytes());
        }
        if !version.is_empty() {
            put_bytes(&mut scope, 2, version.as_bytes());
        }
        TraceEncoder {
            resource: r,
            scope,
            extras,
            header: Vec::new(),
            buf: Vec::new(),
        }
    }

    fn extra(&self, s: &FinishedSpan) -> Extra {
        let (renamed, added) = if self.extras.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let renamed = s
                .attributes
                .iter()
                .enumerate()
                .filter_map(|(i, (k, _))| self.extras.renamed(k).map(|r| (i, r)))
                .collect();
            (renamed, self.extras.added(s))
        };
        Extra { renamed, added }
    }

    /// Appends the request for `batch` to `out`.
    pub fn encode(&mut self, batch: &[FinishedSpan], out: &mut Vec<u8>) {
        let mut buf = std::mem::take(&mut self.buf);
        let request = self.encode_request(batch, &mut buf);
        out.extend_from_slice(request);
        self.buf = buf;
    }

    /// The request for `batch`, written in `buf` (which it replaces) and
    /// returned as the part of `buf` it fills: the spans are written first,
    /// after room for the largest header, and the header then fills the
    /// end of that room (its two lengths are the spans' total), so no byte
    /// is moved. The same as [`TraceEncoder::begin`], one
    /// [`TraceEncoder::append`] and [`TraceEncoder::finish`].
    pub fn encode_request<'b>(&mut self, batch: &[FinishedSpan], buf: &'b mut Vec<u8>) -> &'b [u8] {
        self.begin(buf);
        self.append(batch, buf);
        let range = self.finish(buf);
        buf.get(range).unwrap_or_default()
    }

    /// Starts a request in `buf` (emptied): room for the largest header.
    pub fn begin(&mut self, buf: &mut Vec<u8>) {
        // tag + 5-byte length, twice, around the resource and the scope.
        let room = self.room();
        buf.clear();
        buf.resize(room, 0);
    }

    fn room(&self) -> usize {
        2 * (1 + 5) + field_len(1, self.resource.len()) + field_len(1, self.scope.len())
    }

    /// Appends `spans` to the request [`TraceEncoder::begin`] started in
    /// `buf`: the bytes are the same however a batch is cut into appends.
    pub fn append(&mut self, spans: &[FinishedSpan], buf: &mut Vec<u8>) {
        for s in spans {
            let extra = self.extra(s);
            put_patched(buf, 2, |out| put_span(out, s, &extra));
        }
    }

    /// Ends the request in `buf`: writes its header at the end of the room
    /// [`TraceEncoder::begin`] kept, and returns the request's bytes' place
    /// in `buf`.
    pub fn finish(&mut self, buf: &mut Vec<u8>) -> std::ops::Range<usize> {
        let room = self.room();
        if buf.len() < room {
            // Not started with `begin`: started now, with no span.
            self.begin(buf);
        }
        let spans = buf.len().saturating_sub(room);
        let scope_spans = field_len(1, self.scope.len()) + spans;
        let resource_spans = field_len(1, self.resource.len()) + field_len(2, scope_spans);
        let header = &mut self.header;
        header.clear();
        put_len(header, 1, resource_spans);
        put_bytes(header, 1, &self.resource);
        put_len(header, 2, scope_spans);
        put_bytes(header, 1, &self.scope);
        let start = room.saturating_sub(header.len());
        match buf.get_mut(start..room) {
            Some(slot) if slot.len() == header.len() => {
                slot.copy_from_slice(header);
                start..buf.len()
            }
            // Unreachable (the room is the largest header); written out
            // rather than trusted.
            _ => {
                let body = buf.split_off(room);
                buf.clear();
                buf.extend_from_slice(header);
                buf.extend_from_slice(&body);
                0..buf.len()
            }
        }
    }
}

/// The OTLP/HTTP exporter's encoding on the pipeline's export thread
/// (`SpanExporter::encoder`): the same bytes as
/// [`TraceEncoder::encode_request`].
impl chatobs_core::export::SpanEncoder for TraceEncoder {
    fn begin(&mut self, buf: &mut Vec<u8>) {
        TraceEncoder::begin(self, buf);
    }
    fn append(&mut self, spans: &[FinishedSpan], buf: &mut Vec<u8>) {
        TraceEncoder::append(self, spans, buf);
    }
    fn finish(&mut self, buf: &mut Vec<u8>, _spans: usize) -> std::ops::Range<usize> {
        TraceEncoder::finish(self, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_sized_like_they_are_written() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
        assert_eq!(tag_len(15), 1);
        assert_eq!(tag_len(16), 2);
    }
}

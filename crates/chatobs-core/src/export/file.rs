//! The embedded default: one JSON object per span per line.
//!
//! Format (stable; `chatobs report` reads it):
//! ```json
//! {"trace_id":"4bf9…","span_id":"00f0…","parent_span_id":"","name":"classifier.predict","kind":"internal",
//!  "service":"chatcommerce","start_unix_nano":1732230000000000000,"end_unix_nano":1732230000001000000,
//!  "status":{"code":"ok"},"attributes":{"agent.role":"classifier","chat.session_id":"cs_…"},
//!  "events":[{"name":"exception","time_unix_nano":…,"attributes":{…}}],"links":[]}
//! ```
//! Decimal attributes (money) are written as exact strings.
//!
//! The export thread writes each line straight into its buffer
//! ([`write_span_line`]: no JSON tree, no allocation per span), byte for
//! byte what [`span_to_json`] serialized gives (a test compares them).

use super::{SpanEncoder, SpanExporter};
use crate::model::{FinishedSpan, KeyValue, Status};
use serde_json::{json, Map, Value as Json};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Appends spans to a JSONL file.
pub struct FileExporter {
    path: PathBuf,
    service: String,
    out: BufWriter<File>,
    line: Vec<u8>,
}

impl std::fmt::Debug for FileExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileExporter")
            .field("path", &self.path)
            .finish()
    }
}

impl FileExporter {
    /// Opens (creating folders) `path` for appending.
    pub fn open(path: &Path, service: &str) -> Result<FileExporter, crate::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| crate::Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(FileExporter {
            path: path.to_path_buf(),
            service: service.to_owned(),
            out: BufWriter::with_capacity(1 << 16, f),
            line: Vec::with_capacity(1 << 16),
        })
    }
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn attrs_json(attrs: &[KeyValue]) -> Json {
    let mut m = Map::new();
    for (k, v) in attrs {
        m.insert(k.to_string(), v.to_json());
    }
    Json::Object(m)
}

/// The JSON form of one span (as written to the file).
pub fn span_to_json(s: &FinishedSpan, service: &str) -> Json {
    let status = match &s.status {
        Status::Unset => json!({"code": "unset"}),
        Status::Ok => json!({"code": "ok"}),
        Status::Error(m) => json!({"code": "error", "message": m}),
    };
    json!({
        "trace_id": s.trace_id.to_hex(),
        "span_id": s.span_id.to_hex(),
        "parent_span_id": if s.parent_span_id.0 == 0 { String::new() } else { s.parent_span_id.to_hex() },
        "parent_remote": s.parent_remote,
        "name": s.name,
        "kind": s.kind.as_str(),
        "service": service,
        "start_unix_nano": nanos(s.start) as u64,
        "end_unix_nano": nanos(s.end) as u64,
        "status": status,
        "attributes": attrs_json(&s.attributes),
        "events": s.events.iter().map(|e| json!({
            "name": e.name, "time_unix_nano": nanos(e.time) as u64, "attributes": attrs_json(&e.attributes)
        })).collect::<Vec<_>>(),
        "links": s.links.iter().map(|l| json!({
            "trace_id": l.trace_id.to_hex(), "span_id": l.span_id.to_hex(), "attributes": attrs_json(&l.attributes)
        })).collect::<Vec<_>>(),
    })
}

/// `n`'s `width` low hex digits, lower case (what `{:0width$x}` writes).
fn put_hex(out: &mut Vec<u8>, n: u128, width: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..width).rev() {
        out.push(HEX[((n >> (4 * i)) & 0xf) as usize]);
    }
}

/// `s` as a JSON string literal, escaped as serde_json escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn json_value(out: &mut Vec<u8>, v: &crate::model::Value) {
    use crate::model::Value;
    use std::io::Write as _;
    match v {
        Value::Str(s) => json_str(out, s),
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Decimal(d) => {
            out.push(b'"');
            let _ = write!(out, "{}", d.normalize());
            out.push(b'"');
        }
        Value::StrArray(a) => {
            out.push(b'[');
            for (i, s) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, s);
            }
            out.push(b']');
        }
        // Floats and the other arrays: serde_json's own number format.
        other => {
            let _ = serde_json::to_writer(&mut *out, &other.to_json());
        }
    }
}

/// An attribute map, as a JSON object: a key set twice keeps its first
/// place and its last value (what the `preserve_order` map does).
fn json_attrs(out: &mut Vec<u8>, attrs: &[KeyValue]) {
    out.push(b'{');
    let mut first = true;
    for (i, (k, v)) in attrs.iter().enumerate() {
        let k: &str = k;
        // Small maps: a key seen before was written with its last value.
        if attrs[..i].iter().any(|(p, _)| p.len() == k.len() && p == k) {
            continue;
        }
        let v = attrs[i + 1..]
            .iter()
            .rev()
            .find(|(p, _)| p.len() == k.len() && p == k)
            .map_or(v, |(_, later)| later);
        if !first {
            out.push(b',');
        }
        first = false;
        json_str(out, k);
        out.push(b':');
        json_value(out, v);
    }
    out.push(b'}');
}

/// Writes one span's line (without the newline) into `out`: the same bytes
/// as `serde_json::to_writer(out, &span_to_json(s, service))`.
pub fn write_span_line(out: &mut Vec<u8>, s: &FinishedSpan, service: &str) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"trace_id\":\"");
    put_hex(out, s.trace_id.0, 32);
    out.extend_from_slice(b"\",\"span_id\":\"");
    put_hex(out, u128::from(s.span_id.0), 16);
    out.extend_from_slice(b"\",\"parent_span_id\":\"");
    if s.parent_span_id.0 != 0 {
        put_hex(out, u128::from(s.parent_span_id.0), 16);
    }
    out.extend_from_slice(b"\",\"parent_remote\":");
    out.extend_from_slice(if s.parent_remote { b"true" } else { b"false" });
    out.extend_from_slice(b",\"name\":");
    json_str(out, &s.name);
    out.extend_from_slice(b",\"kind\":");
    json_str(out, s.kind.as_str());
    out.extend_from_slice(b",\"service\":");
    json_str(out, service);
    let _ = write!(
        out,
        ",\"start_unix_nano\":{},\"end_unix_nano\":{},\"status\":",
        nanos(s.start) as u64,
        nanos(s.end) as u64
    );
    match &s.status {
        Status::Unset => out.extend_from_slice(b"{\"code\":\"unset\"}"),
        Status::Ok => out.extend_from_slice(b"{\"code\":\"ok\"}"),
        Status::Error(m) => {
            out.extend_from_slice(b"{\"code\":\"error\",\"message\":");
            json_str(out, m);
            out.push(b'}');
        }
    }
    out.extend_from_slice(b",\"attributes\":");
    json_attrs(out, &s.attributes);
    out.extend_from_slice(b",\"events\":[");
    for (i, e) in s.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        json_str(out, &e.name);
        let _ = write!(
            out,
            ",\"time_unix_nano\":{},\"attributes\":",
            nanos(e.time) as u64
        );
        json_attrs(out, &e.attributes);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"links\":[");
    for (i, l) in s.links.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            "{{\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\",\"attributes\":",
            l.trace_id.0, l.span_id.0
        );
        json_attrs(out, &l.attributes);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

impl SpanExporter for FileExporter {
    fn name(&self) -> &'static str {
        "file"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        write_lines(&mut line, batch, &self.service);
        let written = self.write(&line);
        // A huge batch does not keep its buffer for ever.
        self.line = if line.capacity() > 1 << 22 {
            Vec::with_capacity(1 << 16)
        } else {
            line
        };
        written
    }
    fn flush(&mut self) -> Result<(), String> {
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
    /// The lines are written on the export thread as the spans are
    /// converted (see [`SpanExporter::encoder`]); this exporter's thread
    /// only writes them to the file.
    fn encoder(&self) -> Option<Box<dyn SpanEncoder>> {
        Some(Box::new(FileLines {
            service: self.service.clone(),
        }))
    }
    fn export_encoded(
        &mut self,
        buf: Vec<u8>,
        range: Range<usize>,
        _: usize,
    ) -> Result<(), String> {
        self.write(buf.get(range).unwrap_or_default())
    }
}

impl FileExporter {
    /// Writes a batch's lines and hands them to the OS.
    fn write(&mut self, lines: &[u8]) -> Result<(), String> {
        self.out
            .write_all(lines)
            .and_then(|()| self.out.flush())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The file exporter's lines, written on the export thread
/// ([`SpanExporter::encoder`]).
struct FileLines {
    service: String,
}

/// Writes each span's line, and its newline, into `out`.
fn write_lines(out: &mut Vec<u8>, spans: &[FinishedSpan], service: &str) {
    for s in spans {
        write_span_line(out, s, service);
        out.push(b'\n');
    }
}

impl SpanEncoder for FileLines {
    fn begin(&mut self, _: &mut Vec<u8>) {}
    fn append(&mut self, spans: &[FinishedSpan], buf: &mut Vec<u8>) {
        write_lines(buf, spans, &self.service);
    }
    fn finish(&mut self, buf: &mut Vec<u8>, _: usize) -> Range<usize> {
        0..buf.len()
    }
}

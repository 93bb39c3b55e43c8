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

use super::SpanExporter;
use crate::model::{FinishedSpan, KeyValue, Status};
use serde_json::{json, Map, Value as Json};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Appends spans to a JSONL file.
pub struct FileExporter {
    path: PathBuf,
    service: String,
    out: BufWriter<File>,
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
            out: BufWriter::new(f),
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

impl SpanExporter for FileExporter {
    fn name(&self) -> &'static str {
        "file"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        for s in batch {
            let line = span_to_json(s, &self.service);
            serde_json::to_writer(&mut self.out, &line)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            self.out
                .write_all(b"\n")
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
    fn flush(&mut self) -> Result<(), String> {
        self.out
            .flush()
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

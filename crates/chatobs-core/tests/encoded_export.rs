//! Exporters that encode on the export thread (`SpanExporter::encoder`):
//! the export thread converts the spans a chunk at a time and each
//! exporter's encoder writes the batch's bytes; the exporters' thread only
//! sends them (`SpanExporter::export_encoded`). What must hold: every span
//! reaches the bytes once, in order, in batches of at most
//! `exporter.batch_size`, with the part of the buffer the encoder chose;
//! what was exported or failed is counted like a batch of spans; and a
//! pipeline whose exporters do not all encode hands them spans.

use chatobs_core::config::{ExporterConfig, SamplingConfig};
use chatobs_core::export::{SpanEncoder, SpanExporter};
use chatobs_core::model::FinishedSpan;
use chatobs_core::pipeline::{ready, start, Guard};
use chatobs_core::SpanBuilder;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What an exporter saw.
#[derive(Default)]
struct Seen {
    /// Each `export_encoded`: the bytes sent and the span count passed.
    encoded: Vec<(Vec<u8>, usize)>,
    /// Spans given to `export`.
    spans: Vec<String>,
}

/// Writes a span per line (its name); `begin` writes a junk prefix that
/// `finish`'s range leaves out, and `finish` a trailer with the count.
struct Lines;

impl SpanEncoder for Lines {
    fn begin(&mut self, buf: &mut Vec<u8>) {
        assert!(buf.is_empty(), "a batch starts in an empty buffer");
        buf.extend_from_slice(b"JUNK");
    }
    fn append(&mut self, spans: &[FinishedSpan], buf: &mut Vec<u8>) {
        assert!(!spans.is_empty());
        for s in spans {
            buf.extend_from_slice(s.name.as_bytes());
            buf.push(b'\n');
        }
    }
    fn finish(&mut self, buf: &mut Vec<u8>, spans: usize) -> Range<usize> {
        buf.extend_from_slice(format!("count={spans}").as_bytes());
        4..buf.len()
    }
}

struct Encoding {
    seen: Arc<Mutex<Seen>>,
    /// Whether it offers an encoder.
    encodes: bool,
    /// `export_encoded` fails with this.
    fail: Option<&'static str>,
}

impl SpanExporter for Encoding {
    fn name(&self) -> &'static str {
        "lines"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        let mut seen = self.seen.lock().unwrap();
        seen.spans.extend(batch.iter().map(|s| s.name.to_string()));
        Ok(())
    }
    fn encoder(&self) -> Option<Box<dyn SpanEncoder>> {
        self.encodes
            .then(|| Box::new(Lines) as Box<dyn SpanEncoder>)
    }
    fn export_encoded(
        &mut self,
        buf: Vec<u8>,
        range: Range<usize>,
        spans: usize,
    ) -> Result<(), String> {
        self.seen
            .lock()
            .unwrap()
            .encoded
            .push((buf[range].to_vec(), spans));
        match self.fail {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// The trait's default `export_encoded`, for an exporter that offers an
/// encoder and forgot it.
struct Forgetful;

impl SpanExporter for Forgetful {
    fn name(&self) -> &'static str {
        "forgetful"
    }
    fn export(&mut self, _: &[FinishedSpan]) -> Result<(), String> {
        Ok(())
    }
    fn encoder(&self) -> Option<Box<dyn SpanEncoder>> {
        Some(Box::new(Lines))
    }
}

fn encoding(encodes: bool, fail: Option<&'static str>) -> (Encoding, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    (
        Encoding {
            seen: seen.clone(),
            encodes,
            fail,
        },
        seen,
    )
}

fn pipeline(batch_size: usize, exporters: Vec<Box<dyn SpanExporter>>) -> Guard {
    let cfg = ExporterConfig {
        batch_size,
        ..ExporterConfig::default()
    };
    start(
        &cfg,
        &SamplingConfig::default(),
        exporters.into_iter().map(ready).collect(),
        None,
    )
    .unwrap()
}

fn spans(prefix: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}.{i}")).collect();
    for name in &names {
        drop(SpanBuilder::new(name.clone()).start());
    }
    names
}

#[test]
fn encoders_write_every_span_once_in_order_and_failures_are_counted() {
    // 1. Every exporter encodes: 1000 spans, batches of at most 100.
    let (a, seen) = encoding(true, None);
    let guard = pipeline(100, vec![Box::new(a)]);
    let names = spans("encoded", 1000);
    assert!(guard.flush(Duration::from_secs(10)));
    let snap = guard.snapshot();
    assert_eq!((snap.exported, snap.export_failed), (1000, 0));
    assert!(guard.shutdown());
    let seen = seen.lock().unwrap();
    assert!(seen.spans.is_empty(), "spans went to `export`");
    let mut got = Vec::new();
    for (bytes, n) in &seen.encoded {
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.starts_with("JUNK"), "the range was not honoured");
        let (lines, count) = text.rsplit_once("count=").unwrap();
        assert_eq!(count.parse::<usize>().unwrap(), *n);
        let batch: Vec<String> = lines.lines().map(str::to_owned).collect();
        assert_eq!(batch.len(), *n);
        assert!((1..=100).contains(n), "a batch of {n}");
        got.extend(batch);
    }
    assert_eq!(got, names, "each span once, in the order they ended");
    drop(seen);

    // 2. The exporter fails: each batch counted failed, with its message.
    let (a, seen) = encoding(true, Some("HTTP 503"));
    let guard = pipeline(64, vec![Box::new(a)]);
    spans("failed", 300);
    assert!(guard.flush(Duration::from_secs(10)));
    let snap = guard.snapshot();
    assert_eq!((snap.exported, snap.export_failed), (0, 300));
    assert_eq!(
        guard.stats().last_error().as_deref(),
        Some("lines: HTTP 503")
    );
    assert!(guard.shutdown());
    assert_eq!(
        seen.lock()
            .unwrap()
            .encoded
            .iter()
            .map(|e| e.1)
            .sum::<usize>(),
        300
    );

    // 3. One exporter encodes, one does not: both get spans.
    let (a, seen_a) = encoding(true, None);
    let (b, seen_b) = encoding(false, None);
    let guard = pipeline(50, vec![Box::new(a), Box::new(b)]);
    let names = spans("mixed", 200);
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(guard.snapshot().exported, 200);
    assert!(guard.shutdown());
    for seen in [seen_a, seen_b] {
        let seen = seen.lock().unwrap();
        assert!(seen.encoded.is_empty());
        assert_eq!(seen.spans, names);
    }

    // 4. An encoder without `export_encoded`: failed, and the error says why.
    let guard = pipeline(64, vec![Box::new(Forgetful)]);
    spans("forgot", 10);
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(guard.snapshot().export_failed, 10);
    let err = guard.stats().last_error().unwrap();
    assert!(
        err.contains("10 spans were encoded")
            && err.contains("does not implement `export_encoded`"),
        "{err}"
    );
    assert!(guard.shutdown());
}
